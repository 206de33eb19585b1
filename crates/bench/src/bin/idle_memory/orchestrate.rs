//! The measurement: for each path, a fresh server process, its memory
//! before any socket, with half the sockets and with all of them after an
//! idle period, and the per-connection figures from those.
//!
//! The paths: walcast (its own upgrade and codec, the gateway as shipped);
//! the floor (`floor.rs`: walcast's socket model, one tokio task per
//! connection holding its `TcpStream`, answering the upgrade and the join,
//! no session, hub or router), so that walcast − floor is walcast's own
//! state; and warp's
//! `ws()` (tungstenite's buffers under walcast's session), the old path.
//!
//! Two figures per path, because a process's first sockets also pay for
//! one-off growth (allocator arenas, tables sized for the first thousands):
//! the total growth divided by N, and the slope between N/2 and N, which
//! is the cost of one more connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use clap::ValueEnum;
use serde_json::Value;

use crate::clients::TOKEN_ENV;
use crate::probe::Memory;
use crate::server::SECRET_ENV;

/// The fd limit is 20,000 per process; leave room for the process's own.
const MAX_SOCKETS_PER_PROCESS: u32 = 9_000;

/// Time for freed memory to settle between phases.
const SETTLE: Duration = Duration::from_secs(3);

/// `idle-memory run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Connections, each joined to its own channel with one filtered binding.
    #[arg(long, default_value_t = 10_000)]
    connections: u32,
    /// Sockets per load process (at most 9,000: 20,000 fds per process).
    #[arg(long, default_value_t = 5_000)]
    per_process: u32,
    /// Seconds to wait idle (heartbeats every 25 s) before the last reading.
    #[arg(long, default_value_t = 30)]
    idle_seconds: u64,
    /// Which paths to measure, in this order: one or a comma list
    /// (`walcast,floor`); each path is measured once.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    paths: Vec<Paths>,
    /// Let the servers see one change of the bindings' table first, so
    /// filters are bound and filed by value at join (as in production once
    /// the table has had a change), not left pending.
    #[arg(long)]
    table_seen: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Paths {
    /// walcast, the floor, then warp's `ws()`.
    All,
    /// walcast, then warp's `ws()` as the baseline.
    Both,
    /// walcast's upgrade and gateway.
    Walcast,
    /// The stack's floor: one task per socket holding its `TcpStream`,
    /// answering the upgrade and the join; no session, hub or router.
    Floor,
    /// warp's `ws()` under walcast's session.
    Warp,
}

impl Paths {
    fn paths(self) -> &'static [Path] {
        match self {
            Self::All => &[Path::Walcast, Path::Floor, Path::Warp],
            Self::Both => &[Path::Walcast, Path::Warp],
            Self::Walcast => &[Path::Walcast],
            Self::Floor => &[Path::Floor],
            Self::Warp => &[Path::Warp],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Walcast,
    Floor,
    Warp,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Self::Walcast => "walcast upgrade",
            Self::Floor => "stack floor (baseline)",
            Self::Warp => "warp ws() (baseline)",
        }
    }
}

/// The readings of one path.
struct Measured {
    path: Path,
    connections: u32,
    half: u32,
    empty: Memory,
    at_half: Memory,
    full: Memory,
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    ensure!(args.connections >= 2, "--connections must be at least 2");
    ensure!(
        args.connections <= 19_000,
        "--connections above 19,000 would pass the server's 20,000 fd limit"
    );
    ensure!(
        (1..=MAX_SOCKETS_PER_PROCESS).contains(&args.per_process),
        "--per-process must be 1..=9000"
    );
    let mut paths: Vec<Path> = Vec::new();
    for path in args.paths.iter().flat_map(|paths| paths.paths()) {
        if !paths.contains(path) {
            paths.push(*path);
        }
    }
    let secret = format!("{:032x}", rand::random::<u128>());
    let token = bench::load::protocol::sign_token(&secret, "anon", 4 * 3600)?;
    let mut results = Vec::new();
    for path in paths {
        eprintln!("== {}: {} connections", path.name(), args.connections);
        results.push(measure(&args, path, &secret, &token)?);
    }
    print_report(&args, &results);
    Ok(())
}

fn measure(args: &RunArgs, path: Path, secret: &str, token: &str) -> anyhow::Result<Measured> {
    let exe = std::env::current_exe()?;
    let mut command = Command::new(&exe);
    command.arg("server").env(SECRET_ENV, secret);
    match path {
        Path::Walcast => {}
        Path::Floor => {
            command.arg("--floor");
        }
        Path::Warp => {
            command.arg("--legacy-warp-ws");
        }
    }
    if args.table_seen {
        command.arg("--table-seen");
    }
    let mut server = Process::spawn(command)?;
    let line = server.read_line()?;
    let addr: SocketAddr = line
        .strip_prefix("listening ")
        .with_context(|| format!("server said {line:?}"))?
        .parse()?;
    pause(Duration::from_secs(1));
    let empty = Memory::of(server.id())?;

    let half = args.connections / 2;
    let mut clients = open(args, addr, token, 0, half)?;
    pause(SETTLE);
    expect_connections(addr, half)?;
    let at_half = Memory::of(server.id())?;
    eprintln!("   {half} joined; idle readings follow");

    clients.extend(open(args, addr, token, half, args.connections - half)?);
    eprintln!(
        "   {} joined; idling {} s",
        args.connections, args.idle_seconds
    );
    pause(Duration::from_secs(args.idle_seconds));
    expect_connections(addr, args.connections)?;
    let full = Memory::of(server.id())?;

    drop(clients);
    drop(server);
    pause(Duration::from_secs(1));
    Ok(Measured {
        path,
        connections: args.connections,
        half,
        empty,
        at_half,
        full,
    })
}

