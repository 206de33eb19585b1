//! The gateway's side of the replay window: which keys each change is
//! filed under, which keys a rejoining channel reads, and the lock that
//! hands a channel over from replay to live delivery.
//!
//! ```text
//!  publish(transaction) ──lock──▶ Window::push (keys: table, indexed column values)
//!                                   └─▶ live fan-out (skips channels still catching up), under the lock
//!  join with resume ─────lock──▶ register (catching up), reply, one chunk of the replay
//!  queue drained ────────lock──▶ the next chunk … the last one makes the channel live
//! ```
//!
//! Both paths hold the same `std::sync::Mutex` (never across an `.await`),
//! so a transaction is either replayed to a rejoining channel or delivered
//! to it live, never both and never neither (see
//! [`delivery`](crate::delivery#paced-catch-up)).
//!
//! **Keys.** Every change is filed under its table's key, and under a value
//! key for each *indexed* column of its table (`conversation_id` → the
//! row's value). A column becomes indexed when a channel binds it with an
//! `eq` (router's [`ReplayKey::Value`]): from then on every change pushed
//! is filed under it, and the changes already in the window are filed
//! under it at once ([`ReplayLog::backfill`]), so the column covers the
//! whole window and a resume from any position reads only its value's
//! postings. So a resume on `conversation:c1:messages` reads that
//! conversation's postings, not the whole messages table, without any
//! configuration, even right after a restart, when the window was rebuilt
//! before any channel bound the column.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::SystemTime;

use changes::{Change, ChangeKind, Epoch, ReplayLimits, ReplayLog};
use router::{ReplayKey, replay_value_text};

/// Columns indexed per table at most; further `eq` columns fall back to
/// the table key, which keeps the postings per event bounded.
const MAX_INDEXED_COLUMNS: usize = 8;

/// The indexed columns of one table.
type IndexedColumns = Vec<Arc<str>>;

/// Replay log plus the column index plan.
pub(crate) struct Window {
    pub(crate) log: ReplayLog,
    /// (schema, table) → its indexed columns.
    indexed: HashMap<(Arc<str>, Arc<str>), IndexedColumns>,
}

impl Window {
    pub(crate) fn new(epoch: Epoch, limits: ReplayLimits, floor: u64) -> Self {
        Self {
            log: ReplayLog::new(epoch, limits, floor),
            indexed: HashMap::new(),
        }
    }

    /// Files one transaction's changes (all sharing `end_lsn`).
    pub(crate) fn push(&mut self, end_lsn: u64, changes: &[Arc<Change>]) {
        let commit_time = changes
            .first()
            .map_or_else(SystemTime::now, |change| change.commit_time());
        let mut filed = Vec::with_capacity(changes.len());
        for change in changes {
            let relation = &change.relation;
            let mut keys = vec![table_key(&relation.schema, &relation.table)];
            let columns = self
                .indexed
                .get(&(Arc::clone(&relation.schema), Arc::clone(&relation.table)));
            for column in columns.into_iter().flatten() {
                if let Some(text) = value_text(change, column) {
                    keys.push(value_key(&relation.schema, &relation.table, column, &text));
                }
            }
            filed.push((Arc::clone(change), keys));
        }
        self.log.push_transaction(end_lsn, commit_time, filed);
    }

    /// Starts indexing the `eq` columns among `keys`: changes pushed from
    /// now on are filed under their values, and so are the changes the
    /// window holds already. At most [`MAX_INDEXED_COLUMNS`] per table.
    pub(crate) fn index_columns(&mut self, keys: &[ReplayKey]) {
        for key in keys {
            let ReplayKey::Value {
                schema,
                table,
                column,
                ..
            } = key
            else {
                continue;
            };
            let columns = self
                .indexed
                .entry((Arc::clone(schema), Arc::clone(table)))
                .or_default();
            if columns.len() >= MAX_INDEXED_COLUMNS || columns.contains(column) {
                continue;
            }
            columns.push(Arc::clone(column));
            // The table key covers every kept change of the table (and, as
            // a hash, perhaps a few of other tables: skipped).
            self.log.backfill(table_key(schema, table), |change| {
                let relation = &change.relation;
                if relation.schema != *schema || relation.table != *table {
                    return None;
                }
                value_text(change, column).map(|text| value_key(schema, table, column, &text))
            });
        }
    }

