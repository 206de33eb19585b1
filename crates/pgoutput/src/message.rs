//! pgoutput messages (protocol versions 1 and 2) and their decoder.
//!
//! The walsender sends one pgoutput message per XLogData. A transaction
//! arrives as `Begin`, its changes, `Commit`; `Relation` and `Type` describe
//! a table or type before the first change that needs them. With
//! `streaming 'on'` (protocol 2) a large transaction arrives before it
//! commits, in blocks:
//!
//! ```text
//!  Stream Start(xid) ─ Relation/Insert/… with xid ─ Stream Stop   (repeated)
//!  … then Stream Commit(xid) or Stream Abort(xid, subxid)
//! ```
//!
//! Inside a block every data message carries a leading xid that is absent
//! elsewhere, and nothing in the message itself says which layout it has.
//! That is why [`Decoder`] is a struct with one bit of state rather than a
//! free function.
//!
//! Layouts: <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>.

use bytes::Bytes;

use crate::reader::Reader;
use crate::{DecodeError, Lsn, Oid, PgTimestamp};

const TAG_BEGIN: u8 = b'B';
const TAG_COMMIT: u8 = b'C';
const TAG_ORIGIN: u8 = b'O';
const TAG_RELATION: u8 = b'R';
const TAG_TYPE: u8 = b'Y';
const TAG_INSERT: u8 = b'I';
const TAG_UPDATE: u8 = b'U';
const TAG_DELETE: u8 = b'D';
const TAG_TRUNCATE: u8 = b'T';
const TAG_MESSAGE: u8 = b'M';
const TAG_STREAM_START: u8 = b'S';
const TAG_STREAM_STOP: u8 = b'E';
const TAG_STREAM_COMMIT: u8 = b'c';
const TAG_STREAM_ABORT: u8 = b'A';

/// Markers that introduce a TupleData inside Insert, Update and Delete.
const TUPLE_NEW: u8 = b'N';
const TUPLE_KEY: u8 = b'K';
const TUPLE_OLD: u8 = b'O';

/// Kinds of a TupleData column.
const COLUMN_NULL: u8 = b'n';
const COLUMN_UNCHANGED_TOAST: u8 = b'u';
const COLUMN_TEXT: u8 = b't';
const COLUMN_BINARY: u8 = b'b';

const IDENTITY_DEFAULT: u8 = b'd';
const IDENTITY_NOTHING: u8 = b'n';
const IDENTITY_FULL: u8 = b'f';
const IDENTITY_INDEX: u8 = b'i';

/// Bit of a Relation column's flags: the column is part of the key.
const COLUMN_FLAG_KEY: u8 = 1;
/// Bit of a Message's flags: emitted transactionally.
const MESSAGE_FLAG_TRANSACTIONAL: u8 = 1;

/// Smallest encodings, used to bound counts before allocating: a Relation
/// column is flags, an empty name's NUL, type OID and typmod; a tuple column
/// is its kind byte; a truncated relation is its OID.
const MIN_RELATION_COLUMN_LEN: usize = 1 + 1 + 4 + 4;
const MIN_TUPLE_COLUMN_LEN: usize = 1;
const TRUNCATE_RELATION_LEN: usize = 4;

/// Protocol 4 with `streaming 'parallel'` appends abort_lsn and abort_ts
/// (Int64 each) to Stream Abort.
const STREAM_ABORT_PARALLEL_EXTRA_LEN: usize = 16;

