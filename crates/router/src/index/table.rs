//! The bindings that can match one table, arranged so that a change only
//! evaluates the bindings that may match it.
//!
//! ```text
//!  Table (public.messages), bound to the relation of the last change seen
//!  ├─ scan:     bindings with no plain eq/in term        → all evaluated
//!  ├─ by_value: column → value key → bindings           → only the change's
//!  │            (room_id=eq.42 is filed under room_id → 42)  value is looked up
//!  ├─ failed:   bindings whose filter cannot bind here  → never match
//!  └─ pending:  no relation seen yet (no change for the table since start)
//! ```
//!
//! Filters are bound (column names to indexes, literals to typed values)
//! when the table's relation is known: at insert if a change has already
//! brought it, otherwise with the first change. A change whose relation is a
//! different `Arc` that is also different in content (ALTER TABLE, a
//! dropped and re-created table) rebinds every binding of the table before
//! it is matched; an equal relation in a new `Arc` (a Relation message
//! repeated after a reconnect) only replaces the pointer.

use std::collections::HashMap;
use std::sync::Arc;

use changes::{Change, ChangeKind, Relation};

use super::value_key::ValueKey;
use super::{BindingKey, Entry, Hit, SubscriberId};
use crate::binding::{BindingId, EventFilter};
use crate::filter::{BindError, BoundFilter};

/// A binding as the match loop needs it.
#[derive(Debug, Clone)]
struct Slot {
    key: BindingKey,
    subscriber: SubscriberId,
    id: BindingId,
    events: EventFilter,
    filter: Arc<BoundFilter>,
}

impl Slot {
    fn matches(&self, change: &Change) -> bool {
        self.events.accepts(change.kind) && self.filter.matches(change)
    }

    fn hit(&self) -> Hit {
        Hit {
            subscriber: self.subscriber,
            binding: self.id,
        }
    }
}

/// Where a binding sits in its table.
#[derive(Debug, Clone)]
enum Placement {
    /// The table's relation is not known yet.
    Pending,
    /// The filter cannot bind to the relation: never matches.
    Failed,
    /// In `scan` at this index.
    Scan(usize),
    /// In `by_value[column][key]` for each of `keys`.
    Keyed { column: usize, keys: Vec<ValueKey> },
}

/// One table's bindings.
#[derive(Debug, Default)]
pub(super) struct Table {
    relation: Option<Arc<Relation>>,
    placements: HashMap<BindingKey, Placement>,
    scan: Vec<Slot>,
    by_value: HashMap<usize, HashMap<ValueKey, Vec<Slot>>>,
}

impl Table {
    /// The relation the bindings are bound to, once known.
    pub(super) fn relation(&self) -> Option<&Arc<Relation>> {
        self.relation.as_ref()
    }

    /// Whether no binding can match this table.
    pub(super) fn is_empty(&self) -> bool {
        self.placements.is_empty()
    }

    /// Adds a binding, bound at once when the relation is known.
    pub(super) fn add(&mut self, key: BindingKey, entry: &Entry) -> Result<(), BindError> {
        self.remove(key);
        let Some(relation) = &self.relation else {
            self.placements.insert(key, Placement::Pending);
            return Ok(());
        };
        match BoundFilter::bind(entry.binding.terms(), relation) {
            Ok(filter) => {
                self.place(key, entry, filter);
                Ok(())
            }
            Err(err) => {
                self.placements.insert(key, Placement::Failed);
                Err(err)
            }
        }
    }

    /// Removes a binding; false when it was not here.
    pub(super) fn remove(&mut self, key: BindingKey) -> bool {
        match self.placements.remove(&key) {
            None => false,
            Some(Placement::Pending | Placement::Failed) => true,
            Some(Placement::Scan(index)) => {
                if index < self.scan.len() {
                    self.scan.swap_remove(index);
                }
                if let Some(moved) = self.scan.get(index) {
                    self.placements.insert(moved.key, Placement::Scan(index));
                }
                true
            }
            Some(Placement::Keyed { column, keys }) => {
                if let Some(values) = self.by_value.get_mut(&column) {
                    for value in keys {
                        if let Some(slots) = values.get_mut(&value) {
                            slots.retain(|slot| slot.key != key);
                            if slots.is_empty() {
                                values.remove(&value);
                            }
                        }
                    }
                    if values.is_empty() {
                        self.by_value.remove(&column);
                    }
                }
                true
            }
        }
    }

