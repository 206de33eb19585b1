//! Row changes and database messages on their way to channels: the live
//! fan-out, the replay window, and resumes.
//!
//! ```text
//!  publish(events) ──lock window──▶ per transaction: Window::push ──▶ fan-out (if ready)
//!                                   per message: route `walcast` messages as broadcasts
//!  join + resume  ──lock window──▶ register (catching up), reply, first chunk ──▶ unlock
//!  queue drained  ──lock window──▶ next chunk … last chunk: the channel is live ──▶ unlock
//! ```
//!
//! # Ordering and uniqueness
//!
//! The publisher pushes a transaction into the window and fans it out
//! while holding the window lock; a resuming channel is replayed from the
//! window, and made live, while holding the same lock. A transaction is
//! therefore either in the replay (pushed before the channel went live) or
//! delivered live (pushed after): no gap, no duplicate, commit order.
//!
//! # Paced catch-up
//!
//! A channel may have missed more than its connection's queue holds (a
//! client evicted as a slow consumer missed at least a queue's worth), so
//! the replay is not queued in one go. The resuming channel is registered
//! *catching up*: live fan-out skips it, since every change it would get
//! is in the window. Each chunk of the replay, under one hold of the
//! lock, reads at most [`CHUNK_CANDIDATES`] candidates after the channel's
//! cursor (the last change examined), queues those that match, and stops
//! early once the connection's queue is half full (the other half is left
//! to the connection's other channels and replies). The chunk that reaches
//! the end of the window clears the catching-up flag before the lock is
//! released: from the next transaction on, live delivery covers the
//! channel. The session continues a pending catch-up whenever its queue has
//! drained to a quarter, so a resume of any length flows at the speed the
//! client reads, never overflows the queue, and never holds the lock for
//! long. If the window evicts past the cursor meanwhile (the client reads
//! slower than the window turns over), the channel is told
//! `ResumeUnavailable: the position is older than the replay window` and
//! made live, as if it had resumed from a too old position.
//!
//! # After a restart
//!
//! The slot re-sends every transaction the previous process still held in
//! its window. Until the binary calls [`Hub::set_replay_ready`] (it has
//! read up to the server's WAL position at start), transactions only fill
//! the window: their live delivery happened before the restart, and a
//! client that missed them gets them by resuming. Resumes wait for
//! readiness instead of being answered from a window still being rebuilt.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use changes::{
    BroadcastChange, Change, Epoch, Event, LogicalMessage, Position, ReadEnd, ReplayLimits,
    ResumeError,
};
use router::{BindingId, Hit, SubscriberId, by_subscriber};
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::{debug, warn};

use crate::connection::{Connection, FanOut, Outbound};
use crate::hub::{ChangeForm, Hub, Registration, TopicKey};
use crate::protocol::{
    BindingId as WireBindingId, FanoutFrame, FanoutMessage, OutboundBroadcast, RawJson, UserPayload,
};
use crate::replay::Window;

/// The most candidates one chunk of a catch-up examines: it bounds how
/// long a catch-up holds the window lock that live publishing needs.
pub(crate) const CHUNK_CANDIDATES: usize = 1024;

/// The logical-message prefix walcast routes as broadcasts:
/// `pg_logical_emit_message(true, 'walcast', '{"topic":…,"event":…,"payload":…}')`.
pub const MESSAGE_PREFIX: &str = "walcast";

/// Why a resume cannot be answered; the text follows `ResumeUnavailable: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeUnavailable {
    /// Not a position walcast hands out.
    #[error("{0:?} is not a walcast position")]
    Malformed(String),
    /// From another database or another life of the slot.
    #[error("the position is from another database or replication slot")]
    OtherEpoch,
    /// Older than the replay window, or the window evicted past what a
    /// catch-up had replayed.
    #[error("the position is older than the replay window")]
    TooOld,
    /// The window is still being rebuilt after a restart.
    #[error("the replay window is still being rebuilt")]
    NotReady,
}

