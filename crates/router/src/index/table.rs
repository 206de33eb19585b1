//! The bindings that can match one table, arranged so that a change only
//! evaluates the bindings that may match it.
//!
//! ```text
//!  Table (public.messages), bound to the relation of the last change seen
//!  ├─ scan:     bindings with no plain eq/in term        → all evaluated
//!  ├─ by_value: column → value key → bindings           → only the change's
//!  │            (room_id=eq.42 is filed under room_id → 42)  value is looked up
//!  ├─ failed:   bindings whose filter cannot bind here  → never match
//!  ├─ denied:   bindings whose channel's scope hides the table → never match
//!  └─ pending:  no relation seen yet (no change for the table since start)
//! ```
//!
//! The terms bound for a binding are its client filter, then its scope's
//! filter for this table ([`Scope::table`](crate::Scope::table)): one
//! filter, bound and keyed as one, so a scope's `tenant_id=eq.T` keys a
//! wildcard binding under `tenant_id → T` instead of leaving it in the scan
//! list. A scope that denies the table, or whose terms cannot bind here (a
//! policy naming a column this table lacks, a claim that is no value of the
//! column's type), hides the table: the binding is placed as denied and is
//! not reported to the client, whose own filter is not at fault.
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
use crate::access::TableAccess;
use crate::binding::{Binding, BindingId, EventFilter};
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
    /// The client's filter cannot bind to the relation: never matches.
    Failed,
    /// The channel's scope hides the table: never matches.
    Denied,
    /// In `scan` at this index.
    Scan(usize),
    /// In `by_value[column][key]` for each of `keys`, with the slot's
    /// filter shared for [`Table::binding_matches`] (a resume asks it for
    /// every change it replays; the event filter is the binding's own).
    /// Every binding of the table has a placement, most of them idle, so
    /// its size is per-connection memory (BENCHMARKS.md, B4): with a copy
    /// of the whole slot every hash slot of `placements` took 64 bytes, now
    /// 40 (the column as a `u32`, so that the tag fits beside it).
    Keyed {
        column: u32,
        keys: Box<[ValueKey]>,
        filter: Arc<BoundFilter>,
    },
}

/// What a binding's terms are for one table layout.
#[derive(Debug)]
pub(super) enum Bound {
    /// Client filter AND scope filter, bound.
    Filter(BoundFilter),
    /// The scope hides the table.
    Denied,
    /// The client's filter cannot bind (reported to the client).
    Failed(BindError),
}

/// Binds `binding`'s client filter and its scope's filter for the table of
/// `relation`.
pub(super) fn bind(binding: &Binding, relation: &Relation) -> Bound {
    let scope = match binding.scope().table(&relation.schema, &relation.table) {
        TableAccess::Deny => return Bound::Denied,
        TableAccess::Allow(scope) => scope,
    };
    let client = match binding.filter().bind(relation) {
        Ok(client) => client,
        Err(err) => return Bound::Failed(err),
    };
    match scope.bind(relation) {
        Ok(scope) => Bound::Filter(client.and(scope)),
        // A policy for `*` naming a column some tables lack, or a claim
        // that is no value of the column's type: hidden, by design. Only
        // the column is logged; the error text could hold a claim.
        Err(err) => {
            if let BindError::UnknownColumn { column } = &err {
                tracing::debug!(
                    schema = %relation.schema,
                    table = %relation.table,
                    column,
                    "scope names a column the table lacks; the table is hidden from the channel"
                );
            }
            Bound::Denied
        }
    }
}

