//! B3, hot-conversation fan-out, and B7, the same with authorization on.
//! One conversation with K subscribers (sockets of `load subscribers`,
//! each joined with `conversation_id=eq.<id>` on `messages`); an open-loop
//! writer at a rate ramped in steps of deliveries/s (= rows/s × K) until
//! p99 of receive − `created_at` exceeds the limit (25 ms) or deliveries
//! are lost. Per K, in the same run and with the same clients, each server
//! in turn:
//!
//! ```text
//!  walcast           pgbench -R ─INSERT─▶ PostgreSQL ─slot─▶ walcast serve (open config) ─WS─▶ K sockets
//!  walcast-policies  pgbench -R ─INSERT─▶ PostgreSQL ─slot─▶ walcast serve (config/walcast.toml:
//!                        agents join the route `conversation:<id>:messages`, a SQL check per join,
//!                        row policy tenant_id=eq.<claim> per change) ─WS─▶ K sockets
//!  bun               publisher.rs ─WS─▶ Bun.serve + server.publish (no PostgreSQL) ─WS─▶ K sockets
//!  node-ws           publisher.rs ─WS─▶ Node ws, a loop over the topic's sockets (no PostgreSQL) ─WS─▶ K sockets
//! ```
//!
//! The baselines get their messages from the publisher, not from
//! PostgreSQL: they measure the fan-out path alone, while walcast's figure
//! includes its ingest (commit, walsender, decode, match). Per step a
//! window `[now + warm-up, + seconds)` goes to every load process; only
//! rows created inside it count, CPU is read at its two ends.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use replication::{ConnectionConfig, checks};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::load::chat::{self, TENANT};
use crate::load::ipc;
use crate::load::latency::Windowed;
use crate::load::lock;
use crate::load::process::{Child, CpuSnapshot, load_average, rss_bytes};
use crate::load::protocol::{DEV_JWT_SECRET, sign_agent_token, sign_token, unix_micros_now};
use crate::load::subscribers::{self, TopicStyle};
use crate::load::{b1, publisher, raw_reader};

/// Time after the writer stops for the last frames to arrive.
const DRAIN: Duration = Duration::from_secs(2);

/// How long a baseline server may take to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The one hot conversation.
const CONVERSATION: u32 = 0;

/// `load b3`.
#[derive(Debug, Clone, clap::Args)]
pub struct B3Args {
    /// A smoke run of seconds: 500 subscribers, two low steps, 1 s + 2 s each.
    #[arg(long)]
    pub quick: bool,
    /// Subscribers of the hot conversation, one ramp each.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,19000")]
    pub subscribers: Vec<u32>,
    /// The ramp, in deliveries per second offered (rows/s = this / subscribers, rounded up).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10000,25000,50000,100000,200000,400000,700000,1000000,1400000"
    )]
    pub deliveries: Vec<u64>,
    /// Servers, in the order they run for each K.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "walcast,bun,node-ws"
    )]
    pub servers: Vec<ServerKind>,
    /// Sockets per load process at most (≤ 19,000).
    #[arg(long, default_value_t = 5_000)]
    pub per_process: u32,
    /// Load processes at least (the clients need both cores' share).
    #[arg(long, default_value_t = 2)]
    pub min_processes: u32,
    /// Seconds of each step left out before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Seconds measured per step.
    #[arg(long, default_value_t = 4)]
    pub seconds: u64,
    /// The goal: a step meets it when p99 is at most this (ms) and nothing is lost.
    #[arg(long, default_value_t = 25.0)]
    pub p99_limit_ms: f64,
    /// The ramp goes on while p99 is at most this (ms) and nothing is lost:
    /// with 10,000 subscribers one row is a burst of 10,000 frames that the
    /// load processes alone take tens of ms to read, whatever the server,
    /// so the 25 ms goal cannot rank servers there; this ceiling does.
    #[arg(long, default_value_t = 250.0)]
    pub ceiling_p99_ms: f64,
    /// Run every step even after one failed (a diagnostic run).
    #[arg(long)]
    pub keep_going: bool,
    /// pgbench client connections (walcast's writer).
    #[arg(long, default_value_t = 4)]
    pub writer_connections: u32,
    /// The walcast binary (default: next to this one).
    #[arg(long)]
    pub walcast_bin: Option<PathBuf>,
    /// walcast's tokio worker threads (`TOKIO_WORKER_THREADS`; default one
    /// per core). On this box the clients share walcast's two cores: with
    /// two workers busy writing, each `writev` wakes a client process that
    /// preempts the writer on its own core (BENCHMARKS.md, B3).
    #[arg(long)]
    pub walcast_workers: Option<u32>,
    /// Where bun_publish.js, ws_loop.mjs and their node_modules are.
    #[arg(long, default_value = "crates/bench/baselines")]
    pub baselines: PathBuf,
    /// Profile walcast (`perf record -g -p`) during the measured window of
    /// the step offering this many deliveries/s; files go to --perf-dir.
    #[arg(long)]
    pub perf_at: Option<u64>,
    /// Where the profiles go.
    #[arg(long, default_value = "/tmp")]
    pub perf_dir: PathBuf,
    /// Beside walcast, time the same rows through a raw slot reader (B1's
    /// baseline, on a slot of its own): its p99 is what the commit, the
    /// walsender and the decode take on the loaded box, a share of
    /// walcast's figure that the baselines, fed over a WebSocket, do not
    /// pay. A diagnostic: the reader and its walsender take CPU too.
    #[arg(long)]
    pub raw_reader: bool,
}

