//! The hub: who is joined to what, and the fan-out of changes to them.
//!
//! ```text
//!  sessions ──register / unregister──▶ Hub { channels: SubscriberId → (topic, connection),
//!                                            index: table → column → value → bindings }
//!  change stream ──publish_change──▶ index.matching ──▶ one frame per (topic, ids, vsn),
//!                                                      encoded once, cloned into each
//!                                                      connection's bounded queue
//! ```
//!
//! Registration happens before a join is answered, so a subscription is
//! live before the client sees `SUBSCRIBED` (a resuming one is caught up
//! from the replay window first, then live). The fan-out never waits for a
//! connection: a full queue evicts that connection (see [`Connection`]),
//! nobody else is delayed. Row changes, the replay window and resumes
//! live in [`delivery`](crate::delivery).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use changes::{Epoch, ReplayLimits};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use router::{Binding, SharedIndex, SubscriberId};
use tokio::sync::watch;

use crate::connection::{Connection, FanOut, Outbound};
use crate::metrics::Metrics;
use crate::presence::{Diff, PresenceTopic};
use crate::protocol::{FanoutFrame, FanoutMessage, OutboundBroadcast, RawJson};
use crate::replay::Window;

/// How a channel receives row changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeForm {
    /// `postgres_changes` events listing the channel's matching binding ids.
    PostgresChanges,
    /// Broadcast events named `INSERT` / `UPDATE` / `DELETE`: a routed topic
    /// joined without declared bindings (Supabase's `broadcast_changes` shape).
    Broadcast,
}

/// A channel joined on one connection.
pub(crate) struct Channel {
    pub(crate) topic: TopicKey,
    pub(crate) connection: Connection,
    pub(crate) form: ChangeForm,
    /// Whether the join registered row bindings.
    pub(crate) has_bindings: bool,
    /// A resume is still replaying what the channel missed: live fan-out
    /// skips it (the window holds those changes for the replay). Set and
    /// cleared under the window lock; see
    /// [paced catch-up](crate::delivery#paced-catch-up).
    pub(crate) catching_up: AtomicBool,
}

/// Channel counts for `/health`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ChannelKinds {
    /// Channels with `postgres_changes` bindings.
    pub(crate) postgres_changes: usize,
    /// Routed topics receiving changes as broadcast events.
    pub(crate) broadcast_changes: usize,
    /// Broadcast and presence only.
    pub(crate) other: usize,
}

/// What a join registers.
pub(crate) struct Registration {
    pub(crate) subscriber: SubscriberId,
    pub(crate) topic: TopicKey,
    /// `config.broadcast.self`.
    pub(crate) self_broadcast: bool,
    pub(crate) connection: Connection,
    /// Scoped bindings (the route's binding for the broadcast form).
    pub(crate) bindings: Vec<Binding>,
    pub(crate) form: ChangeForm,
}

/// A topic as broadcast sees it: public and private channels of the same
/// name are different topics (Supabase's `tenant_topic`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicKey {
    /// `realtime:<name>`.
    pub topic: Arc<str>,
    /// Joined with `config.private: true`.
    pub private: bool,
}

/// A member of a topic, for broadcast.
#[derive(Clone)]
struct Member {
    connection: Connection,
    /// `config.broadcast.self`: receives its own broadcasts.
    self_broadcast: bool,
}

/// The members of one topic. Most topics have a single member (a user's
/// own channel), so that one is kept inline: a hash table sized for one
/// costs more than 100 bytes per joined channel. A second member turns it
/// into a table (boxed, so a one-member entry stays three words).
enum Members {
    One(SubscriberId, Member),
    #[expect(
        clippy::box_collection,
        reason = "boxed so that the common one-member entry stays small"
    )]
    Many(Box<HashMap<SubscriberId, Member>>),
}

impl Members {
    fn insert(&mut self, subscriber: SubscriberId, member: Member) {
        match self {
            Self::One(one, existing) if *one == subscriber => *existing = member,
            Self::One(one, existing) => {
                let mut many = HashMap::with_capacity(2);
                many.insert(*one, existing.clone());
                many.insert(subscriber, member);
                *self = Self::Many(Box::new(many));
            }
            Self::Many(many) => {
                many.insert(subscriber, member);
            }
        }
    }

    /// Removes `subscriber` from a table; true when it is the only
    /// member, so the topic itself must go.
    fn remove(&mut self, subscriber: SubscriberId) -> bool {
        let Self::Many(many) = self else {
            return matches!(self, Self::One(one, _) if *one == subscriber);
        };
        many.remove(&subscriber);
        let last = (many.len() == 1).then(|| many.drain().next()).flatten();
        if let Some((one, member)) = last {
            *self = Self::One(one, member);
        }
        matches!(self, Self::Many(many) if many.is_empty())
    }

