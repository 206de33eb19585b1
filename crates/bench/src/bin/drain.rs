//! `drain`: empties pre-filled replication slots through walcast and through
//! `pg_recvlogical`, in the same run on the same server, and prints both
//! rates. Run it with `crates/bench/scripts/drain.sh` (release build);
//! `--subscriptions 0,10000,100000` runs walcast's side through a gateway
//! holding that many subscriptions (B2).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bench::fixture::{self, Workload};
use bench::load::process::load_average;
use bench::report;
use bench::run::Tool;
use bench::scenario::{BenchTarget, ScenarioPlan, run_scenario};
use bench::subscribers::{self, Subscribers};
use clap::{Parser, Subcommand, ValueEnum};
use pgcluster::{Cluster, ClusterOptions};
use replication::{ConnectionConfig, checks};

/// Drains a pre-filled slot through walcast and through pg_recvlogical.
#[derive(Debug, Parser)]
#[command(name = "drain")]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Use this database instead of a throwaway cluster. Needs CREATE and
    /// REPLICATION; replaces schema and publication `walcast_bench`.
    #[arg(long, env = "WALCAST_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Small backlogs (20k transactions; 4k x 10 rows): a smoke run.
    #[arg(long)]
    quick: bool,
    /// Which scenarios to run.
    #[arg(long, value_enum, default_value_t = Scenarios::All)]
    scenario: Scenarios,
    /// Drains per tool and scenario, in ABBA order. The host's speed drifts
    /// by tens of percent over minutes, so fewer rounds give a verdict that
    /// flips from run to run.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=8))]
    rounds: u32,
    /// Worker threads of the benchmark's tokio runtime (walcast's stream and
    /// decoder run on it); 0 runs everything on one current-thread runtime.
    /// Default: one per core.
    #[arg(long)]
    worker_threads: Option<usize>,
    /// Run only one tool, e.g. to profile it alone.
    #[arg(long, value_enum)]
    only: Option<OnlyTool>,
    /// The pg_recvlogical to compare with (default: the server's version
    /// under /usr/lib/postgresql, else PATH).
    #[arg(long)]
    pg_recvlogical: Option<PathBuf>,
    /// Publish walcast's side into a gateway holding this many
    /// subscriptions (comma-separated: one scenario each), held over real
    /// sockets by a client process; each row reaches exactly one of them.
    /// Without it, walcast's side stops after decoding.
    #[arg(long, value_delimiter = ',')]
    subscriptions: Vec<usize>,
    /// Rows in each backlog (default 400k single-row transactions and
    /// 800k rows in transactions of ten; B2 uses 2M).
    #[arg(long)]
    changes: Option<u64>,
    /// With `--subscriptions`: how many of the backlog's 100 conversations
    /// (each 1% of its rows) one subscription watches; the rows of the
    /// others match no subscription. B2 watches 1%.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    watched: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The client process behind `--subscriptions` (started by the
    /// benchmark itself).
    #[command(hide = true)]
    Subscribers(subscribers::ClientArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnlyTool {
    /// walcast's pipeline.
    Walcast,
    /// pg_recvlogical.
    PgRecvlogical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenarios {
    /// Single-row transactions.
    Single,
    /// Ten rows per transaction.
    Batched,
    /// Both.
    All,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Some(Command::Subscribers(client)) = args.command {
        return subscribers::client_main(client);
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; figures mean nothing without --release");
    }

    // The cluster outlives the runtime, so no connection sees it stop.
    let (_cluster, url) = match &args.database_url {
        Some(url) => (None, url.clone()),
        None => {
            let cluster = Cluster::start(ClusterOptions::throwaway())?;
            cluster.create_database("bench")?;
            let url = cluster.url("bench");
            (Some(cluster), url)
        }
    };
    let runtime = match args.worker_threads {
        Some(0) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some(threads) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?,
        None => tokio::runtime::Runtime::new()?,
    };
    let result = runtime.block_on(bench(&args, &url));
    drop(runtime);
    result
}

async fn bench(args: &Args, url: &str) -> anyhow::Result<()> {
    let connection = ConnectionConfig::from_url(url).context("bad --database-url")?;
    let sql = Arc::new(checks::connect_sql(&connection).await?);
    let version: String = sql.query_one("SHOW server_version", &[]).await?.get(0);
    let version_num: String = sql.query_one("SHOW server_version_num", &[]).await?.get(0);
    let recvlogical = match args.pg_recvlogical.clone() {
        Some(path) => path,
        None => bench::recvlogical::locate(version_num.parse().unwrap_or(0))?,
    };

    println!(
        "walcast drain benchmark: PostgreSQL {version}, {} cores, load average {} (start)",
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average()
    );
    println!("command: {}", command_line());
    println!("baseline: {} <args below>", recvlogical.display());
    fixture::prepare(&sql).await?;

    let target = BenchTarget {
        connection,
        sql,
        recvlogical,
    };
    let mut results = Vec::new();
    for plan in plans(args) {
        if args.subscriptions.is_empty() {
            results.push(run_plan(&target, &plan).await?);
            continue;
        }
        for &count in &args.subscriptions {
            let mut watched = fixture::conversation_ids(&target.sql).await?;
            watched.truncate(args.watched as usize);
            if count != 0 && count < watched.len() {
                anyhow::bail!(
                    "--subscriptions: 0 or at least --watched ({})",
                    watched.len()
                );
            }
            let started = std::time::Instant::now();
            let subscribers = Subscribers::start(count, &watched).await?;
            println!(
                "\n{count} subscriptions ({} watching a conversation of the backlog) joined over {} sockets in {:.1} s",
                watched.len().min(count),
                count
                    .div_ceil(subscribers::CHANNELS_PER_SOCKET)
                    .max(watched.len().min(count)),
                started.elapsed().as_secs_f64()
            );
            let mut plan = plan.clone();
            plan.workload.name = format!("{}+{}", plan.workload.name, subscription_label(count));
            plan.gateway = Some(subscribers.gateway.clone());
            if count > 10_000 {
                plan.goal = report::GOAL_RATIO_MANY;
            }
            let result = run_plan(&target, &plan).await?;
            // Every drain delivered each row to exactly one channel.
            let walcast_runs = result
                .runs
                .iter()
                .filter(|run| run.tool == Tool::Walcast)
                .count() as u64;
            // The fill writes to its 100 conversations in turn.
            let expected = if count == 0 {
                0
            } else {
                plan.workload.rows() * walcast_runs * args.watched / 100
            };
            let received = subscribers
                .wait_received(expected, std::time::Duration::from_secs(120))
                .await;
            let evictions = subscribers.evictions();
            println!(
                "  deliveries: {received} of {expected} received by the client process, {evictions} slow-consumer closes"
            );
            subscribers.stop().await;
            if received != expected || evictions > 0 {
                anyhow::bail!("the subscriptions did not receive every row exactly once");
            }
            results.push(result);
        }
    }

    println!("\n{}", report::summary(&results));
    println!("load average {} (end)", load_average());
    Ok(())
}

/// `10000` → `10k`.
fn subscription_label(count: usize) -> String {
    if count >= 1000 && count % 1000 == 0 {
        format!("{}k", count / 1000)
    } else {
        count.to_string()
    }
}

/// Fills the plan's backlog and runs its drains, printing each run.
async fn run_plan(
    target: &BenchTarget,
    plan: &ScenarioPlan,
) -> anyhow::Result<bench::scenario::ScenarioResult> {
    let name = plan.workload.name.clone();
    {
        let on_filled = |backlog: &_| {
            println!("\n{}", report::backlog_line(backlog));
            println!(
                "  pg_recvlogical {}",
                bench::recvlogical::arguments(&target.connection, "<slot>", backlog).join(" ")
            );
            println!("{}", report::run_header());
        };
        let on_run = |run: &_| println!("{}", report::run_line(&name, run));
        run_scenario(target, plan, on_run, on_filled).await
    }
}

/// Scenario A (single-row transactions, pg_recvlogical first) and B (ten
/// rows per transaction, walcast first).
fn plans(args: &Args) -> Vec<ScenarioPlan> {
    let scale = if args.quick { 20 } else { 1 };
    let only = args.only.map(|only| match only {
        OnlyTool::Walcast => Tool::Walcast,
        OnlyTool::PgRecvlogical => Tool::PgRecvlogical,
    });
    let single = ScenarioPlan {
        workload: Workload {
            name: "single".to_owned(),
            transactions: args.changes.unwrap_or(400_000) / scale,
            rows_per_transaction: 1,
        },
        rounds: args.rounds,
        first: Tool::PgRecvlogical,
        only,
        gateway: None,
        goal: report::GOAL_RATIO,
    };
    let batched = ScenarioPlan {
        workload: Workload {
            name: "batched".to_owned(),
            transactions: args.changes.unwrap_or(800_000) / 10 / scale,
            rows_per_transaction: 10,
        },
        rounds: args.rounds,
        first: Tool::Walcast,
        only,
        gateway: None,
        goal: report::GOAL_RATIO,
    };
    match args.scenario {
        Scenarios::Single => vec![single],
        Scenarios::Batched => vec![batched],
        Scenarios::All => vec![single, batched],
    }
}

/// This program's arguments, with the database URL (it may hold a
/// password) left out.
fn command_line() -> String {
    let mut shown = Vec::new();
    let mut hide_next = false;
    for arg in std::env::args() {
        if std::mem::take(&mut hide_next) {
            shown.push("<url>".to_owned());
        } else if arg == "--database-url" {
            hide_next = true;
            shown.push(arg);
        } else if arg.starts_with("--database-url=") {
            shown.push("--database-url=<url>".to_owned());
        } else {
            shown.push(arg);
        }
    }
    shown.join(" ")
}
