//! The channels one socket joined, by topic.
//!
//! A short list rather than a hash map: a socket joins at most
//! [`Limits::max_channels_per_socket`](crate::Limits) channels (100 by
//! default), usually one or two, and every idle socket holds this table.
//! A `HashMap<String, Joined>` with one entry allocated a four-slot table
//! plus a copy of the topic (about 600 bytes, BENCHMARKS.md B4); here the
//! list grows one slot at a time and the topic is the channel's own
//! shared [`TopicKey`](crate::TopicKey) name.

use super::Joined;

/// The joined channels, at most one per topic.
#[derive(Default)]
pub(super) struct Channels(Vec<Joined>);

impl Channels {
    /// The channel joined on `topic`.
    pub(super) fn get(&self, topic: &str) -> Option<&Joined> {
        self.0.iter().find(|joined| *joined.topic.topic == *topic)
    }

    /// The channel joined on `topic`, to update it.
    pub(super) fn get_mut(&mut self, topic: &str) -> Option<&mut Joined> {
        self.0
            .iter_mut()
            .find(|joined| *joined.topic.topic == *topic)
    }

    /// Adds a channel; the caller has removed any earlier one of its topic.
    pub(super) fn insert(&mut self, joined: Joined) {
        self.0.reserve_exact(1);
        self.0.push(joined);
    }

    /// Removes the channel joined on `topic`.
    pub(super) fn remove(&mut self, topic: &str) -> Option<Joined> {
        let at = self
            .0
            .iter()
            .position(|joined| *joined.topic.topic == *topic)?;
        let joined = self.0.swap_remove(at);
        if self.0.len() <= self.0.capacity() / 2 {
            self.0.shrink_to_fit();
        }
        Some(joined)
    }

    /// Removes every channel.
    pub(super) fn take_all(&mut self) -> Vec<Joined> {
        std::mem::take(&mut self.0)
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn iter(&self) -> std::slice::Iter<'_, Joined> {
        self.0.iter()
    }

    pub(super) fn iter_mut(&mut self) -> std::slice::IterMut<'_, Joined> {
        self.0.iter_mut()
    }
}
