//! B1, commit → client latency: `walcast serve` with `clients` sockets
//! spread over `conversations` conversations, an open-loop writer
//! (`pgbench -R`) inserting into `messages` at each rate, and latency =
//! client receive time − the row's `created_at`. In the same run, on the
//! same writes: a raw slot reader (walcast's replication stream and decoder
//! on a second slot) and a Supabase-style wal2json poller (a third slot).
//!
//! ```text
//!  pgbench -R ──INSERT──▶ PostgreSQL ──slot walcast──▶ walcast serve ──WS──▶ load processes (≤ 19,000 sockets each)
//!                             ├──slot load_raw──────▶ raw reader (this process)
//!                             └──slot load_wal2json─▶ poller every 100 ms (this process)
//! ```
//!
//! Per rate: a window `[now + warm-up, + seconds)` goes to every reader;
//! only rows created inside it count, so warm-up rows and late stragglers
//! are left out the same way for all three paths.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use replication::{ConnectionConfig, checks};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::cpu::seconds;
use crate::load::chat::{self, TENANT};
use crate::load::ipc;
use crate::load::latency::{Latencies, Windowed, format_ms};
use crate::load::lock;
use crate::load::process::{Child, CpuSnapshot, cpu_ticks, load_average, rss_bytes};
use crate::load::protocol::{DEV_JWT_SECRET, sign_token, unix_micros_now};
use crate::load::{poller, raw_reader, subscribers};

/// Sockets per load process at most: the fd limit is 20,000 per process.
pub const MAX_SOCKETS_PER_PROCESS: u32 = 19_000;

/// The slot of the raw reader and of the poller.
const RAW_SLOT: &str = "load_raw";
const WAL2JSON_SLOT: &str = "load_wal2json";

/// Time after the writer stops for the last rows to arrive.
const DRAIN: Duration = Duration::from_secs(3);

/// `load b1`.
#[derive(Debug, Clone, clap::Args)]
pub struct B1Args {
    /// A smoke run of seconds: 1,000 clients over 100 conversations, 1,000 inserts/s, 2 s warm-up, 5 s measured.
    #[arg(long)]
    pub quick: bool,
    /// Insert rates (rows/s), one measured phase each.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000")]
    pub rates: Vec<u32>,
    /// Client sockets, each joined to one conversation.
    #[arg(long, default_value_t = 10_000)]
    pub clients: u32,
    /// Conversations (clients / conversations subscribers each).
    #[arg(long, default_value_t = 1_000)]
    pub conversations: u32,
    /// Sockets per load process (at most 19,000).
    #[arg(long, default_value_t = 5_000)]
    pub per_process: u32,
    /// Seconds of each phase left out before measuring.
    #[arg(long, default_value_t = 10)]
    pub warmup: u64,
    /// Seconds measured per phase.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// pgbench client connections.
    #[arg(long, default_value_t = 8)]
    pub writer_connections: u32,
    /// The walcast binary (default: next to this one).
    #[arg(long)]
    pub walcast_bin: Option<std::path::PathBuf>,
    /// Leave the wal2json poller out entirely (a diagnostic run).
    #[arg(long)]
    pub no_poller: bool,
    /// Run the wal2json poller only in phases up to this rate. Each of its
    /// calls decodes the slot again from its restart point, which on this
    /// box takes 0.4–0.6 of a core already at 1,000 rows/s, taken from
    /// walcast's share; above ~2,000 rows/s it falls behind for good.
    #[arg(long, default_value_t = 1_000)]
    pub poller_max_rate: u32,
}

impl B1Args {
    fn effective(mut self) -> Self {
        if self.quick {
            self.clients = 1_000;
            self.conversations = 100;
            self.rates = vec![1_000];
            self.warmup = 2;
            self.seconds = 5;
        }
        self
    }
}

/// Runs B1 (blocking: starts PostgreSQL, then a runtime).
pub fn run(args: B1Args) -> anyhow::Result<()> {
    let args = args.effective();
    ensure!(
        args.conversations > 0 && args.clients % args.conversations == 0,
        "--clients must be a multiple of --conversations"
    );
    ensure!(
        (1..=MAX_SOCKETS_PER_PROCESS).contains(&args.per_process),
        "--per-process must be 1..=19000"
    );
    chat::with_database(|url, postmaster| async move { bench(&args, &url, postmaster).await })
}

/// CPU ticks of every process at one moment (walcast is the snapshot's
/// server; its walsenders are walcast's and the raw reader's).
#[derive(Debug, Clone, Copy, Default)]
struct CpuReading {
    cpu: CpuSnapshot,
    /// The backend running the poller's `pg_logical_slot_get_changes`.
    poller_backend: u64,
}

