//! Turns committed transactions of pgoutput messages into typed events.
//!
//! Keeps the relation cache (by OID, replaced whole when a new Relation
//! arrives: pgoutput re-sends one after every schema change and at the start
//! of every session) and the names of non-built-in types (from Type
//! messages). Applies the `old_record` rules:
//!
//! | identity | UPDATE `old_record` | DELETE `old_record` |
//! |---|---|---|
//! | DEFAULT / INDEX | key columns, from the `K` image when the key changed, else from the new row | key columns of the `K` image |
//! | FULL | the whole old row | the whole old row |
//! | NOTHING | `{}` | `{}` |
//!
//! An unchanged TOAST value (`u`) in the new row is copied from the old
//! image when there is a full one, and otherwise left out, never null.

use std::collections::HashMap;
use std::sync::Arc;

use pgoutput::{Message, Oid, OldTuple, TupleData, TupleValue};
use replication::{ReplicationEvent, Transaction};

use crate::change::{
    Change, ChangeKind, Column, Epoch, Event, LogicalMessage, Position, Relation, Row,
};
use crate::types::PgType;
use crate::value::{Datum, decode_binary, decode_text};

/// A transaction the decoder cannot make sense of. Each means the stream is
/// not what pgoutput promises; the caller should stop and report it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// A row change names a relation no Relation message described.
    #[error("change for relation {0} before its Relation message")]
    UnknownRelation(Oid),
    /// A tuple's column count differs from its relation's.
    #[error("tuple has {got} columns, relation {relation} has {expected}")]
    ColumnCount {
        /// Relation OID.
        relation: Oid,
        /// Columns in the Relation message.
        expected: usize,
        /// Columns in the tuple.
        got: usize,
    },
}

/// The relation cache and type names, and the decoding that uses them.
#[derive(Debug, Default)]
pub struct ChangeDecoder {
    /// Stamped on every position.
    epoch: Epoch,
    relations: HashMap<Oid, Arc<Relation>>,
    types: HashMap<Oid, PgType>,
}

impl ChangeDecoder {
    /// An empty cache whose positions carry epoch 0: for tests and tools
    /// whose positions never leave the process.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache whose positions carry `epoch` (see [`Epoch::derive`]).
    pub fn with_epoch(epoch: Epoch) -> Self {
        Self {
            epoch,
            ..Self::default()
        }
    }

    /// The epoch stamped on every position.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Stamps `epoch` from the next decoded event on, keeping the caches.
    pub(crate) fn set_epoch(&mut self, epoch: Epoch) {
        self.epoch = epoch;
    }

    /// The cached layout of relation `oid`.
    pub fn relation(&self, oid: Oid) -> Option<&Arc<Relation>> {
        self.relations.get(&oid)
    }

    /// Decodes one replication event, appending its typed events to `out`.
    pub fn decode(
        &mut self,
        event: ReplicationEvent,
        out: &mut Vec<Event>,
    ) -> Result<(), ChangeError> {
        match event {
            ReplicationEvent::Message(message) => {
                out.push(Event::Message(LogicalMessage {
                    position: Position {
                        epoch: self.epoch,
                        lsn: message.lsn,
                        index: 0,
                    },
                    transactional: false,
                    prefix: message.prefix,
                    content: message.content,
                    commit_ts: None,
                }));
                Ok(())
            }
            ReplicationEvent::Transaction(transaction) => self.decode_transaction(transaction, out),
        }
    }

