//! vsn 2.0.0 binary broadcast frames (Supabase's `V2Serializer`).
//!
//! Client → server, kind 3, user broadcast push: what realtime-js sends for
//! every `channel.send({type:'broadcast', …})` on a vsn 2.0.0 socket.
//!
//! ```text
//!  0      1            2        3          4               5              6
//! ┌──────┬────────────┬────────┬──────────┬───────────────┬──────────────┬──────────────────┐
//! │ 3    │ join_ref_len│ ref_len│ topic_len│ user_event_len│ metadata_len │ payload_encoding │
//! └──────┴────────────┴────────┴──────────┴───────────────┴──────────────┴──────────────────┘
//!   join_ref │ ref │ topic │ user_event │ metadata (JSON object, usually empty) │ payload (rest)
//! ```
//!
//! Server → client, kind 4, user broadcast: the only binary kind realtime-js
//! decodes (any other kind makes it throw).
//!
//! ```text
//!  0      1          2               3             4
//! ┌──────┬──────────┬───────────────┬─────────────┬──────────────────┐
//! │ 4    │ topic_len│ user_event_len│ metadata_len│ payload_encoding │
//! └──────┴──────────┴───────────────┴─────────────┴──────────────────┘
//!   topic │ user_event │ metadata (JSON object or empty) │ payload (rest)
//! ```
//!
//! Every length is one byte, so each string is at most 255 bytes. Payload
//! encoding 0 is opaque bytes, 1 is JSON text. realtime-js writes `null`
//! refs as empty strings; we read empty refs back as `None`.

use bytes::{BufMut, Bytes, BytesMut};

use super::broadcast::{UserBroadcastPush, UserPayload};
use super::client::FrameHeader;
use super::error::{DecodeError, EncodeError, PayloadError};
use super::raw_json::RawJson;

/// Kind byte of a client's user broadcast push.
pub const KIND_USER_BROADCAST_PUSH: u8 = 3;
/// Kind byte of a server's user broadcast.
pub const KIND_USER_BROADCAST: u8 = 4;
/// Payload encoding byte: opaque bytes.
pub const ENCODING_BINARY: u8 = 0;
/// Payload encoding byte: JSON text.
pub const ENCODING_JSON: u8 = 1;

const PUSH_HEADER_LEN: usize = 7;
const BROADCAST_HEADER_LEN: usize = 5;

/// Decodes a kind-3 frame into its header and broadcast. Payload problems
/// (bad JSON, bad metadata) keep the header so an ack can still be sent.
pub(crate) fn decode_user_broadcast_push(
    frame: &Bytes,
) -> Result<(FrameHeader, UserBroadcastPush), DecodeError> {
    let kind = *frame.first().ok_or(DecodeError::EmptyBinary)?;
    if kind != KIND_USER_BROADCAST_PUSH {
        return Err(DecodeError::UnsupportedBinaryKind(kind));
    }
    let head = frame
        .get(..PUSH_HEADER_LEN)
        .ok_or(DecodeError::Truncated("header"))?;
    let (join_ref_len, ref_len, topic_len, event_len, metadata_len, encoding) = (
        usize::from(head[1]),
        usize::from(head[2]),
        usize::from(head[3]),
        usize::from(head[4]),
        usize::from(head[5]),
        head[6],
    );

    let mut cursor = Cursor {
        frame,
        at: PUSH_HEADER_LEN,
    };
    let join_ref = cursor.text(join_ref_len, "join_ref")?;
    let reference = cursor.text(ref_len, "ref")?;
    let topic = cursor.text(topic_len, "topic")?;
    let event = cursor.text(event_len, "user_event")?;
    let metadata = cursor.take(metadata_len, "metadata")?;
    let payload = frame.slice(cursor.at..);

    let header = FrameHeader {
        join_ref: Some(join_ref).filter(|r| !r.is_empty()),
        reference: Some(reference).filter(|r| !r.is_empty()),
        topic,
    };
    let fail = |header: FrameHeader, problem| DecodeError::Payload {
        header,
        event: super::names::BROADCAST.to_owned(),
        problem,
    };
    let metadata = if metadata.is_empty() {
        None
    } else {
        match RawJson::parse(metadata) {
            Ok(meta) if meta.is_object() => Some(meta),
            _ => return Err(fail(header, PayloadError::InvalidMetadata)),
        }
    };
    let payload = match encoding {
        ENCODING_BINARY => UserPayload::Binary(payload),
        ENCODING_JSON => match RawJson::parse(payload) {
            Ok(json) => UserPayload::Json(json),
            Err(err) => return Err(fail(header, PayloadError::InvalidJson(err))),
        },
        other => return Err(fail(header, PayloadError::UnknownEncoding(other))),
    };
    Ok((
        header,
        UserBroadcastPush {
            event,
            metadata,
            payload,
        },
    ))
}

