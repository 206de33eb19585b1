//! The subscription index: which (subscriber, binding) pairs a change
//! matches, found through hash lookups instead of a scan of every
//! subscription.
//!
//! ```text
//!  schema ──▶ table ──▶ Table ─┬─ scan list (bindings without a plain eq/in term)
//!                              ├─ column ──▶ value key ──▶ bindings   (eq / in terms)
//!                              └─ failed / pending
//!  wildcard bindings (schema or table `*`) are filed into every Table they
//!  select, including tables first seen later, so a change makes exactly one
//!  Table lookup.
//! ```
//!
//! A change with value 42 in `room_id` evaluates only the bindings filed
//! under `room_id → 42` (plus the scan list), whatever the number of rooms.
//! Candidates are still evaluated in full (event, every term, the channel's
//! scope): the index narrows, the filter decides. `value_key.rs` explains why two equal
//! values always share a key.
//!
//! **Keying and lazy binding.** A literal means nothing until the column
//! type is known (`eq.1.0` is `1` for `numeric` but the string `"1.0"` for
//! `text`), and a binding may arrive before any change of its table. So the
//! index keeps each binding's parsed [`Filter`](crate::Filter) and binds it
//! (names to column indexes, literals to typed [`Datum`](changes::Datum)s,
//! value keys from those) against the table's [`Relation`](changes::Relation):
//! at insert when a change already brought the relation, otherwise on the
//! first change of the table. When a change arrives with a relation that
//! differs in content (ALTER TABLE), the table's bindings are rebound before
//! the change is matched; bindings that no longer bind (a dropped column)
//! stop matching and are reported through [`SubscriptionIndex::take_problems`].
//!
//! **Concurrency.** The index is a plain single-owner structure (`&mut
//! self`, no interior locking). Share it through [`SharedIndex`](crate::SharedIndex),
//! a `std::sync::Mutex` held for one insert, one removal or one change's
//! matching, never across an `.await`. Each of those is short (hash lookups
//! plus the candidates' filters), and a join that returns from `insert` is
//! visible to the very next `matching` call, so the gateway can reply to the
//! join knowing the subscription is live.

mod replay;
mod table;
mod value_key;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, hash_map};
use std::sync::Arc;

use changes::{Change, ChangeKind, Relation};

use crate::binding::{Binding, BindingId, Selector};
use crate::filter::BindError;
use table::Table;

pub use replay::{ReplayKey, replay_value_text};

/// How many unreported [`BindProblem`]s the index keeps; later ones are
/// counted and logged, not kept.
const MAX_PENDING_PROBLEMS: usize = 1024;

/// Who subscribed: an opaque number the gateway assigns per channel join.
/// One event frame is built per subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriberId(pub u64);

/// A handle on one inserted binding, for [`SubscriptionIndex::remove`].
/// Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BindingKey(u64);

/// One binding a change matched. Sorts by subscriber first, so the hits of
/// one subscriber are adjacent (see [`by_subscriber`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hit {
    /// The subscriber (channel) to send the event to.
    pub subscriber: SubscriberId,
    /// The binding id to list in the event's `ids`.
    pub binding: BindingId,
}

/// A binding whose filter cannot apply to a table it selects: it will
/// never match that table. Supabase refuses such a subscription with the
/// error's text; the gateway reports it to the subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindProblem {
    /// The binding.
    pub key: BindingKey,
    /// Its subscriber.
    pub subscriber: SubscriberId,
    /// Its id.
    pub binding: BindingId,
    /// The table's schema.
    pub schema: Arc<str>,
    /// The table.
    pub table: Arc<str>,
    /// Why (`invalid column for filter x`, …).
    pub error: BindError,
}

/// What [`SubscriptionIndex::insert`] did.
#[derive(Debug)]
pub struct Inserted {
    /// The handle to remove the binding with.
    pub key: BindingKey,
    /// Tables already known whose layout the binding cannot bind to.
    pub problems: Vec<BindProblem>,
}

/// An inserted binding.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) subscriber: SubscriberId,
    pub(crate) binding: Arc<Binding>,
}

/// Bindings of all subscribers, indexed by table and filter value.
#[derive(Debug, Default)]
pub struct SubscriptionIndex {
    entries: HashMap<BindingKey, Entry>,
    by_subscriber: HashMap<SubscriberId, SubscriberKeys>,
    /// Tables by schema and name: those bindings name, and those changes
    /// have been seen for (their relation is kept for insert-time binding).
    schemas: HashMap<Arc<str>, HashMap<Arc<str>, Table>>,
    /// Bindings with `*` as schema or table.
    wildcards: HashSet<BindingKey>,
    next_key: u64,
    problems: Vec<BindProblem>,
    dropped_problems: u64,
}

