//! What a replay log needs from the index to resume one subscriber: which
//! events to look at, and which of them that subscriber's bindings match.
//!
//! ```text
//!  resume(subscriber, from position)
//!     │ replay_keys(subscriber) ──▶ [All | Table{s,t} | Value{s,t,column,text}]
//!     ▼                              the narrowest lookups covering every binding
//!  replay log: events after the position that a key covers
//!     │ (ReplayKey::covers, or the log's own index by replay_value_text)
//!     ▼
//!  matches_subscriber(subscriber, change) ──▶ binding ids, exactly as `matching`
//!                                             would have given them live
//! ```
//!
//! Keys only narrow: they cover every event the subscriber's bindings can
//! match (given the table layouts the index knows now), and the log
//! confirms each candidate with `matches_subscriber`. A binding keyed by
//! an `eq` (its own or its scope's, such as a visitor's
//! `conversation_id=eq.C`) gives `Value` keys whose text is the canonical
//! text of the typed literal ([`replay_value_text`]), so `eq.07` on an
//! integer column and a row value `7` meet under `"7"`. A wildcard binding
//! gives per-table keys when its scope names its tables, `All` otherwise.
//!
//! Known limit: keys are computed against the current layout. If a
//! column's type changed (ALTER TABLE) inside the replay window, events of
//! the old layout may be keyed differently and missed by a `Value` key;
//! `matches_subscriber` itself binds against each event's own layout.

use std::sync::Arc;

use changes::{Change, ChangeKind, Datum};

use super::table::{self, Bound, ReplayPlacement};
use super::value_key::ValueKey;
use super::{SubscriberId, SubscriberKeys, SubscriptionIndex};
use crate::access::TableAccess;
use crate::binding::{BindingId, Selector};

/// One lookup a replay log can make to find the events a subscriber may
/// have missed. A subscriber's keys together cover every event its
/// bindings can match.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReplayKey {
    /// Every event of every table.
    All,
    /// Every event of one table.
    Table {
        /// Schema.
        schema: Arc<str>,
        /// Table.
        table: Arc<str>,
    },
    /// Events of one table whose tested row (the new row; the old one for
    /// a DELETE) has `column` with this [`replay_value_text`].
    Value {
        /// Schema.
        schema: Arc<str>,
        /// Table.
        table: Arc<str>,
        /// Column name.
        column: Arc<str>,
        /// The value's canonical text.
        value_text: String,
    },
}

impl ReplayKey {
    /// Whether `change` falls under this key.
    pub fn covers(&self, change: &Change) -> bool {
        let relation = &change.relation;
        let is_table =
            |schema: &str, table: &str| *relation.schema == *schema && *relation.table == *table;
        match self {
            Self::All => true,
            Self::Table { schema, table } => is_table(schema, table),
            Self::Value {
                schema,
                table,
                column,
                value_text,
            } => {
                is_table(schema, table)
                    && tested_row(change)
                        .zip(relation.column_index(column))
                        .and_then(|(row, index)| row.get(index))
                        .and_then(replay_value_text)
                        .is_some_and(|text| text == *value_text)
            }
        }
    }
}

/// The text a replay log keys a column value by, the same text
/// [`ReplayKey::Value`] carries: `true` / `false` for booleans, the
/// normalised decimal for numbers (`2.50` → `2.5`, `-0` → `0`), the string
/// itself for everything `to_jsonb` prints as a string (text, uuid,
/// timestamps in walcast's UTC form). It is the text of the index's value
/// key, so two values a filter's `eq` finds equal have the same text.
/// `None` for SQL `NULL`, JSON and arrays, which no `Value` key can match.
pub fn replay_value_text(value: &Datum) -> Option<String> {
    ValueKey::of(value).map(|key| key.text().to_owned())
}

/// The row a filter tests: the new row, the old one for a DELETE.
fn tested_row(change: &Change) -> Option<&changes::Row> {
    match change.kind {
        ChangeKind::Insert | ChangeKind::Update => change.record.as_ref(),
        ChangeKind::Delete => change.old_record.as_ref(),
        ChangeKind::Truncate => None,
    }
}