impl B3Args {
    fn effective(mut self) -> Self {
        if self.quick {
            self.subscribers = vec![500];
            self.deliveries = vec![25_000, 50_000];
            self.warmup = 1;
            self.seconds = 2;
        }
        self
    }
}

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServerKind {
    /// `walcast serve`, open configuration, raw `postgres_changes` joins (B3).
    Walcast,
    /// `walcast serve` with config/walcast.toml, agents on the routed topic (B7).
    WalcastPolicies,
    /// Bun.serve + server.publish, fed by the publisher (B3 baseline a).
    Bun,
    /// Node ws with a loop over the topic's sockets, fed by the publisher (B3 baseline b).
    NodeWs,
}

impl ServerKind {
    fn name(self) -> &'static str {
        match self {
            Self::Walcast => "walcast",
            Self::WalcastPolicies => "walcast + policies (B7)",
            Self::Bun => "Bun publish (no PG)",
            Self::NodeWs => "Node ws loop (no PG)",
        }
    }

    fn is_walcast(self) -> bool {
        matches!(self, Self::Walcast | Self::WalcastPolicies)
    }

    fn topic_style(self) -> TopicStyle {
        match self {
            Self::WalcastPolicies => TopicStyle::Routed,
            _ => TopicStyle::Plain,
        }
    }
}

/// Runs B3 (blocking: starts PostgreSQL, then a runtime).
pub fn run(args: B3Args) -> anyhow::Result<()> {
    let args = args.effective();
    ensure!(
        (1..=b1::MAX_SOCKETS_PER_PROCESS).contains(&args.per_process),
        "--per-process must be 1..=19000"
    );
    ensure!(
        args.subscribers.iter().all(|&k| k > 0),
        "--subscribers must be positive"
    );
    chat::with_database(|url, postmaster| async move { bench(&args, &url, postmaster).await })
}

/// What the run needs to start servers.
struct Setup<'a> {
    args: &'a B3Args,
    url: &'a str,
    connection: ConnectionConfig,
    sql: tokio_postgres::Client,
    walcast_bin: PathBuf,
    scratch: PathBuf,
    postmaster: u32,
    /// Slots made so far (each walcast instance gets a new one).
    slots: u32,
}

/// A running server.
struct Server {
    child: Child,
    addr: SocketAddr,
    slot: Option<String>,
}

