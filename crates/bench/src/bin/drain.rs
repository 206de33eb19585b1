//! `drain`: empties pre-filled replication slots through walcast and through
//! `pg_recvlogical`, in the same run on the same server, and prints both
//! rates. Run it with `crates/bench/scripts/drain.sh` (release build).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bench::fixture::{self, Workload};
use bench::report;
use bench::run::Tool;
use bench::scenario::{BenchTarget, ScenarioPlan, run_scenario};
use clap::{Parser, ValueEnum};
use pgcluster::{Cluster, ClusterOptions};
use replication::{ConnectionConfig, checks};

/// Drains a pre-filled slot through walcast and through pg_recvlogical.
#[derive(Debug, Parser)]
#[command(name = "drain")]
struct Args {
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
        let name = plan.workload.name;
        let on_filled = |backlog: &_| {
            println!("\n{}", report::backlog_line(backlog));
            println!(
                "  pg_recvlogical {}",
                bench::recvlogical::arguments(&target.connection, "<slot>", backlog).join(" ")
            );
            println!("{}", report::run_header());
        };
        let on_run = |run: &_| println!("{}", report::run_line(name, run));
        results.push(run_scenario(&target, &plan, on_run, on_filled).await?);
    }

    println!("\n{}", report::summary(&results));
    println!("load average {} (end)", load_average());
    Ok(())
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
            name: "single",
            transactions: 400_000 / scale,
            rows_per_transaction: 1,
        },
        rounds: args.rounds,
        first: Tool::PgRecvlogical,
        only,
    };
    let batched = ScenarioPlan {
        workload: Workload {
            name: "batched",
            transactions: 80_000 / scale,
            rows_per_transaction: 10,
        },
        rounds: args.rounds,
        first: Tool::Walcast,
        only,
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

/// The first three fields of `/proc/loadavg`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "n/a".to_owned())
}