    /// The log keys a resume reads for `keys`: a value key when its column
    /// is indexed (then it covers the whole window), else the table key.
    pub(crate) fn lookup_keys(&self, keys: &[ReplayKey]) -> Vec<u64> {
        let mut out: Vec<u64> = keys
            .iter()
            .map(|key| match key {
                ReplayKey::All => ReplayLog::ALL,
                ReplayKey::Table { schema, table } => table_key(schema, table),
                ReplayKey::Value {
                    schema,
                    table,
                    column,
                    value_text,
                } => {
                    let indexed = self
                        .indexed
                        .get(&(Arc::clone(schema), Arc::clone(table)))
                        .is_some_and(|columns| columns.contains(column));
                    if indexed {
                        value_key(schema, table, column, value_text)
                    } else {
                        table_key(schema, table)
                    }
                }
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The text a change is filed under for `column`: the value of its tested
/// row (the new row; the old one for a DELETE), as a `Value` key spells it.
fn value_text(change: &Change, column: &str) -> Option<String> {
    let row = match change.kind {
        ChangeKind::Delete => change.old_record.as_ref(),
        _ => change.record.as_ref(),
    }?;
    change
        .relation
        .column_index(column)
        .and_then(|index| row.get(index))
        .and_then(replay_value_text)
}

fn table_key(schema: &str, table: &str) -> u64 {
    key_of(&["t", schema, table])
}

fn value_key(schema: &str, table: &str, column: &str, value: &str) -> u64 {
    key_of(&["v", schema, table, column, value])
}

/// A 64-bit key for the parts. Keys live only in this process's memory,
/// so std's hasher (fixed keys, deterministic within a run) is enough;
/// collisions only cost extra candidates, since replayed events are matched
/// against the channel's bindings like live ones.
fn key_of(parts: &[&str]) -> u64 {
    let mut hasher = DefaultHasher::new();
    parts.hash(&mut hasher);
    // Never the log's reserved "all" key.
    match hasher.finish() {
        ReplayLog::ALL => ReplayLog::ALL - 1,
        key => key,
    }
}

#[cfg(test)]
mod tests {
    use changes::{Column, Datum, PgType, Position, Relation, Row};
    use pgoutput::ReplicaIdentity;

    use super::*;

    const EPOCH: Epoch = Epoch(7);

    fn items() -> Arc<Relation> {
        let column = |name: &str| Column {
            name: name.into(),
            ty: PgType::unknown(20),
            is_key: name == "id",
        };
        Arc::new(Relation {
            oid: 1,
            schema: "public".into(),
            table: "items".into(),
            identity: ReplicaIdentity::Default,
            columns: vec![column("id"), column("conv")],
        })
    }

    /// A transaction at `lsn` inserting rows `(id, conv)`.
    fn push(window: &mut Window, lsn: u64, rows: &[(i64, i64)]) {
        let relation = items();
        let changes: Vec<Arc<Change>> = (0u32..)
            .zip(rows)
            .map(|(index, &(id, conv))| {
                Arc::new(Change {
                    position: Position {
                        epoch: EPOCH,
                        lsn,
                        index,
                    },
                    xid: 1,
                    kind: ChangeKind::Insert,
                    relation: Arc::clone(&relation),
                    commit_ts: 0,
                    record: Some(Row(vec![Some(Datum::Int(id)), Some(Datum::Int(conv))])),
                    old_record: None,
                })
            })
            .collect();
        window.push(lsn, &changes);
    }

    fn conv(value: &str) -> ReplayKey {
        ReplayKey::Value {
            schema: "public".into(),
            table: "items".into(),
            column: "conv".into(),
            value_text: value.to_owned(),
        }
    }

    fn ids_since(window: &Window, after: Position, keys: &[u64]) -> Vec<i64> {
        let mut out = Vec::new();
        window
            .log
            .since_many(&after, keys, &mut out)
            .expect("in the window");
        out.iter()
            .map(
                |change| match change.record.as_ref().and_then(|row| row.get(0)) {
                    Some(Datum::Int(id)) => *id,
                    other => panic!("no id: {other:?}"),
                },
            )
            .collect()
    }

    /// A column indexed after the window was filled (a restart: the
    /// window is rebuilt before any channel binds) covers the whole window.
    #[test]
    fn a_newly_indexed_column_covers_the_changes_already_kept() {
        let limits = ReplayLimits {
            max_events: 6,
            ..ReplayLimits::default()
        };
        let mut window = Window::new(EPOCH, limits, 100);
        window.log.set_ready();
        push(&mut window, 200, &[(1, 1), (2, 2), (3, 1)]);
        push(&mut window, 300, &[(4, 2), (5, 1)]);
        let start = Position {
            epoch: EPOCH,
            lsn: 150,
            index: 0,
        };
        let table = window.lookup_keys(&[conv("1")]);
        assert_eq!(
            ids_since(&window, start, &table),
            [1, 2, 3, 4, 5],
            "the table key"
        );

        window.index_columns(&[conv("1")]);
        let one = window.lookup_keys(&[conv("1")]);
        assert_ne!(one, table, "the value key now");
        assert_eq!(ids_since(&window, start, &one), [1, 3, 5]);
        let two = window.lookup_keys(&[conv("2")]);
        assert_eq!(ids_since(&window, start, &two), [2, 4]);

        // New changes are filed under it too; eviction takes the
        // backfilled postings of the oldest transaction with it.
        push(&mut window, 400, &[(6, 1), (7, 2)]);
        assert_eq!(window.log.len(), 4, "the transaction at 200 left");
        let after_200 = Position {
            epoch: EPOCH,
            lsn: 200,
            index: 2,
        };
        assert_eq!(ids_since(&window, after_200, &one), [5, 6]);
        assert_eq!(ids_since(&window, after_200, &two), [4, 7]);
    }
}
