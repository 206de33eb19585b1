//! The walcast binary end to end: `walcast dev` brings up its own
//! PostgreSQL, prints committed rows as JSON lines (`--print-changes`), shuts down cleanly on
//! SIGTERM and resumes where it stopped; bad configuration fails with one
//! line.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const WALCAST: &str = env!("CARGO_BIN_EXE_walcast");

/// A `walcast dev` process with its stdout lines on a channel.
struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
    url: String,
}

impl Dev {
    fn start(data_dir: &Path) -> Dev {
        let mut child = Command::new(WALCAST)
            .args(["dev", "--print-changes", "--data-dir"])
            .arg(data_dir)
            .env_remove("DATABASE_URL")
            .env(
                "WALCAST_CONFIG",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/walcast.toml"),
            )
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn walcast dev");
        let url = read_database_url(child.stderr.take().expect("stderr"));
        let lines = spawn_line_reader(child.stdout.take().expect("stdout"));
        Dev { child, lines, url }
    }

    fn next_json(&self) -> serde_json::Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a JSON line within 20 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    fn psql(&self, sql: &str) {
        let status = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &self.url, "-c", sql])
            .status()
            .expect("psql");
        assert!(status.success(), "psql failed: {sql}");
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        for _ in 0..150 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!("walcast did not exit within 15 s of SIGTERM");
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "a synchronous test process, no runtime"
)]
fn sleep(duration: Duration) {
    std::thread::sleep(duration);
}

/// Reads stderr until walcast prints `DATABASE_URL=...`; keeps draining it
/// afterwards so the child never blocks on a full pipe.
fn read_database_url(stderr: impl Read + Send + 'static) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(url) = line.trim().strip_prefix("DATABASE_URL=") {
                let _ = tx.send(url.to_owned());
                sent = true;
            }
            if line.contains("ERROR") || line.starts_with("walcast:") {
                eprintln!("walcast stderr: {line}");
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("walcast dev prints DATABASE_URL within 60 s")
}

fn spawn_line_reader(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A data directory the `postgres` user can reach when tests run as root.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("walcast-dev-test")
        .tempdir()
        .expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

#[test]
fn walcast_dev_prints_committed_rows_and_resumes_after_a_restart() {
    let dir = data_dir();
    let pgdata = dir.path().join("pgdata");
    let dev = Dev::start(&pgdata);
    dev.psql("INSERT INTO tenants VALUES ('00000000-0000-0000-0000-000000000001', 'acme')");
    let change = dev.next_json();
    assert_eq!(change["type"], "INSERT");
    assert_eq!(change["table"], "tenants");
    assert_eq!(change["record"]["name"], "acme");
    assert_eq!(
        change["columns"][0],
        serde_json::json!({"name": "id", "type": "uuid"})
    );
    let first_position = change["position"].as_str().expect("position").to_owned();
    assert!(dev.terminate().success(), "clean exit on SIGTERM");

    // Same data directory: same cluster, the printed row is not printed again.
    let dev = Dev::start(&pgdata);
    dev.psql("UPDATE tenants SET name = 'acme2' WHERE id = '00000000-0000-0000-0000-000000000001'");
    let change = dev.next_json();
    assert_eq!(
        change["type"], "UPDATE",
        "the first run's INSERT was confirmed, not resent"
    );
    assert_eq!(
        change["old_record"],
        serde_json::json!({"id": "00000000-0000-0000-0000-000000000001"})
    );
    assert!(change["position"].as_str().expect("position") > first_position.as_str());
    assert!(dev.terminate().success());
}

#[test]
fn bad_configuration_fails_with_one_line_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("walcast.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"0.0.0.0:4000\"\nlistne = \"x\"\n",
    )
    .expect("write");
    let output = Command::new(WALCAST)
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("listne") && stderr.contains("line 3"),
        "{stderr}"
    );

    // An invalid route stops start-up with one line naming it.
    std::fs::write(
        &config,
        "[[routes]]\ntopic = \"conversation:{id}:typing\"\ntable = \"public.typing_indicators\"\nfilter = \"conversation_id=eq.{conv}\"\n",
    )
    .expect("write");
    let output = Command::new(WALCAST)
        .arg("--config")
        .arg(&config)
        .arg("check-config")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("routes[0] (topic \"conversation:{id}:typing\")")
            && stderr.contains("unknown placeholder {conv}"),
        "{stderr}"
    );

    let output = Command::new(WALCAST)
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("WALCAST_CONFIG", "/dev/null")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DATABASE_URL is not set"), "{stderr}");

    let output = Command::new(WALCAST)
        .arg("serve")
        .env(
            "DATABASE_URL",
            "postgres://nobody@127.0.0.1:1/none?sslmode=disable",
        )
        .env("WALCAST_JWT_SECRET", "test-secret")
        .env("WALCAST_CONFIG", "/dev/null")
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to PostgreSQL at 127.0.0.1:1/none"),
        "{stderr}"
    );
}
