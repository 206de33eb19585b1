//! The replication stream: one task owns the walsender connection, hands
//! committed transactions to a bounded channel, answers the server, and
//! reconnects when the connection drops.
//!
//! ```text
//!             ┌────────────── ReplicationTask (owns the socket) ───────────────┐
//!  walsender ─┤ CopyData ─▶ envelope ─▶ pgoutput::Decoder ─▶ TransactionAssembler ├─▶ mpsc (bounded) ─▶ consumer
//!      ▲      │                                                                  │                       │
//!      └──────┤◀── standby status update (timer, or at once when asked) ◀── flush ◀── confirm(lsn) ◀──────┘
//!             └──────────────────────────────────────────────────────────────────┘
//! ```
//!
//! # Feedback (what the slot's `confirmed_flush_lsn` means)
//!
//! The flush position sent to the server is what the consumer confirmed
//! through [`ReplicationHandle::confirm`], never more, with one exception:
//! when the consumer has confirmed everything handed to it, nothing is
//! pending and no transaction is open, the keepalive's `wal_end` is reported,
//! so that WAL written to unpublished tables does not pile up behind an idle
//! slot. Transactions past the confirmed position are sent again after a
//! reconnect or restart; the ones this process already handed on are dropped
//! by comparing LSNs, so the consumer sees each one once per process.
//!
//! A consequence to keep in mind: PostgreSQL's fast shutdown waits until
//! each logical walsender's client has flushed everything it was sent
//! (`WalSndDone`), and our status updates keep `wal_sender_timeout` from
//! ending the wait. A consumer that keeps a window behind the confirmed
//! position would hold a fast shutdown for ever, so each session watches a
//! sentinel SQL connection: fast shutdown terminates it first, and the
//! session then ends at once (see `Sentinel`).
//!
//! # Backpressure
//!
//! When the channel is full the task keeps one finished event aside and stops
//! reading the socket (the walsender then blocks, which is harmless), but the
//! status timer keeps running, so the server never times the slot out
//! because of a slow consumer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgoutput::{
    Decoder, Lsn, PG_EPOCH_OFFSET_MICROS, ReplicationMessage, decode_envelope,
    encode_standby_status_update,
};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::ConnectionConfig;
use crate::error::ReplicationError;
use crate::lsn::format_lsn;
use crate::transaction::{ReplicationEvent, TransactionAssembler};
use crate::wire::{CopyEvent, WalConnection};

/// What to stream and how.
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    /// The server.
    pub connection: ConnectionConfig,
    /// Name of the permanent logical slot (created when missing).
    pub slot: String,
    /// Publication whose tables are streamed.
    pub publication: String,
    /// Upper bound between two standby status updates; lowered to a third of
    /// the server's `wal_sender_timeout` when that is shorter.
    pub status_interval: Duration,
    /// Capacity of the event channel, in transactions.
    pub channel_capacity: usize,
    /// First reconnect delay; doubled per failure up to `max_backoff`, with jitter.
    pub initial_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
    /// How long [`start`] keeps retrying errors that may pass (the server
    /// starting up, the slot still held by a previous session) before it
    /// gives up.
    pub startup_grace: Duration,
    /// The consumer already handled (and kept) every event with an
    /// `ack_lsn` up to this one, for example before a crash that kept the
    /// last feedback from reaching the server. Such events are dropped
    /// instead of handed on again.
    pub start_after: Lsn,
}

impl ReplicationConfig {
    /// Defaults for everything but the server, slot and publication.
    pub fn new(
        connection: ConnectionConfig,
        slot: impl Into<String>,
        publication: impl Into<String>,
    ) -> Self {
        Self {
            connection,
            slot: slot.into(),
            publication: publication.into(),
            status_interval: Duration::from_secs(10),
            channel_capacity: 1024,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            startup_grace: Duration::from_secs(30),
            start_after: 0,
        }
    }
}

/// Facts about the server, learned at connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo {
    /// `IDENTIFY_SYSTEM` system identifier: names the cluster.
    pub system_id: String,
    /// Timeline.
    pub timeline: u32,
    /// `server_version_num`.
    pub server_version: u32,
}