/// One step's outcome.
#[derive(Debug, Clone, Copy, Default)]
struct Step {
    offered: u64,
    achieved: f64,
    p99_ms: f64,
    /// p99 within the goal and nothing lost.
    meets_goal: bool,
    /// p99 within the ceiling and nothing lost.
    sustained: bool,
    server_cpu_per_s: f64,
}

async fn bench(args: &B3Args, url: &str, postmaster: u32) -> anyhow::Result<()> {
    let connection = ConnectionConfig::from_url(url).context("bad database url")?;
    let sql = checks::connect_sql(&connection).await?;
    let version: String = sql.query_one("SHOW server_version", &[]).await?.get(0);
    let walcast_bin = chat::walcast_binary(args.walcast_bin.as_ref())?;
    let scratch = chat::scratch_dir()?;
    std::fs::write(scratch.join("walcast-product.toml"), chat::PRODUCT_CONFIG)?;
    chat::print_header(&format!(
        "B3 hot-conversation fan-out (B7: walcast + policies): PostgreSQL {version}"
    ));
    println!(
        "subscribers {:?}, ramp {:?} deliveries/s, servers {:?}, warm-up {} s, measured {} s, p99 limit {} ms, ≤ {} sockets per load process, ≥ {} load processes",
        args.subscribers,
        args.deliveries,
        args.servers,
        args.warmup,
        args.seconds,
        args.p99_limit_ms,
        args.per_process,
        args.min_processes
    );
    chat::prepare(&walcast_bin, &scratch, url, &sql, 1).await?;
    let mut setup = Setup {
        args,
        url,
        connection,
        sql,
        walcast_bin,
        scratch: scratch.clone(),
        postmaster,
        slots: 0,
    };
    let script = scratch.join("insert.sql");
    std::fs::write(&script, b1::writer_script(1))?;

    println!();
    println!(
        "| K | server | offered/s (rows/s) | delivered/s | p50 ms | p99 ms | p99.9 ms | max ms | lost | server CPU-s/s | deliveries per server CPU-s | PostgreSQL CPU-s/s (walsenders) | load CPU-s/s | frame B | within |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    let mut results: Vec<(u32, ServerKind, Vec<Step>)> = Vec::new();
    for &k in &args.subscribers {
        for &kind in &args.servers {
            // A ramp that fails (say, joins refused) is reported and the
            // run goes on with the next server.
            match ramp(&mut setup, kind, k, &script).await {
                Ok((steps, note)) => {
                    notes.push(note);
                    results.push((k, kind, steps));
                }
                Err(err) => {
                    notes.push(format!("K = {k}, {}: failed: {err:#}", kind.name()));
                    results.push((k, kind, Vec::new()));
                }
            }
        }
    }
    println!();
    for note in notes {
        println!("{note}");
    }
    for (title, pick) in [
        (
            format!("p99 ≤ {} ms (goal), nothing lost", args.p99_limit_ms),
            (|step: &Step| step.meets_goal) as fn(&Step) -> bool,
        ),
        (
            format!("p99 ≤ {} ms (ceiling), nothing lost", args.ceiling_p99_ms),
            |step: &Step| step.sustained,
        ),
    ] {
        println!();
        println!("Highest step with {title}:");
        println!();
        println!(
            "| K | server | delivered/s | offered/s | p99 ms | server CPU-s/s | deliveries per server CPU-s | walcast / this |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        let best = |k: u32, kind: ServerKind| {
            results
                .iter()
                .filter(|(rk, rkind, _)| *rk == k && *rkind == kind)
                .flat_map(|(_, _, steps)| steps.iter().filter(|step| pick(step)))
                .max_by(|a, b| a.achieved.total_cmp(&b.achieved))
                .copied()
        };
        for (k, kind, _) in &results {
            let Some(step) = best(*k, *kind) else {
                println!("| {k} | {} | none | | | | | |", kind.name());
                continue;
            };
            let ratio = match best(*k, ServerKind::Walcast) {
                Some(walcast) if *kind != ServerKind::Walcast => {
                    format!("{:.2}", walcast.achieved / step.achieved.max(1e-9))
                }
                _ => String::new(),
            };
            println!(
                "| {k} | {} | {:.0} | {} | {:.2} | {:.2} | {:.0} | {ratio} |",
                kind.name(),
                step.achieved,
                step.offered,
                step.p99_ms,
                step.server_cpu_per_s,
                step.achieved / step.server_cpu_per_s.max(1e-9),
            );
        }
    }
    println!("load average {} (end)", load_average());
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// One server, K subscribers, the whole ramp. Returns the steps and a note.
async fn ramp(
    setup: &mut Setup<'_>,
    kind: ServerKind,
    k: u32,
    script: &Path,
) -> anyhow::Result<(Vec<Step>, String)> {
    let args = setup.args;
    let server = start_server(setup, kind).await?;
    let token = match kind {
        ServerKind::WalcastPolicies => {
            sign_agent_token(DEV_JWT_SECRET, "agent-bench", TENANT, 24 * 3600)?
        }
        _ => sign_token(DEV_JWT_SECRET, "anon", 24 * 3600)?,
    };
    let processes = k.div_ceil(args.per_process).max(args.min_processes).min(k);
    let joining = Instant::now();
    let mut workers =
        subscribers::spawn_processes(server.addr, &token, k, processes, 1, kind.topic_style())
            .await?;
    let joined_in = joining.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let raw = match args.raw_reader && kind.is_walcast() {
        true => Some(RawReader::start(setup).await?),
        false => None,
    };
    let topic = kind.topic_style().topic(CONVERSATION);
    let mut steps = Vec::new();
    for &offered in &args.deliveries {
        let rate = u32::try_from(offered.div_ceil(u64::from(k)).max(1))?;
        let label = format!("{k}-{offered}");
        let start = unix_micros_now() + i64::try_from(args.warmup)? * 1_000_000;
        let end = start + i64::try_from(args.seconds)? * 1_000_000;
        let window = ipc::Command::Window {
            label: label.clone(),
            start,
            end,
        };
        for worker in &mut workers {
            worker.send(&window.line()).await?;
        }
        if let Some(raw) = &raw {
            lock(&raw.tally).set_window(start, end);
        }
        let duration = Duration::from_secs(args.warmup + args.seconds);
        let writer = if kind.is_walcast() {
            let (connection, script) = (setup.connection.clone(), script.to_owned());
            let connections = args.writer_connections;
            let seconds = args.warmup + args.seconds;
            tokio::spawn(async move {
                b1::run_pgbench(&connection, &script, rate, connections, seconds)
                    .await
                    .map(|summary| (None, summary))
            })
        } else {
            let (addr, topic) = (server.addr, topic.clone());
            tokio::spawn(async move {
                publisher::run(addr, &topic, CONVERSATION, rate, duration, (start, end))
                    .await
                    .map(|published| (Some(published), String::new()))
            })
        };
        sleep_until_micros(start).await;
        let before = CpuSnapshot::read(server.child.pid(), Some(setup.postmaster), &workers)?;
        let perf = match args.perf_at {
            Some(at) if at == offered && kind.is_walcast() => {
                Some(start_perf(&args.perf_dir, &server, kind, k, args.seconds)?)
            }
            _ => None,
        };
        sleep_until_micros(end).await;
        let after = CpuSnapshot::read(server.child.pid(), Some(setup.postmaster), &workers)?;
        let (published, writer_summary) = writer.await??;
        if let Some(mut perf) = perf {
            let _ = perf.wait().await;
        }
        tokio::time::sleep(DRAIN).await;

        let delivered = ipc::collect_reports(&mut workers, &label).await?;
        let rows = match published {
            Some(published) => published.in_window,
            None => rows_in_window(&setup.sql, start, end).await?,
        };
        let latencies = delivered.histogram("delivery");
        let summary = latencies.summary();
        let expected = rows * u64::from(k);
        let lost = expected.saturating_sub(latencies.count());
        let window_s = args.seconds as f64;
        let achieved = latencies.count() as f64 / window_s;
        let per_s = |field: fn(&CpuSnapshot) -> u64| after.seconds_since(&before, field) / window_s;
        let server_cpu = per_s(|r| r.server);
        let p99_ms = summary.p99 as f64 / 1000.0;
        let meets_goal = lost == 0 && rows > 0 && p99_ms <= args.p99_limit_ms;
        let sustained = lost == 0 && rows > 0 && p99_ms <= args.ceiling_p99_ms;
        let [p50, p99, p999, max] = summary.cells();
        println!(
            "| {k} | {} | {offered} ({rate}) | {achieved:.0} | {p50} | {p99} | {p999} | {max} | {lost} | {server_cpu:.2} | {:.0} | {:.2} ({:.2}) | {:.2} | {} | {} |",
            kind.name(),
            achieved / server_cpu.max(1e-9),
            per_s(|r| r.postgres),
            per_s(|r| r.walsenders),
            per_s(|r| r.load),
            delivered.counter("frame_bytes") / latencies.count().max(1),
            if meets_goal {
                "goal"
            } else if sustained {
                "ceiling"
            } else {
                "**no**"
            },
        );
        if let Some(raw) = &raw {
            let [p50, p99, p999, max] = lock(&raw.tally).latencies().summary().cells();
            eprintln!(
                "{label} {}: raw slot reader p50 {p50}, p99 {p99}, p99.9 {p999}, max {max} ms",
                kind.name()
            );
        }
        if !writer_summary.is_empty() || delivered.counter("closed") > 0 {
            eprintln!(
                "{label} {}: pgbench {writer_summary}; sockets closed so far {}; server waited {:.2} s for a CPU; steal {:.1} %; coordinator {:.2} CPU-s/s",
                kind.name(),
                delivered.counter("closed"),
                after.server_waited_since(&before),
                after.machine.steal_since(&before.machine) * 100.0,
                per_s(|r| r.coordinator),
            );
        }
        steps.push(Step {
            offered,
            achieved,
            p99_ms,
            meets_goal,
            sustained,
            server_cpu_per_s: server_cpu,
        });
        if !sustained && !args.keep_going {
            break;
        }
    }
    let note = format!(
        "K = {k}, {}: {k} sockets in {processes} load processes connected and joined in {:.2} s ({:.0} joins/s); RSS server {:.0} MiB, load processes {:.0} MiB",
        kind.name(),
        joined_in.as_secs_f64(),
        f64::from(k) / joined_in.as_secs_f64().max(1e-9),
        rss_bytes(server.child.pid()) as f64 / 1048576.0,
        workers.iter().map(|w| rss_bytes(w.pid())).sum::<u64>() as f64 / 1048576.0,
    );
    for worker in workers {
        worker.stop().await;
    }
    if let Some(raw) = raw {
        raw.stop(setup).await?;
    }
    stop_server(setup, server).await?;
    Ok((steps, note))
}

/// A raw slot reader on a slot of its own (`--raw-reader`).
struct RawReader {
    tally: Arc<Mutex<Windowed>>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    slot: String,
}

impl RawReader {
    async fn start(setup: &mut Setup<'_>) -> anyhow::Result<Self> {
        setup.slots += 1;
        let slot = format!("b3_raw_{}", setup.slots);
        setup
            .sql
            .execute(
                "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
                &[&slot],
            )
            .await?;
        let tally = Arc::new(Mutex::new(Windowed::default()));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (connection, slot) = (setup.connection.clone(), slot.clone());
            let (tally, shutdown) = (Arc::clone(&tally), shutdown.clone());
            async move {
                raw_reader::run(connection, &slot, "walcast", "messages", tally, shutdown).await
            }
        });
        Ok(Self {
            tally,
            shutdown,
            task,
            slot,
        })
    }

    async fn stop(self, setup: &Setup<'_>) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await??;
        drop_slot(setup, &self.slot).await
    }
}

