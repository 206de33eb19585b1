//! Start-up checks on an ordinary SQL connection, so that a misconfigured
//! server stops walcast with one line saying what is wrong and how to fix
//! it, instead of a stream that never delivers anything.
//!
//! Checked, in order: `wal_level`, the REPLICATION privilege, the
//! publication (created, or extended, for the configured tables), and the
//! REPLICA IDENTITY of every published table.

use tokio_postgres::{Client, NoTls};
use tracing::{info, warn};

use crate::config::ConnectionConfig;
use crate::tls;

/// A server that cannot feed walcast as configured.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No SQL connection.
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        /// `host:port/dbname`.
        target: String,
        /// The driver's error.
        source: tokio_postgres::Error,
    },
    /// TLS could not be configured.
    #[error("tls: {0}")]
    Tls(#[from] tls::TlsConfigError),
    /// `wal_level` is not `logical`.
    #[error(
        "wal_level is {0}, but walcast needs wal_level=logical: run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL"
    )]
    WalLevel(String),
    /// The role may not open a replication connection.
    #[error("role {0} lacks the REPLICATION attribute: run ALTER ROLE {0} WITH REPLICATION;")]
    NoReplicationPrivilege(String),
    /// A configured table does not exist.
    #[error("table {0} does not exist (check the configured tables, or run the migrations)")]
    NoSuchTable(String),
    /// The publication is missing and could not be created.
    #[error(
        "publication {name} does not exist and walcast could not create it ({reason}): run {sql}"
    )]
    Publication {
        /// Publication name.
        name: String,
        /// The server's reason.
        reason: String,
        /// The statement that fixes it.
        sql: String,
    },
    /// UPDATE and DELETE on this table fail, or carry no key.
    #[error(
        "table {table} has {problem}: run ALTER TABLE {table} REPLICA IDENTITY FULL; (or add a primary key)"
    )]
    ReplicaIdentity {
        /// Qualified table name.
        table: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// walcast's own bookkeeping table could not be created.
    #[error(
        "walcast keeps its slot's epoch in walcast.slot_epochs and could not create it ({0}): run CREATE SCHEMA walcast; as a role that may, then GRANT USAGE, CREATE ON SCHEMA walcast TO the walcast role"
    )]
    Bookkeeping(String),
    /// A check's query failed.
    #[error("start-up check query failed: {0}")]
    Sql(#[from] tokio_postgres::Error),
}

/// Opens an ordinary SQL connection (TLS per `sslmode`) and spawns its
/// driver task.
pub async fn connect_sql(config: &ConnectionConfig) -> Result<Client, CheckError> {
    let pg = config.to_tokio_postgres();
    let target = format!("{}:{}/{}", config.host, config.port, config.dbname);
    let connect_error = |source| CheckError::Connect {
        target: target.clone(),
        source,
    };
    match tls::client_config(config)? {
        None => {
            let (client, connection) = pg.connect(NoTls).await.map_err(connect_error)?;
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    warn!(error = %err, "sql connection ended");
                }
            });
            Ok(client)
        }
        Some(tls) => {
            let connector = tokio_postgres_rustls::MakeRustlsConnect::new((*tls).clone());
            let (client, connection) = pg.connect(connector).await.map_err(connect_error)?;
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    warn!(error = %err, "sql connection ended");
                }
            });
            Ok(client)
        }
    }
}

/// Runs every check. `tables` are `schema.table` names the publication must
/// cover; when the publication exists, missing tables are added to it.
pub async fn run(client: &Client, publication: &str, tables: &[String]) -> Result<(), CheckError> {
    check_wal_level(client).await?;
    check_replication_privilege(client).await?;
    ensure_publication(client, publication, tables).await?;
    check_replica_identity(client, publication).await
}

/// `wal_level` must be `logical`.
pub async fn check_wal_level(client: &Client) -> Result<(), CheckError> {
    let level: String = client.query_one("SHOW wal_level", &[]).await?.get(0);
    if level == "logical" {
        Ok(())
    } else {
        Err(CheckError::WalLevel(level))
    }
}

