//! A smoke run of the idle-memory benchmark (BENCHMARKS.md, B4), seconds
//! long: the harness still connects, joins and reads walcast and the
//! stack-floor baseline, and `/health` agrees with the clients. It checks
//! that the benchmark works, not its figures (those are never asserted in
//! the test suite).

use std::process::Command;

#[test]
fn idle_memory_smoke_run_measures_walcast_and_the_floor() {
    let output = Command::new(env!("CARGO_BIN_EXE_idle-memory"))
        .args([
            "run",
            "--connections",
            "200",
            "--idle-seconds",
            "1",
            "--paths",
            "walcast,floor",
        ])
        .output()
        .expect("idle-memory runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "idle-memory failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for row in ["| walcast upgrade |", "| stack floor (baseline) |"] {
        assert!(stdout.contains(row), "no {row} row in:\n{stdout}");
    }
    assert!(
        stdout.contains("walcast's own state (RSS slope, walcast − floor)"),
        "no walcast − floor line in:\n{stdout}"
    );
}