/// State shared between the task and its handles.
#[derive(Debug, Default)]
struct Shared {
    confirmed: AtomicU64,
    reported_flush: AtomicU64,
    received: AtomicU64,
    connected: AtomicBool,
    reconnects: AtomicU64,
}

/// A cheap, cloneable view of a running stream.
#[derive(Debug, Clone)]
pub struct ReplicationHandle {
    shared: Arc<Shared>,
    system: Arc<SystemInfo>,
}

/// A snapshot of the stream's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationStatus {
    /// True while a walsender session is streaming.
    pub connected: bool,
    /// Highest position the consumer confirmed.
    pub confirmed: Lsn,
    /// Last flush position sent to the server.
    pub reported_flush: Lsn,
    /// Highest WAL position received from the server.
    pub received: Lsn,
    /// Sessions started after the first.
    pub reconnects: u64,
}

impl ReplicationHandle {
    /// Tells the stream that every event with `ack_lsn() <= lsn` is handled
    /// for good; the server may discard WAL up to it. Never moves backwards.
    pub fn confirm(&self, lsn: Lsn) {
        self.shared.confirmed.fetch_max(lsn, Ordering::AcqRel);
    }

    /// Progress counters.
    pub fn status(&self) -> ReplicationStatus {
        ReplicationStatus {
            connected: self.shared.connected.load(Ordering::Acquire),
            confirmed: self.shared.confirmed.load(Ordering::Acquire),
            reported_flush: self.shared.reported_flush.load(Ordering::Acquire),
            received: self.shared.received.load(Ordering::Acquire),
            reconnects: self.shared.reconnects.load(Ordering::Acquire),
        }
    }

    /// The server's identity, as of the first connect.
    pub fn system(&self) -> &SystemInfo {
        &self.system
    }
}

/// A started stream: its handle, its events and its task.
pub struct Replication {
    /// Confirm positions and read progress.
    pub handle: ReplicationHandle,
    /// Committed transactions and non-transactional messages, in order.
    /// Closed when the task ends.
    pub events: mpsc::Receiver<ReplicationEvent>,
    /// Ends with `Ok` after shutdown, or with the error that cannot be
    /// retried.
    pub task: JoinHandle<Result<(), ReplicationError>>,
}

/// Connects, makes sure the slot exists, starts streaming and spawns the
/// task. Errors of the first connection are returned here, so a
/// misconfiguration stops start-up instead of retrying forever.
pub async fn start(
    config: ReplicationConfig,
    shutdown: CancellationToken,
) -> Result<Replication, ReplicationError> {
    validate_identifier("slot", &config.slot)?;
    let (conn, system, interval) = open_first_session(&config, &shutdown).await?;
    info!(
        system_id = %system.system_id,
        timeline = system.timeline,
        slot = %config.slot,
        publication = %config.publication,
        "replication started"
    );
    let (events_tx, events) = mpsc::channel(config.channel_capacity.max(1));
    let shared = Arc::new(Shared::default());
    shared.connected.store(true, Ordering::Release);
    let system = Arc::new(system);
    let start_after = config.start_after;
    shared.confirmed.store(start_after, Ordering::Release);
    let task = ReplicationTask {
        status_interval: interval,
        config,
        shared: Arc::clone(&shared),
        events_tx,
        shutdown,
        decoder: Decoder::new(),
        assembler: TransactionAssembler::new(),
        pending: None,
        last_handed: start_after,
        idle_flush: 0,
        reply_now: false,
    };
    let task = tokio::spawn(task.run(conn));
    Ok(Replication {
        handle: ReplicationHandle { shared, system },
        events,
        task,
    })
}

/// Why a session ended without an error.
enum SessionEnd {
    Shutdown,
    ServerEndedCopy,
    /// The sentinel connection was closed: the server is shutting down.
    ServerStopping,
}

