//! The runner behind routes' SQL join checks: one shared SQL connection,
//! opened on first use and again after it drops, queries sent with every
//! parameter typed `text` (the route's SQL casts, e.g. `$1::uuid`), so a
//! value from a topic or a claim is only ever a bound parameter.

use std::sync::Arc;
use std::time::Duration;

use gateway::JoinChecker;
use replication::ConnectionConfig;
use tokio_postgres::types::{ToSql, Type};

use crate::sql::SqlConnection;

/// How long one check may take before the join is refused.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// A checker that runs each check on `database`.
pub(crate) fn checker(database: ConnectionConfig) -> JoinChecker {
    let connection = Arc::new(SqlConnection::new(database));
    JoinChecker::new(move |sql, params| {
        let connection = Arc::clone(&connection);
        async move {
            tokio::time::timeout(CHECK_TIMEOUT, check(&connection, &sql, &params))
                .await
                .unwrap_or_else(|_| Err("the join check timed out".to_owned()))
        }
    })
}

async fn check(connection: &SqlConnection, sql: &str, params: &[String]) -> Result<bool, String> {
    let client = connection
        .get()
        .await
        .map_err(|err| format!("the join check cannot reach the database: {err}"))?;
    let typed: Vec<(&(dyn ToSql + Sync), Type)> = params
        .iter()
        .map(|param| (param as &(dyn ToSql + Sync), Type::TEXT))
        .collect();
    match client.query_typed(sql, &typed).await {
        Ok(rows) => Ok(!rows.is_empty()),
        Err(err) => {
            // A value that does not cast (`'x'::uuid`) is a plain "no".
            if let Some(db) = err.as_db_error() {
                tracing::debug!(code = db.code().code(), error = %db.message(), "join check failed");
                if db.code().code().starts_with("22") {
                    return Ok(false);
                }
            }
            Err(format!("the join check failed: {err}"))
        }
    }
}
