//! The typed events walcast delivers: row changes and logical messages,
//! each with a [`Position`] that orders it in the stream.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pgoutput::{Lsn, Oid, PG_EPOCH_OFFSET_MICROS, PgTimestamp, ReplicaIdentity};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::time::format_commit_timestamp;
use crate::types::PgType;
use crate::value::Datum;

/// Which stream a [`Position`] belongs to: a hash of the database cluster,
/// the replication slot and that slot's incarnation (see [`Epoch::derive`]).
///
/// Positions only order events of one epoch. A client that comes back with
/// a position of another epoch (another database, or a slot that was
/// dropped and created again, whose LSNs say nothing about what the client
/// saw) must start over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch of the stream read from slot `slot` of the cluster whose
    /// `IDENTIFY_SYSTEM` identifier is `system_id`, in the slot incarnation
    /// named by `slot_token`.
    ///
    /// `slot_token` is a value the binary makes up when it creates the slot
    /// and stores in the database next to it, so that dropping and creating
    /// the slot again (which restarts what its LSNs mean to walcast) changes
    /// the epoch even though the cluster and slot name stay the same.
    ///
    /// The hash is FNV-1a 64 over `system_id`, a `0xFF` byte, `slot`, a
    /// `0xFF` byte and `slot_token` (`0xFF` never occurs in UTF-8, so no two
    /// triples feed it the same bytes). It is part of the position format
    /// clients hold across restarts and upgrades: never change it.
    pub fn derive(system_id: &str, slot: &str, slot_token: &str) -> Self {
        let mut hash = Fnv1a64::new();
        hash.write(system_id.as_bytes());
        hash.write(&[0xFF]);
        hash.write(slot.as_bytes());
        hash.write(&[0xFF]);
        hash.write(slot_token.as_bytes());
        Self(hash.finish())
    }
}

impl fmt::Display for Epoch {
    /// 16 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// FNV-1a, 64-bit (<http://www.isthe.com/chongo/tech/comp/fnv/>).
struct Fnv1a64(u64);

impl Fnv1a64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Self(Self::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Where an event sits in the stream: the stream's [`Epoch`], the LSN that
/// acknowledges the event (a transaction's `end_lsn`, or a non-transactional
/// message's own LSN) and its index inside that transaction. Within an
/// epoch it strictly increases along the stream, and is the same for the
/// same event after a restart, because `lsn` and `index` come from the WAL.
///
/// Clients see it as an opaque string, `{epoch}/{lsn}.{index}`:
/// `0123456789abcdef/000000016B374D48.00000002` (epoch in 16 lowercase hex
/// digits, LSN in 16 and index in 8 uppercase ones). Every part is fixed
/// width, so positions of one epoch also sort as strings.
///
/// There is deliberately no `PartialOrd`/`Ord`: comparing positions of two
/// epochs has no answer, and an operator that quietly says "not greater"
/// for them would read as "already seen". Compare with
/// [`Position::cmp_in_epoch`], which makes the caller handle that case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// The stream this position belongs to.
    pub epoch: Epoch,
    /// Acknowledgement LSN of the transaction (or message).
    pub lsn: Lsn,
    /// Index inside the transaction, from 0.
    pub index: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:016X}.{:08X}", self.epoch, self.lsn, self.index)
    }
}

impl Position {
    /// Length of the [`Display`](fmt::Display) form.
    const TEXT_LEN: usize = 16 + 1 + 16 + 1 + 8;

