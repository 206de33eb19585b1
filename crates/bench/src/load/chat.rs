//! The system under test for B1 and B5: a throwaway PostgreSQL with the
//! chat schema, the benchmark's conversations, and `walcast serve` (release
//! binary) as a child process with an open access configuration.
//!
//! ```text
//!  Cluster::start (wal_level=logical, synchronous_commit=on) ─▶ database `bench`
//!    ─▶ `walcast migrate` ─▶ one tenant, conversations 0..n (ids from `conversation_uuid`)
//!    ─▶ `walcast serve` (DATABASE_URL, WALCAST_LISTEN, WALCAST_JWT_SECRET, WALCAST_CONFIG) ─▶ /health/ready = 200
//! ```

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use pgcluster::{Cluster, ClusterOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::load::process::{Child, load_average};
use crate::load::protocol::{DEV_JWT_SECRET, conversation_uuid};

/// The open configuration of `tests/compat/walcast.toml`: anon may join
/// any topic and see every row, so bindings are raw `postgres_changes`.
const OPEN_CONFIG: &str = r#"
[channels]
open_roles = ["anon", "authenticated"]

[[policies]]
table = "*"
roles = ["anon", "authenticated"]
row = "*"
"#;

/// The product configuration (`config/walcast.toml`): routes with join
/// checks (a SQL query per agent join) and row policies per role. B7 runs
/// walcast with it.
pub const PRODUCT_CONFIG: &str = include_str!("../../../../config/walcast.toml");

/// How long walcast may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The tenant every benchmark conversation belongs to.
pub const TENANT: &str = "00000000-0000-4000-8000-100000000000";

/// Starts a throwaway cluster and creates database `bench`. Blocking: call
/// it before the runtime starts.
///
/// `synchronous_commit` is back on (throwaway clusters turn it off): with it
/// off, a commit returns before its WAL is flushed and the walsender only
/// sends flushed WAL, so rows would wait for the WAL writer (up to
/// `wal_writer_delay`, 200 ms) before any reader sees them. `fsync` stays
/// off, so the flush is cheap.
pub fn start_database() -> anyhow::Result<(Cluster, String)> {
    let options = ClusterOptions::throwaway()
        .with_setting("synchronous_commit", "on")
        .with_setting("max_connections", "300");
    let cluster = Cluster::start(options)?;
    cluster.create_database("bench")?;
    let url = cluster.url("bench");
    Ok((cluster, url))
}

/// The postmaster's pid, from `postmaster.pid` in the data directory.
pub fn postmaster_pid(cluster: &Cluster) -> anyhow::Result<u32> {
    let text = std::fs::read_to_string(cluster.data_dir().join("postmaster.pid"))?;
    text.lines()
        .next()
        .and_then(|line| line.trim().parse().ok())
        .context("unreadable postmaster.pid")
}

/// Starts the benchmark's database, runs `bench` with its URL and the
/// postmaster's pid on a runtime with two workers, then stops the
/// database, also when `bench` failed.
pub fn with_database<F, Fut>(bench: F) -> anyhow::Result<()>
where
    F: FnOnce(String, u32) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let (cluster, url) = start_database()?;
    let postmaster = postmaster_pid(&cluster)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(bench(url, postmaster));
    drop(runtime);
    drop(cluster);
    result
}

/// Prints a run's first two lines: `title`, the box, and the command that
/// started it.
pub fn print_header(title: &str) {
    println!(
        "{title}, {} cores, load average {} (start)",
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average()
    );
    println!(
        "command: {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
}

/// The walcast binary a coordinator runs: `--walcast-bin`, else the one
/// next to this binary (`cargo build --release -p walcast`).
pub fn walcast_binary(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name("walcast");
    if !path.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p walcast`, or pass --walcast-bin",
            path.display()
        );
    }
    Ok(path)
}

/// A scratch directory for the config file and walcast's log.
pub fn scratch_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("walcast-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("walcast.toml"), OPEN_CONFIG)?;
    Ok(dir)
}

/// Applies the chat schema with `walcast migrate` and inserts the tenant
/// and `conversations` conversations.
pub async fn prepare(
    walcast: &Path,
    scratch: &Path,
    url: &str,
    sql: &tokio_postgres::Client,
    conversations: u32,
) -> anyhow::Result<()> {
    let status = Command::new(walcast)
        .arg("migrate")
        .env("DATABASE_URL", url)
        .env("WALCAST_CONFIG", scratch.join("walcast.toml"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .status()
        .await
        .context("cannot run walcast migrate")?;
    if !status.success() {
        bail!("walcast migrate failed: {status}");
    }
    sql.execute(
        "INSERT INTO tenants (id, name) VALUES ($1::text::uuid, 'bench')",
        &[&TENANT],
    )
    .await?;
    let ids: Vec<String> = (0..conversations).map(conversation_uuid).collect();
    sql.execute(
        "INSERT INTO conversations (id, tenant_id, visitor_id, status) \
         SELECT id::uuid, $2::text::uuid, 'visitor-' || id, 'active' FROM unnest($1::text[]) AS id",
        &[&ids, &TENANT],
    )
    .await?;
    Ok(())
}

/// `walcast serve` as a child process.
pub struct WalcastServer {
    /// The child (killed on drop).
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its stderr.
    pub log: PathBuf,
}

/// Starts `walcast serve` on a free port with the open configuration and
/// waits for `/health/ready`.
pub async fn start_walcast(
    walcast: &Path,
    scratch: &Path,
    url: &str,
) -> anyhow::Result<WalcastServer> {
    let config = scratch.join("walcast.toml");
    start_walcast_with(walcast, scratch, url, &config, "walcast", None).await
}

/// Starts `walcast serve` with `config` on slot `slot` (created when
/// missing; give each instance of a run its own, so that none replays what
/// an earlier one left in the slot), logging to `<slot>.log` in `scratch`.
/// `workers` sets tokio's `TOKIO_WORKER_THREADS` (default: one per core).
pub async fn start_walcast_with(
    walcast: &Path,
    scratch: &Path,
    url: &str,
    config: &Path,
    slot: &str,
    workers: Option<u32>,
) -> anyhow::Result<WalcastServer> {
    let addr = free_port()?;
    let log = scratch.join(format!("{slot}.log"));
    let stderr = std::fs::File::create(&log)?;
    let mut command = Command::new(walcast);
    command
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("WALCAST_LISTEN", addr.to_string())
        .env("WALCAST_JWT_SECRET", DEV_JWT_SECRET)
        .env("WALCAST_CONFIG", config)
        .env("WALCAST_SLOT", slot)
        .env("RUST_LOG", "warn")
        .stderr(stderr);
    if let Some(workers) = workers {
        command.env("TOKIO_WORKER_THREADS", workers.to_string());
    }
    let child = Child::spawn("walcast serve", command)?;
    let started = Instant::now();
    while http_status(addr, "/health/ready").await != Some(200) {
        if started.elapsed() > READY_TIMEOUT {
            bail!(
                "walcast did not become ready within {READY_TIMEOUT:?}; see {}",
                log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(WalcastServer { child, addr, log })
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// The status code of `GET path`, `None` when nothing answers.
pub async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let body = http_get(addr, path).await?;
    body.split_whitespace().nth(1)?.parse().ok()
}

/// The whole answer to `GET path` (`Connection: close`).
pub async fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.ok()?;
    Some(answer)
}
