//! B5, connect + token + join churn, and joins on open sockets, against
//! `walcast serve` (with its database and replication running, no writes)
//! and, in the same run and alternating ABBA per rate, against the ack
//! server (`ack_server.rs`), the box's ceiling for the same exchange.
//!
//! ```text
//!  per step (test, rate, server): spawn load processes ─▶ Ready ─▶ window [now + warm-up, + seconds)
//!     ─▶ open-loop schedule ─▶ drain ─▶ report ─▶ merged: achieved/s, errors, p50/p99/p99.9/max
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use replication::{ConnectionConfig, checks};
use tokio::process::Command;

use crate::load::chat;
use crate::load::client::TOKEN_ENV;
use crate::load::ipc::{self, Ready};
use crate::load::latency::Latencies;
use crate::load::process::{Child, CpuSnapshot, load_average};
use crate::load::protocol::{DEV_JWT_SECRET, sign_token, unix_micros_now};

/// Time after the schedule ends for the last answers (the load processes
/// wait up to 13 s for attempts in flight).
const DRAIN: Duration = Duration::from_secs(4);

/// Pause between steps, so that one step's closing sockets are gone.
const PAUSE: Duration = Duration::from_secs(2);

/// `load b5`.
#[derive(Debug, Clone, clap::Args)]
pub struct B5Args {
    /// A smoke run of seconds: one low rate of each test, 3 s each.
    #[arg(long)]
    pub quick: bool,
    /// Connect + join + close attempts per second, one step each.
    #[arg(long, value_delimiter = ',', default_value = "2000,5000,10000,20000")]
    pub churn_rates: Vec<u32>,
    /// Joins per second on open sockets, one step each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "20000,50000,100000,200000"
    )]
    pub join_rates: Vec<u32>,
    /// Open sockets of the join test (walcast allows 100 joins/s per socket).
    #[arg(long, default_value_t = 4_000)]
    pub connections: u32,
    /// Load processes per step.
    #[arg(long, default_value_t = 2)]
    pub processes: u32,
    /// Seconds of each step left out before measuring.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Seconds measured per step.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Churn: rise from 0 to each step's rate over the warm-up, instead of
    /// starting at it (both servers alike).
    #[arg(long)]
    pub ramp_up: bool,
    /// Which tests to run.
    #[arg(long, value_enum, default_value_t = Tests::Both)]
    pub tests: Tests,
    /// The walcast binary (default: next to this one).
    #[arg(long)]
    pub walcast_bin: Option<std::path::PathBuf>,
}

/// Which B5 tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tests {
    /// Connect + join + close.
    Churn,
    /// Joins and leaves on open sockets.
    Joins,
    /// Both.
    Both,
}

impl B5Args {
    fn effective(mut self) -> Self {
        if self.quick {
            self.churn_rates = vec![500];
            self.join_rates = vec![5_000];
            self.connections = 200;
            self.warmup = 1;
            self.seconds = 3;
        }
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    Churn,
    Joins,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Walcast,
    Ack,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Self::Walcast => "walcast serve",
            Self::Ack => "ack server (baseline)",
        }
    }
}

/// Runs B5 (blocking: starts PostgreSQL, then a runtime).
pub fn run(args: B5Args) -> anyhow::Result<()> {
    let args = args.effective();
    let (cluster, url) = chat::start_database()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(bench(&args, &url));
    drop(runtime);
    drop(cluster);
    result
}

