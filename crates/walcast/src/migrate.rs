//! `walcast migrate`: applies the embedded chat schema migrations.

use replication::{ConnectionConfig, checks};
use tracing::info;

/// Connects and applies every pending migration.
pub(crate) async fn run(database: &ConnectionConfig) -> anyhow::Result<()> {
    let mut client = checks::connect_sql(database).await?;
    let applied = schema::migrate(&mut client).await?;
    if applied.is_empty() {
        info!("schema is up to date");
    }
    Ok(())
}