/// One pgoutput message, as carried in the `data` of an XLogData.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `B`: a transaction starts.
    Begin(BeginBody),
    /// `C`: the transaction commits.
    Commit(CommitBody),
    /// `O`: the transaction came from another replication origin.
    Origin(OriginBody),
    /// `R`: the layout of a relation, sent before its first change in a session
    /// and again after every schema change.
    Relation(RelationBody),
    /// `Y`: the name of a non-built-in type used by a relation.
    Type(TypeBody),
    /// `I`: a row was inserted.
    Insert(InsertBody),
    /// `U`: a row was updated.
    Update(UpdateBody),
    /// `D`: a row was deleted.
    Delete(DeleteBody),
    /// `T`: one or more relations were truncated.
    Truncate(TruncateBody),
    /// `M`: a message from `pg_logical_emit_message`.
    Message(LogicalMessageBody),
    /// `S`: a block of an in-progress (streamed) transaction starts.
    StreamStart(StreamStartBody),
    /// `E`: the current streamed block ends.
    StreamStop,
    /// `c`: a streamed transaction commits.
    StreamCommit(StreamCommitBody),
    /// `A`: a streamed transaction (or one of its subtransactions) aborts.
    StreamAbort(StreamAbortBody),
}

/// Body of `Begin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeginBody {
    /// LSN of the transaction's commit record.
    pub final_lsn: Lsn,
    /// Commit time.
    pub commit_ts: PgTimestamp,
    /// Transaction id.
    pub xid: u32,
}

/// Body of `Commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitBody {
    /// Flags (currently always 0).
    pub flags: u8,
    /// LSN of the commit record.
    pub commit_lsn: Lsn,
    /// LSN just past the commit record: the position to confirm.
    pub end_lsn: Lsn,
    /// Commit time.
    pub commit_ts: PgTimestamp,
}

/// Body of `Origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginBody {
    /// Commit LSN on the origin server.
    pub commit_lsn: Lsn,
    /// Origin name.
    pub name: String,
}

/// `REPLICA IDENTITY` setting of a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaIdentity {
    /// `d`: the primary key.
    Default,
    /// `n`: nothing.
    Nothing,
    /// `f`: all columns.
    Full,
    /// `i`: the columns of a chosen unique index.
    Index,
}

/// One column of a `Relation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// True when the column is part of the replica identity key.
    pub is_key: bool,
    /// Column name.
    pub name: String,
    /// Type OID.
    pub type_oid: Oid,
    /// Type modifier (`atttypmod`).
    pub type_modifier: i32,
}

/// Body of `Relation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationBody {
    /// Inside a streamed block, the xid of the (sub)transaction that made
    /// this change (see [`Decoder`]); `None` elsewhere.
    pub xid: Option<u32>,
    /// Relation OID.
    pub oid: Oid,
    /// Schema name; empty for `pg_catalog`.
    pub namespace: String,
    /// Table name.
    pub name: String,
    /// Replica identity.
    pub replica_identity: ReplicaIdentity,
    /// Columns in attribute order.
    pub columns: Vec<ColumnInfo>,
}

/// Body of `Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeBody {
    /// Inside a streamed block, the xid of the (sub)transaction that made
    /// this change (see [`Decoder`]); `None` elsewhere.
    pub xid: Option<u32>,
    /// Type OID.
    pub oid: Oid,
    /// Schema of the type; empty for `pg_catalog`.
    pub namespace: String,
    /// Type name (`typname`).
    pub name: String,
}

/// One column value of a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TupleValue {
    /// `n`: SQL NULL.
    Null,
    /// `u`: an unchanged TOASTed value whose bytes the server did not send.
    UnchangedToast,
    /// `t`: the value in text format.
    Text(Bytes),
    /// `b`: the value in binary (send/recv) format.
    Binary(Bytes),
}

/// The column values of one row, in attribute order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleData(pub Vec<TupleValue>);

/// The old image carried by an UPDATE or DELETE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OldTuple {
    /// `K`: only the replica identity key columns are set; others are `Null`.
    Key(TupleData),
    /// `O`: the whole old row (REPLICA IDENTITY FULL).
    Full(TupleData),
}

/// Body of `Insert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertBody {
    /// Inside a streamed block, the xid of the (sub)transaction that made
    /// this change (see [`Decoder`]); `None` elsewhere.
    pub xid: Option<u32>,
    /// Relation OID.
    pub relation: Oid,
    /// The new row.
    pub new: TupleData,
}

