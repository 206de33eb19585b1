//! A multi-process WebSocket load harness speaking what realtime-js speaks
//! (vsn 2.0.0 array frames, `phx_join` with `postgres_changes` bindings,
//! heartbeats every 25 s), and the benchmarks built on it: B1
//! commit → client latency, B3 hot-conversation fan-out (with B7, the same
//! under the product's routes and row policies) and B5 connect + join
//! churn (BENCHMARKS.md).
//!
//! ```text
//!  load b1 | b3 | b5 (coordinator: PostgreSQL, walcast serve, baselines, report)
//!     ├──spawns──▶ load subscribers | churn | joins  × k  (current-thread runtime, ≤ 19,000 sockets each)
//!     │               stdin: window / report ─▶ stdout: JSON lines (ipc.rs)
//!     └──spawns──▶ walcast serve, pgbench, load ack-server, Bun / Node ws (crates/bench/baselines)
//! ```
//!
//! Every process is the `load` binary; children stop when their stdin
//! closes and are killed when their handle drops.

pub mod ack_server;
pub mod b1;
pub mod b3;
pub mod b5;
pub mod chat;
pub mod churn;
pub mod client;
pub mod ipc;
pub mod latency;
pub mod poller;
pub mod process;
pub mod protocol;
pub mod publisher;
pub mod raw_reader;
pub mod subscribers;

/// Locks a tally shared between a task and the coordinator; a panic in
/// one does not hide the figures from the other.
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
