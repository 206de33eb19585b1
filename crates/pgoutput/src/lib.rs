//! Pure decoders for what a walsender sends in logical replication mode.
//!
//! ```text
//!  CopyData payload ──decode_envelope──▶ XLogData { wal_start, wal_end, data } | KeepAlive
//!                                            │
//!                                            └─ data ──Decoder::decode──▶ Message (Begin, Relation, Insert, …)
//! ```
//!
//! No I/O and no panics: every input, however malformed, yields a
//! [`DecodeError`]. Values are zero-copy slices ([`Bytes`](bytes::Bytes)) of
//! the input, and no count read from the wire can size an allocation beyond
//! what the input could hold.
//! The decoder covers pgoutput protocol versions 1 and 2 (streaming of
//! in-progress transactions). The only state it keeps is whether it is
//! inside a Stream Start / Stream Stop block, because messages there carry an
//! extra xid field.
//!
//! Formats: <https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html>
//! and <https://www.postgresql.org/docs/current/protocol-replication.html>.

mod envelope;
mod message;
mod reader;

pub use envelope::{
    KeepAlive, PG_EPOCH_OFFSET_MICROS, ReplicationMessage, XLogData, decode_envelope,
    encode_standby_status_update,
};
pub use message::{
    BeginBody, ColumnInfo, CommitBody, Decoder, DeleteBody, InsertBody, LogicalMessageBody,
    Message, OldTuple, OriginBody, RelationBody, ReplicaIdentity, StreamAbortBody,
    StreamCommitBody, StreamStartBody, TruncateBody, TupleData, TupleValue, TypeBody, UpdateBody,
};

/// A log sequence number: a byte position in the write-ahead log.
pub type Lsn = u64;

/// Microseconds since 2000-01-01 00:00:00 UTC, PostgreSQL's timestamp epoch.
pub type PgTimestamp = i64;

/// An object identifier (relation or type OID).
pub type Oid = u32;

/// Why a byte string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the field named here could be read.
    #[error("unexpected end of input reading {0}")]
    UnexpectedEof(&'static str),
    /// The first byte names no message this decoder knows.
    #[error("unknown message tag {0:#04x}")]
    UnknownTag(u8),
    /// A tuple column starts with a kind byte other than `n`, `u`, `t`, `b`.
    #[error("unknown tuple column kind {0:#04x}")]
    UnknownColumnKind(u8),
    /// A field holds a value outside its allowed set (for example an
    /// UPDATE's old-tuple marker that is neither `K` nor `O`).
    #[error("invalid {field}: {value:#04x}")]
    InvalidByte {
        /// The field being read.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// A count or length is negative or larger than the remaining input.
    #[error("invalid length {len} for {field}")]
    InvalidLength {
        /// The field being read.
        field: &'static str,
        /// The length found.
        len: i64,
    },
    /// A string is not NUL-terminated or not UTF-8.
    #[error("invalid string in {0}")]
    InvalidString(&'static str),
    /// Bytes were left over after a complete message.
    #[error("{0} trailing bytes after message")]
    TrailingBytes(usize),
}