/// How a binding's replay log lookup can be narrowed in one table.
#[derive(Debug)]
pub(super) enum ReplayPlacement<'a> {
    /// Not filed here, or not bound yet: the whole table.
    Unknown,
    /// Bound but evaluated in full (scan list, or a filter that fails to
    /// bind to the current layout): the whole table.
    Table,
    /// Hidden by the scope: nothing.
    Nothing,
    /// Only rows whose `column` has one of these keys.
    Values {
        column: &'a Arc<str>,
        keys: &'a [ValueKey],
    },
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
        match bind(&entry.binding, relation) {
            Bound::Filter(filter) => {
                self.place(key, entry, filter);
                Ok(())
            }
            Bound::Denied => {
                self.placements.insert(key, Placement::Denied);
                Ok(())
            }
            Bound::Failed(err) => {
                self.placements.insert(key, Placement::Failed);
                Err(err)
            }
        }
    }

    /// Removes a binding; false when it was not here.
    pub(super) fn remove(&mut self, key: BindingKey) -> bool {
        match self.placements.remove(&key) {
            None => false,
            Some(Placement::Pending | Placement::Failed | Placement::Denied) => true,
            Some(Placement::Scan(index)) => {
                if index < self.scan.len() {
                    self.scan.swap_remove(index);
                }
                if let Some(moved) = self.scan.get(index) {
                    self.placements.insert(moved.key, Placement::Scan(index));
                }
                true
            }
            Some(Placement::Keyed { column, keys, .. }) => {
                let column = column as usize;
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

    /// Files a bound binding under the plain eq/in term with the fewest
    /// keys (the first of those), provided all its literals have keys; or
    /// in the scan list.
    fn place(&mut self, key: BindingKey, entry: &Entry, mut filter: BoundFilter) {
        filter.shrink_to_fit();
        let mut indexed: Option<(usize, Vec<ValueKey>)> = None;
        for term in filter.bound_terms() {
            let Some(literals) = term.equality_literals() else {
                continue;
            };
            // NULL elements of an in-list equal nothing: skip them.
            let keys: Option<Vec<ValueKey>> = literals
                .iter()
                .filter(|literal| !matches!(literal, changes::Datum::Null))
                .map(ValueKey::of)
                .collect();
            let Some(mut keys) = keys else {
                continue;
            };
            keys.sort_unstable();
            keys.dedup();
            if indexed
                .as_ref()
                .is_none_or(|(_, best)| keys.len() < best.len())
            {
                indexed = Some((term.column, keys));
            }
        }
        let slot = Slot {
            key,
            subscriber: entry.subscriber,
            id: entry.binding.id(),
            events: entry.binding.event(),
            filter: Arc::new(filter),
        };
        // A table has at most 1,600 columns, so the index always fits a
        // `u32`; were it not to, the scan list would still be correct.
        let indexed = indexed.and_then(|(column, keys)| Some((u32::try_from(column).ok()?, keys)));
        match indexed {
            Some((column32, keys)) => {
                let column = column32 as usize;
                // An in-list of only NULLs (or none) has no keys: filed
                // nowhere, it never matches, as in SQL.
                if !keys.is_empty() {
                    let values = self.by_value.entry(column).or_default();
                    for value in &keys {
                        // Most values have one binding (a user's own row):
                        // room for one, not the four a first push reserves.
                        values
                            .entry(value.clone())
                            .or_insert_with(|| Vec::with_capacity(1))
                            .push(slot.clone());
                    }
                }
                let keys = keys.into_boxed_slice();
                self.placements.insert(
                    key,
                    Placement::Keyed {
                        column: column32,
                        keys,
                        filter: Arc::clone(&slot.filter),
                    },
                );
            }
            None => {
                self.placements
                    .insert(key, Placement::Scan(self.scan.len()));
                self.scan.push(slot);
            }
        }
    }

    /// Whether binding `key`'s terms match `change` (a scanned binding's
    /// events too; the caller checks every binding's events); `None` when
    /// the binding is not filed here. The table's relation must be
    /// `change.relation` (or equal to it).
    pub(super) fn binding_matches(&self, key: BindingKey, change: &Change) -> Option<bool> {
        Some(match self.placements.get(&key)? {
            Placement::Pending | Placement::Failed | Placement::Denied => false,
            Placement::Scan(index) => self
                .scan
                .get(*index)
                .is_some_and(|slot| slot.matches(change)),
            // The caller has checked the binding's events.
            Placement::Keyed { filter, .. } => filter.matches(change),
        })
    }

    /// How a replay log can narrow its lookup for binding `key`.
    pub(super) fn replay_placement(&self, key: BindingKey) -> ReplayPlacement<'_> {
        match (self.placements.get(&key), &self.relation) {
            (None | Some(Placement::Pending), _) | (_, None) => ReplayPlacement::Unknown,
            (Some(Placement::Denied), _) => ReplayPlacement::Nothing,
            (Some(Placement::Failed | Placement::Scan(_)), _) => ReplayPlacement::Table,
            (Some(Placement::Keyed { column, keys, .. }), Some(relation)) => {
                match relation.columns.get(*column as usize) {
                    Some(column) => ReplayPlacement::Values {
                        column: &column.name,
                        keys,
                    },
                    None => ReplayPlacement::Table,
                }
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
