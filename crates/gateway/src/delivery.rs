//! Row changes and database messages on their way to channels: the live
//! fan-out, the replay window, and resumes.
//!
//! ```text
//!  publish(events) ──lock window──▶ per transaction: Window::push ──▶ fan-out (if ready)
//!                                   per message: route `walcast` messages as broadcasts
//!  join + resume  ──lock window──▶ register, reply, since_many ──▶ replayed frames ──▶ unlock
//! ```
//!
//! # Ordering and uniqueness
//!
//! The publisher pushes a transaction into the window and fans it out
//! while holding the window lock; a resuming join registers its channel and
//! replays from the window while holding the same lock. A transaction is
//! therefore either in the replay (pushed before the join took the lock) or
//! delivered live (pushed after): no gap, no duplicate, commit order.
//!
//! # After a restart
//!
//! The slot re-sends every transaction the previous process still held in
//! its window. Until the binary calls [`Hub::set_replay_ready`] (it has
//! read up to the server's WAL position at start), transactions only fill
//! the window: their live delivery happened before the restart, and a
//! client that missed them gets them by resuming. Resumes wait for
//! readiness instead of being answered from a window still being rebuilt.
//!
//! # How much one resume replays
//!
//! Replayed frames go through the connection's bounded queue like any
//! other. A resume that would replay more than [`MAX_REPLAY_FRAMES`] frames
//! is answered `ResumeUnavailable` (the client refetches) instead of
//! evicting the connection it is trying to bring back.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use changes::{
    BroadcastChange, Change, Epoch, Event, LogicalMessage, Position, ReplayLimits, ResumeError,
};
use router::{BindingId, Hit, by_subscriber};
use serde::Deserialize;
use serde_json::value::RawValue;
use tracing::{debug, warn};

use crate::connection::Outbound;
use crate::hub::{ChangeForm, Hub, Registration, TopicKey};
use crate::protocol::{
    BindingId as WireBindingId, FanoutFrame, FanoutMessage, OutboundBroadcast, RawJson, UserPayload,
};
use crate::replay::Window;

/// The most frames one resume replays (half the default queue, so the
/// live frames behind it still fit).
pub const MAX_REPLAY_FRAMES: usize = 512;

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
    /// Older than the replay window.
    #[error("the position is older than the replay window")]
    TooOld,
    /// More missed events than one resume carries.
    #[error("{0} missed events are more than one resume carries")]
    TooMany(usize),
    /// The window is still being rebuilt after a restart.
    #[error("the replay window is still being rebuilt")]
    NotReady,
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
        let mut hits = Vec::new();
        let mut transaction: Vec<Arc<Change>> = Vec::new();
        for event in events.drain(..) {
            match event {
                Event::Change(change) => {
                    metrics.changes_in.fetch_add(1, Ordering::Relaxed);
                    if transaction
                        .first()
                        .is_some_and(|first| first.position.lsn != change.position.lsn)
                    {
                        self.push_transaction(&mut window, &mut transaction, live, &mut hits);
                    }
                    transaction.push(Arc::new(change));
                }
                Event::Message(message) => {
                    metrics.messages_in.fetch_add(1, Ordering::Relaxed);
                    self.push_transaction(&mut window, &mut transaction, live, &mut hits);
                    window.log.note_progress(message.position.lsn);
                    if live {
                        self.route_message(&message);
                    }
                }
            }
        }
        self.push_transaction(&mut window, &mut transaction, live, &mut hits);
    }

    fn push_transaction(
        &self,
        window: &mut Window,
        transaction: &mut Vec<Arc<Change>>,
        live: bool,
        hits: &mut Vec<Hit>,
    ) {
        let Some(first) = transaction.first() else {
            return;
        };
        window.push(first.position.lsn, transaction);
        self.inner.metrics.saw_commit(first.commit_time());
        if live {
            for change in transaction.iter() {
                self.fan_out(change, hits);
            }
        }
        transaction.clear();
    }

    /// Queues `change` to every channel with a matching binding: one frame
    /// per channel; each distinct frame is encoded once and shared.
    fn fan_out(&self, change: &Arc<Change>, hits: &mut Vec<Hit>) {
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
            let ids = group.iter().map(|hit| hit.binding);
            let Some(frame) = frames.frame(&channel.topic.topic, channel.form, ids) else {
                continue;
            };
            if channel.connection.send(Outbound::Fanout(frame)) {
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
    /// lock, registers it, runs `reply` (which queues the join reply), then
    /// queues what the channel missed. Live delivery follows the lock.
    pub(crate) fn register_and_resume(
        &self,
        registration: Registration,
        position: &str,
        reply: impl FnOnce(),
    ) -> Result<usize, ResumeUnavailable> {
        let subscriber = registration.subscriber;
        let topic = Arc::clone(&registration.topic.topic);
        let form = registration.form;
        let connection = registration.connection.clone();
        let mut window = self.lock_window();
        self.register_locked(&mut window, registration);
        reply();

        let after = Position::parse(position)
            .ok_or_else(|| ResumeUnavailable::Malformed(position.chars().take(64).collect()))?;
        let keys = window.lookup_keys(&self.inner.index.replay_keys(subscriber), after.lsn);
        let mut missed = Vec::new();
        window
            .log
            .since_many(&after, &keys, &mut missed)
            .map_err(|err| match err {
                ResumeError::OtherEpoch => ResumeUnavailable::OtherEpoch,
                ResumeError::TooOld { .. } => ResumeUnavailable::TooOld,
                ResumeError::NotReady => ResumeUnavailable::NotReady,
            })?;

        let mut frames = Vec::new();
        let mut ids = Vec::new();
        for change in &missed {
            self.inner
                .index
                .matches_subscriber(subscriber, change, &mut ids);
            if ids.is_empty() {
                continue;
            }
            if frames.len() == MAX_REPLAY_FRAMES {
                return Err(ResumeUnavailable::TooMany(missed.len()));
            }
            let mut one = ChangeFrames::new(change);
            if let Some(frame) = one.frame(&topic, form, ids.iter().copied()) {
                frames.push(frame);
            }
        }
        let replayed = frames.len();
        let metrics = &self.inner.metrics;
        metrics
            .replayed
            .fetch_add(replayed as u64, Ordering::Relaxed);
        for frame in frames {
            connection.send(Outbound::Fanout(frame));
        }
        debug!(subscriber = subscriber.0, replayed, "resumed");
        Ok(replayed)
    }
}

/// The frames of one change, built on first use and shared by channels
/// that get the same bytes.
struct ChangeFrames<'a> {
    change: &'a Arc<Change>,
    data: Option<Option<RawJson>>,
    postgres: HashMap<(Arc<str>, Vec<u32>), Arc<FanoutFrame>>,
    broadcast: HashMap<Arc<str>, Arc<FanoutFrame>>,
    broadcast_payload: Option<Option<(RawJson, RawJson)>>,
}

impl<'a> ChangeFrames<'a> {
    fn new(change: &'a Arc<Change>) -> Self {
        Self {
            change,
            data: None,
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
                let ids: Vec<u32> = ids.map(BindingId::get).collect();
                let key = (Arc::clone(topic), ids);
                if let Some(frame) = self.postgres.get(&key) {
                    return Some(Arc::clone(frame));
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
