//! The change pipeline as it stands before the gateway: start-up checks,
//! the replication stream, typed changes, each printed as one JSON line on
//! stdout. A batch is confirmed to the slot only after its lines are written
//! and flushed, so a crash never loses a line that was not printed.

use anyhow::Context;
use changes::{ChangeStream, Event};
use replication::{ConnectionConfig, ReplicationConfig, checks};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::settings::Settings;

/// Streams until `shutdown` fires or replication fails for good. `on_ready`
/// runs once the slot exists and streaming has started: every commit after
/// it is printed.
pub(crate) async fn print_changes(
    settings: &Settings,
    database: &ConnectionConfig,
    shutdown: CancellationToken,
    on_ready: impl FnOnce(),
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
    info!("printing committed changes as JSON lines");
    on_ready();

    let mut stdout = tokio::io::stdout();
    let mut events = Vec::new();
    let mut lines = Vec::new();
    while let Some(batch) = stream.next_batch(&mut events).await {
        let ack = batch.context("cannot decode a transaction")?;
        for event in events.drain(..) {
            match &event {
                Event::Change(change) => serde_json::to_writer(&mut lines, change)?,
                Event::Message(message) => serde_json::to_writer(&mut lines, message)?,
            }
            lines.push(b'\n');
        }
        stdout.write_all(&lines).await?;
        stdout.flush().await?;
        lines.clear();
        stream.confirm(ack);
    }
    task.await.context("replication task panicked")??;
    Ok(())
}
