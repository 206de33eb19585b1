//! `load`: the WebSocket load harness and benchmarks B1 (commit → client
//! latency), B3/B7 (hot-conversation fan-out, without and with the
//! product's policies) and B5 (connect + join churn). Run them with
//! `crates/bench/scripts/b1_latency.sh`, `b3_fanout.sh`, `b7_policies.sh`
//! and `b5_churn.sh`.

use bench::load::{ack_server, b1, b3, b5, churn, subscribers};
use clap::{Parser, Subcommand};

/// Multi-process WebSocket load against walcast, with same-run baselines.
#[derive(Debug, Parser)]
#[command(name = "load")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// B1: commit → client latency, with a raw slot reader and a wal2json poller in the same run.
    B1(b1::B1Args),
    /// B3 (and B7 with walcast-policies): hot-conversation fan-out ramp, with Bun and Node ws in the same run.
    B3(b3::B3Args),
    /// B5: connect + join churn and joins on open sockets, with the ack server in the same run.
    B5(b5::B5Args),
    /// Load process: subscribed sockets timing change frames (child of `b1`).
    Subscribers(subscribers::SubscriberArgs),
    /// Load process: open-loop connect + join + close (child of `b5`).
    Churn(churn::ChurnArgs),
    /// Load process: open-loop joins and leaves on open sockets (child of `b5`).
    Joins(churn::ChurnArgs),
    /// The baseline server: answers every join at once, does nothing else.
    AckServer(ack_server::AckServerArgs),
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
    match args.command {
        Command::B1(args) => b1::run(args),
        Command::B3(args) => b3::run(args),
        Command::B5(args) => b5::run(args),
        Command::Subscribers(args) => subscribers::run(args),
        Command::Churn(args) => churn::run_churn(args),
        Command::Joins(args) => churn::run_joins(args),
        Command::AckServer(args) => ack_server::run(args),
    }
}