    /// Makes `relation` the table's layout, rebinding every binding when it
    /// differs from the current one. Returns the bindings that cannot bind.
    pub(super) fn set_relation(
        &mut self,
        relation: &Arc<Relation>,
        entries: &HashMap<BindingKey, Entry>,
    ) -> Vec<(BindingKey, BindError)> {
        let unchanged = self
            .relation
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, relation) || **current == **relation);
        self.relation = Some(Arc::clone(relation));
        if unchanged {
            return Vec::new();
        }
        let keys: Vec<BindingKey> = self.placements.keys().copied().collect();
        self.placements.clear();
        self.scan.clear();
        self.by_value.clear();
        let mut failures = Vec::new();
        for key in keys {
            let Some(entry) = entries.get(&key) else {
                continue;
            };
            if let Err(err) = self.add(key, entry) {
                failures.push((key, err));
            }
        }
        failures
    }

    /// Files a bound binding under its first plain eq/in term whose
    /// literals all have keys, or in the scan list.
    fn place(&mut self, key: BindingKey, entry: &Entry, filter: BoundFilter) {
        let indexed = filter.bound_terms().iter().find_map(|term| {
            let literals = term.equality_literals()?;
            // NULL elements of an in-list equal nothing: skip them.
            let keys: Option<Vec<ValueKey>> = literals
                .iter()
                .filter(|literal| !matches!(literal, changes::Datum::Null))
                .map(ValueKey::of)
                .collect();
            keys.map(|mut keys| {
                keys.sort_unstable();
                keys.dedup();
                (term.column, keys)
            })
        });
        let slot = Slot {
            key,
            subscriber: entry.subscriber,
            id: entry.binding.id(),
            events: entry.binding.event(),
            filter: Arc::new(filter),
        };
        match indexed {
            Some((column, keys)) => {
                // An in-list of only NULLs (or none) has no keys: filed
                // nowhere, it never matches, as in SQL.
                if !keys.is_empty() {
                    let values = self.by_value.entry(column).or_default();
                    for value in &keys {
                        values.entry(value.clone()).or_default().push(slot.clone());
                    }
                }
                self.placements
                    .insert(key, Placement::Keyed { column, keys });
            }
            None => {
                self.placements
                    .insert(key, Placement::Scan(self.scan.len()));
                self.scan.push(slot);
            }
        }
    }

    /// Appends the bindings `change` matches; returns how many bindings
    /// were evaluated. The table's relation must be `change.relation`
    /// (see [`Table::set_relation`]).
    pub(super) fn collect(&self, change: &Change, out: &mut Vec<Hit>) -> usize {
        let mut evaluated = 0;
        let mut consider = |slot: &Slot| {
            evaluated += 1;
            if slot.matches(change) {
                out.push(slot.hit());
            }
        };
        self.scan.iter().for_each(&mut consider);
        let row = match change.kind {
            ChangeKind::Insert | ChangeKind::Update => change.record.as_ref(),
            ChangeKind::Delete => change.old_record.as_ref(),
            ChangeKind::Truncate => None,
        };
        // Every keyed binding has a term on its column: without a row, or
        // with the column absent or NULL, none of them can match.
        let Some(row) = row else {
            return evaluated;
        };
        for (column, values) in &self.by_value {
            let Some(value) = row.get(*column) else {
                continue;
            };
            if matches!(value, changes::Datum::Null) {
                continue;
            }
            match ValueKey::of(value) {
                Some(key) => values
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .for_each(&mut consider),
                // A value without a key could still equal a literal: check
                // every binding of the column.
                None => values.values().flatten().for_each(&mut consider),
            }
        }
        evaluated
    }
}