    /// Parses exactly the [`Display`](fmt::Display) form (digit case
    /// included, so that a parsed position prints back the same); anything
    /// else, the pre-epoch `{lsn}.{index}` form among it, is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != Self::TEXT_LEN {
            return None;
        }
        let (epoch, rest) = text.split_once('/')?;
        let (lsn, index) = rest.split_once('.')?;
        if epoch.len() != 16 || lsn.len() != 16 || index.len() != 8 {
            return None;
        }
        Some(Self {
            epoch: Epoch(parse_hex(epoch, Case::Lower)?),
            lsn: parse_hex(lsn, Case::Upper)?,
            index: u32::try_from(parse_hex(index, Case::Upper)?).ok()?,
        })
    }

    /// Orders two positions of the same epoch by `(lsn, index)`, which is
    /// stream order; `None` when the epochs differ, since those positions
    /// come from unrelated streams.
    pub fn cmp_in_epoch(&self, other: &Position) -> Option<Ordering> {
        (self.epoch == other.epoch).then(|| (self.lsn, self.index).cmp(&(other.lsn, other.index)))
    }
}

/// Which hex digits [`parse_hex`] accepts.
#[derive(Clone, Copy)]
enum Case {
    Lower,
    Upper,
}

/// Parses at most 16 hex digits of one case. Unlike `from_str_radix` it
/// rejects a sign and the other case, so that a position has one spelling.
fn parse_hex(text: &str, case: Case) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    text.bytes().try_fold(0u64, |value, byte| {
        let digit = match (byte, case) {
            (b'0'..=b'9', _) => byte - b'0',
            (b'a'..=b'f', Case::Lower) => byte - b'a' + 10,
            (b'A'..=b'F', Case::Upper) => byte - b'A' + 10,
            _ => return None,
        };
        Some(value << 4 | u64::from(digit))
    })
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

impl Change {
    /// [`commit_ts`](Self::commit_ts) as a [`SystemTime`].
    pub fn commit_time(&self) -> SystemTime {
        let micros = self.commit_ts.saturating_add(PG_EPOCH_OFFSET_MICROS);
        let offset = Duration::from_micros(micros.unsigned_abs());
        let time = if micros >= 0 {
            UNIX_EPOCH.checked_add(offset)
        } else {
            UNIX_EPOCH.checked_sub(offset)
        };
        time.unwrap_or(UNIX_EPOCH)
    }
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

/// A change in the shape of Supabase's `realtime.broadcast_changes`
/// payload: `schema`, `table`, `operation`, `commit_timestamp`, `record`
/// and `old_record` (`null` when the operation has none). Routed topics
/// joined without bindings receive changes this way.
pub struct BroadcastChange<'a>(pub &'a Change);

impl Serialize for BroadcastChange<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let change = self.0;
        let columns = &change.relation.columns;
        let mut map = serializer.serialize_map(Some(6))?;
        map.serialize_entry("schema", &*change.relation.schema)?;
        map.serialize_entry("table", &*change.relation.table)?;
        map.serialize_entry("operation", change.kind.as_str())?;
        map.serialize_entry(
            "commit_timestamp",
            &format_commit_timestamp(change.commit_ts),
        )?;
        let record = change.record.as_ref().map(|row| RowJson { columns, row });
        map.serialize_entry("record", &record)?;
        let old = match change.kind {
            ChangeKind::Update | ChangeKind::Delete => Some(RowJson {
                columns,
                row: change.old_record.as_ref().unwrap_or(&EMPTY_ROW),
            }),
            _ => None,
        };
        map.serialize_entry("old_record", &old)?;
        map.end()
    }
}

