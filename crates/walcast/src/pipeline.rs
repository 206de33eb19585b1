//! The change pipeline: start-up checks, the replication stream, typed
//! changes, the replay window and the gateway that delivers them.
//!
//! ```text
//!  slot ──replication──▶ ChangeStream ──batch──▶ Gateway::publish ──▶ replay window ──▶ subscribers
//!    ▲                                                                      │
//!    └───────── confirm(window floor): the oldest change still kept ◀──────┘
//! ```
//!
//! The slot is confirmed only up to the replay window's floor, so a
//! restarted walcast re-reads every change its window held. At start it
//! emits a non-transactional logical message with a fresh nonce; when the
//! stream reaches it, everything the slot re-sent is back in the window and
//! the window is declared ready: resumes are answered and changes go live.
//!
//! Positions carry an epoch derived from the cluster's system identifier,
//! the slot name and the slot's token (replaced whenever the slot is
//! created), so positions from another database or an earlier slot are
//! recognised.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use changes::{ChangeStream, Epoch, Event};
use gateway::{Gateway, ReplicationHealth};
use replication::{ConnectionConfig, ReplicationConfig, checks, format_lsn, parse_lsn};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::settings::Settings;
use crate::sql::SqlConnection;

/// The prefix of the start-up marker message.
const SYNC_PREFIX: &str = "walcast-sync";

/// How often an idle pipeline ages the window and confirms its floor.
const TICK: Duration = Duration::from_secs(1);

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
    let token = checks::slot_token(&client, &settings.slot).await?;

    let config = ReplicationConfig::new(
        database.clone(),
        settings.slot.clone(),
        settings.publication.clone(),
    );
    let replication = replication::start(config, shutdown.clone())
        .await
        .context("cannot start replication")?;
    let epoch = Epoch::derive(
        &replication.handle.system().system_id,
        &settings.slot,
        &token,
    );
    let floor = slot_position(&client, &settings.slot).await?;
    gateway.hub().start_replay(epoch, settings.replay, floor);
    let (stream, task) = ChangeStream::from_replication(replication);
    let mut stream = stream.with_epoch(epoch);
    let nonce = format!("{:016x}", rand_nonce());
    client
        .execute(
            "SELECT pg_logical_emit_message(false, $1, $2)",
            &[&SYNC_PREFIX, &nonce],
        )
        .await
        .context("cannot emit the start-up marker")?;
    tokio::spawn(
        SlotLag::new(client, database.clone(), settings.slot.clone()).report(
            stream.handle().clone(),
            gateway.hub().clone(),
            shutdown.clone(),
        ),
    );
    if settings
        .tables
        .iter()
        .any(|table| table == crate::janitor::TYPING_TABLE)
    {
        tokio::spawn(crate::janitor::run(database.clone(), shutdown.clone()));
    }
    info!(epoch = %epoch, floor = %format_lsn(floor), "replay window rebuilding from the slot");

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
    let mut synced = false;
    let mut tick = tokio::time::interval(TICK);
    loop {
        let batch = tokio::select! {
            batch = stream.next_batch(&mut events) => batch,
            _ = tick.tick() => {
                stream.confirm(gateway.hub().age_window());
                continue;
            }
        };
        let Some(batch) = batch else { break };
        batch.context("cannot decode a transaction")?;
        gateway
            .hub()
            .metrics()
            .observe_decode(stream.last_decode_time());
        // Events before the marker were re-read into the window (their
        // live delivery, and printing, happened before the restart).
        let mut live = if synced {
            std::mem::take(&mut events)
        } else {
            match events.iter().position(|event| is_marker(event, &nonce)) {
                Some(at) => {
                    let live = events.split_off(at);
                    gateway.publish(&mut events).await;
                    gateway.hub().set_replay_ready();
                    synced = true;
                    info!(
                        kept = gateway.hub().stats().replay_events,
                        "replay window ready"
                    );
                    live
                }
                None => {
                    gateway.publish(&mut events).await;
                    Vec::new()
                }
            }
        };
        if print_changes && !live.is_empty() {
            for event in &live {
                match event {
                    Event::Change(change) => serde_json::to_writer(&mut lines, change)?,
                    Event::Message(message) if message.prefix == SYNC_PREFIX => continue,
                    Event::Message(message) => serde_json::to_writer(&mut lines, message)?,
                }
                lines.push(b'\n');
            }
            stdout.write_all(&lines).await?;
            stdout.flush().await?;
            lines.clear();
        }
        gateway.publish(&mut live).await;
        events = live;
        events.clear();
        stream.confirm(gateway.hub().replay_floor());
    }
    task.await.context("replication task panicked")??;
    shutdown.cancel();
    let _ = server.await;
    Ok(())
}

/// The slot's lag in bytes, read every [`SlotLag::EVERY`] on its own SQL
/// connection (reopened after it drops).
struct SlotLag {
    connection: SqlConnection,
    slot: String,
    last: Option<i64>,
    read_at: Option<tokio::time::Instant>,
}

impl SlotLag {
    const EVERY: Duration = Duration::from_secs(5);

    fn new(client: tokio_postgres::Client, database: ConnectionConfig, slot: String) -> Self {
        Self {
            connection: SqlConnection::from_client(database, client),
            slot,
            last: None,
            read_at: None,
        }
    }

    /// Reports replication health to the gateway's metrics every [`TICK`]
    /// until `shutdown`: off the pipeline, so a slow query never delays it.
    async fn report(
        mut self,
        replication: replication::ReplicationHandle,
        hub: gateway::Hub,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let slot_lag_bytes = self.read().await;
            hub.metrics().set_replication(ReplicationHealth {
                connected: replication.status().connected,
                slot_lag_bytes,
            });
        }
    }

    async fn read(&mut self) -> Option<i64> {
        if self.read_at.is_some_and(|at| at.elapsed() < Self::EVERY) {
            return self.last;
        }
        self.read_at = Some(tokio::time::Instant::now());
        let client = self.connection.get().await.ok()?;
        let lag = checks::slot_lag_bytes(&client, &self.slot);
        self.last = tokio::time::timeout(Duration::from_secs(2), lag)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        self.last
    }
}

/// This run's start-up marker.
fn is_marker(event: &Event, nonce: &str) -> bool {
    matches!(event, Event::Message(m) if m.prefix == SYNC_PREFIX && m.content.as_ref() == nonce.as_bytes())
}

/// The slot's confirmed position: where this run's window starts.
async fn slot_position(client: &tokio_postgres::Client, slot: &str) -> anyhow::Result<u64> {
    let row = client
        .query_one(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .context("cannot read the slot's position")?;
    let text: Option<String> = row.get(0);
    Ok(text.and_then(|text| parse_lsn(&text)).unwrap_or(0))
}

/// A nonce for the start-up marker: unique per run.
fn rand_nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish()
}