    fn iter(&self) -> impl Iterator<Item = (SubscriberId, &Member)> {
        let (one, many) = match self {
            Self::One(one, member) => (Some((*one, member)), None),
            Self::Many(many) => (None, Some(many.iter().map(|(id, member)| (*id, member)))),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

/// Shared registry of joined channels and their postgres_changes bindings.
#[derive(Clone, Default)]
pub struct Hub {
    pub(crate) inner: Arc<HubInner>,
}

pub(crate) struct HubInner {
    pub(crate) index: SharedIndex,
    pub(crate) channels: DashMap<SubscriberId, Channel>,
    topics: DashMap<TopicKey, Members>,
    presence: DashMap<TopicKey, PresenceTopic>,
    next_presence_ref: AtomicU64,
    next_subscriber: AtomicU64,
    pub(crate) deliveries: AtomicU64,
    /// The replay window. Lock order: `window`, then the index's lock.
    /// Held by the publisher for one transaction (push and live fan-out)
    /// and by a join while it registers and replays; never across `.await`.
    pub(crate) window: Mutex<Window>,
    /// True once the window holds everything the slot re-sent at start.
    pub(crate) ready: watch::Sender<bool>,
    pub(crate) metrics: Metrics,
    /// Set by [`Hub::start_replay`].
    pub(crate) has_stream: AtomicBool,
}

impl Default for HubInner {
    fn default() -> Self {
        Self {
            index: SharedIndex::default(),
            channels: DashMap::new(),
            topics: DashMap::new(),
            presence: DashMap::new(),
            next_presence_ref: AtomicU64::new(0),
            next_subscriber: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            window: Mutex::new(Window::new(Epoch::default(), ReplayLimits::default(), 0)),
            ready: watch::Sender::new(false),
            metrics: Metrics::default(),
            has_stream: AtomicBool::new(false),
        }
    }
}

/// Counters for health and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubStats {
    /// Joined channels.
    pub channels: usize,
    /// postgres_changes bindings in the index.
    pub bindings: usize,
    /// Frames queued to connections since start.
    pub deliveries: u64,
    /// Changes held in the replay window.
    pub replay_events: usize,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh subscriber id for one join.
    pub fn next_subscriber(&self) -> SubscriberId {
        SubscriberId(self.inner.next_subscriber.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Makes a join live: after this returns, every change committed later
    /// that matches one of its bindings is queued to its connection.
    pub(crate) fn register(&self, registration: Registration) {
        let mut window = self.lock_window();
        self.register_locked(&mut window, registration, false);
    }

    /// [`Hub::register`] with the window lock held by the caller;
    /// `catching_up` registers it for a resume's replay (see
    /// [`Channel::catching_up`]).
    pub(crate) fn register_locked(
        &self,
        window: &mut Window,
        registration: Registration,
        catching_up: bool,
    ) {
        let Registration {
            subscriber,
            topic,
            self_broadcast,
            connection,
            bindings,
            form,
        } = registration;
        let member = Member {
            connection: connection.clone(),
            self_broadcast,
        };
        match self.inner.topics.entry(topic.clone()) {
            Entry::Occupied(mut members) => members.get_mut().insert(subscriber, member),
            Entry::Vacant(vacant) => {
                vacant.insert(Members::One(subscriber, member));
            }
        }
        self.inner.channels.insert(
            subscriber,
            Channel {
                topic,
                connection,
                form,
                has_bindings: !bindings.is_empty(),
                catching_up: AtomicBool::new(catching_up),
            },
        );
        for binding in &bindings {
            self.inner.index.insert(subscriber, binding);
        }
        if !bindings.is_empty() {
            window.index_columns(&self.inner.index.replay_keys(subscriber));
        }
    }

    /// Ends a join: no frame is queued for it after this returns.
    pub fn unregister(&self, subscriber: SubscriberId) {
        self.inner.index.remove_subscriber(subscriber);
        if let Some((_, channel)) = self.inner.channels.remove(&subscriber) {
            self.untrack(&channel.topic, subscriber);
            self.inner
                .topics
                .remove_if_mut(&channel.topic, |_, members| members.remove(subscriber));
        }
    }

    /// Queues a broadcast to every member of `topic`; the sender (`from`)
    /// only when it joined with `broadcast.self`. Returns how many members
    /// it was queued to.
    pub fn broadcast(
        &self,
        topic: &TopicKey,
        from: Option<SubscriberId>,
        message: OutboundBroadcast,
    ) -> usize {
        let Some(members) = self.inner.topics.get(topic) else {
            return 0;
        };
        let message = FanoutMessage::Broadcast {
            topic: topic.topic.to_string(),
            message,
        };
        let Ok(frame) = FanoutFrame::new(message) else {
            return 0;
        };
        let frame = Arc::new(frame);
        let mut delivered = 0;
        let mut fan_out = FanOut::default();
        for (subscriber, member) in members.iter() {
            if Some(subscriber) == from && !member.self_broadcast {
                continue;
            }
            let outbound = Outbound::Fanout(Arc::clone(&frame));
            if member.connection.fan_out(outbound, &mut fan_out) {
                delivered += 1;
            }
        }
        drop(members);
        fan_out.finish();
        self.inner
            .deliveries
            .fetch_add(delivered as u64, Ordering::Relaxed);
        delivered
    }

    /// The topic's presences, for `presence_state` (`{}` when empty).
    pub fn presence_state(&self, topic: &TopicKey) -> RawJson {
        let state = self
            .inner
            .presence
            .get(topic)
            .map(|presence| presence.state())
            .unwrap_or_else(|| serde_json::json!({}));
        RawJson::from_serialize(&state).unwrap_or_else(|_| RawJson::empty_object())
    }

    /// Tracks `payload` for `subscriber` under `key` and sends the diff to
    /// the topic's members.
    pub fn track(
        &self,
        topic: &TopicKey,
        subscriber: SubscriberId,
        key: &str,
        payload: serde_json::Map<String, serde_json::Value>,
    ) {
        let phx_ref = format!(
            "F{:x}",
            self.inner.next_presence_ref.fetch_add(1, Ordering::Relaxed)
        );
        let diff = self
            .inner
            .presence
            .entry(topic.clone())
            .or_default()
            .track(subscriber, key, payload, phx_ref);
        self.send_diff(topic, &diff);
    }

    /// Removes what `subscriber` tracked on `topic` and sends the diff.
    pub fn untrack(&self, topic: &TopicKey, subscriber: SubscriberId) {
        let diff = match self.inner.presence.get_mut(topic) {
            Some(mut presence) => presence.untrack(subscriber),
            None => return,
        };
        self.inner
            .presence
            .remove_if(topic, |_, presence| presence.is_empty());
        self.send_diff(topic, &diff);
    }

    fn send_diff(&self, topic: &TopicKey, diff: &Diff) {
        if diff.is_empty() {
            return;
        }
        let Ok(diff) = RawJson::from_serialize(&diff.to_json()) else {
            return;
        };
        let message = FanoutMessage::PresenceDiff {
            topic: topic.topic.to_string(),
            diff,
        };
        let Ok(frame) = FanoutFrame::new(message) else {
            return;
        };
        let frame = Arc::new(frame);
        if let Some(members) = self.inner.topics.get(topic) {
            let mut fan_out = FanOut::default();
            for (_, member) in members.iter() {
                let outbound = Outbound::Fanout(Arc::clone(&frame));
                member.connection.fan_out(outbound, &mut fan_out);
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> HubStats {
        HubStats {
            channels: self.inner.channels.len(),
            bindings: self.inner.index.len(),
            deliveries: self.inner.deliveries.load(Ordering::Relaxed),
            replay_events: self.lock_window().log.len(),
        }
    }

    /// Whether a replication stream feeds this hub ([`Hub::start_replay`]
    /// was called).
    pub fn has_stream(&self) -> bool {
        self.inner.has_stream.load(Ordering::Relaxed)
    }

    /// Whether the replay window is rebuilt (see [`Hub::set_replay_ready`]).
    pub fn is_replay_ready(&self) -> bool {
        *self.inner.ready.borrow()
    }

    /// Joined channels by how they receive changes.
    pub(crate) fn channels_by_kind(&self) -> ChannelKinds {
        let mut kinds = ChannelKinds::default();
        for channel in self.inner.channels.iter() {
            match channel.form {
                ChangeForm::PostgresChanges if channel.has_bindings => kinds.postgres_changes += 1,
                ChangeForm::Broadcast => kinds.broadcast_changes += 1,
                ChangeForm::PostgresChanges => kinds.other += 1,
            }
        }
        kinds
    }

    /// The gateway's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Locks the replay window (see [`HubInner::window`]).
    pub(crate) fn lock_window(&self) -> WindowGuard<'_> {
        // A panic while holding the lock leaves a consistent window (every
        // mutation is one push or eviction), so poisoning is ignored.
        self.inner
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The locked replay window.
pub(crate) type WindowGuard<'a> = std::sync::MutexGuard<'a, Window>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::{QueueLimits, QueuedBytes};
    use crate::protocol::Vsn;

    fn member() -> Member {
        let (connection, _outbox) =
            Connection::new(1, Vsn::V2, QueueLimits::default(), &QueuedBytes::default());
        Member {
            connection,
            self_broadcast: false,
        }
    }

    fn ids(members: &Members) -> Vec<u64> {
        let mut ids: Vec<u64> = members.iter().map(|(id, _)| id.0).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn members_grow_into_a_table_and_shrink_back_to_one() {
        let mut members = Members::One(SubscriberId(1), member());
        assert!(!members.remove(SubscriberId(9)), "not a member");
        members.insert(SubscriberId(2), member());
        members.insert(SubscriberId(3), member());
        assert!(matches!(members, Members::Many(_)));
        assert_eq!(ids(&members), [1, 2, 3]);
        assert!(!members.remove(SubscriberId(1)));
        assert!(!members.remove(SubscriberId(3)));
        assert!(matches!(members, Members::One(SubscriberId(2), _)));
        members.insert(SubscriberId(2), member());
        assert_eq!(ids(&members), [2], "a second insert replaces");
        assert!(members.remove(SubscriberId(2)), "the last member leaves");
    }
}