async fn bench(args: &B5Args, url: &str) -> anyhow::Result<()> {
    let connection = ConnectionConfig::from_url(url).context("bad database url")?;
    let sql = checks::connect_sql(&connection).await?;
    let walcast_bin = chat::walcast_binary(args.walcast_bin.as_ref())?;
    let scratch = chat::scratch_dir()?;
    chat::print_header("B5 connect + join churn");
    chat::prepare(&walcast_bin, &scratch, url, &sql, 1000).await?;
    let walcast = chat::start_walcast(&walcast_bin, &scratch, url).await?;
    let exe = std::env::current_exe()?;
    let mut ack = Child::spawn("ack server", {
        let mut command = Command::new(&exe);
        command.arg("ack-server");
        command
    })?;
    let listening: serde_json::Value = ack.read_json(Duration::from_secs(10)).await?;
    let ack_addr: SocketAddr = listening["listening"]
        .as_str()
        .context("ack server address")?
        .parse()?;
    let token = sign_token(DEV_JWT_SECRET, "anon", 24 * 3600)?;

    println!(
        "{} load processes per step, warm-up {} s{}, measured {} s; churn: new socket per attempt; joins: {} open sockets",
        args.processes,
        args.warmup,
        if args.ramp_up {
            " (churn ramps up over it)"
        } else {
            ""
        },
        args.seconds,
        args.connections
    );
    println!();
    println!(
        "| test | server | offered /s | ok /s | errors | p50 ms | p99 ms | p99.9 ms | max ms | join sent→reply p99 ms | server CPU s (waiting for CPU s) | load CPU s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut steps = Vec::new();
    if matches!(args.tests, Tests::Churn | Tests::Both) {
        steps.extend(args.churn_rates.iter().map(|&rate| (Test::Churn, rate)));
    }
    if matches!(args.tests, Tests::Joins | Tests::Both) {
        steps.extend(args.join_rates.iter().map(|&rate| (Test::Joins, rate)));
    }
    for (index, (test, rate)) in steps.into_iter().enumerate() {
        // ABBA: each rate starts with the other server than the last one did.
        let order = if index % 2 == 0 {
            [Server::Walcast, Server::Ack]
        } else {
            [Server::Ack, Server::Walcast]
        };
        for server in order {
            let (addr, pid) = match server {
                Server::Walcast => (walcast.addr, walcast.child.pid()),
                Server::Ack => (ack_addr, ack.pid()),
            };
            step(args, &exe, &token, test, rate, server, addr, pid).await?;
            tokio::time::sleep(PAUSE).await;
        }
    }
    println!();
    println!("load average {} (end)", load_average());
    ack.stop().await;
    walcast.child.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site, every value distinct"
)]
async fn step(
    args: &B5Args,
    exe: &std::path::Path,
    token: &str,
    test: Test,
    rate: u32,
    server: Server,
    addr: SocketAddr,
    server_pid: u32,
) -> anyhow::Result<()> {
    let processes = args.processes.max(1);
    let mut workers = Vec::new();
    for n in 0..processes {
        let mut command = Command::new(exe);
        command
            .arg(match test {
                Test::Churn => "churn",
                Test::Joins => "joins",
            })
            .arg(format!("--addr={addr}"))
            .arg(format!("--rate={}", f64::from(rate) / f64::from(processes)))
            .arg(format!("--connections={}", args.connections / processes))
            .args((args.ramp_up && test == Test::Churn).then_some("--ramp"))
            .env(TOKEN_ENV, token);
        workers.push(Child::spawn(format!("load process {n}"), command)?);
    }
    for worker in &mut workers {
        let ready: Ready = worker.read_json(Duration::from_secs(120)).await?;
        if ready.failed > 0 {
            bail!(
                "{}: {} sockets failed to open: {}",
                worker.name(),
                ready.failed,
                ready.first_error.unwrap_or_default()
            );
        }
    }
    let start = unix_micros_now() + i64::try_from(args.warmup)? * 1_000_000;
    let end = start + i64::try_from(args.seconds)? * 1_000_000;
    let label = format!("{rate}");
    let window = ipc::Command::Window {
        label: label.clone(),
        start,
        end,
    };
    for worker in &mut workers {
        worker.send(&window.line()).await?;
    }
    // B5 reports the server and the load processes only.
    let before = CpuSnapshot::read(server_pid, None, &workers)?;
    let until_end = u64::try_from(end - unix_micros_now()).unwrap_or(0);
    tokio::time::sleep(Duration::from_micros(until_end) + DRAIN).await;
    let after = CpuSnapshot::read(server_pid, None, &workers)?;
    let server_cpu = after.seconds_since(&before, |r| r.server);
    let server_waited = after.server_waited_since(&before);
    let load_cpu = after.seconds_since(&before, |r| r.load);
    let merged = ipc::collect_reports(&mut workers, &label).await?;
    for worker in workers {
        worker.stop().await;
    }
    let total: Latencies = merged.histogram("connect_join");
    let join_ack = merged.histogram("join_ack");
    let [p50, p99, p999, max] = total.summary().cells();
    let errors: Vec<String> = merged
        .counters
        .iter()
        .filter(|(name, value)| !matches!(name.as_str(), "ok" | "attempts") && **value > 0)
        .map(|(name, value)| format!("{name} {value}"))
        .collect();
    let join_p99 = crate::load::latency::format_ms(join_ack.summary().p99);
    println!(
        "| {} | {} | {rate} | {:.0} | {} | {p50} | {p99} | {p999} | {max} | {join_p99} | {server_cpu:.2} ({server_waited:.2}) | {load_cpu:.2} |",
        match test {
            Test::Churn => "connect+join+close",
            Test::Joins => "join+leave, open sockets",
        },
        server.name(),
        merged.counter("ok") as f64 / args.seconds as f64,
        if errors.is_empty() {
            "0".to_owned()
        } else {
            errors.join(", ")
        },
    );
    if let Some(err) = &merged.first_error {
        eprintln!("  first error ({}): {err}", server.name());
    }
    Ok(())
}
