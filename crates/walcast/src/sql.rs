//! One ordinary SQL connection, opened on first use and reopened after it
//! drops (a PostgreSQL restart, for example), shared by the binary's
//! helpers: join checks, the slot-lag reporter, the typing janitor and the
//! demo's API.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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
        if let Some(client) = self.lock().as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let client = tokio::time::timeout(CONNECT_TIMEOUT, checks::connect_sql(&self.database))
            .await
            .map_err(|_| "connecting to the database timed out".to_owned())?
            .map_err(|err| err.to_string())?;
        client
            .batch_execute(self.setup)
            .await
            .map_err(|err| err.to_string())?;
        let client = Arc::new(client);
        *self.lock() = Some(Arc::clone(&client));
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<Client>>> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