/// The old row of an UPDATE or DELETE that carried none (no identity
/// columns changed).
static EMPTY_ROW: Row = Row(Vec::new());

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

    const EPOCH: Epoch = Epoch(0x0123_4567_89ab_cdef);

    fn at(lsn: Lsn, index: u32) -> Position {
        Position {
            epoch: EPOCH,
            lsn,
            index,
        }
    }

    #[test]
    fn positions_round_trip_and_sort_as_text() {
        let (a, b, c) = (
            at(0x1_6B37_4D48, 2),
            at(0x1_6B37_4D48, 10),
            at(0x2_0000_0000, 0),
        );
        assert_eq!(a.to_string(), "0123456789abcdef/000000016B374D48.00000002");
        for p in [a, b, c, Position::default()] {
            assert_eq!(Position::parse(&p.to_string()), Some(p));
        }
        assert_eq!(a.cmp_in_epoch(&b), Some(Ordering::Less));
        assert_eq!(c.cmp_in_epoch(&b), Some(Ordering::Greater));
        assert_eq!(b.cmp_in_epoch(&b), Some(Ordering::Equal));
        assert!(a.to_string() < b.to_string() && b.to_string() < c.to_string());
        let max = Position {
            epoch: Epoch(u64::MAX),
            lsn: u64::MAX,
            index: u32::MAX,
        };
        assert_eq!(Position::parse(&max.to_string()), Some(max));
    }

    #[test]
    fn positions_of_other_epochs_do_not_compare() {
        let other = Position {
            epoch: Epoch(1),
            ..at(0, 0)
        };
        assert_eq!(at(5, 0).cmp_in_epoch(&other), None);
        assert_eq!(other.cmp_in_epoch(&at(5, 0)), None);
    }

    #[test]
    fn parse_accepts_only_the_canonical_form() {
        for text in [
            "",
            "nope",
            "1.2",
            // The pre-epoch form.
            "000000016B374D48.00000002",
            // Case of each part.
            "0123456789ABCDEF/000000016B374D48.00000002",
            "0123456789abcdef/000000016b374d48.00000002",
            "0123456789abcdef/000000016B374D48.0000000a",
            // Widths, separators, signs, stray bytes.
            "123456789abcdef/000000016B374D48.000000002",
            "0123456789abcdef/00000016B374D48.000000002",
            "0123456789abcdef.000000016B374D48.00000002",
            "0123456789abcdef/000000016B374D48/00000002",
            "+123456789abcdef/000000016B374D48.00000002",
            "0123456789abcdef/+00000016B374D48.00000002",
            "0123456789abcdef/000000016B374D48.+0000002",
            "0123456789abcdef/000000016B374D48.00000002 ",
            "0123456789abcdéf/000000016B374D48.0000002",
        ] {
            assert_eq!(Position::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        let hash = |bytes: &[u8]| {
            let mut h = Fnv1a64::new();
            h.write(bytes);
            h.finish()
        };
        assert_eq!(hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn epochs_name_cluster_slot_and_incarnation() {
        let epoch = Epoch::derive("7412345678901234567", "walcast", "token-1");
        // Pinned: clients hold positions across upgrades.
        assert_eq!(epoch.to_string(), "ea0b49a0fbd0ca51");
        assert_eq!(
            epoch,
            Epoch::derive("7412345678901234567", "walcast", "token-1")
        );
        let others = [
            Epoch::derive("7412345678901234568", "walcast", "token-1"),
            Epoch::derive("7412345678901234567", "walcast2", "token-1"),
            Epoch::derive("7412345678901234567", "walcast", "token-2"),
            // The separators keep the fields apart.
            Epoch::derive("7412345678901234567", "walcas", "ttoken-1"),
        ];
        for other in others {
            assert_ne!(epoch, other);
        }
    }

    #[test]
    fn commit_time_counts_from_2000() {
        let change = |commit_ts| Change {
            position: Position::default(),
            xid: 1,
            kind: ChangeKind::Truncate,
            relation: Arc::new(Relation {
                oid: 1,
                schema: "public".into(),
                table: "t".into(),
                identity: ReplicaIdentity::Default,
                columns: Vec::new(),
            }),
            commit_ts,
            record: None,
            old_record: None,
        };
        let y2k = UNIX_EPOCH + Duration::from_secs(946_684_800);
        assert_eq!(change(0).commit_time(), y2k);
        assert_eq!(
            change(1_500_000).commit_time(),
            y2k + Duration::from_micros(1_500_000)
        );
        assert_eq!(
            change(-PG_EPOCH_OFFSET_MICROS - 1).commit_time(),
            UNIX_EPOCH - Duration::from_micros(1)
        );
    }
}
