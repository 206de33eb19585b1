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
//! live before the client sees `SUBSCRIBED`. The fan-out never waits for a
//! connection: a full queue evicts that connection (see [`Connection`]),
//! nobody else is delayed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use changes::Change;
use dashmap::DashMap;
use router::{Binding, BindingKey, Hit, SharedIndex, SubscriberId, by_subscriber};
use tracing::warn;

use crate::connection::{Connection, Outbound};
use crate::presence::{Diff, PresenceTopic};
use crate::protocol::{BindingId, FanoutFrame, FanoutMessage, OutboundBroadcast, RawJson};

/// A channel joined on one connection.
struct Channel {
    topic: TopicKey,
    connection: Connection,
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

/// Shared registry of joined channels and their postgres_changes bindings.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<HubInner>,
}

#[derive(Default)]
struct HubInner {
    index: SharedIndex,
    channels: DashMap<SubscriberId, Channel>,
    topics: DashMap<TopicKey, HashMap<SubscriberId, Member>>,
    presence: DashMap<TopicKey, PresenceTopic>,
    next_presence_ref: AtomicU64,
    next_subscriber: AtomicU64,
    deliveries: AtomicU64,
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
    /// that matches one of `bindings` is queued to `connection`.
    pub fn register(
        &self,
        subscriber: SubscriberId,
        topic: TopicKey,
        self_broadcast: bool,
        connection: Connection,
        bindings: &[Binding],
    ) -> Vec<BindingKey> {
        self.inner.topics.entry(topic.clone()).or_default().insert(
            subscriber,
            Member {
                connection: connection.clone(),
                self_broadcast,
            },
        );
        self.inner
            .channels
            .insert(subscriber, Channel { topic, connection });
        bindings
            .iter()
            .map(|binding| self.inner.index.insert(subscriber, binding).key)
            .collect()
    }

    /// Ends a join: no frame is queued for it after this returns.
    pub fn unregister(&self, subscriber: SubscriberId) {
        self.inner.index.remove_subscriber(subscriber);
        if let Some((_, channel)) = self.inner.channels.remove(&subscriber) {
            self.untrack(&channel.topic, subscriber);
            let emptied = self
                .inner
                .topics
                .get_mut(&channel.topic)
                .map(|mut members| {
                    members.remove(&subscriber);
                    members.is_empty()
                })
                .unwrap_or(false);
            if emptied {
                self.inner
                    .topics
                    .remove_if(&channel.topic, |_, members| members.is_empty());
            }
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
        for (subscriber, member) in members.iter() {
            if Some(*subscriber) == from && !member.self_broadcast {
                continue;
            }
            if member.connection.send(Outbound::Fanout(Arc::clone(&frame))) {
                delivered += 1;
            }
        }
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
            for member in members.values() {
                member.connection.send(Outbound::Fanout(Arc::clone(&frame)));
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> HubStats {
        HubStats {
            channels: self.inner.channels.len(),
            bindings: self.inner.index.len(),
            deliveries: self.inner.deliveries.load(Ordering::Relaxed),
        }
    }

    /// Queues `change` to every channel with a matching binding: one
    /// `postgres_changes` frame per channel carrying that channel's matching
    /// binding ids. The change is serialized once; each distinct frame is
    /// encoded once per vsn and shared.
    pub fn publish_change(&self, change: &Change, hits: &mut Vec<Hit>) {
        hits.clear();
        self.inner.index.matching(change, hits);
        if hits.is_empty() {
            return;
        }
        let data = match RawJson::from_serialize(change) {
            Ok(json) => json,
            Err(err) => {
                warn!(error = %err, "cannot serialize a change");
                return;
            }
        };
        let mut frames: HashMap<(Arc<str>, Vec<u32>), Arc<FanoutFrame>> = HashMap::new();
        let mut delivered = 0u64;
        for (subscriber, group) in by_subscriber(hits) {
            let Some(channel) = self.inner.channels.get(&subscriber) else {
                continue;
            };
            let ids: Vec<u32> = group.iter().map(|hit| hit.binding.get()).collect();
            let key = (Arc::clone(&channel.topic.topic), ids);
            let frame = match frames.get(&key) {
                Some(frame) => Arc::clone(frame),
                None => {
                    let message = FanoutMessage::PostgresChanges {
                        topic: channel.topic.topic.to_string(),
                        ids: key.1.iter().filter_map(|id| BindingId::new(*id)).collect(),
                        data: data.clone(),
                    };
                    let Ok(frame) = FanoutFrame::new(message) else {
                        continue;
                    };
                    let frame = Arc::new(frame);
                    frames.insert(key, Arc::clone(&frame));
                    frame
                }
            };
            if channel.connection.send(Outbound::Fanout(frame)) {
                delivered += 1;
            }
        }
        self.inner
            .deliveries
            .fetch_add(delivered, Ordering::Relaxed);
    }
}
