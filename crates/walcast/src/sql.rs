//! One ordinary SQL connection, opened on first use and reopened after it
//! drops (a PostgreSQL restart, for example), shared by the binary's
//! helpers: join checks, the slot-lag reporter, the typing janitor and the
//! demo's API.
//!
//! One caller at a time opens it; the others wait and take its result,
//! connection or error. Thousands of joins arriving while there is no
//! connection (after a restart) would otherwise each open one and run the
//! server out of `max_connections` (BENCHMARKS.md, B7).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use replication::{ConnectionConfig, checks};
use tokio_postgres::Client;

/// How long opening the connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A lazily (re)connected SQL connection.
pub(crate) struct SqlConnection {
    database: ConnectionConfig,
    /// Statements run once on each new connection (session settings).
    setup: &'static str,
    /// Held only to clone or replace the handle, never across `.await`.
    client: Mutex<Option<Arc<Client>>>,
    /// Held while a connection is being opened.
    opening: tokio::sync::Mutex<()>,
    /// When the last attempt to open one failed, and why.
    failed: Mutex<Option<(Instant, String)>>,
}

impl SqlConnection {
    /// A connection to `database`; nothing is opened yet.
    pub(crate) fn new(database: ConnectionConfig) -> Self {
        Self::with_setup(database, "SET client_min_messages = warning")
    }

    /// Like [`SqlConnection::new`], running `setup` on every new connection.
    pub(crate) fn with_setup(database: ConnectionConfig, setup: &'static str) -> Self {
        Self {
            database,
            setup,
            client: Mutex::new(None),
            opening: tokio::sync::Mutex::new(()),
            failed: Mutex::new(None),
        }
    }

    /// Starts from an already open connection.
    pub(crate) fn from_client(database: ConnectionConfig, client: Client) -> Self {
        let connection = Self::new(database);
        *connection.lock() = Some(Arc::new(client));
        connection
    }

    /// The open connection, opening a new one when there is none or it
    /// has closed. The error says why the database cannot be reached.
    pub(crate) async fn get(&self) -> Result<Arc<Client>, String> {
        if let Some(client) = self.open() {
            return Ok(client);
        }
        let arrived = Instant::now();
        let _opening = self.opening.lock().await;
        // Whoever held the gate before us may have opened it, or failed
        // while we waited: its answer is ours.
        if let Some(client) = self.open() {
            return Ok(client);
        }
        if let Some((at, why)) = self.failures().as_ref()
            && *at >= arrived
        {
            return Err(why.clone());
        }
        match self.connect().await {
            Ok(client) => {
                *self.lock() = Some(Arc::clone(&client));
                Ok(client)
            }
            Err(why) => {
                *self.failures() = Some((Instant::now(), why.clone()));
                Err(why)
            }
        }
    }

    fn open(&self) -> Option<Arc<Client>> {
        self.lock().as_ref().filter(|c| !c.is_closed()).cloned()
    }

    async fn connect(&self) -> Result<Arc<Client>, String> {
        let client = tokio::time::timeout(CONNECT_TIMEOUT, checks::connect_sql(&self.database))
            .await
            .map_err(|_| "connecting to the database timed out".to_owned())?
            .map_err(|err| err.to_string())?;
        client
            .batch_execute(self.setup)
            .await
            .map_err(|err| err.to_string())?;
        Ok(Arc::new(client))
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, Option<(Instant, String)>> {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Client>>> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_new_connection() {
        let db = pgcluster::testing::fresh_database();
        let database = ConnectionConfig::from_url(&db.url).expect("url");
        let sql = Arc::new(SqlConnection::new(database));
        let gets = (0..50).map(|_| {
            let sql = Arc::clone(&sql);
            tokio::spawn(async move { sql.get().await })
        });
        let clients: Vec<Arc<Client>> = futures_util::future::join_all(gets)
            .await
            .into_iter()
            .map(|joined| joined.expect("task").expect("connected"))
            .collect();
        assert!(clients.iter().all(|c| Arc::ptr_eq(c, &clients[0])));
        let backends = db
            .psql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            .expect("count");
        assert_eq!(
            backends.trim(),
            "1",
            "50 concurrent callers opened one connection"
        );
    }
}
