//! The drain benchmark: how fast walcast empties a replication slot that
//! holds a backlog, next to `pg_recvlogical` emptying an identical slot on
//! the same server in the same run.
//!
//! ```text
//!  fixture: slots created, then one backlog written ──┬─▶ slot recvlogical_bench_N ─▶ walsender ─▶ pg_recvlogical ─▶ /dev/null
//!                                                     └─▶ slot walcast_bench_N ────▶ walsender ─▶ replication ─▶ changes ─▶ counted
//!  cpu: wall time, walsender CPU (sampled from /proc), client CPU, per run
//! ```
//!
//! With `--subscriptions`, walcast's side also publishes every batch into
//! an in-process gateway holding that many subscriptions over real sockets
//! ([`subscribers`]): the ingest path as `walcast serve` runs it (B2).
//!
//! The `drain` binary wires these together; `scripts/drain.sh` runs it.
//! [`load`] is the WebSocket load harness behind the `load` binary
//! (benchmarks B1 and B5).

pub mod cpu;
pub mod fixture;
pub mod load;
pub mod recvlogical;
pub mod report;
pub mod run;
pub mod scenario;
pub mod subscribers;
pub mod walcast_drain;