/// Encodes a kind-4 frame.
pub fn encode_user_broadcast(
    topic: &str,
    event: &str,
    meta: Option<&RawJson>,
    payload: &UserPayload,
) -> Result<Bytes, EncodeError> {
    let meta = meta.map_or(&[][..], RawJson::as_bytes);
    let (encoding, body) = match payload {
        UserPayload::Binary(bytes) => (ENCODING_BINARY, &bytes[..]),
        UserPayload::Json(json) => (ENCODING_JSON, json.as_bytes()),
    };
    let topic_len = length_byte("topic", topic.len())?;
    let event_len = length_byte("user_event", event.len())?;
    let meta_len = length_byte("metadata", meta.len())?;

    let mut out = BytesMut::with_capacity(
        BROADCAST_HEADER_LEN + topic.len() + event.len() + meta.len() + body.len(),
    );
    out.put_u8(KIND_USER_BROADCAST);
    out.put_u8(topic_len);
    out.put_u8(event_len);
    out.put_u8(meta_len);
    out.put_u8(encoding);
    out.put_slice(topic.as_bytes());
    out.put_slice(event.as_bytes());
    out.put_slice(meta);
    out.put_slice(body);
    Ok(out.freeze())
}

/// Checks that a kind-4 frame for these fields can be built.
pub(crate) fn check_user_broadcast(
    topic: &str,
    event: &str,
    meta: Option<&RawJson>,
) -> Result<(), EncodeError> {
    length_byte("topic", topic.len())?;
    length_byte("user_event", event.len())?;
    length_byte("metadata", meta.map_or(0, |m| m.as_bytes().len()))?;
    Ok(())
}

fn length_byte(field: &'static str, len: usize) -> Result<u8, EncodeError> {
    u8::try_from(len).map_err(|_| EncodeError::FieldTooLong { field, len })
}

struct Cursor<'a> {
    frame: &'a Bytes,
    at: usize,
}