/// Body of `Update`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateBody {
    /// Inside a streamed block, the xid of the (sub)transaction that made
    /// this change (see [`Decoder`]); `None` elsewhere.
    pub xid: Option<u32>,
    /// Relation OID.
    pub relation: Oid,
    /// The old key or row, when the server sent one.
    pub old: Option<OldTuple>,
    /// The new row.
    pub new: TupleData,
}

/// Body of `Delete`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteBody {
    /// Inside a streamed block, the xid of the (sub)transaction that made
    /// this change (see [`Decoder`]); `None` elsewhere.
    pub xid: Option<u32>,
    /// Relation OID.
    pub relation: Oid,
    /// The deleted key or row.
    pub old: OldTuple,
}

/// Body of `Truncate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncateBody {
    /// Inside a streamed block, the xid of the (sub)transaction that made
    /// this change (see [`Decoder`]); `None` elsewhere.
    pub xid: Option<u32>,
    /// Option bits: 1 = CASCADE, 2 = RESTART IDENTITY.
    pub options: u8,
    /// The truncated relations.
    pub relations: Vec<Oid>,
}

/// Body of `Message` (`pg_logical_emit_message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalMessageBody {
    /// Inside a streamed block, the xid of the (sub)transaction that made
    /// this change (see [`Decoder`]); `None` elsewhere.
    pub xid: Option<u32>,
    /// True when the message was emitted transactionally.
    pub transactional: bool,
    /// LSN of the message (the end of its WAL record).
    pub lsn: Lsn,
    /// Prefix given by the emitter.
    pub prefix: String,
    /// Content bytes.
    pub content: Bytes,
}

/// Body of `Stream Start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStartBody {
    /// Transaction id of the streamed transaction.
    pub xid: u32,
    /// True for the first block of this transaction.
    pub first_segment: bool,
}

/// Body of `Stream Commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamCommitBody {
    /// Transaction id.
    pub xid: u32,
    /// Flags (currently always 0).
    pub flags: u8,
    /// LSN of the commit record.
    pub commit_lsn: Lsn,
    /// LSN just past the commit record.
    pub end_lsn: Lsn,
    /// Commit time.
    pub commit_ts: PgTimestamp,
}

/// Body of `Stream Abort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamAbortBody {
    /// Top-level transaction id.
    pub xid: u32,
    /// The aborted (sub)transaction; equal to `xid` when the whole
    /// transaction aborted.
    pub subxid: u32,
}

/// Decodes pgoutput messages.
///
/// The only state is whether the previous messages opened a streamed block
/// (`Stream Start` without its `Stream Stop`): inside one, every
/// data message carries an extra leading xid.
///
/// That xid belongs to the (sub)transaction that made the change, which is
/// not always the streamed transaction: rows written after a `SAVEPOINT`
/// carry the subtransaction's own xid, and so does a `Relation` sent for
/// them (observed on PostgreSQL 15). A `Stream Abort` whose `subxid`
/// differs from its `xid` discards exactly the changes that carried that
/// `subxid`; every xid in a block belongs to the transaction named by the
/// block's `Stream Start`.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    in_stream_block: bool,
}

impl Decoder {
    /// A decoder outside any streamed block.
    pub fn new() -> Self {
        Self::default()
    }

    /// True between a `Stream Start` and its `Stream Stop`.
    pub fn in_stream_block(&self) -> bool {
        self.in_stream_block
    }