struct ReplicationTask {
    config: ReplicationConfig,
    status_interval: Duration,
    shared: Arc<Shared>,
    /// Receiver held by the consumer (the change decoder).
    events_tx: mpsc::Sender<ReplicationEvent>,
    shutdown: CancellationToken,
    decoder: Decoder,
    assembler: TransactionAssembler,
    /// A finished event the full channel could not take yet. Kept across
    /// reconnects; the server's copy of it is then dropped as a duplicate.
    pending: Option<ReplicationEvent>,
    /// `ack_lsn` of the last event accepted for the consumer (sent or pending).
    last_handed: Lsn,
    /// A keepalive `wal_end` seen while fully idle: safe to report as flushed
    /// once the consumer has confirmed everything handed to it.
    idle_flush: Lsn,
    /// The server asked for a status update.
    reply_now: bool,
}

/// An idle ordinary connection to the same server, watched while a
/// session streams.
///
/// The consumer confirms only what it may forget (walcast keeps a replay
/// window behind the confirmed position), and PostgreSQL's fast shutdown
/// waits until every logical walsender's client has flushed all it was
/// sent (`WalSndDone`), so a connected consumer would hold a fast shutdown
/// for ever. A fast shutdown terminates ordinary backends first, so the
/// sentinel closing is the signal to end the replication session at once
/// and let the server stop; the task reconnects with back-off and the slot
/// resends from the confirmed position. Without a sentinel (it could not
/// connect) nothing changes but that.
struct Sentinel {
    client: tokio_postgres::Client,
}

impl Sentinel {
    /// How often the sentinel is looked at.
    const CHECK: Duration = Duration::from_millis(200);

    async fn open(config: &ConnectionConfig) -> Option<Self> {
        let connect = crate::checks::connect_sql(config);
        match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok(client)) => Some(Self { client }),
            Ok(Err(err)) => {
                debug!(error = %err, "no shutdown sentinel");
                None
            }
            Err(_) => None,
        }
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

