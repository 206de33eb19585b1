//! `walcast dev`: a throwaway local PostgreSQL (kept in a data directory
//! across runs, wiped with `--fresh`), migrated, with walcast in front of it.

use std::path::Path;

use anyhow::Context;
use pgcluster::{Cluster, ClusterOptions};
use replication::ConnectionConfig;

/// Starts (or reuses) the embedded cluster and applies the migrations.
pub(crate) async fn start_database(
    data_dir: &Path,
    fresh: bool,
) -> anyhow::Result<(Cluster, ConnectionConfig)> {
    let data_dir = data_dir.to_path_buf();
    let cluster = tokio::task::spawn_blocking(move || -> anyhow::Result<Cluster> {
        if fresh {
            pgcluster::wipe(&data_dir)
                .with_context(|| format!("cannot wipe {}", data_dir.display()))?;
        }
        Ok(Cluster::start(ClusterOptions::persistent(&data_dir))?)
    })
    .await??;
    let url = cluster.url("postgres");
    let database = ConnectionConfig::from_url(&url)?;
    crate::migrate::run(&database).await?;
    eprintln!();
    eprintln!(
        "  walcast dev: PostgreSQL is up ({})",
        cluster.data_dir().display()
    );
    eprintln!("  DATABASE_URL={url}");
    eprintln!("  try: psql '{url}' -c \"insert into tenants values (gen_random_uuid(), 'acme')\"");
    eprintln!();
    Ok((cluster, database))
}