    /// Decodes one message. `data` is the payload of one XLogData.
    ///
    /// The whole of `data` must be one message: leftover bytes are
    /// [`DecodeError::TrailingBytes`]. On error the stream-block state is
    /// left as it was.
    pub fn decode(&mut self, data: &Bytes) -> Result<Message, DecodeError> {
        let mut r = Reader::new(data.clone());
        let message = match r.u8("message tag")? {
            TAG_BEGIN => Message::Begin(BeginBody {
                final_lsn: r.u64("begin final_lsn")?,
                commit_ts: r.i64("begin commit_ts")?,
                xid: r.u32("begin xid")?,
            }),
            TAG_COMMIT => Message::Commit(CommitBody {
                flags: r.u8("commit flags")?,
                commit_lsn: r.u64("commit commit_lsn")?,
                end_lsn: r.u64("commit end_lsn")?,
                commit_ts: r.i64("commit commit_ts")?,
            }),
            TAG_ORIGIN => Message::Origin(OriginBody {
                commit_lsn: r.u64("origin commit_lsn")?,
                name: r.cstr("origin name")?,
            }),
            TAG_RELATION => Message::Relation(self.relation(&mut r)?),
            TAG_TYPE => Message::Type(TypeBody {
                xid: self.stream_xid(&mut r)?,
                oid: r.u32("type oid")?,
                namespace: r.cstr("type namespace")?,
                name: r.cstr("type name")?,
            }),
            TAG_INSERT => Message::Insert(InsertBody {
                xid: self.stream_xid(&mut r)?,
                relation: r.u32("insert relation")?,
                new: {
                    expect_byte(&mut r, TUPLE_NEW, "insert tuple marker")?;
                    tuple(&mut r)?
                },
            }),
            TAG_UPDATE => Message::Update(self.update(&mut r)?),
            TAG_DELETE => Message::Delete(DeleteBody {
                xid: self.stream_xid(&mut r)?,
                relation: r.u32("delete relation")?,
                old: match r.u8("delete tuple marker")? {
                    TUPLE_KEY => OldTuple::Key(tuple(&mut r)?),
                    TUPLE_OLD => OldTuple::Full(tuple(&mut r)?),
                    value => return Err(invalid("delete tuple marker", value)),
                },
            }),
            TAG_TRUNCATE => Message::Truncate(self.truncate(&mut r)?),
            TAG_MESSAGE => Message::Message(LogicalMessageBody {
                xid: self.stream_xid(&mut r)?,
                transactional: r.u8("message flags")? & MESSAGE_FLAG_TRANSACTIONAL != 0,
                lsn: r.u64("message lsn")?,
                prefix: r.cstr("message prefix")?,
                content: r.len_prefixed("message content")?,
            }),
            TAG_STREAM_START => Message::StreamStart(StreamStartBody {
                xid: r.u32("stream start xid")?,
                first_segment: r.bool("stream start first_segment")?,
            }),
            TAG_STREAM_STOP => Message::StreamStop,
            TAG_STREAM_COMMIT => Message::StreamCommit(StreamCommitBody {
                xid: r.u32("stream commit xid")?,
                flags: r.u8("stream commit flags")?,
                commit_lsn: r.u64("stream commit commit_lsn")?,
                end_lsn: r.u64("stream commit end_lsn")?,
                commit_ts: r.i64("stream commit commit_ts")?,
            }),
            TAG_STREAM_ABORT => Message::StreamAbort(stream_abort(&mut r)?),
            tag => return Err(DecodeError::UnknownTag(tag)),
        };
        r.finish()?;
        match message {
            Message::StreamStart(_) => self.in_stream_block = true,
            Message::StreamStop => self.in_stream_block = false,
            _ => {}
        }
        Ok(message)
    }

    /// Reads the xid that leads a data message inside a streamed block.
    fn stream_xid(&self, r: &mut Reader) -> Result<Option<u32>, DecodeError> {
        if self.in_stream_block {
            r.u32("streamed xid").map(Some)
        } else {
            Ok(None)
        }
    }

