//! The walsender's CopyData envelope: XLogData (`w`), primary keepalive
//! (`k`), and the standby status update (`r`) the client sends back.
//!
//! After `START_REPLICATION … LOGICAL`, every CopyData payload from the
//! server is one of the two messages decoded here; the pgoutput message is
//! the tail of an XLogData and is handed on, uncopied, to
//! [`Decoder`](crate::Decoder). Layouts:
//! <https://www.postgresql.org/docs/current/protocol-replication.html>.

use bytes::Bytes;

use crate::reader::Reader;
use crate::{DecodeError, Lsn, PgTimestamp};

const TAG_XLOG_DATA: u8 = b'w';
const TAG_KEEPALIVE: u8 = b'k';
const TAG_STANDBY_STATUS_UPDATE: u8 = b'r';

/// Microseconds between 1970-01-01 and 2000-01-01 (PostgreSQL's epoch).
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// One CopyData payload from the server during `START_REPLICATION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicationMessage {
    /// `w`: WAL data, here one pgoutput message.
    XLogData(XLogData),
    /// `k`: the server's keepalive.
    KeepAlive(KeepAlive),
}

/// Body of XLogData.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XLogData {
    /// Start of the WAL data (0 for non-final writes in logical mode).
    pub wal_start: Lsn,
    /// Current end of WAL on the server.
    pub wal_end: Lsn,
    /// Server clock at transmission.
    pub send_time: PgTimestamp,
    /// The pgoutput message.
    pub data: Bytes,
}

/// Body of a primary keepalive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// The server's current end of WAL (its sent position).
    pub wal_end: Lsn,
    /// Server clock at transmission.
    pub send_time: PgTimestamp,
    /// The server asks for a status update now, or it will time us out.
    pub reply_requested: bool,
}

/// Decodes one CopyData payload.
///
/// XLogData's `data` is everything after its header, as a slice of
/// `payload`; a keepalive must be exactly its 17 bytes after the tag.
pub fn decode_envelope(payload: Bytes) -> Result<ReplicationMessage, DecodeError> {
    let mut r = Reader::new(payload);
    match r.u8("envelope tag")? {
        TAG_XLOG_DATA => Ok(ReplicationMessage::XLogData(XLogData {
            wal_start: r.u64("xlogdata wal_start")?,
            wal_end: r.u64("xlogdata wal_end")?,
            send_time: r.i64("xlogdata send_time")?,
            data: r.into_rest(),
        })),
        TAG_KEEPALIVE => {
            let keepalive = KeepAlive {
                wal_end: r.u64("keepalive wal_end")?,
                send_time: r.i64("keepalive send_time")?,
                reply_requested: r.bool("keepalive reply_requested")?,
            };
            r.finish()?;
            Ok(ReplicationMessage::KeepAlive(keepalive))
        }
        tag => Err(DecodeError::UnknownTag(tag)),
    }
}

/// Encodes a standby status update (`r`) into `out`: the CopyData payload,
/// without the CopyData framing.
pub fn encode_standby_status_update(
    out: &mut Vec<u8>,
    write: Lsn,
    flush: Lsn,
    apply: Lsn,
    now: PgTimestamp,
    reply_requested: bool,
) {
    out.push(TAG_STANDBY_STATUS_UPDATE);
    out.extend_from_slice(&write.to_be_bytes());
    out.extend_from_slice(&flush.to_be_bytes());
    out.extend_from_slice(&apply.to_be_bytes());
    out.extend_from_slice(&now.to_be_bytes());
    out.push(u8::from(reply_requested));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(parts: &[&[u8]]) -> Bytes {
        Bytes::from(parts.concat())
    }

    #[test]
    fn xlogdata_carries_the_rest_as_data() {
        let message = decode_envelope(payload(&[
            b"w",
            &0x0100u64.to_be_bytes(),
            &0x0200u64.to_be_bytes(),
            &(-5i64).to_be_bytes(),
            b"E",
        ]));
        assert_eq!(
            message,
            Ok(ReplicationMessage::XLogData(XLogData {
                wal_start: 0x100,
                wal_end: 0x200,
                send_time: -5,
                data: Bytes::from_static(b"E"),
            }))
        );
    }

    #[test]
    fn keepalive() {
        let body: &[u8] = &[0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        assert_eq!(
            decode_envelope(payload(&[b"k", body, &[1]])),
            Ok(ReplicationMessage::KeepAlive(KeepAlive {
                wal_end: 0x100,
                send_time: 9,
                reply_requested: true,
            }))
        );
        assert_eq!(
            decode_envelope(payload(&[b"k", body, &[1, 0]])),
            Err(DecodeError::TrailingBytes(1))
        );
        assert_eq!(
            decode_envelope(payload(&[b"k", body])),
            Err(DecodeError::UnexpectedEof("keepalive reply_requested"))
        );
        assert_eq!(
            decode_envelope(payload(&[b"k", body, &[7]])),
            Err(DecodeError::InvalidByte {
                field: "keepalive reply_requested",
                value: 7
            })
        );
    }

    #[test]
    fn rejects_short_and_unknown_payloads() {
        assert_eq!(
            decode_envelope(Bytes::new()),
            Err(DecodeError::UnexpectedEof("envelope tag"))
        );
        assert_eq!(
            decode_envelope(payload(&[b"w", &[0; 23]])),
            Err(DecodeError::UnexpectedEof("xlogdata send_time"))
        );
        assert_eq!(
            decode_envelope(payload(&[b"r", &[0; 33]])),
            Err(DecodeError::UnknownTag(b'r'))
        );
    }

    #[test]
    fn standby_status_update_layout() {
        let mut out = Vec::new();
        encode_standby_status_update(&mut out, 1, 2, 3, 4, true);
        let mut expected = vec![b'r'];
        for value in [1u64, 2, 3, 4] {
            expected.extend_from_slice(&value.to_be_bytes());
        }
        expected.push(1);
        assert_eq!(out, expected);
    }
}