impl From<ResumeError> for ResumeUnavailable {
    fn from(err: ResumeError) -> Self {
        match err {
            ResumeError::OtherEpoch => Self::OtherEpoch,
            ResumeError::TooOld { .. } => Self::TooOld,
            ResumeError::NotReady => Self::NotReady,
        }
    }
}

/// A resuming channel still replaying what it missed: the session keeps
/// it and hands it back to [`Hub::continue_catch_up`] once its queue has
/// drained. Dropping it (the channel left or was joined again) is all it
/// takes to stop.
pub(crate) struct CatchUp {
    subscriber: SubscriberId,
    topic: Arc<str>,
    form: ChangeForm,
    /// The log keys the channel's bindings are read under. Fixed at the
    /// join: a key's coverage only grows (indexed columns stay indexed).
    keys: Vec<u64>,
    /// The last change examined; the next chunk reads after it.
    cursor: Position,
    /// Frames replayed so far (for the log).
    replayed: u64,
    /// When the replay started (for the log: how long catching up took).
    started: Instant,
}

/// Where a catch-up stands after a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CatchUpState {
    /// More to replay once the queue has drained.
    Pending,
    /// Everything replayed; the channel receives live changes.
    Live,
}

impl Hub {
    /// Starts a new replay window (at start-up, once the slot's epoch and
    /// confirmed position are known). Resumes wait until
    /// [`Hub::set_replay_ready`].
    pub fn start_replay(&self, epoch: Epoch, limits: ReplayLimits, floor: u64) {
        *self.lock_window() = Window::new(epoch, limits, floor);
        self.inner.ready.send_replace(false);
        self.inner.has_stream.store(true, Ordering::Relaxed);
    }

    /// The window now holds everything the slot re-sent: answer resumes and
    /// deliver live.
    pub fn set_replay_ready(&self) {
        self.lock_window().log.set_ready();
        self.inner.ready.send_replace(true);
    }

    /// The position the slot may confirm: everything at or below it has
    /// left the window.
    pub fn replay_floor(&self) -> u64 {
        self.lock_window().log.floor()
    }

    /// Evicts what has aged out of the window (for an idle pipeline) and
    /// returns the new floor.
    pub fn age_window(&self) -> u64 {
        let mut window = self.lock_window();
        window.log.evict_expired(SystemTime::now());
        window.log.floor()
    }