    fn relation(&self, r: &mut Reader) -> Result<RelationBody, DecodeError> {
        let xid = self.stream_xid(r)?;
        let oid = r.u32("relation oid")?;
        let namespace = r.cstr("relation namespace")?;
        let name = r.cstr("relation name")?;
        let replica_identity = match r.u8("relation replica identity")? {
            IDENTITY_DEFAULT => ReplicaIdentity::Default,
            IDENTITY_NOTHING => ReplicaIdentity::Nothing,
            IDENTITY_FULL => ReplicaIdentity::Full,
            IDENTITY_INDEX => ReplicaIdentity::Index,
            value => return Err(invalid("relation replica identity", value)),
        };
        let count = r.i16("relation column count")?;
        let count = r.check_count(
            count.into(),
            MIN_RELATION_COLUMN_LEN,
            "relation column count",
        )?;
        let mut columns = Vec::with_capacity(count);
        for _ in 0..count {
            columns.push(ColumnInfo {
                is_key: r.u8("column flags")? & COLUMN_FLAG_KEY != 0,
                name: r.cstr("column name")?,
                type_oid: r.u32("column type oid")?,
                type_modifier: r.i32("column type modifier")?,
            });
        }
        Ok(RelationBody {
            xid,
            oid,
            namespace,
            name,
            replica_identity,
            columns,
        })
    }

    fn update(&self, r: &mut Reader) -> Result<UpdateBody, DecodeError> {
        let xid = self.stream_xid(r)?;
        let relation = r.u32("update relation")?;
        // The old image is optional: the first marker is `K`, `O` or
        // already the `N` of the new tuple.
        let old = match r.u8("update tuple marker")? {
            TUPLE_KEY => Some(OldTuple::Key(tuple(r)?)),
            TUPLE_OLD => Some(OldTuple::Full(tuple(r)?)),
            TUPLE_NEW => None,
            value => return Err(invalid("update tuple marker", value)),
        };
        if old.is_some() {
            expect_byte(r, TUPLE_NEW, "update new tuple marker")?;
        }
        Ok(UpdateBody {
            xid,
            relation,
            old,
            new: tuple(r)?,
        })
    }

    fn truncate(&self, r: &mut Reader) -> Result<TruncateBody, DecodeError> {
        let xid = self.stream_xid(r)?;
        let count = r.i32("truncate relation count")?;
        let options = r.u8("truncate options")?;
        let count = r.check_count(
            count.into(),
            TRUNCATE_RELATION_LEN,
            "truncate relation count",
        )?;
        let mut relations = Vec::with_capacity(count);
        for _ in 0..count {
            relations.push(r.u32("truncate relation")?);
        }
        Ok(TruncateBody {
            xid,
            options,
            relations,
        })
    }
}

/// Reads a TupleData: Int16 column count, then each column's kind and value.
fn tuple(r: &mut Reader) -> Result<TupleData, DecodeError> {
    let count = r.i16("tuple column count")?;
    let count = r.check_count(count.into(), MIN_TUPLE_COLUMN_LEN, "tuple column count")?;
    let mut values = Vec::with_capacity(count);
    for _ in 0..count {
        values.push(match r.u8("tuple column kind")? {
            COLUMN_NULL => TupleValue::Null,
            COLUMN_UNCHANGED_TOAST => TupleValue::UnchangedToast,
            COLUMN_TEXT => TupleValue::Text(r.len_prefixed("text column value")?),
            COLUMN_BINARY => TupleValue::Binary(r.len_prefixed("binary column value")?),
            kind => return Err(DecodeError::UnknownColumnKind(kind)),
        });
    }
    Ok(TupleData(values))
}

/// Reads Stream Abort. Protocol 4 with `streaming 'parallel'` appends the
/// abort LSN and time; walcast never asks for that mode, so when exactly
/// those 16 bytes follow they are accepted and dropped, and any other
/// leftover is [`DecodeError::TrailingBytes`].
fn stream_abort(r: &mut Reader) -> Result<StreamAbortBody, DecodeError> {
    let body = StreamAbortBody {
        xid: r.u32("stream abort xid")?,
        subxid: r.u32("stream abort subxid")?,
    };
    if r.remaining() == STREAM_ABORT_PARALLEL_EXTRA_LEN {
        r.u64("stream abort abort_lsn")?;
        r.i64("stream abort abort_ts")?;
    }
    Ok(body)
}

