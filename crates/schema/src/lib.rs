//! The chat schema's migrations (the files in `migrations/`, embedded in the
//! binary so `walcast migrate` works from any directory) and the runner that
//! applies each one once.
//!
//! Applied versions are recorded in `walcast_schema_migrations`. Each
//! migration runs in its own transaction together with its record, and the
//! whole run holds an advisory lock, so two walcast processes starting at
//! once apply each migration exactly once.

use tokio_postgres::Client;
use tracing::info;

/// One migration: a version, a name, and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Increasing version number (the file's numeric prefix).
    pub version: i32,
    /// File name.
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "0001_chat_schema.sql",
    sql: include_str!("../../../migrations/0001_chat_schema.sql"),
}];

/// Key of the advisory lock held while migrating ("walcast" in ASCII).
const LOCK_KEY: i64 = 0x0077_616c_6361_7374;

/// A migration that failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Creating the version table or taking the lock failed.
    #[error("cannot prepare migrations: {0}")]
    Prepare(#[source] tokio_postgres::Error),
    /// One migration failed; nothing of it was applied.
    #[error("migration {name} failed: {source}")]
    Apply {
        /// File name.
        name: &'static str,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
}

/// Applies every migration not yet recorded. Returns the names applied now.
pub async fn migrate(client: &mut Client) -> Result<Vec<&'static str>, MigrateError> {
    client
        .batch_execute(
            "SET client_min_messages = warning;
             CREATE TABLE IF NOT EXISTS walcast_schema_migrations (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(MigrateError::Prepare)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(MigrateError::Prepare)?;
    let result = apply_pending(client).await;
    // The lock is also released when the session ends; an error here changes nothing.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    result
}

async fn apply_pending(client: &mut Client) -> Result<Vec<&'static str>, MigrateError> {
    let applied: Vec<i32> = client
        .query("SELECT version FROM walcast_schema_migrations", &[])
        .await
        .map_err(MigrateError::Prepare)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut done = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let error = |source| MigrateError::Apply {
            name: migration.name,
            source,
        };
        let tx = client.transaction().await.map_err(error)?;
        tx.batch_execute(migration.sql).await.map_err(error)?;
        tx.execute(
            "INSERT INTO walcast_schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await
        .map_err(error)?;
        tx.commit().await.map_err(error)?;
        info!(migration = migration.name, "applied migration");
        done.push(migration.name);
    }
    Ok(done)
}