    /// Waits until the window is ready, at most `timeout`.
    pub(crate) async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut ready = self.inner.ready.subscribe();
        tokio::time::timeout(timeout, ready.wait_for(|ready| *ready))
            .await
            .is_ok_and(|result| result.is_ok())
    }

    /// Files committed events in the window and, once ready, delivers them.
    /// Drains `events`.
    pub fn publish(&self, events: &mut Vec<Event>) {
        let mut window = self.lock_window();
        window.log.evict_expired(SystemTime::now());
        let live = window.log.is_ready();
        let metrics = &self.inner.metrics;
        let mut batch = Batch::default();
        for event in events.drain(..) {
            match event {
                Event::Change(change) => {
                    metrics.changes_in.fetch_add(1, Ordering::Relaxed);
                    if batch
                        .transaction
                        .first()
                        .is_some_and(|first| first.position.lsn != change.position.lsn)
                    {
                        self.push_transaction(&mut window, live, &mut batch);
                    }
                    batch.transaction.push(Arc::new(change));
                }
                Event::Message(message) => {
                    metrics.messages_in.fetch_add(1, Ordering::Relaxed);
                    self.push_transaction(&mut window, live, &mut batch);
                    window.log.note_progress(message.position.lsn);
                    if live {
                        self.route_message(&message);
                    }
                }
            }
        }
        self.push_transaction(&mut window, live, &mut batch);
        // The frames are queued in order: they can be written after the
        // window lets joins in again.
        drop(window);
        batch.fan_out.finish();
    }

    fn push_transaction(&self, window: &mut Window, live: bool, batch: &mut Batch) {
        let Batch {
            transaction,
            hits,
            fan_out,
        } = batch;
        let Some(first) = transaction.first() else {
            return;
        };
        window.push(first.position.lsn, transaction);
        self.inner.metrics.saw_commit(first.commit_time());
        if live {
            for change in transaction.iter() {
                self.fan_out(change, hits, fan_out);
            }
        }
        transaction.clear();
    }

    /// Queues `change` to every channel with a matching binding: one frame
    /// per channel; each distinct frame is encoded once and shared.
    fn fan_out(&self, change: &Arc<Change>, hits: &mut Vec<Hit>, fan_out: &mut FanOut) {
        hits.clear();
        self.inner.index.matching(change, hits);
        if hits.is_empty() {
            return;
        }
        let mut frames = ChangeFrames::new(change);
        let mut delivered = 0u64;
        for (subscriber, group) in by_subscriber(hits) {
            let Some(channel) = self.inner.channels.get(&subscriber) else {
                continue;
            };
            // Its catch-up replays this change from the window.
            if channel.catching_up.load(Ordering::Relaxed) {
                continue;
            }
            let ids = group.iter().map(|hit| hit.binding);
            let Some(frame) = frames.frame(&channel.topic.topic, channel.form, ids) else {
                continue;
            };
            if channel.connection.fan_out(Outbound::Fanout(frame), fan_out) {
                delivered += 1;
            }
        }
        self.inner
            .deliveries
            .fetch_add(delivered, Ordering::Relaxed);
        if delivered > 0 {
            let age = SystemTime::now()
                .duration_since(change.commit_time())
                .unwrap_or_default();
            self.inner.metrics.commit_to_queue.observe(age);
        }
    }

    /// Routes a `walcast` logical message as a broadcast to its topic.
    fn route_message(&self, message: &LogicalMessage) {
        #[derive(Deserialize)]
        struct Routed<'a> {
            topic: String,
            event: String,
            #[serde(borrow)]
            payload: Option<&'a RawValue>,
            private: Option<bool>,
        }
        if message.prefix != MESSAGE_PREFIX {
            return;
        }
        let routed = match serde_json::from_slice::<Routed<'_>>(&message.content) {
            Ok(routed) => routed,
            Err(err) => {
                warn!(error = %err, "a walcast logical message is not {{topic, event, payload}}; dropped");
                return;
            }
        };
        let payload = match routed.payload {
            Some(raw) => RawJson::parse(bytes::Bytes::copy_from_slice(raw.get().as_bytes())),
            None => Ok(RawJson::empty_object()),
        };
        let Ok(payload) = payload else {
            return;
        };
        let topic: Arc<str> = match routed.topic.strip_prefix("realtime:") {
            Some(_) => routed.topic.as_str().into(),
            None => format!("realtime:{}", routed.topic).into(),
        };
        let privacy: &[bool] = match routed.private {
            Some(true) => &[true],
            Some(false) => &[false],
            None => &[false, true],
        };
        for private in privacy {
            let key = TopicKey {
                topic: Arc::clone(&topic),
                private: *private,
            };
            self.broadcast(
                &key,
                None,
                OutboundBroadcast::Parts {
                    event: routed.event.clone(),
                    payload: UserPayload::Json(payload.clone()),
                    meta: None,
                },
            );
        }
    }

    /// Registers a join that resumes from `position`: under the window
    /// lock, registers it catching up, runs `reply` (which queues the join
    /// reply), then replays the first chunk of what the channel missed.
    /// `Some` when more is left: the caller continues it with
    /// [`Hub::continue_catch_up`]. On `Err` the channel is live.
    pub(crate) fn register_and_resume(
        &self,
        registration: Registration,
        position: &str,
        reply: impl FnOnce(),
    ) -> Result<Option<CatchUp>, ResumeUnavailable> {
        let subscriber = registration.subscriber;
        let topic = Arc::clone(&registration.topic.topic);
        let form = registration.form;
        let connection = registration.connection.clone();
        let mut window = self.lock_window();
        self.register_locked(&mut window, registration, true);
        reply();

        let Some(after) = Position::parse(position) else {
            self.make_live(subscriber);
            return Err(ResumeUnavailable::Malformed(
                position.chars().take(64).collect(),
            ));
        };
        let mut catch_up = CatchUp {
            subscriber,
            topic,
            form,
            keys: window.lookup_keys(&self.inner.index.replay_keys(subscriber)),
            cursor: after,
            replayed: 0,
            started: Instant::now(),
        };
        match self.replay_chunk(&window, &mut catch_up, &connection)? {
            CatchUpState::Live => Ok(None),
            CatchUpState::Pending => Ok(Some(catch_up)),
        }
    }

    /// Replays the next chunk of `catch_up` into `connection`'s queue (see
    /// [paced catch-up](crate::delivery#paced-catch-up)). On `Err` the
    /// channel is live, and the client must be told.
    pub(crate) fn continue_catch_up(
        &self,
        catch_up: &mut CatchUp,
        connection: &Connection,
    ) -> Result<CatchUpState, ResumeUnavailable> {
        let window = self.lock_window();
        self.replay_chunk(&window, catch_up, connection)
    }

    /// One chunk, under the window lock: queues the matching changes after
    /// the cursor until [`CHUNK_CANDIDATES`] were examined or the queue is
    /// half full; makes the channel live when it reached the end, or on
    /// error.
    fn replay_chunk(
        &self,
        window: &Window,
        catch_up: &mut CatchUp,
        connection: &Connection,
    ) -> Result<CatchUpState, ResumeUnavailable> {
        let mut candidates = Vec::new();
        let end = window
            .log
            .since_many_limited(
                &catch_up.cursor,
                &catch_up.keys,
                CHUNK_CANDIDATES,
                &mut candidates,
            )
            .inspect_err(|_| self.make_live(catch_up.subscriber))?;
        let mut ids = Vec::new();
        let mut replayed = 0u64;
        let mut stopped = false;
        for change in &candidates {
            self.inner
                .index
                .matches_subscriber(catch_up.subscriber, change, &mut ids);
            if !ids.is_empty() {
                if connection.is_half_full() {
                    stopped = true;
                    break;
                }
                let mut frames = ChangeFrames::new(change);
                if let Some(frame) =
                    frames.frame(&catch_up.topic, catch_up.form, ids.iter().copied())
                    && connection.send(Outbound::Fanout(frame))
                {
                    replayed += 1;
                }
            }
            catch_up.cursor = change.position;
        }
        catch_up.replayed += replayed;
        self.inner
            .metrics
            .replayed
            .fetch_add(replayed, Ordering::Relaxed);
        if stopped || matches!(end, ReadEnd::Limited(_)) {
            return Ok(CatchUpState::Pending);
        }
        self.make_live(catch_up.subscriber);
        debug!(
            subscriber = catch_up.subscriber.0,
            replayed = catch_up.replayed,
            elapsed_us = catch_up.started.elapsed().as_micros() as u64,
            "resumed"
        );
        Ok(CatchUpState::Live)
    }

    /// Ends a channel's catch-up: live fan-out delivers to it from the next
    /// transaction on. Called with the window lock held.
    fn make_live(&self, subscriber: SubscriberId) {
        if let Some(channel) = self.inner.channels.get(&subscriber) {
            channel.catching_up.store(false, Ordering::Relaxed);
        }
    }
}