/// Reads one byte that must equal `expected`.
fn expect_byte(r: &mut Reader, expected: u8, field: &'static str) -> Result<(), DecodeError> {
    match r.u8(field)? {
        value if value == expected => Ok(()),
        value => Err(invalid(field, value)),
    }
}

fn invalid(field: &'static str, value: u8) -> DecodeError {
    DecodeError::InvalidByte { field, value }
}

#[cfg(test)]
mod tests {
    //! Hand-built messages for what the captured fixtures in `tests/` cannot
    //! show: malformed input and fields a PostgreSQL 15 server never sends.

    use super::*;

    fn bytes(parts: &[&[u8]]) -> Bytes {
        Bytes::from(parts.concat())
    }

    fn decode(parts: &[&[u8]]) -> Result<Message, DecodeError> {
        Decoder::new().decode(&bytes(parts))
    }

    #[test]
    fn origin() {
        let message = decode(&[b"O", &0xABCDEFu64.to_be_bytes(), b"upstream\0"]);
        assert_eq!(
            message,
            Ok(Message::Origin(OriginBody {
                commit_lsn: 0xABCDEF,
                name: "upstream".into(),
            }))
        );
    }

    #[test]
    fn stream_abort_accepts_the_protocol_4_abort_position() {
        let expected = Ok(Message::StreamAbort(StreamAbortBody { xid: 7, subxid: 9 }));
        let ids: &[u8] = &[0, 0, 0, 7, 0, 0, 0, 9];
        assert_eq!(decode(&[b"A", ids]), expected);
        assert_eq!(decode(&[b"A", ids, &[0; 16]]), expected);
        assert_eq!(
            decode(&[b"A", ids, &[0; 8]]),
            Err(DecodeError::TrailingBytes(8))
        );
        assert_eq!(
            decode(&[b"A", ids, &[0; 17]]),
            Err(DecodeError::TrailingBytes(17))
        );
    }

    #[test]
    fn stream_block_adds_a_leading_xid_to_data_messages() {
        let insert = bytes(&[b"I", &[0, 0, 0, 5], b"N", &[0, 1], b"n"]);
        let streamed_insert = bytes(&[b"I", &[0, 0, 2, 0], &[0, 0, 0, 5], b"N", &[0, 1], b"n"]);
        let mut decoder = Decoder::new();

        let outside = decoder.decode(&insert);
        assert!(matches!(
            outside,
            Ok(Message::Insert(InsertBody {
                xid: None,
                relation: 5,
                ..
            }))
        ));
        assert!(decoder.decode(&streamed_insert).is_err());

        let start = decoder.decode(&bytes(&[b"S", &[0, 0, 2, 0], &[1]]));
        assert_eq!(
            start,
            Ok(Message::StreamStart(StreamStartBody {
                xid: 0x200,
                first_segment: true,
            }))
        );
        assert!(decoder.in_stream_block());
        let inside = decoder.decode(&streamed_insert);
        assert!(matches!(
            inside,
            Ok(Message::Insert(InsertBody {
                xid: Some(0x200),
                relation: 5,
                ..
            }))
        ));
        assert!(decoder.decode(&insert).is_err());

        assert_eq!(decoder.decode(&bytes(&[b"E"])), Ok(Message::StreamStop));
        assert!(!decoder.in_stream_block());
        assert!(decoder.decode(&insert).is_ok());
    }

    #[test]
    fn failed_stream_markers_leave_the_state_alone() {
        let mut decoder = Decoder::new();
        assert_eq!(
            decoder.decode(&bytes(&[b"S", &[0, 0, 0, 1], &[1], &[0]])),
            Err(DecodeError::TrailingBytes(1))
        );
        assert!(!decoder.in_stream_block());
        assert!(decoder.decode(&bytes(&[b"S", &[0, 0, 0, 1], &[0]])).is_ok());
        assert_eq!(
            decoder.decode(&bytes(&[b"E", &[0]])),
            Err(DecodeError::TrailingBytes(1))
        );
        assert!(decoder.in_stream_block());
    }

