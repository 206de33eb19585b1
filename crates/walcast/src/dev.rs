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
    let database = ConnectionConfig::from_url(&cluster.url("postgres"))?;
    crate::migrate::run(&database).await?;
    Ok((cluster, database))
}

/// Tells the developer how to reach the embedded database; printed once
/// walcast streams, so anything written after it shows up.
pub(crate) fn print_banner(cluster: &Cluster) {
    let url = cluster.url("postgres");
    eprintln!();
    eprintln!(
        "  walcast dev: PostgreSQL is up ({})",
        cluster.data_dir().display()
    );
    eprintln!("  DATABASE_URL={url}");
    eprintln!("  try: psql '{url}' -c \"insert into tenants values (gen_random_uuid(), 'acme')\"");
    eprintln!();
}
