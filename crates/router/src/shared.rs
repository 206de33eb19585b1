//! A cloneable handle on one [`SubscriptionIndex`], for the connection
//! tasks that join and leave and the fan-out task that matches changes.
//!
//! ```text
//!  connection tasks ──insert / remove / remove_subscriber──┐
//!                                                           ▼
//!                                    Mutex<SubscriptionIndex> (std, held briefly)
//!                                                           ▲
//!  fan-out task ──matching(change) then take_problems()─────┘
//! ```
//!
//! Why a lock rather than an owner task with a command channel: every
//! operation is a short, synchronous, allocation-light update or lookup; a
//! channel round trip would cost more than the work, and a join must know
//! its binding is in before it replies (a `oneshot` per join). The lock is
//! a `std::sync::Mutex`, taken inside each method and released before it
//! returns, so it is never held across an `.await` (the workspace denies
//! `await_holding_lock`). The fan-out task must encode and send frames
//! after `matching` returns, outside the lock.
//!
//! Ordering guarantee: `insert` returns only after the binding is in the
//! index, so a change matched after that (any change committed after the
//! client saw its join reply) sees it. A poisoned lock (a panic while held,
//! which the index code does not do) is recovered, not propagated: at worst
//! one binding would be half filed and match too little, which is better
//! than stopping delivery for every subscriber.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use changes::Change;

use crate::binding::{Binding, BindingId};
use crate::index::{
    BindProblem, BindingKey, Hit, Inserted, ReplayKey, SubscriberId, SubscriptionIndex,
};

/// A shared [`SubscriptionIndex`]. Clones are handles on the same index.
#[derive(Debug, Clone, Default)]
pub struct SharedIndex {
    index: Arc<Mutex<SubscriptionIndex>>,
}

impl SharedIndex {
    /// A handle on a new, empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`SubscriptionIndex::insert`]: live for every change matched after
    /// this returns.
    pub fn insert(&self, subscriber: SubscriberId, binding: &Binding) -> Inserted {
        self.lock().insert(subscriber, binding)
    }

    /// [`SubscriptionIndex::remove`].
    pub fn remove(&self, key: BindingKey) -> bool {
        self.lock().remove(key)
    }

    /// [`SubscriptionIndex::remove_subscriber`].
    pub fn remove_subscriber(&self, subscriber: SubscriberId) -> usize {
        self.lock().remove_subscriber(subscriber)
    }

    /// [`SubscriptionIndex::matching`].
    pub fn matching(&self, change: &Change, out: &mut Vec<Hit>) -> usize {
        self.lock().matching(change, out)
    }

    /// [`SubscriptionIndex::matches_subscriber`].
    pub fn matches_subscriber(
        &self,
        subscriber: SubscriberId,
        change: &Change,
        out: &mut Vec<BindingId>,
    ) {
        self.lock().matches_subscriber(subscriber, change, out);
    }

    /// [`SubscriptionIndex::replay_keys`].
    pub fn replay_keys(&self, subscriber: SubscriberId) -> Vec<ReplayKey> {
        self.lock().replay_keys(subscriber)
    }

    /// [`SubscriptionIndex::take_problems`].
    pub fn take_problems(&self) -> Vec<BindProblem> {
        self.lock().take_problems()
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, SubscriptionIndex> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use changes::ChangeKind;
    use serde_json::json;

    use super::*;
    use crate::testing::{change, relation, row};

    #[test]
    fn joins_from_other_threads_are_visible_once_insert_returns() {
        let shared = SharedIndex::new();
        let rel = relation(1, "public", "messages", &[("room_id", 23, false)]);
        let handles: Vec<_> = (0..4u64)
            .map(|n| {
                let shared = shared.clone();
                thread::spawn(move || {
                    let binding = Binding::from_params(&json!({
                        "event": "INSERT", "schema": "public", "table": "messages",
                        "filter": format!("room_id=eq.{n}")
                    }))
                    .expect("valid");
                    shared.insert(SubscriberId(n), &binding).key
                })
            })
            .collect();
        let keys: Vec<BindingKey> = handles
            .into_iter()
            .map(|handle| handle.join().expect("no panic"))
            .collect();
        assert_eq!(shared.len(), 4);
        let mut hits = Vec::new();
        let insert = change(
            ChangeKind::Insert,
            &rel,
            Some(row(&rel, &[Some(Some("2"))])),
            None,
        );
        shared.matching(&insert, &mut hits);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].subscriber, SubscriberId(2));
        assert!(shared.remove(keys[2]));
        shared.matching(&insert, &mut hits);
        assert!(hits.is_empty());
        assert_eq!(shared.remove_subscriber(SubscriberId(0)), 1);
        assert!(shared.take_problems().is_empty());
        assert!(!shared.is_empty());
    }
}