    fn decode_transaction(
        &mut self,
        tx: Transaction,
        out: &mut Vec<Event>,
    ) -> Result<(), ChangeError> {
        let mut index = 0u32;
        let epoch = self.epoch;
        let mut next_position = || {
            let position = Position {
                epoch,
                lsn: tx.end_lsn,
                index,
            };
            index += 1;
            position
        };
        let change = |kind, relation: &Arc<Relation>, record, old_record, position| Change {
            position,
            xid: tx.xid,
            kind,
            relation: Arc::clone(relation),
            commit_ts: tx.commit_ts,
            record,
            old_record,
        };
        for message in tx.messages {
            match message {
                Message::Relation(body) => {
                    let columns = body
                        .columns
                        .into_iter()
                        .map(|c| Column {
                            ty: self.resolve_type(c.type_oid),
                            name: Arc::from(c.name),
                            is_key: c.is_key,
                        })
                        .collect();
                    let relation = Relation {
                        oid: body.oid,
                        schema: Arc::from(body.namespace),
                        table: Arc::from(body.name),
                        identity: body.replica_identity,
                        columns,
                    };
                    self.relations.insert(body.oid, Arc::new(relation));
                }
                Message::Type(body) => {
                    self.types
                        .insert(body.oid, PgType::from_type_message(body.oid, &body.name));
                }
                Message::Insert(body) => {
                    let relation = self.lookup(body.relation)?;
                    let record = decode_row(&relation, &body.new, None)?;
                    out.push(Event::Change(change(
                        ChangeKind::Insert,
                        &relation,
                        Some(record),
                        None,
                        next_position(),
                    )));
                }
                Message::Update(body) => {
                    let relation = self.lookup(body.relation)?;
                    let (record, old_record) = match &body.old {
                        Some(OldTuple::Full(old)) => {
                            let old = decode_row(&relation, old, None)?;
                            (decode_row(&relation, &body.new, Some(&old))?, old)
                        }
                        Some(OldTuple::Key(key)) => {
                            let new = decode_row(&relation, &body.new, None)?;
                            (
                                new,
                                key_columns(&relation, &decode_row(&relation, key, None)?),
                            )
                        }
                        None => {
                            let new = decode_row(&relation, &body.new, None)?;
                            let key = key_columns(&relation, &new);
                            (new, key)
                        }
                    };
                    out.push(Event::Change(change(
                        ChangeKind::Update,
                        &relation,
                        Some(record),
                        Some(old_record),
                        next_position(),
                    )));
                }
                Message::Delete(body) => {
                    let relation = self.lookup(body.relation)?;
                    let old_record = match &body.old {
                        OldTuple::Full(old) => decode_row(&relation, old, None)?,
                        OldTuple::Key(key) => {
                            key_columns(&relation, &decode_row(&relation, key, None)?)
                        }
                    };
                    out.push(Event::Change(change(
                        ChangeKind::Delete,
                        &relation,
                        None,
                        Some(old_record),
                        next_position(),
                    )));
                }
                Message::Truncate(body) => {
                    for oid in body.relations {
                        let relation = self.lookup(oid)?;
                        out.push(Event::Change(change(
                            ChangeKind::Truncate,
                            &relation,
                            None,
                            None,
                            next_position(),
                        )));
                    }
                }
                Message::Message(body) => out.push(Event::Message(LogicalMessage {
                    position: next_position(),
                    transactional: true,
                    prefix: body.prefix,
                    content: body.content,
                    commit_ts: Some(tx.commit_ts),
                })),
                // Begin/Commit never reach here; Origin and stream framing carry nothing to deliver.
                _ => {}
            }
        }
        Ok(())
    }

    fn lookup(&self, oid: Oid) -> Result<Arc<Relation>, ChangeError> {
        self.relations
            .get(&oid)
            .cloned()
            .ok_or(ChangeError::UnknownRelation(oid))
    }

    fn resolve_type(&self, oid: Oid) -> PgType {
        PgType::builtin(oid)
            .or_else(|| self.types.get(&oid).cloned())
            .unwrap_or_else(|| PgType::unknown(oid))
    }
}

/// Decodes a tuple against its relation. `u` values are copied from
/// `old_full` when given, and otherwise left absent.
fn decode_row(
    relation: &Relation,
    tuple: &TupleData,
    old_full: Option<&Row>,
) -> Result<Row, ChangeError> {
    if tuple.0.len() != relation.columns.len() {
        return Err(ChangeError::ColumnCount {
            relation: relation.oid,
            expected: relation.columns.len(),
            got: tuple.0.len(),
        });
    }
    let values = tuple
        .0
        .iter()
        .zip(&relation.columns)
        .enumerate()
        .map(|(i, (value, column))| match value {
            TupleValue::Null => Some(Datum::Null),
            TupleValue::Text(bytes) => Some(decode_text(&column.ty.kind, bytes)),
            TupleValue::Binary(bytes) => Some(decode_binary(&column.ty, bytes)),
            TupleValue::UnchangedToast => old_full.and_then(|old| old.get(i).cloned()),
        })
        .collect();
    Ok(Row(values))
}

/// Keeps only the replica identity key columns of `row`.
fn key_columns(relation: &Relation, row: &Row) -> Row {
    Row(row
        .0
        .iter()
        .zip(&relation.columns)
        .map(|(value, column)| if column.is_key { value.clone() } else { None })
        .collect())
}