/// Opens `count` sockets from socket number `first`, in processes of at
/// most `--per-process`, and waits until every one has joined.
fn open(
    args: &RunArgs,
    addr: SocketAddr,
    token: &str,
    first: u32,
    count: u32,
) -> anyhow::Result<Vec<Process>> {
    let exe = std::env::current_exe()?;
    let mut processes = Vec::new();
    let mut next = first;
    while next < first + count {
        let batch = args.per_process.min(first + count - next);
        let mut command = Command::new(&exe);
        command
            .arg("clients")
            .arg(format!("--addr={addr}"))
            .arg(format!("--count={batch}"))
            .arg(format!("--first={next}"))
            .env(TOKEN_ENV, token);
        processes.push(Process::spawn(command)?);
        next += batch;
    }
    for process in &mut processes {
        let line = process.read_line()?;
        ensure!(line.starts_with("ready "), "load process said {line:?}");
    }
    Ok(processes)
}

/// The server's own count, so a socket that silently failed is noticed.
fn expect_connections(addr: SocketAddr, expected: u32) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .context("health answer without a body")?;
    let health: Value = serde_json::from_str(body.trim())?;
    let connections = health["connections"].as_u64().unwrap_or(0);
    // `channels` is a count, or an object with its `total`.
    let channels = health["channels"]
        .as_u64()
        .or_else(|| health["channels"]["total"].as_u64())
        .unwrap_or(0);
    ensure!(
        connections == u64::from(expected) && channels == u64::from(expected),
        "the server reports {connections} connections and {channels} channels, expected {expected}"
    );
    Ok(())
}

/// A child process of this binary; it stops when its stdin closes, and is
/// killed if it has not stopped when this handle drops.
struct Process {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Process {
    fn spawn(mut command: Command) -> anyhow::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("spawning a child process")?;
        let stdout = BufReader::new(child.stdout.take().context("child stdout")?);
        Ok(Self { child, stdout })
    }

    fn id(&self) -> u32 {
        self.child.id()
    }

    fn read_line(&mut self) -> anyhow::Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("child process {} ended early", self.child.id());
        }
        Ok(line.trim().to_owned())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            pause(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn print_report(args: &RunArgs, results: &[Measured]) {
    println!();
    println!(
        "idle-memory: {} connections, each joined to its own channel with one filtered postgres_changes binding (vsn 2.0.0), {} s idle with 25 s heartbeats{}",
        args.connections,
        args.idle_seconds,
        if args.table_seen {
            "; the table seen first (filters bound at join)"
        } else {
            ""
        }
    );
    println!();
    println!(
        "| path | RSS empty | RSS at N | RSS/conn (N) | RSS/conn (slope N/2→N) | RssAnon/conn (slope) | Pss/conn (slope) | kernel TCP/socket |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for m in results {
        let n = f64::from(m.connections);
        let added = f64::from(m.connections - m.half);
        let per = |a: u64, b: u64, count: f64| (b as f64 - a as f64) / count;
        println!(
            "| {} | {:.1} MiB | {:.1} MiB | {:.0} B | {:.0} B | {:.0} B | {:.0} B | {:.0} B |",
            m.path.name(),
            mib(m.empty.rss),
            mib(m.full.rss),
            per(m.empty.rss, m.full.rss, n),
            per(m.at_half.rss, m.full.rss, added),
            per(m.at_half.rss_anon, m.full.rss_anon, added),
            per(m.at_half.pss, m.full.pss, added),
            // Both ends of every loopback socket are in the kernel's count.
            per(m.empty.kernel_tcp, m.full.kernel_tcp, 2.0 * n),
        );
    }
    let slope = |path: Path| {
        results
            .iter()
            .find(|m| m.path == path)
            .map(|m| (m.full.rss as f64 - m.at_half.rss as f64) / f64::from(m.connections - m.half))
    };
    if let Some(ours) = slope(Path::Walcast) {
        if let Some(floor) = slope(Path::Floor) {
            println!();
            println!(
                "walcast's own state (RSS slope, walcast − floor): {:.0} B = {ours:.0} B − {floor:.0} B",
                ours - floor
            );
        }
        if let Some(theirs) = slope(Path::Warp).filter(|_| ours > 0.0) {
            println!();
            println!("warp ws() / walcast (RSS slope): {:.1}x", theirs / ours);
        }
    }
    for m in results {
        eprintln!(
            "{}: private dirty {:.1} → {:.1} → {:.1} MiB",
            m.path.name(),
            mib(m.empty.private_dirty),
            mib(m.at_half.private_dirty),
            mib(m.full.private_dirty)
        );
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Waits on this thread: the orchestrator runs no async runtime (it only
/// spawns processes and reads procfs), so there is no worker to block.
#[expect(
    clippy::disallowed_methods,
    reason = "no tokio runtime in the orchestrator; nothing else runs on this thread"
)]
fn pause(duration: Duration) {
    std::thread::sleep(duration);
}