impl ReplicationTask {
    async fn run(mut self, first: WalConnection) -> Result<(), ReplicationError> {
        let mut conn = Some(first);
        let mut backoff = self.config.initial_backoff;
        loop {
            let mut session = match conn.take() {
                Some(session) => session,
                None => match open_session(&self.config).await {
                    Ok((session, _, interval)) => {
                        self.status_interval = interval;
                        self.shared.reconnects.fetch_add(1, Ordering::AcqRel);
                        info!(slot = %self.config.slot, "replication reconnected");
                        session
                    }
                    Err(err) if err.is_retryable() => {
                        warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "replication connect failed");
                        if self.sleep_or_shutdown(jitter(backoff)).await {
                            return Ok(());
                        }
                        backoff = (backoff * 2).min(self.config.max_backoff);
                        continue;
                    }
                    Err(err) => return Err(err),
                },
            };
            self.shared.connected.store(true, Ordering::Release);
            let started = Instant::now();
            let result = self.stream(&mut session).await;
            self.shared.connected.store(false, Ordering::Release);
            // Partial transactions are sent again by the next session.
            self.assembler.reset();
            self.decoder = Decoder::new();
            match result {
                Ok(SessionEnd::Shutdown) => {
                    self.goodbye(session).await;
                    return Ok(());
                }
                Ok(SessionEnd::ServerEndedCopy) => warn!("server ended replication; reconnecting"),
                Ok(SessionEnd::ServerStopping) => {
                    // Leave at once so the walsender can exit (see `Sentinel`).
                    let _ = self.send_status(&mut session).await;
                    let _ = session.terminate().await;
                    warn!("the server is shutting down; replication paused, reconnecting");
                }
                Err(err) if err.is_retryable() => {
                    warn!(error = %err, "replication connection lost; reconnecting")
                }
                Err(err) => return Err(err),
            }
            if started.elapsed() > Duration::from_secs(30) {
                backoff = self.config.initial_backoff;
            }
            if self.sleep_or_shutdown(jitter(backoff)).await {
                return Ok(());
            }
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    /// Streams one session until shutdown, an error, or the server's CopyDone.
    async fn stream(&mut self, conn: &mut WalConnection) -> Result<SessionEnd, ReplicationError> {
        let mut status_timer = tokio::time::interval(self.status_interval);
        status_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Locals, so the select's futures do not borrow `self`.
        let shutdown = self.shutdown.clone();
        let events_tx = self.events_tx.clone();
        // One waiter for the whole session: a fresh `cancelled()` per loop
        // turn would register and unregister a waiter (a mutex round trip)
        // on every socket read.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let sentinel = Sentinel::open(&self.config.connection).await;
        let mut sentinel_check = tokio::time::interval(Sentinel::CHECK);
        loop {
            if self.reply_now {
                self.send_status(conn).await?;
            }
            tokio::select! {
                biased;
                () = &mut cancelled => return Ok(SessionEnd::Shutdown),
                _ = sentinel_check.tick(), if sentinel.is_some() => {
                    if sentinel.as_ref().is_some_and(Sentinel::is_closed) {
                        return Ok(SessionEnd::ServerStopping);
                    }
                }
                _ = status_timer.tick() => self.send_status(conn).await?,
                permit = events_tx.reserve(), if self.pending.is_some() => {
                    let Ok(permit) = permit else { return Ok(SessionEnd::Shutdown) };
                    if let Some(event) = self.pending.take() {
                        permit.send(event);
                    }
                    if self.drain_buffered(conn)? {
                        return Ok(SessionEnd::ServerEndedCopy);
                    }
                }
                copy = conn.read_copy_data(), if self.pending.is_none() => {
                    if self.handle_copy(copy?)? || self.drain_buffered(conn)? {
                        return Ok(SessionEnd::ServerEndedCopy);
                    }
                }
            }
        }
    }

    /// Handles every complete message already in the read buffer while the
    /// channel has room. Returns true when the server ended the copy.
    fn drain_buffered(&mut self, conn: &mut WalConnection) -> Result<bool, ReplicationError> {
        while self.pending.is_none() {
            match conn.try_read_copy_data()? {
                Some(copy) => {
                    if self.handle_copy(copy)? {
                        return Ok(true);
                    }
                }
                None => break,
            }
        }
        Ok(false)
    }

    /// Returns true when the server ended the copy.
    fn handle_copy(&mut self, copy: CopyEvent) -> Result<bool, ReplicationError> {
        let data = match copy {
            CopyEvent::Done => return Ok(true),
            CopyEvent::Data(data) => data,
        };
        match decode_envelope(data)? {
            ReplicationMessage::KeepAlive(keepalive) => {
                self.shared
                    .received
                    .fetch_max(keepalive.wal_end, Ordering::AcqRel);
                if self.is_idle() {
                    self.idle_flush = self.idle_flush.max(keepalive.wal_end);
                }
                self.reply_now |= keepalive.reply_requested;
            }
            ReplicationMessage::XLogData(xlog) => {
                self.shared
                    .received
                    .fetch_max(xlog.wal_end, Ordering::AcqRel);
                let message = self.decoder.decode(&xlog.data)?;
                let event = self
                    .assembler
                    .push(message)
                    .map_err(|e| ReplicationError::Protocol(e.to_string()))?;
                if let Some(event) = event {
                    self.hand_on(event);
                }
            }
        }
        Ok(false)
    }

    fn hand_on(&mut self, event: ReplicationEvent) {
        // A streamed transaction whose changes all went to unpublished
        // tables (or were rolled back to a savepoint) carries nothing.
        if matches!(&event, ReplicationEvent::Transaction(tx) if tx.messages.is_empty()) {
            return;
        }
        let ack = event.ack_lsn();
        if ack <= self.last_handed {
            debug!(lsn = %format_lsn(ack), "dropping event already handed on before a reconnect");
            return;
        }
        self.last_handed = ack;
        match self.events_tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(event)) => self.pending = Some(event),
            // The consumer is gone; shutdown follows.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Nothing open, nothing waiting, everything handed on confirmed.
    fn is_idle(&self) -> bool {
        self.pending.is_none()
            && self.assembler.is_idle()
            && self.shared.confirmed.load(Ordering::Acquire) >= self.last_handed
    }

    async fn send_status(&mut self, conn: &mut WalConnection) -> Result<(), ReplicationError> {
        let confirmed = self.shared.confirmed.load(Ordering::Acquire);
        let mut flush = confirmed.max(self.shared.reported_flush.load(Ordering::Acquire));
        if self.is_idle() {
            flush = flush.max(self.idle_flush);
        }
        let write = flush.max(self.shared.received.load(Ordering::Acquire));
        let mut payload = Vec::with_capacity(34);
        encode_standby_status_update(&mut payload, write, flush, flush, pg_now(), false);
        conn.send_copy_data(&payload).await?;
        self.shared.reported_flush.store(flush, Ordering::Release);
        self.reply_now = false;
        Ok(())
    }

    /// Ends a session on shutdown: a last status update, then makes the
    /// confirmed position survive a server restart.
    ///
    /// PostgreSQL before 17 writes a logical slot's `confirmed_flush_lsn` to
    /// disk only when its `restart_lsn` or `catalog_xmin` moves too, so a
    /// clean server restart can rewind the slot to an older position and
    /// resend transactions we already confirmed. `pg_replication_slot_advance`
    /// to the position we just confirmed marks the slot dirty, and the next
    /// checkpoint (at the latest the shutdown checkpoint) saves it. A crash
    /// still rewinds it, which the consumer's positions cover.
    async fn goodbye(&mut self, mut session: WalConnection) {
        let _ = self.send_status(&mut session).await;
        let flush = self.shared.reported_flush.load(Ordering::Acquire);
        if session.end_copy().await.is_ok() && flush > 0 {
            let sql = format!(
                "SELECT pg_replication_slot_advance('{}', '{}')",
                self.config.slot,
                format_lsn(flush)
            );
            if let Err(err) = session.simple_query(&sql).await {
                debug!(error = %err, "could not persist the slot position");
            }
        }
        let _ = session.terminate().await;
        info!(flush = %format_lsn(flush), "replication stopped");
    }

    /// Sleeps, or returns true at once when shutdown is requested.
    async fn sleep_or_shutdown(&self, delay: Duration) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => true,
            () = tokio::time::sleep(delay) => false,
        }
    }
}

