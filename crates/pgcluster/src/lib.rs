//! Runs a local PostgreSQL cluster from the installed server binaries.
//!
//! Two users:
//! * `walcast dev` keeps a cluster in a persistent data directory
//!   ([`ClusterOptions::persistent`]), reused across runs and deleted with
//!   [`wipe`] for `--fresh`;
//! * every test in the workspace uses the [`testing`] module: one throwaway
//!   cluster per test process and a fresh database per test.
//!
//! Every cluster listens on 127.0.0.1 (a free port unless one is given), has
//! `wal_level=logical`, superuser `postgres` with a generated password
//! (SCRAM over TCP, trust on its private Unix socket), and logs to
//! `<data>/log/postgres.log`. When we run as root the server runs as the
//! `postgres` user, since PostgreSQL refuses root.
//!
//! ```no_run
//! # fn main() -> Result<(), pgcluster::ClusterError> {
//! let cluster = pgcluster::Cluster::start(pgcluster::ClusterOptions::throwaway())?;
//! assert_eq!(cluster.psql("postgres", "SHOW wal_level")?, "logical");
//! println!("connect to {}", cluster.url("postgres"));
//! # Ok(())
//! # }
//! ```
//!
//! Everything here blocks (it runs at startup and in test setup); from async
//! code call it through `tokio::task::spawn_blocking`.
//!
//! A throwaway cluster is stopped and its directory removed when it is
//! dropped, and also when the process ends without dropping it (abort,
//! kill, a `static`): a watchdog process does the cleanup as soon as our
//! end of a pipe closes.

mod binaries;
mod cluster;
mod command;
mod config;
mod data_dir;
mod error;
mod options;
mod server_user;
pub mod testing;
mod watchdog;

pub use cluster::{Cluster, wipe};
pub use error::ClusterError;
pub use options::{ClusterOptions, StopMode, TlsFiles};
