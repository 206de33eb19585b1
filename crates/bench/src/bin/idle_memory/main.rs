//! `idle-memory`: user-space memory per idle WebSocket connection, each
//! joined to one channel with one filtered `postgres_changes` binding
//! (BENCHMARKS.md, B4). Run it with `crates/bench/scripts/idle_memory.sh`.
//!
//! ```text
//!  run ──spawns──▶ server   (gateway::Gateway, no database: walcast's upgrade or warp's ws();
//!                            or the stack's floor: one task holding the TcpStream, no session)
//!      ──spawns──▶ clients × k (≤ 9,000 sockets each: the fd limit is 20,000 per process)
//!      ──reads───▶ /proc/<server>/status, smaps_rollup: before, at half, at full + idle
//! ```
//!
//! Every process is this binary; the children stop when their stdin closes,
//! so nothing outlives the run.

mod clients;
mod floor;
mod orchestrate;
mod probe;
mod server;

use clap::{Parser, Subcommand};

/// Memory per idle joined WebSocket connection, walcast's upgrade next to
/// the stack's floor and warp's `ws()` in the same run.
#[derive(Debug, Parser)]
#[command(name = "idle-memory")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the whole measurement (the default entry point).
    Run(orchestrate::RunArgs),
    /// A gateway without a database, or the floor (child process).
    Server(server::ServerArgs),
    /// Opens and joins sockets, then idles with heartbeats (child process).
    Clients(clients::ClientArgs),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Command::Run(run) => orchestrate::run(run),
        Command::Server(server) => server::run(server),
        Command::Clients(clients) => clients::run(clients),
    }
}