async fn start_server(setup: &mut Setup<'_>, kind: ServerKind) -> anyhow::Result<Server> {
    match kind {
        ServerKind::Walcast | ServerKind::WalcastPolicies => {
            setup.slots += 1;
            let slot = format!("b3_{}", setup.slots);
            let config = if kind == ServerKind::Walcast {
                setup.scratch.join("walcast.toml")
            } else {
                setup.scratch.join("walcast-product.toml")
            };
            let server = chat::start_walcast_with(
                &setup.walcast_bin,
                &setup.scratch,
                setup.url,
                &config,
                &slot,
                setup.args.walcast_workers,
            )
            .await?;
            Ok(Server {
                child: server.child,
                addr: server.addr,
                slot: Some(slot),
            })
        }
        ServerKind::Bun | ServerKind::NodeWs => {
            let dir = std::fs::canonicalize(&setup.args.baselines).with_context(|| {
                format!("no baselines directory {}", setup.args.baselines.display())
            })?;
            let (program, script) = if kind == ServerKind::Bun {
                (dir.join("node_modules/bun/bin/bun.exe"), "bun_publish.js")
            } else {
                (PathBuf::from("node"), "ws_loop.mjs")
            };
            if kind == ServerKind::Bun && !program.is_file() {
                bail!(
                    "{} is missing: run `npm install` in {} (the scripts do)",
                    program.display(),
                    dir.display()
                );
            }
            let addr = chat::free_port()?;
            let mut command = Command::new(&program);
            command
                .arg(script)
                .current_dir(&dir)
                .env("PORT", addr.port().to_string());
            let child = Child::spawn(kind.name(), command)?;
            let started = Instant::now();
            while chat::http_get(addr, "/").await.is_none() {
                if started.elapsed() > LISTEN_TIMEOUT {
                    bail!("{} did not listen within {LISTEN_TIMEOUT:?}", kind.name());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(Server {
                child,
                addr,
                slot: None,
            })
        }
    }
}

/// Kills the server and drops its slot (once its walsender is gone).
async fn stop_server(setup: &Setup<'_>, server: Server) -> anyhow::Result<()> {
    server.child.kill().await;
    match server.slot {
        Some(slot) => drop_slot(setup, &slot).await,
        None => Ok(()),
    }
}

/// Drops `slot` once no walsender has it.
async fn drop_slot(setup: &Setup<'_>, slot: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        let dropped = setup
            .sql
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = $1 AND NOT active",
                &[&slot],
            )
            .await?;
        if dropped == 1 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("slot {slot} stayed active after its reader stopped")
}

async fn rows_in_window(sql: &tokio_postgres::Client, start: i64, end: i64) -> anyhow::Result<u64> {
    let rows: i64 = sql
        .query_one(
            "SELECT count(*) FROM messages WHERE created_at >= 'epoch'::timestamptz + $1 * interval '1 microsecond' \
             AND created_at < 'epoch'::timestamptz + $2 * interval '1 microsecond'",
            &[&(start as f64), &(end as f64)],
        )
        .await?
        .get(0);
    Ok(u64::try_from(rows)?)
}

async fn sleep_until_micros(at: i64) {
    let wait = at - unix_micros_now();
    if let Ok(micros) = u64::try_from(wait) {
        tokio::time::sleep(Duration::from_micros(micros)).await;
    }
}

/// `perf record -g -p <walcast>` for `seconds`, into
/// `<dir>/b3-<server>-<K>.perf.data`.
fn start_perf(
    dir: &Path,
    server: &Server,
    kind: ServerKind,
    k: u32,
    seconds: u64,
) -> anyhow::Result<tokio::process::Child> {
    let name = if kind == ServerKind::Walcast {
        "walcast"
    } else {
        "walcast-policies"
    };
    let output = dir.join(format!("b3-{name}-{k}.perf.data"));
    eprintln!("profiling {name} into {}", output.display());
    Command::new("perf")
        .args(["record", "-g", "-q", "-p"])
        .arg(server.child.pid().to_string())
        .arg("-o")
        .arg(&output)
        .args(["--", "sleep"])
        .arg(seconds.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run perf (apt-get install linux-perf)")
}