impl SubscriptionIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `binding` for `subscriber`. It is matched from the next call to
    /// [`SubscriptionIndex::matching`] on.
    pub fn insert(&mut self, subscriber: SubscriberId, binding: &Binding) -> Inserted {
        let key = BindingKey(self.next_key);
        self.next_key += 1;
        let mut binding = binding.clone();
        share_names(&mut binding, &self.schemas);
        let binding = Arc::new(binding);
        self.entries.insert(
            key,
            Entry {
                subscriber,
                binding: Arc::clone(&binding),
            },
        );
        match self.by_subscriber.entry(subscriber) {
            hash_map::Entry::Occupied(mut keys) => keys.get_mut().push(key),
            hash_map::Entry::Vacant(vacant) => {
                vacant.insert(SubscriberKeys::One(key));
            }
        }

        let Self {
            entries,
            schemas,
            wildcards,
            ..
        } = self;
        let mut problems = Vec::new();
        let Some(entry) = entries.get(&key) else {
            return Inserted { key, problems };
        };
        let mut add = |schema: &Arc<str>, name: &Arc<str>, table: &mut Table| {
            if let Err(error) = table.add(key, entry) {
                problems.push(problem(key, entry, schema, name, error));
            }
        };
        match (binding.schema(), binding.table()) {
            (Selector::Name(schema), Selector::Name(name)) => {
                let table = schemas
                    .entry(Arc::clone(schema))
                    .or_default()
                    .entry(Arc::clone(name))
                    .or_insert_with(|| new_table(schema, name, wildcards, entries));
                add(schema, name, table);
            }
            _ => {
                wildcards.insert(key);
                for (schema, tables) in schemas.iter_mut() {
                    for (name, table) in tables.iter_mut() {
                        if binding.selects(schema, name) {
                            add(schema, name, table);
                        }
                    }
                }
            }
        }
        Inserted { key, problems }
    }

    /// Removes one binding; false when it is not (or no longer) here.
    pub fn remove(&mut self, key: BindingKey) -> bool {
        let Some(entry) = self.entries.remove(&key) else {
            return false;
        };
        if let Some(keys) = self.by_subscriber.get_mut(&entry.subscriber) {
            if keys.remove(key) {
                self.by_subscriber.remove(&entry.subscriber);
            }
        }
        self.unfile(key, &entry);
        true
    }

    /// Removes every binding of `subscriber` (a channel left or its socket
    /// closed); returns how many there were.
    pub fn remove_subscriber(&mut self, subscriber: SubscriberId) -> usize {
        let Some(keys) = self.by_subscriber.remove(&subscriber) else {
            return 0;
        };
        let keys = keys.as_slice();
        for key in keys {
            if let Some(entry) = self.entries.remove(key) {
                self.unfile(*key, &entry);
            }
        }
        keys.len()
    }

    /// Replaces `out` with the bindings `change` matches, sorted by
    /// subscriber then binding id, without duplicates; use
    /// [`by_subscriber`] to build one event per subscriber. Returns how
    /// many bindings were evaluated (for metrics; the rest were skipped by
    /// the index). TRUNCATE matches nothing.
    pub fn matching(&mut self, change: &Change, out: &mut Vec<Hit>) -> usize {
        out.clear();
        if change.kind == ChangeKind::Truncate {
            return 0;
        }
        let relation = &change.relation;
        if !self.is_bound_to(relation) {
            self.set_relation(relation);
        }
        let Some(table) = self
            .schemas
            .get(&*relation.schema)
            .and_then(|tables| tables.get(&*relation.table))
        else {
            return 0;
        };
        let evaluated = table.collect(change, out);
        out.sort_unstable();
        out.dedup();
        evaluated
    }

    /// Problems found while binding filters to tables first seen, or
    /// changed, since the last call (at most 1024 are kept; see the log
    /// for more).
    pub fn take_problems(&mut self) -> Vec<BindProblem> {
        if self.dropped_problems > 0 {
            tracing::warn!(
                dropped = self.dropped_problems,
                "binding problems were not reported to subscribers"
            );
            self.dropped_problems = 0;
        }
        std::mem::take(&mut self.problems)
    }

    /// Number of bindings.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of subscribers with at least one binding.
    pub fn subscriber_count(&self) -> usize {
        self.by_subscriber.len()
    }

    /// Whether the table of `relation` is known and bound to this very
    /// relation (the fast path for every change but the first of a layout).
    fn is_bound_to(&self, relation: &Arc<Relation>) -> bool {
        self.schemas
            .get(&*relation.schema)
            .and_then(|tables| tables.get(&*relation.table))
            .and_then(Table::relation)
            .is_some_and(|current| Arc::ptr_eq(current, relation))
    }

    /// Records `relation` as its table's layout, rebinding as needed.
    fn set_relation(&mut self, relation: &Arc<Relation>) {
        let Self {
            entries,
            schemas,
            wildcards,
            problems,
            dropped_problems,
            ..
        } = self;
        let (schema, name) = (&relation.schema, &relation.table);
        let table = schemas
            .entry(Arc::clone(schema))
            .or_default()
            .entry(Arc::clone(name))
            .or_insert_with(|| new_table(schema, name, wildcards, entries));
        let failures = table.set_relation(relation, entries);
        if failures.is_empty() {
            return;
        }
        tracing::warn!(
            schema = %schema,
            table = %name,
            bindings = failures.len(),
            "filters cannot bind to the table's layout; those bindings match nothing"
        );
        for (key, error) in failures {
            let Some(entry) = entries.get(&key) else {
                continue;
            };
            if problems.len() < MAX_PENDING_PROBLEMS {
                problems.push(problem(key, entry, schema, name, error));
            } else {
                *dropped_problems += 1;
            }
        }
    }

    /// Takes a removed binding out of every table it was filed in.
    fn unfile(&mut self, key: BindingKey, entry: &Entry) {
        let binding = &entry.binding;
        if let (Selector::Name(schema), Selector::Name(name)) = (binding.schema(), binding.table())
        {
            if let Some(tables) = self.schemas.get_mut(schema) {
                if let Some(table) = tables.get_mut(name) {
                    table.remove(key);
                }
            }
            self.forget_unused(schema, name);
            return;
        }
        self.wildcards.remove(&key);
        for (schema, tables) in &mut self.schemas {
            for (name, table) in tables.iter_mut() {
                if binding.selects(schema, name) {
                    table.remove(key);
                }
            }
        }
        for tables in self.schemas.values_mut() {
            tables.retain(|_, table| !table.is_empty() || table.relation().is_some());
        }
        self.schemas.retain(|_, tables| !tables.is_empty());
    }

    /// Drops a table no binding names and no change has been seen for.
    fn forget_unused(&mut self, schema: &str, name: &str) {
        let Some(tables) = self.schemas.get_mut(schema) else {
            return;
        };
        if tables
            .get(name)
            .is_some_and(|table| table.is_empty() && table.relation().is_none())
        {
            tables.remove(name);
        }
        if tables.is_empty() {
            self.schemas.remove(schema);
        }
    }
}

