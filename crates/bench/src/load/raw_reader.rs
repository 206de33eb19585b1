//! B1's first baseline: a raw slot reader in the same run. walcast's own
//! replication stream and change decoder (as the `drain` benchmark uses
//! them) read a second pgoutput slot of the same publication, and every
//! `messages` row is timed when its decoded batch arrives: receive time −
//! `created_at`. It delivers to nobody, so the difference to walcast's
//! figure is what matching, encoding and the WebSocket hop add.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use changes::{ChangeStream, Datum, Event};
use replication::{ConnectionConfig, ReplicationConfig};
use tokio_util::sync::CancellationToken;

use crate::load::latency::Windowed;
use crate::load::protocol::{parse_timestamp, unix_micros_now};

/// Reads `slot` until `shutdown`, timing rows of `table` into `tally`.
pub async fn run(
    mut connection: ConnectionConfig,
    slot: &str,
    publication: &str,
    table: &str,
    tally: Arc<Mutex<Windowed>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    connection.application_name = "walcast_load_raw_reader".to_owned();
    let config = ReplicationConfig::new(connection, slot, publication);
    let replication = replication::start(config, shutdown.clone())
        .await
        .context("cannot start the raw slot reader")?;
    let (mut stream, task) = ChangeStream::from_replication(replication);
    let mut events = Vec::with_capacity(1024);
    loop {
        let batch = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            batch = stream.next_batch(&mut events) => batch,
        };
        let Some(batch) = batch else {
            bail!("the raw slot reader's stream ended");
        };
        let ack = batch.context("the raw slot reader cannot decode a transaction")?;
        let received = unix_micros_now();
        let mut tally = tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for event in events.drain(..) {
            let Event::Change(change) = event else {
                continue;
            };
            if &*change.relation.table != table {
                continue;
            }
            let created = change
                .relation
                .column_index("created_at")
                .and_then(|index| change.record.as_ref()?.get(index))
                .and_then(|datum| match datum {
                    Datum::String(text) => parse_timestamp(text),
                    _ => None,
                });
            tally.record(received, created);
        }
        drop(tally);
        stream.confirm(ack);
    }
    drop(stream);
    let _ = task.await;
    Ok(())
}