/// The first session: errors that cannot be retried return at once; others
/// (the server still starting, the slot still held by a walsender that has
/// not noticed its client is gone) are retried for `startup_grace`.
async fn open_first_session(
    config: &ReplicationConfig,
    shutdown: &CancellationToken,
) -> Result<(WalConnection, SystemInfo, Duration), ReplicationError> {
    let deadline = Instant::now() + config.startup_grace;
    let mut backoff = config.initial_backoff;
    loop {
        match open_session(config).await {
            Err(err)
                if err.is_retryable()
                    && Instant::now() + backoff < deadline
                    && !shutdown.is_cancelled() =>
            {
                warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "replication connect failed");
                tokio::time::sleep(jitter(backoff)).await;
                backoff = (backoff * 2).min(config.max_backoff);
            }
            result => return result,
        }
    }
}

/// Connects and prepares a session up to CopyBoth. Returns the connection,
/// the server's identity and the status interval to use.
async fn open_session(
    config: &ReplicationConfig,
) -> Result<(WalConnection, SystemInfo, Duration), ReplicationError> {
    let mut conn = WalConnection::connect(&config.connection).await?;
    let server_version: u32 = first_value(conn.simple_query("SHOW server_version_num").await?)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if server_version < 140_000 {
        return Err(ReplicationError::Protocol(format!(
            "PostgreSQL 14 or newer is required (pgoutput protocol 2 with streaming); server_version_num is {server_version}"
        )));
    }
    let identity = conn.simple_query("IDENTIFY_SYSTEM").await?;
    let row = identity
        .first()
        .ok_or_else(|| ReplicationError::Protocol("IDENTIFY_SYSTEM returned no row".into()))?;
    let field = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let system = SystemInfo {
        system_id: field(0),
        timeline: field(1).parse().unwrap_or(0),
        server_version,
    };
    let timeout = first_value(conn.simple_query("SHOW wal_sender_timeout").await?)
        .and_then(|v| parse_pg_duration(&v))
        .filter(|t| !t.is_zero());
    let interval = match timeout {
        Some(timeout) => config.status_interval.min(timeout / 3),
        None => config.status_interval,
    }
    .max(Duration::from_millis(100));

    ensure_slot(
        &mut conn,
        &config.slot,
        &config.connection.dbname,
        server_version,
    )
    .await?;
    let command = format!(
        "START_REPLICATION SLOT {} LOGICAL 0/0 (proto_version '2', streaming 'on', messages 'true', publication_names '{}')",
        config.slot,
        quote_publication(&config.publication),
    );
    conn.start_copy_both(&command).await?;
    Ok((conn, system, interval))
}