/// The frames of one change, built on first use and shared by channels
/// that get the same bytes.
/// What tells one channel's `postgres_changes` frame from another's: the
/// topic and the binding ids.
type FrameKey = (Arc<str>, Box<[u32]>);

/// What one [`Hub::publish`] carries from change to change.
#[derive(Default)]
struct Batch {
    /// The changes of the transaction at hand (one commit LSN).
    transaction: Vec<Arc<Change>>,
    /// The index's matches for one change, reused.
    hits: Vec<Hit>,
    /// The whole batch's frames, written when it is filed.
    fan_out: FanOut,
}

struct ChangeFrames<'a> {
    change: &'a Arc<Change>,
    data: Option<Option<RawJson>>,
    /// The binding ids of the channel at hand, reused from one channel to
    /// the next.
    ids: Vec<u32>,
    /// The frame made or found last and its key: most channels a change
    /// reaches share one topic and one binding id, so this spares them
    /// the key's allocation and the map's hashing.
    last: Option<(FrameKey, Arc<FanoutFrame>)>,
    postgres: HashMap<FrameKey, Arc<FanoutFrame>>,
    broadcast: HashMap<Arc<str>, Arc<FanoutFrame>>,
    broadcast_payload: Option<Option<(RawJson, RawJson)>>,
}