/// The current role must be a superuser or have REPLICATION.
pub async fn check_replication_privilege(client: &Client) -> Result<(), CheckError> {
    let row = client
        .query_one(
            "SELECT current_user::text, rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await?;
    if row.get::<_, bool>(1) {
        Ok(())
    } else {
        Err(CheckError::NoReplicationPrivilege(row.get(0)))
    }
}

/// Creates the publication for `tables` when missing; adds tables it lacks.
pub async fn ensure_publication(
    client: &Client,
    publication: &str,
    tables: &[String],
) -> Result<(), CheckError> {
    let mut qualified = Vec::with_capacity(tables.len());
    for table in tables {
        let row = client
            .query_opt(
                "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid = to_regclass($1)",
                &[table],
            )
            .await?
            .ok_or_else(|| CheckError::NoSuchTable(table.clone()))?;
        qualified.push((row.get::<_, String>(0), row.get::<_, String>(1)));
    }
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_publication WHERE pubname = $1",
            &[&publication],
        )
        .await?
        .is_some();
    let list = |items: &[(String, String)]| {
        items
            .iter()
            .map(|(s, t)| format!("{}.{}", quote_ident(s), quote_ident(t)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !exists {
        let sql = if qualified.is_empty() {
            format!(
                "CREATE PUBLICATION {} FOR ALL TABLES",
                quote_ident(publication)
            )
        } else {
            format!(
                "CREATE PUBLICATION {} FOR TABLE {}",
                quote_ident(publication),
                list(&qualified)
            )
        };
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| publication_error(publication, &e, &sql))?;
        info!(publication, "created publication");
        return Ok(());
    }
    let mut missing = Vec::new();
    for (schema, table) in qualified {
        let covered = client
            .query_opt(
                "SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
                &[&publication, &schema, &table],
            )
            .await?
            .is_some();
        if !covered {
            missing.push((schema, table));
        }
    }
    if !missing.is_empty() {
        let sql = format!(
            "ALTER PUBLICATION {} ADD TABLE {}",
            quote_ident(publication),
            list(&missing)
        );
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| publication_error(publication, &e, &sql))?;
        info!(publication, tables = %list(&missing), "added tables to publication");
    }
    Ok(())
}

fn publication_error(name: &str, err: &tokio_postgres::Error, sql: &str) -> CheckError {
    let reason = err
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_else(|| err.to_string());
    CheckError::Publication {
        name: name.to_owned(),
        reason,
        sql: format!("{sql};"),
    }
}

/// Every published table must carry a usable replica identity: without
/// one, UPDATE and DELETE on it fail in the application itself.
pub async fn check_replica_identity(client: &Client, publication: &str) -> Result<(), CheckError> {
    let rows = client
        .query(
            "SELECT format('%I.%I', n.nspname, c.relname), c.relreplident::text, \
                    EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) \
             FROM pg_publication_tables p \
             JOIN pg_namespace n ON n.nspname = p.schemaname \
             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = p.tablename \
             WHERE p.pubname = $1 ORDER BY 1",
            &[&publication],
        )
        .await?;
    for row in rows {
        let table: String = row.get(0);
        let identity: String = row.get(1);
        let has_pk: bool = row.get(2);
        let problem = match (identity.as_str(), has_pk) {
            ("n", _) => "REPLICA IDENTITY NOTHING, so UPDATE and DELETE on it fail",
            ("d", false) => {
                "no primary key and REPLICA IDENTITY DEFAULT, so UPDATE and DELETE on it fail"
            }
            _ => continue,
        };
        return Err(CheckError::ReplicaIdentity { table, problem });
    }
    Ok(())
}

/// The token that names one life of the slot: stored in
/// `walcast.slot_epochs` and replaced whenever the slot does not exist yet
/// (walcast is about to create it), so positions handed out before a slot
/// was dropped and re-created are recognised as another epoch.
///
/// Call it before the replication stream starts. If walcast stops between
/// this call and creating the slot, the next start replaces the token
/// again, which only makes older positions unusable, never wrongly usable.
pub async fn slot_token(client: &Client, slot: &str) -> Result<String, CheckError> {
    let setup = "SET client_min_messages = warning; \
        CREATE SCHEMA IF NOT EXISTS walcast; \
        CREATE TABLE IF NOT EXISTS walcast.slot_epochs ( \
            slot_name text PRIMARY KEY, \
            token text NOT NULL, \
            created_at timestamptz NOT NULL DEFAULT now())";
    client
        .batch_execute(setup)
        .await
        .map_err(|err| CheckError::Bookkeeping(db_message(&err)))?;
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await?
        .is_some();
    let row = if exists {
        client
            .query_one(
                "INSERT INTO walcast.slot_epochs (slot_name, token) \
                 VALUES ($1, gen_random_uuid()::text) \
                 ON CONFLICT (slot_name) DO UPDATE SET slot_name = EXCLUDED.slot_name \
                 RETURNING token",
                &[&slot],
            )
            .await?
    } else {
        client
            .query_one(
                "INSERT INTO walcast.slot_epochs (slot_name, token) \
                 VALUES ($1, gen_random_uuid()::text) \
                 ON CONFLICT (slot_name) DO UPDATE SET token = EXCLUDED.token, created_at = now() \
                 RETURNING token",
                &[&slot],
            )
            .await?
    };
    Ok(row.get(0))
}

fn db_message(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map(|db| db.message().to_owned())
        .unwrap_or_else(|| err.to_string())
}

/// Bytes of WAL the slot holds back: the WAL insert position minus the
/// slot's confirmed flush position. `None` when the slot does not exist.
/// The insert position, not `pg_current_wal_lsn()`: with
/// `synchronous_commit = off` the write position trails commits by up to
/// the WAL writer's delay, and the lag would read 0 under fresh writes.
pub async fn slot_lag_bytes(
    client: &Client,
    slot: &str,
) -> Result<Option<i64>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT (pg_current_wal_insert_lsn() - confirmed_flush_lsn)::int8 FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await?;
    Ok(row.and_then(|r| r.get::<_, Option<i64>>(0)))
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