    #[test]
    fn rejects_unknown_tags_kinds_and_markers() {
        assert_eq!(decode(&[]), Err(DecodeError::UnexpectedEof("message tag")));
        assert_eq!(decode(&[b"P"]), Err(DecodeError::UnknownTag(b'P')));
        assert_eq!(
            decode(&[b"I", &[0, 0, 0, 5], b"N", &[0, 1], b"x"]),
            Err(DecodeError::UnknownColumnKind(b'x'))
        );
        assert_eq!(
            decode(&[b"I", &[0, 0, 0, 5], b"K", &[0, 0]]),
            Err(DecodeError::InvalidByte {
                field: "insert tuple marker",
                value: b'K'
            })
        );
        assert_eq!(
            decode(&[b"U", &[0, 0, 0, 5], b"K", &[0, 0], b"K", &[0, 0]]),
            Err(DecodeError::InvalidByte {
                field: "update new tuple marker",
                value: b'K'
            })
        );
        assert_eq!(
            decode(&[b"D", &[0, 0, 0, 5], b"N", &[0, 0]]),
            Err(DecodeError::InvalidByte {
                field: "delete tuple marker",
                value: b'N'
            })
        );
        assert_eq!(
            decode(&[b"R", &[0, 0, 0, 5], b"public\0t\0", b"x", &[0, 0]]),
            Err(DecodeError::InvalidByte {
                field: "relation replica identity",
                value: b'x'
            })
        );
        assert_eq!(
            decode(&[b"S", &[0, 0, 0, 1], &[2]]),
            Err(DecodeError::InvalidByte {
                field: "stream start first_segment",
                value: 2
            })
        );
    }

    #[test]
    fn rejects_counts_the_input_cannot_hold() {
        // 30000 columns announced, 5 bytes left: refused before allocating.
        assert_eq!(
            decode(&[b"I", &[0, 0, 0, 5], b"N", &30000i16.to_be_bytes(), b"nnnnn"]),
            Err(DecodeError::InvalidLength {
                field: "tuple column count",
                len: 30000
            })
        );
        assert_eq!(
            decode(&[b"I", &[0, 0, 0, 5], b"N", &(-1i16).to_be_bytes()]),
            Err(DecodeError::InvalidLength {
                field: "tuple column count",
                len: -1
            })
        );
        assert_eq!(
            decode(&[
                b"I",
                &[0, 0, 0, 5],
                b"N",
                &[0, 1],
                b"t",
                &[0x7f, 0xff, 0xff, 0xff]
            ]),
            Err(DecodeError::InvalidLength {
                field: "text column value",
                len: i64::from(i32::MAX)
            })
        );
        assert_eq!(
            decode(&[b"T", &i32::MIN.to_be_bytes(), &[0]]),
            Err(DecodeError::InvalidLength {
                field: "truncate relation count",
                len: i64::from(i32::MIN)
            })
        );
        assert_eq!(
            decode(&[
                b"R",
                &[0, 0, 0, 5],
                b"public\0t\0d",
                &[0, 2],
                &[1, b'a', 0],
                &[0; 8]
            ]),
            Err(DecodeError::InvalidLength {
                field: "relation column count",
                len: 2
            })
        );
    }

    #[test]
    fn rejects_trailing_bytes() {
        assert_eq!(
            decode(&[b"I", &[0, 0, 0, 5], b"N", &[0, 1], b"n", &[0, 0]]),
            Err(DecodeError::TrailingBytes(2))
        );
        assert_eq!(
            decode(&[b"M", &[1], &[0; 8], b"p\0", &[0, 0, 0, 1], b"xy"]),
            Err(DecodeError::TrailingBytes(1))
        );
    }
}
