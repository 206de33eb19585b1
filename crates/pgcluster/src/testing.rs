//! Real PostgreSQL for tests across the workspace.
//!
//! Each test process lazily starts one throwaway cluster
//! ([`shared_cluster`]) and each test takes a database of its own
//! ([`fresh_database`]), dropped when the test ends, pass or fail. Tests that
//! stop, restart or reconfigure the server take a cluster of their own
//! ([`own_cluster`]). Every cluster has `wal_sender_timeout=10s` and
//! `logical_decoding_work_mem=64kB` (so small transactions already exercise
//! spilling and streaming).
//!
//! ```no_run
//! #[test]
//! fn sees_inserts() {
//!     let db = pgcluster::testing::fresh_database();
//!     db.psql("CREATE TABLE t (id int PRIMARY KEY)").expect("create table");
//!     // connect to db.url …
//! }
//! ```
//!
//! The helpers panic when PostgreSQL cannot be started: a test cannot do
//! anything useful then, and the panic message says why (for example how to
//! install the server).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::cluster::quote_identifier;
use crate::{Cluster, ClusterError, ClusterOptions};

/// The options of every test cluster: throwaway, with the test settings
/// above. Add TLS or settings to it for [`Cluster::start`].
pub fn test_options() -> ClusterOptions {
    ClusterOptions::throwaway()
        .with_setting("wal_sender_timeout", "10s")
        .with_setting("logical_decoding_work_mem", "64kB")
}

/// The cluster shared by all tests of this process, started on first use
/// and cleaned up by its watchdog when the process exits.
///
/// # Panics
///
/// When the cluster could not be started (every call panics alike).
pub fn shared_cluster() -> &'static Cluster {
    static SHARED: OnceLock<Result<Cluster, ClusterError>> = OnceLock::new();
    match SHARED.get_or_init(|| Cluster::start(test_options())) {
        Ok(cluster) => cluster,
        Err(error) => panic!("could not start the shared test cluster: {error}"),
    }
}

/// A new, empty database in [`shared_cluster`].
///
/// # Panics
///
/// When the cluster or the database could not be created.
pub fn fresh_database() -> TestDatabase {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let cluster = shared_cluster();
    let name = format!(
        "walcast_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    if let Err(error) = cluster.create_database(&name) {
        panic!("could not create test database {name}: {error}");
    }
    TestDatabase {
        url: cluster.url(&name),
        name,
        cluster,
    }
}

/// A throwaway cluster for one test, with [`test_options`] plus `settings`.
///
/// # Panics
///
/// When the cluster could not be started.
pub fn own_cluster(settings: &[(&str, &str)]) -> Cluster {
    let options = settings
        .iter()
        .fold(test_options(), |options, (name, value)| {
            options.with_setting(*name, *value)
        });
    Cluster::start(options)
        .unwrap_or_else(|error| panic!("could not start a test cluster: {error}"))
}

/// A database of one test in [`shared_cluster`]; dropping it drops the
/// database, its replication slots and its connections.
pub struct TestDatabase {
    /// The database name.
    pub name: String,
    /// A superuser connection URL for it.
    pub url: String,
    cluster: &'static Cluster,
}

impl TestDatabase {
    /// The cluster holding the database.
    pub fn cluster(&self) -> &'static Cluster {
        self.cluster
    }

    /// Runs `sql` in this database; see [`Cluster::psql`].
    pub fn psql(&self, sql: &str) -> Result<String, ClusterError> {
        self.cluster.psql(&self.name, sql)
    }
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .field("cluster", self.cluster)
            .finish_non_exhaustive()
    }
}

impl Drop for TestDatabase {
    /// Best effort, never panics. A database with logical replication slots
    /// cannot be dropped, and a slot in use by a walsender cannot be dropped
    /// either, so: end the walsenders (waiting up to 5 s for each to exit,
    /// which releases its slot), drop the slots, then drop the database,
    /// ending its remaining connections.
    fn drop(&mut self) {
        let literal = format!("'{}'", self.name.replace('\'', "''"));
        let sql = format!(
            "SELECT pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots \
               WHERE database = {literal} AND active_pid IS NOT NULL;\n\
             SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
               WHERE database = {literal};\n\
             DROP DATABASE IF EXISTS {} WITH (FORCE);\n",
            quote_identifier(&self.name)
        );
        if let Err(error) = self.cluster.psql("postgres", &sql) {
            tracing::warn!(database = %self.name, %error, "could not drop test database");
        }
    }
}
