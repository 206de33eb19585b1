//! The gateway's side of the replay window: which keys each change is
//! filed under, which keys a rejoining channel reads, and the lock that
//! hands a channel over from replay to live delivery.
//!
//! ```text
//!  publish(transaction) ──lock──▶ Window::push (keys: table, indexed column values)
//!                                   └─▶ live fan-out, still under the lock
//!  join with resume ─────lock──▶ register the channel, reply, since_many(position, keys)
//!                                   └─▶ replayed frames queued, then the lock is released
//! ```
//!
//! Both paths hold the same `std::sync::Mutex` (never across an `.await`),
//! so a transaction is either replayed to a rejoining channel or delivered
//! to it live, never both and never neither.
//!
//! **Keys.** Every change is filed under its table's key, and under a value
//! key for each *indexed* column of its table (`conversation_id` → the
//! row's value). A column becomes indexed when a channel binds it with an
//! `eq` (router's [`ReplayKey::Value`]); the window remembers from which LSN
//! on it filed values under it, and a resume only uses a value key when
//! every event after its position was filed under it, else the table key.
//! So a resume on `conversation:c1:messages` reads that conversation's
//! postings, not the whole messages table, without any configuration.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::SystemTime;

use changes::{Change, ChangeKind, Epoch, ReplayLimits, ReplayLog};
use router::{ReplayKey, replay_value_text};

/// Columns indexed per table at most; further `eq` columns fall back to
/// the table key, which keeps the postings per event bounded.
const MAX_INDEXED_COLUMNS: usize = 8;

/// The indexed columns of one table: (column, first LSN filed under it).
type IndexedColumns = Vec<(Arc<str>, u64)>;

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
            let row = match change.kind {
                ChangeKind::Delete => change.old_record.as_ref(),
                _ => change.record.as_ref(),
            };
            let columns = self
                .indexed
                .get(&(Arc::clone(&relation.schema), Arc::clone(&relation.table)));
            if let (Some(row), Some(columns)) = (row, columns) {
                for (column, _) in columns {
                    let text = relation
                        .column_index(column)
                        .and_then(|index| row.get(index))
                        .and_then(replay_value_text);
                    if let Some(text) = text {
                        keys.push(value_key(&relation.schema, &relation.table, column, &text));
                    }
                }
            }
            filed.push((Arc::clone(change), keys));
        }
        self.log.push_transaction(end_lsn, commit_time, filed);
    }

    /// Starts filing values of the `eq` columns among `keys` for events
    /// pushed from now on.
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
            if columns.len() < MAX_INDEXED_COLUMNS && !columns.iter().any(|(c, _)| c == column) {
                // Events above the newest LSN pushed so far are filed under it.
                columns.push((Arc::clone(column), self.log.newest_lsn()));
            }
        }
    }

    /// The log keys a resume from `after_lsn` reads for `keys`: a value key
    /// when its column was indexed before `after_lsn`, else the table key.
    pub(crate) fn lookup_keys(&self, keys: &[ReplayKey], after_lsn: u64) -> Vec<u64> {
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
                        .and_then(|columns| columns.iter().find(|(c, _)| c == column))
                        .is_some_and(|(_, since)| *since <= after_lsn);
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
