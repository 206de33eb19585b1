//! The change pipeline: start-up checks, the replication stream, typed
//! changes, and the gateway that delivers them.
//!
//! ```text
//!  slot ──replication──▶ ChangeStream ──batch──▶ Gateway::publish ──▶ subscribers
//!                             ▲                        │
//!                             └──── confirm(ack) ◀─────┘ (after the batch is queued)
//! ```
//!
//! A batch is confirmed to the slot once the gateway has queued it to every
//! matching subscriber (and, with `--print-changes`, once its JSON lines are
//! written). Keeping recent changes for resumes is the replay window's job
//! (next step); until then a client that was away misses what it missed.

use std::net::SocketAddr;

use anyhow::Context;
use changes::{ChangeStream, Event};
use gateway::Gateway;
use replication::{ConnectionConfig, ReplicationConfig, checks};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::settings::Settings;

/// Streams until `shutdown` fires or replication fails for good. `on_ready`
/// runs with the gateway's address once the slot exists, streaming has
/// started and the gateway listens: every commit after it is delivered.
pub(crate) async fn run(
    settings: &Settings,
    database: &ConnectionConfig,
    gateway: Gateway,
    print_changes: bool,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(SocketAddr),
) -> anyhow::Result<()> {
    let client = checks::connect_sql(database).await?;
    checks::run(&client, &settings.publication, &settings.tables).await?;
    drop(client);

    let config = ReplicationConfig::new(
        database.clone(),
        settings.slot.clone(),
        settings.publication.clone(),
    );
    let replication = replication::start(config, shutdown.clone())
        .await
        .context("cannot start replication")?;
    let (mut stream, task) = ChangeStream::from_replication(replication);
    let (addr, server) = gateway
        .bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (WALCAST_LISTEN)", settings.listen))?;
    let server = tokio::spawn(server);
    info!(%addr, "walcast ready");
    on_ready(addr);

    let mut stdout = tokio::io::stdout();
    let mut events = Vec::new();
    let mut lines = Vec::new();
    while let Some(batch) = stream.next_batch(&mut events).await {
        let ack = batch.context("cannot decode a transaction")?;
        gateway.publish(&events);
        if print_changes {
            for event in &events {
                match event {
                    Event::Change(change) => serde_json::to_writer(&mut lines, change)?,
                    Event::Message(message) => serde_json::to_writer(&mut lines, message)?,
                }
                lines.push(b'\n');
            }
            stdout.write_all(&lines).await?;
            stdout.flush().await?;
            lines.clear();
        }
        events.clear();
        stream.confirm(ack);
    }
    task.await.context("replication task panicked")??;
    shutdown.cancel();
    let _ = server.await;
    Ok(())
}