impl SubscriptionIndex {
    /// Replaces `out` with the ids of `subscriber`'s bindings that match
    /// `change` (sorted, without duplicates): what
    /// [`SubscriptionIndex::matching`] would list for this subscriber,
    /// scope and event filter included, looking at this subscriber's
    /// bindings only. A change of another layout than the table's current
    /// one (an event from before an ALTER TABLE) is matched against its
    /// own layout without disturbing the live index.
    pub fn matches_subscriber(
        &self,
        subscriber: SubscriberId,
        change: &Change,
        out: &mut Vec<BindingId>,
    ) {
        out.clear();
        if change.kind == ChangeKind::Truncate {
            return;
        }
        let Some(keys) = self.by_subscriber.get(&subscriber) else {
            return;
        };
        let relation = &change.relation;
        let current = self
            .schemas
            .get(&*relation.schema)
            .and_then(|tables| tables.get(&*relation.table))
            .filter(|table| {
                table.relation().is_some_and(|current| {
                    Arc::ptr_eq(current, relation) || **current == **relation
                })
            });
        for key in keys.as_slice() {
            let Some(entry) = self.entries.get(key) else {
                continue;
            };
            let binding = &entry.binding;
            if !binding.selects(&relation.schema, &relation.table)
                || !binding.event().accepts(change.kind)
            {
                continue;
            }
            let matched = match current.and_then(|table| table.binding_matches(*key, change)) {
                Some(matched) => matched,
                None => match table::bind(binding, relation) {
                    Bound::Filter(filter) => filter.matches(change),
                    Bound::Denied | Bound::Failed(_) => false,
                },
            };
            if matched {
                out.push(binding.id());
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// The lookups that cover every event `subscriber`'s bindings can
    /// match, sorted; empty when it has no binding (or none can match).
    /// `[All]` when one of them can match any table.
    pub fn replay_keys(&self, subscriber: SubscriberId) -> Vec<ReplayKey> {
        let mut out = Vec::new();
        let keys = self
            .by_subscriber
            .get(&subscriber)
            .map_or(&[][..], SubscriberKeys::as_slice);
        for key in keys {
            let Some(entry) = self.entries.get(key) else {
                continue;
            };
            let binding = &entry.binding;
            let scope = binding.scope();
            let tables = match (binding.schema(), binding.table()) {
                (Selector::Name(schema), Selector::Name(table)) => {
                    vec![(Arc::clone(schema), Arc::clone(table))]
                }
                (schema, table) => match scope.visible_tables(schema, table) {
                    Some(tables) => tables,
                    None => return vec![ReplayKey::All],
                },
            };
            for (schema, table) in tables {
                if scope.table(&schema, &table) == TableAccess::Deny {
                    continue;
                }
                let placement = self
                    .schemas
                    .get(&schema)
                    .and_then(|tables| tables.get(&table))
                    .map_or(ReplayPlacement::Unknown, |filed| {
                        filed.replay_placement(*key)
                    });
                match placement {
                    ReplayPlacement::Nothing => {}
                    ReplayPlacement::Unknown | ReplayPlacement::Table => {
                        out.push(ReplayKey::Table { schema, table });
                    }
                    ReplayPlacement::Values { column, keys } => {
                        out.extend(keys.iter().map(|value| ReplayKey::Value {
                            schema: Arc::clone(&schema),
                            table: Arc::clone(&table),
                            column: Arc::clone(column),
                            value_text: value.text().to_owned(),
                        }));
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        // A whole table already covers its values.
        let whole: Vec<(Arc<str>, Arc<str>)> = out
            .iter()
            .filter_map(|key| match key {
                ReplayKey::Table { schema, table } => Some((Arc::clone(schema), Arc::clone(table))),
                _ => None,
            })
            .collect();
        out.retain(|key| match key {
            ReplayKey::Value { schema, table, .. } => {
                !whole.iter().any(|(s, t)| s == schema && t == table)
            }
            _ => true,
        });
        out
    }
}
