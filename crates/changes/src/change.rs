//! The typed events walcast delivers: row changes and logical messages,
//! each with a [`Position`] that orders it in the stream.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use pgoutput::{Lsn, Oid, PgTimestamp, ReplicaIdentity};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::time::format_commit_timestamp;
use crate::types::PgType;
use crate::value::Datum;

/// Where an event sits in the stream: the LSN that acknowledges it (a
/// transaction's `end_lsn`, or a non-transactional message's own LSN) and
/// its index inside that transaction. Strictly increases along the stream,
/// and is the same for the same event after a restart, because both parts
/// come from the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// Acknowledgement LSN of the transaction (or message).
    pub lsn: Lsn,
    /// Index inside the transaction, from 0.
    pub index: u32,
}

impl fmt::Display for Position {
    /// Fixed-width hex, so that positions also sort as strings.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}.{:08X}", self.lsn, self.index)
    }
}

impl Position {
    /// Parses the [`Display`](fmt::Display) form.
    pub fn parse(text: &str) -> Option<Self> {
        let (lsn, index) = text.split_once('.')?;
        if lsn.len() != 16 || index.len() != 8 {
            return None;
        }
        Some(Self {
            lsn: u64::from_str_radix(lsn, 16).ok()?,
            index: u32::from_str_radix(index, 16).ok()?,
        })
    }
}

/// One column of a relation.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name.
    pub name: Arc<str>,
    /// Column type.
    pub ty: PgType,
    /// Part of the replica identity (every column under FULL).
    pub is_key: bool,
}

/// A table's layout as of the change that uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// Relation OID.
    pub oid: Oid,
    /// Schema name.
    pub schema: Arc<str>,
    /// Table name.
    pub table: Arc<str>,
    /// REPLICA IDENTITY.
    pub identity: ReplicaIdentity,
    /// Columns in attribute order.
    pub columns: Vec<Column>,
}

impl Relation {
    /// Index of the column called `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| &*c.name == name)
    }
}

/// Column values aligned with [`Relation::columns`]. `None` means the
/// column is absent from this image: an unchanged TOAST value with no old
/// image to copy it from, or a non-key column of a key-only old image.
/// Absent columns are left out of the JSON (never sent as null).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row(pub Vec<Option<Datum>>);

impl Row {
    /// The value of column `index`, if present.
    pub fn get(&self, index: usize) -> Option<&Datum> {
        self.0.get(index).and_then(Option::as_ref)
    }
}

/// What happened to the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// TRUNCATE of the whole table (no row images).
    Truncate,
}

impl ChangeKind {
    /// `INSERT`, `UPDATE`, `DELETE` or `TRUNCATE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Truncate => "TRUNCATE",
        }
    }
}

/// One committed row change.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Order in the stream.
    pub position: Position,
    /// Transaction id.
    pub xid: u32,
    /// INSERT, UPDATE, DELETE or TRUNCATE.
    pub kind: ChangeKind,
    /// The table, as of this change.
    pub relation: Arc<Relation>,
    /// Commit time, microseconds since 2000-01-01 UTC.
    pub commit_ts: PgTimestamp,
    /// The new row (INSERT, UPDATE).
    pub record: Option<Row>,
    /// The old row or its key (UPDATE, DELETE), per the replica identity.
    pub old_record: Option<Row>,
}

/// A message from `pg_logical_emit_message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalMessage {
    /// Order in the stream.
    pub position: Position,
    /// Emitted transactionally: delivered only once its transaction committed.
    pub transactional: bool,
    /// The emitter's prefix (walcast routes prefix `walcast`).
    pub prefix: String,
    /// Content bytes as emitted.
    pub content: Bytes,
    /// Commit time of the enclosing transaction, when transactional.
    pub commit_ts: Option<PgTimestamp>,
}

/// An event of the change stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A row change.
    Change(Change),
    /// A logical message.
    Message(LogicalMessage),
}

impl Event {
    /// The event's position.
    pub fn position(&self) -> Position {
        match self {
            Self::Change(c) => c.position,
            Self::Message(m) => m.position,
        }
    }
}

/// A [`Row`] serialized as a JSON object in column order.
struct RowJson<'a> {
    columns: &'a [Column],
    row: &'a Row,
}

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (column, value) in self.columns.iter().zip(&self.row.0) {
            if let Some(value) = value {
                map.serialize_entry(&*column.name, value)?;
            }
        }
        map.end()
    }
}

/// `columns`: `[{"name": …, "type": typname}]`.
struct ColumnsJson<'a>(&'a [Column]);

impl Serialize for ColumnsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for column in self.0 {
            seq.serialize_element(&ColumnJson(column))?;
        }
        seq.end()
    }
}

struct ColumnJson<'a>(&'a Column);

impl Serialize for ColumnJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Column", 2)?;
        s.serialize_field("name", &*self.0.name)?;
        s.serialize_field("type", &*self.0.ty.name)?;
        s.end()
    }
}

/// Serializes as Supabase's `postgres_changes` `data` object: `schema`,
/// `table`, `commit_timestamp`, `type`, `columns`, `record` (INSERT,
/// UPDATE), `old_record` (UPDATE, DELETE), `errors`, plus walcast's
/// `position`.
impl Serialize for Change {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let columns = &self.relation.columns;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("schema", &*self.relation.schema)?;
        map.serialize_entry("table", &*self.relation.table)?;
        map.serialize_entry("commit_timestamp", &format_commit_timestamp(self.commit_ts))?;
        map.serialize_entry("type", self.kind.as_str())?;
        map.serialize_entry("columns", &ColumnsJson(columns))?;
        if let Some(row) = &self.record {
            map.serialize_entry("record", &RowJson { columns, row })?;
        }
        if matches!(self.kind, ChangeKind::Update | ChangeKind::Delete) {
            let empty = Row::default();
            let row = self.old_record.as_ref().unwrap_or(&empty);
            map.serialize_entry("old_record", &RowJson { columns, row })?;
        }
        map.serialize_entry("errors", &())?;
        map.serialize_entry("position", &self.position.to_string())?;
        map.end()
    }
}

/// Serializes as `{"type": "MESSAGE", "prefix", "content", "transactional",
/// "position"}`; `content` is the text when it is UTF-8, else null.
impl Serialize for LogicalMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", "MESSAGE")?;
        map.serialize_entry("prefix", &self.prefix)?;
        map.serialize_entry("content", &std::str::from_utf8(&self.content).ok())?;
        map.serialize_entry("transactional", &self.transactional)?;
        if let Some(ts) = self.commit_ts {
            map.serialize_entry("commit_timestamp", &format_commit_timestamp(ts))?;
        }
        map.serialize_entry("position", &self.position.to_string())?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_sort_as_text() {
        let a = Position {
            lsn: 0x1_6B37_4D48,
            index: 2,
        };
        let b = Position {
            lsn: 0x1_6B37_4D48,
            index: 10,
        };
        let c = Position {
            lsn: 0x2_0000_0000,
            index: 0,
        };
        assert_eq!(Position::parse(&a.to_string()), Some(a));
        assert!(a < b && b < c);
        assert!(a.to_string() < b.to_string() && b.to_string() < c.to_string());
        assert_eq!(Position::parse("nope"), None);
        assert_eq!(Position::parse("1.2"), None);
    }
}