impl Cursor<'_> {
    fn take(&mut self, len: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        let end = self.at + len;
        if end > self.frame.len() {
            return Err(DecodeError::Truncated(field));
        }
        let bytes = self.frame.slice(self.at..end);
        self.at = end;
        Ok(bytes)
    }

    fn text(&mut self, len: usize, field: &'static str) -> Result<String, DecodeError> {
        let bytes = self.take(len, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a kind-3 frame the way realtime-js's serializer does.
    fn push(
        join_ref: &str,
        r: &str,
        topic: &str,
        event: &str,
        meta: &str,
        enc: u8,
        payload: &[u8],
    ) -> Bytes {
        let mut out = vec![
            3,
            join_ref.len() as u8,
            r.len() as u8,
            topic.len() as u8,
            event.len() as u8,
            meta.len() as u8,
            enc,
        ];
        for part in [join_ref, r, topic, event, meta] {
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(payload);
        Bytes::from(out)
    }

    #[test]
    fn decodes_the_observed_36_byte_frame() {
        let mut bytes = vec![3, 1, 1, 14, 6, 0, 1];
        bytes.extend_from_slice(b"67realtime:room1cursor{\"x\":1}");
        assert_eq!(bytes.len(), 36);
        let (header, push) =
            decode_user_broadcast_push(&Bytes::from(bytes)).expect("test frame is valid");
        assert_eq!(header.join_ref.as_deref(), Some("6"));
        assert_eq!(header.reference.as_deref(), Some("7"));
        assert_eq!(header.topic, "realtime:room1");
        assert_eq!(push.event, "cursor");
        assert!(push.metadata.is_none());
        let UserPayload::Json(json) = push.payload else {
            panic!("json payload expected");
        };
        assert_eq!(json.as_bytes(), br#"{"x":1}"#);
    }

    #[test]
    fn decodes_binary_payloads_metadata_and_empty_refs() {
        let frame = push(
            "",
            "",
            "realtime:r",
            "blob",
            r#"{"id":"a"}"#,
            0,
            &[0, 159, 255],
        );
        let (header, push) = decode_user_broadcast_push(&frame).expect("test frame is valid");
        assert_eq!((header.join_ref, header.reference), (None, None));
        assert_eq!(
            push.metadata.expect("test frame is valid").as_bytes(),
            br#"{"id":"a"}"#
        );
        assert_eq!(
            push.payload,
            UserPayload::Binary(Bytes::from_static(&[0, 159, 255]))
        );

        let (_, empty) =
            decode_user_broadcast_push(&push_frame_empty_payload()).expect("test frame is valid");
        assert_eq!(empty.payload, UserPayload::Binary(Bytes::new()));
    }

    fn push_frame_empty_payload() -> Bytes {
        push("1", "2", "realtime:r", "e", "", 0, b"")
    }

    #[test]
    fn rejects_malformed_frames() {
        type Expect = fn(&DecodeError) -> bool;
        let cases: Vec<(Bytes, Expect)> = vec![
            (Bytes::new(), |e| matches!(e, DecodeError::EmptyBinary)),
            (Bytes::from_static(&[4, 0, 0, 0, 1]), |e| {
                matches!(e, DecodeError::UnsupportedBinaryKind(4))
            }),
            (Bytes::from_static(&[0, 1, 1, 1, 1]), |e| {
                matches!(e, DecodeError::UnsupportedBinaryKind(0))
            }),
            (Bytes::from_static(&[3, 1, 1, 1]), |e| {
                matches!(e, DecodeError::Truncated("header"))
            }),
            (
                Bytes::from_static(&[3, 1, 1, 14, 6, 0, 1, b'6', b'7', b'r']),
                |e| matches!(e, DecodeError::Truncated("topic")),
            ),
            (
                Bytes::from_static(&[3, 0, 0, 1, 0, 0, 1, 0xff, b'1']),
                |e| matches!(e, DecodeError::NotUtf8("topic")),
            ),
            (push("1", "2", "t", "e", "", 1, b"{\"x\":"), |e| {
                matches!(
                    e,
                    DecodeError::Payload {
                        problem: PayloadError::InvalidJson(_),
                        ..
                    }
                )
            }),
            (push("1", "2", "t", "e", "[1]", 1, b"{}"), |e| {
                matches!(
                    e,
                    DecodeError::Payload {
                        problem: PayloadError::InvalidMetadata,
                        ..
                    }
                )
            }),
            (push("1", "2", "t", "e", "", 2, b"{}"), |e| {
                matches!(
                    e,
                    DecodeError::Payload {
                        problem: PayloadError::UnknownEncoding(2),
                        ..
                    }
                )
            }),
        ];
        for (frame, expected) in cases {
            match decode_user_broadcast_push(&frame) {
                Err(err) => assert!(expected(&err), "{frame:?}: {err:?}"),
                Ok(ok) => panic!("{frame:?} decoded to {ok:?}"),
            }
        }
    }

    #[test]
    fn payload_errors_keep_the_header_for_the_ack() {
        let frame = push("12", "13", "realtime:r", "e", "", 1, b"nope");
        let Err(DecodeError::Payload { header, event, .. }) = decode_user_broadcast_push(&frame)
        else {
            panic!("payload error expected");
        };
        assert_eq!(header.reference.as_deref(), Some("13"));
        assert_eq!(event, "broadcast");
    }

    #[test]
    fn encodes_kind_4_as_realtime_js_reads_it() {
        let meta =
            RawJson::parse(Bytes::from_static(br#"{"id":"u"}"#)).expect("test frame is valid");
        let payload = UserPayload::Json(
            RawJson::parse(Bytes::from_static(br#"{"x":1}"#)).expect("test frame is valid"),
        );
        let frame = encode_user_broadcast("realtime:room1", "cursor", Some(&meta), &payload)
            .expect("test frame is valid");
        let mut expected = vec![4, 14, 6, 10, 1];
        expected.extend_from_slice(br#"realtime:room1cursor{"id":"u"}{"x":1}"#);
        assert_eq!(&frame[..], &expected[..]);

        let bin = encode_user_broadcast(
            "t",
            "e",
            None,
            &UserPayload::Binary(Bytes::from_static(&[9])),
        )
        .expect("test frame is valid");
        assert_eq!(&bin[..], &[4, 1, 1, 0, 0, b't', b'e', 9]);

        let long = "x".repeat(256);
        assert_eq!(
            encode_user_broadcast(&long, "e", None, &payload),
            Err(EncodeError::FieldTooLong {
                field: "topic",
                len: 256
            })
        );
        assert!(check_user_broadcast("t", &long, None).is_err());
        assert!(check_user_broadcast("t", "e", Some(&meta)).is_ok());
    }
}