async fn bench(args: &B1Args, url: &str, postmaster: u32) -> anyhow::Result<()> {
    let connection = ConnectionConfig::from_url(url).context("bad database url")?;
    let sql = checks::connect_sql(&connection).await?;
    let version: String = sql.query_one("SHOW server_version", &[]).await?.get(0);
    let walcast_bin = chat::walcast_binary(args.walcast_bin.as_ref())?;
    let scratch = chat::scratch_dir()?;
    chat::print_header(&format!("B1 commit→client latency: PostgreSQL {version}"));
    println!(
        "{} clients over {} conversations ({} subscribers each), rates {:?}/s, warm-up {} s, measured {} s, {} sockets per load process",
        args.clients,
        args.conversations,
        args.clients / args.conversations,
        args.rates,
        args.warmup,
        args.seconds,
        args.per_process
    );

    chat::prepare(&walcast_bin, &scratch, url, &sql, args.conversations).await?;
    sql.execute(
        "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
        &[&RAW_SLOT],
    )
    .await?;
    if !args.no_poller {
        sql.execute(
        "SELECT pg_create_logical_replication_slot($1, 'wal2json')",
        &[&WAL2JSON_SLOT],
    )
    .await
    .context(
        "cannot create the wal2json slot (apt-get install postgresql-15-wal2json; the script does)",
    )?;
    }
    let walcast = chat::start_walcast(&walcast_bin, &scratch, url).await?;
    eprintln!(
        "walcast ready on {} (log {})",
        walcast.addr,
        walcast.log.display()
    );

    let shutdown = CancellationToken::new();
    let raw = Arc::new(Mutex::new(Windowed::default()));
    let polled = Arc::new(Mutex::new(Windowed::default()));
    let raw_task = tokio::spawn(raw_reader::run(
        connection.clone(),
        RAW_SLOT,
        "walcast",
        "messages",
        Arc::clone(&raw),
        shutdown.clone(),
    ));
    let poll_sql = checks::connect_sql(&connection).await?;
    let poller_pid: Option<u32> = if args.no_poller {
        None
    } else {
        let pid: i32 = poll_sql
            .query_one("SELECT pg_backend_pid()", &[])
            .await?
            .get(0);
        u32::try_from(pid).ok()
    };
    let poller_on = Arc::new(AtomicBool::new(false));
    let poll_task = (!args.no_poller).then(|| {
        let (polled, on, shutdown) = (
            Arc::clone(&polled),
            Arc::clone(&poller_on),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            poller::run(&poll_sql, WAL2JSON_SLOT, "messages", polled, on, shutdown).await
        })
    });

    let token = sign_token(DEV_JWT_SECRET, "anon", 24 * 3600)?;
    let mut workers = spawn_subscribers(args, walcast.addr, &token).await?;
    let health = chat::http_get(walcast.addr, "/health")
        .await
        .unwrap_or_default();
    eprintln!(
        "all {} clients joined; walcast /health: {}",
        args.clients,
        health.lines().last().unwrap_or("")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    let script = scratch.join("insert.sql");
    std::fs::write(&script, writer_script(args.conversations))?;
    let per_row = u64::from(args.clients / args.conversations);
    println!();
    println!(
        "| rate | path | rows | deliveries (expected) | p50 ms | p99 ms | p99.9 ms | max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for &rate in &args.rates {
        let label = format!("{rate}/s");
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
        for tally in [&raw, &polled] {
            tally
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .set_window(start, end);
        }
        let polling = !args.no_poller && rate <= args.poller_max_rate;
        poller_on.store(polling, Ordering::Relaxed);
        let before = reading(&walcast.child, &workers, postmaster, poller_pid)?;
        let pgbench = run_pgbench(
            &connection,
            &script,
            rate,
            args.writer_connections,
            args.warmup + args.seconds,
        )
        .await?;
        tokio::time::sleep(DRAIN).await;
        let after = reading(&walcast.child, &workers, postmaster, poller_pid)?;

        let delivered = ipc::collect_reports(&mut workers, &label).await?;
        let rows: i64 = sql
            .query_one(
                "SELECT count(*) FROM messages WHERE created_at >= 'epoch'::timestamptz + $1 * interval '1 microsecond' \
                 AND created_at < 'epoch'::timestamptz + $2 * interval '1 microsecond'",
                &[&(start as f64), &(end as f64)],
            )
            .await?
            .get(0);
        let rows = u64::try_from(rows)?;
        let walcast_latencies = delivered.histogram("delivery");
        let raw_latencies = lock(&raw).latencies().clone();
        let polled_latencies = lock(&polled).latencies().clone();
        row(
            &label,
            "walcast → client",
            rows,
            &walcast_latencies,
            Some(rows * per_row),
        );
        row(
            &label,
            "raw slot reader (baseline)",
            rows,
            &raw_latencies,
            Some(rows),
        );
        if polling {
            row(
                &label,
                "wal2json poller, 100 ms (baseline)",
                rows,
                &polled_latencies,
                Some(rows),
            );
        } else {
            println!(
                "| {label} | wal2json poller, 100 ms (baseline) | not run above --poller-max-rate | | | | | |"
            );
        }
        let added = walcast_latencies.summary().p99 as f64 - raw_latencies.summary().p99 as f64;
        let window_s = (after.cpu.seconds_since(&before.cpu, |r| r.machine.total) / 2.0).max(1e-9);
        notes.push(format!(
            "{label}: walcast adds {} ms p99 over the raw slot reader; p99 poller / walcast {}; {} frames unreadable, {} outside window; \
             CPU over {:.1} s: walcast {:.2} s (and {:.2} s runnable but waiting for a CPU), postgres {:.2} s (walsenders {:.2} s, poller backend {:.2} s), load processes {:.2} s, coordinator (raw reader + poller) {:.2} s, pgbench {:.2} s, steal {:.1} %; \
             RSS walcast {:.0} MiB, load processes {:.0} MiB; pgbench: {}",
            format_ms_signed(added),
            if polling {
                format!(
                    "{:.1}x",
                    polled_latencies.summary().p99 as f64
                        / walcast_latencies.summary().p99.max(1) as f64
                )
            } else {
                "(poller not run)".to_owned()
            },
            delivered.counter("unreadable"),
            delivered.counter("outside_window"),
            window_s,
            after.cpu.seconds_since(&before.cpu, |r| r.server),
            after.cpu.server_waited_since(&before.cpu),
            after.cpu.seconds_since(&before.cpu, |r| r.postgres),
            after.cpu.seconds_since(&before.cpu, |r| r.walsenders),
            seconds(after.poller_backend.saturating_sub(before.poller_backend)),
            after.cpu.seconds_since(&before.cpu, |r| r.load),
            after.cpu.seconds_since(&before.cpu, |r| r.coordinator),
            after.cpu.seconds_since(&before.cpu, |r| r.children),
            after.cpu.machine.steal_since(&before.cpu.machine) * 100.0,
            rss_bytes(walcast.child.pid()) as f64 / 1048576.0,
            workers.iter().map(|w| rss_bytes(w.pid())).sum::<u64>() as f64 / 1048576.0,
            pgbench,
        ));
    }
    println!();
    for note in notes {
        println!("{note}");
    }
    println!("load average {} (end)", load_average());

    shutdown.cancel();
    for worker in workers {
        worker.stop().await;
    }
    walcast.child.stop().await;
    let _ = raw_task.await;
    if let Some(task) = poll_task {
        let _ = task.await;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

fn row(label: &str, path: &str, rows: u64, latencies: &Latencies, expected: Option<u64>) {
    let [p50, p99, p999, max] = latencies.summary().cells();
    let expected = expected.map_or(String::new(), |n| format!(" ({n})"));
    println!(
        "| {label} | {path} | {rows} | {}{expected} | {p50} | {p99} | {p999} | {max} |",
        latencies.count()
    );
}

fn format_ms_signed(micros: f64) -> String {
    if micros < 0.0 {
        format!("-{}", format_ms((-micros) as u64))
    } else {
        format_ms(micros as u64)
    }
}

fn reading(
    walcast: &Child,
    workers: &[Child],
    postmaster: u32,
    poller_backend: Option<u32>,
) -> anyhow::Result<CpuReading> {
    Ok(CpuReading {
        cpu: CpuSnapshot::read(walcast.pid(), Some(postmaster), workers)?,
        poller_backend: poller_backend.map_or(0, cpu_ticks),
    })
}

async fn spawn_subscribers(
    args: &B1Args,
    addr: std::net::SocketAddr,
    token: &str,
) -> anyhow::Result<Vec<Child>> {
    subscribers::spawn_processes(
        addr,
        token,
        args.clients,
        args.clients.div_ceil(args.per_process),
        args.conversations,
        subscribers::TopicStyle::Plain,
    )
    .await
}

/// pgbench's transaction: one message into a random conversation, a
/// 120-byte body, `created_at` from the default `now()`.
pub(crate) fn writer_script(conversations: u32) -> String {
    let body = "the quick brown fox jumps over the lazy dog ".repeat(3);
    format!(
        "\\set c random(0, {})\n\
         INSERT INTO messages (conversation_id, tenant_id, sender_type, body) \
         VALUES (('00000000-0000-4000-8000-' || lpad(:c::text, 12, '0'))::uuid, '{TENANT}', 'visitor', '{}');\n",
        conversations - 1,
        &body[..120]
    )
}

/// Runs pgbench with `connections` clients at `rate` for `seconds`;
/// returns its summary lines (rate achieved, schedule lag).
pub(crate) async fn run_pgbench(
    connection: &ConnectionConfig,
    script: &std::path::Path,
    rate: u32,
    connections: u32,
    seconds: u64,
) -> anyhow::Result<String> {
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-j", "1"])
        .arg(format!("-c{connections}"))
        .arg(format!("-R{rate}"))
        .arg(format!("-T{seconds}"))
        .arg("-f")
        .arg(script)
        .args([
            "-h",
            &connection.host,
            "-p",
            &connection.port.to_string(),
            "-U",
            &connection.user,
        ])
        .arg(&connection.dbname)
        .env("PGPASSWORD", connection.password.as_deref().unwrap_or(""))
        .output()
        .await
        .context("cannot run pgbench")?;
    if !output.status.success() {
        bail!(
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .lines()
        .filter(|line| {
            line.contains("tps =")
                || line.contains("schedule lag")
                || line.contains("latency average")
        })
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; "))
}