impl<'a> ChangeFrames<'a> {
    fn new(change: &'a Arc<Change>) -> Self {
        Self {
            change,
            data: None,
            ids: Vec::new(),
            last: None,
            postgres: HashMap::new(),
            broadcast: HashMap::new(),
            broadcast_payload: None,
        }
    }

    fn frame(
        &mut self,
        topic: &Arc<str>,
        form: ChangeForm,
        ids: impl Iterator<Item = BindingId>,
    ) -> Option<Arc<FanoutFrame>> {
        match form {
            ChangeForm::PostgresChanges => {
                self.ids.clear();
                self.ids.extend(ids.map(BindingId::get));
                if let Some(((last_topic, last_ids), frame)) = &self.last {
                    if **last_topic == **topic && **last_ids == *self.ids {
                        return Some(Arc::clone(frame));
                    }
                }
                let key = (Arc::clone(topic), Box::from(self.ids.as_slice()));
                if let Some(frame) = self.postgres.get(&key) {
                    let frame = Arc::clone(frame);
                    self.last = Some((key, Arc::clone(&frame)));
                    return Some(frame);
                }
                let change = self.change;
                let data = self
                    .data
                    .get_or_insert_with(|| match RawJson::from_serialize(&**change) {
                        Ok(json) => Some(json),
                        Err(err) => {
                            warn!(error = %err, "cannot serialize a change");
                            None
                        }
                    })
                    .clone()?;
                let message = FanoutMessage::PostgresChanges {
                    topic: topic.to_string(),
                    ids: key
                        .1
                        .iter()
                        .filter_map(|id| WireBindingId::new(*id))
                        .collect(),
                    data,
                };
                let frame = Arc::new(FanoutFrame::new(message).ok()?);
                self.last = Some((key.clone(), Arc::clone(&frame)));
                self.postgres.insert(key, Arc::clone(&frame));
                Some(frame)
            }
            ChangeForm::Broadcast => {
                if let Some(frame) = self.broadcast.get(topic) {
                    return Some(Arc::clone(frame));
                }
                let change = self.change;
                let (payload, meta) = self
                    .broadcast_payload
                    .get_or_insert_with(|| broadcast_payload(change))
                    .clone()?;
                let message = FanoutMessage::Broadcast {
                    topic: topic.to_string(),
                    message: OutboundBroadcast::Parts {
                        event: change.kind.as_str().to_owned(),
                        payload: UserPayload::Json(payload),
                        meta: Some(meta),
                    },
                };
                let frame = Arc::new(FanoutFrame::new(message).ok()?);
                self.broadcast.insert(Arc::clone(topic), Arc::clone(&frame));
                Some(frame)
            }
        }
    }
}

/// A change as a routed topic's broadcast event: the payload of Supabase's
/// `realtime.broadcast_changes` ([`BroadcastChange`]) and
/// `{"position": …}` as `meta`.
fn broadcast_payload(change: &Change) -> Option<(RawJson, RawJson)> {
    let meta = serde_json::json!({ "position": change.position.to_string() });
    Some((
        RawJson::from_serialize(&BroadcastChange(change)).ok()?,
        RawJson::from_serialize(&meta).ok()?,
    ))
}