/// Creates the permanent slot unless it exists; checks an existing one is a
/// pgoutput slot of this database.
async fn ensure_slot(
    conn: &mut WalConnection,
    slot: &str,
    dbname: &str,
    server_version: u32,
) -> Result<(), ReplicationError> {
    let rows = conn
        .simple_query(&format!(
            "SELECT plugin, database, coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = '{slot}'"
        ))
        .await?;
    if let Some(row) = rows.first() {
        let plugin = row.first().cloned().flatten().unwrap_or_default();
        let database = row.get(1).cloned().flatten().unwrap_or_default();
        let wal_status = row.get(2).cloned().flatten().unwrap_or_default();
        if database != dbname {
            return Err(ReplicationError::Protocol(format!(
                "replication slot {slot} belongs to database {database:?}, not {dbname:?}; slot names are per cluster, so choose another slot name (WALCAST_SLOT)"
            )));
        }
        if plugin != "pgoutput" {
            return Err(ReplicationError::Protocol(format!(
                "replication slot {slot} exists with plugin {plugin:?}, not pgoutput; drop it with SELECT pg_drop_replication_slot('{slot}') or choose another slot name"
            )));
        }
        if wal_status == "lost" {
            return Err(ReplicationError::Protocol(format!(
                "replication slot {slot} has lost WAL it needed (max_slot_wal_keep_size); changes were missed. Drop it with SELECT pg_drop_replication_slot('{slot}') and restart walcast; clients must refetch"
            )));
        }
        return Ok(());
    }
    let command = if server_version >= 150_000 {
        format!("CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput (SNAPSHOT 'nothing')")
    } else {
        format!("CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput NOEXPORT_SNAPSHOT")
    };
    match conn.simple_query(&command).await {
        Ok(rows) => {
            let lsn = rows
                .first()
                .and_then(|r| r.get(1).cloned().flatten())
                .unwrap_or_default();
            info!(slot, consistent_point = %lsn, "created replication slot");
            Ok(())
        }
        // Another walcast created it between our check and our create.
        Err(err) if err.sqlstate() == Some("42710") => Ok(()),
        Err(err) => Err(err),
    }
}

fn first_value(rows: Vec<crate::wire::TextRow>) -> Option<String> {
    rows.into_iter().next()?.into_iter().next()?
}

/// Slot names are plain identifiers: lower-case letters, digits, `_`.
fn validate_identifier(what: &str, name: &str) -> Result<(), ReplicationError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ReplicationError::Protocol(format!(
            "invalid {what} name {name:?}: use 1-63 lower-case letters, digits or underscores"
        )))
    }
}

/// `publication_names` takes a string literal holding a list of quoted
/// identifiers.
fn quote_publication(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\"")).replace('\'', "''")
}

/// Parses the text of a duration GUC as `SHOW` prints it (`60s`, `1min`, `500ms`, `0`).
fn parse_pg_duration(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    Some(match unit.trim() {
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "min" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        _ => return None,
    })
}

fn jitter(base: Duration) -> Duration {
    let factor = rand::rng().random_range(0.5..1.5);
    base.mul_f64(factor)
}

fn pg_now() -> i64 {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    micros - PG_EPOCH_OFFSET_MICROS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_guc_durations() {
        assert_eq!(parse_pg_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_pg_duration("1min"), Some(Duration::from_secs(60)));
        assert_eq!(parse_pg_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_pg_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_pg_duration("soon"), None);
    }

    #[test]
    fn quotes_publication_names() {
        assert_eq!(quote_publication("walcast"), "\"walcast\"");
        assert_eq!(quote_publication("a\"b'c"), "\"a\"\"b''c\"");
    }

    #[test]
    fn validates_slot_names() {
        assert!(validate_identifier("slot", "walcast_1").is_ok());
        assert!(validate_identifier("slot", "Walcast").is_err());
        assert!(validate_identifier("slot", "x; DROP").is_err());
        assert!(validate_identifier("slot", "").is_err());
    }
}