/// Points `binding`'s schema and table names at the index's copies when
/// it already knows them: one copy of each name, however many bindings.
fn share_names(binding: &mut Binding, schemas: &HashMap<Arc<str>, HashMap<Arc<str>, Table>>) {
    let (Selector::Name(schema), table) = binding.selectors_mut() else {
        return;
    };
    let Some((known, tables)) = schemas.get_key_value(schema) else {
        return;
    };
    *schema = Arc::clone(known);
    if let Selector::Name(table) = table {
        if let Some((known, _)) = tables.get_key_value(table) {
            *table = Arc::clone(known);
        }
    }
}

/// The bindings of one subscriber. Nearly every channel has one, kept
/// inline: a `Vec` would allocate four slots for it, for every joined
/// channel (BENCHMARKS.md, B4). Several are a boxed slice, not a `Vec`, so
/// that the enum is two words, not three: it sits in a hash slot of every
/// joined channel. A channel's bindings are inserted at its join and
/// removed together, so reallocating on each change costs nothing.
#[derive(Debug)]
enum SubscriberKeys {
    One(BindingKey),
    Many(Box<[BindingKey]>),
}

impl SubscriberKeys {
    fn push(&mut self, key: BindingKey) {
        let mut keys = self.as_slice().to_vec();
        keys.push(key);
        *self = Self::Many(keys.into_boxed_slice());
    }

    /// Removes `key`; true when no key is left.
    fn remove(&mut self, key: BindingKey) -> bool {
        match self {
            Self::One(one) => *one == key,
            Self::Many(keys) => {
                let kept: Box<[BindingKey]> = keys.iter().copied().filter(|k| *k != key).collect();
                *keys = kept;
                keys.is_empty()
            }
        }
    }

    fn as_slice(&self) -> &[BindingKey] {
        match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(keys) => keys,
        }
    }
}

/// A new table holding the wildcard bindings that select it.
fn new_table(
    schema: &str,
    name: &str,
    wildcards: &HashSet<BindingKey>,
    entries: &HashMap<BindingKey, Entry>,
) -> Table {
    let mut table = Table::default();
    for key in wildcards {
        if let Some(entry) = entries.get(key) {
            if entry.binding.selects(schema, name) {
                // No relation yet: the binding is only filed as pending.
                let _ = table.add(*key, entry);
            }
        }
    }
    table
}

fn problem(
    key: BindingKey,
    entry: &Entry,
    schema: &Arc<str>,
    table: &Arc<str>,
    error: BindError,
) -> BindProblem {
    BindProblem {
        key,
        subscriber: entry.subscriber,
        binding: entry.binding.id(),
        schema: Arc::clone(schema),
        table: Arc::clone(table),
        error,
    }
}

/// The hits of each subscriber, from the sorted output of
/// [`SubscriptionIndex::matching`]: one group per event frame, whose `ids`
/// are the group's binding ids.
pub fn by_subscriber(hits: &[Hit]) -> impl Iterator<Item = (SubscriberId, &[Hit])> {
    hits.chunk_by(|a, b| a.subscriber == b.subscriber)
        .filter_map(|group| group.first().map(|first| (first.subscriber, group)))
}
