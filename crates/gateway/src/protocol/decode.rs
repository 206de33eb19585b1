//! Client frames → [`ClientFrame`], for the socket's vsn.
//!
//! ```text
//!  text  vsn 1.0.0  {"topic":T,"event":E,"payload":P,"ref":R,"join_ref":J?} ─┐
//!  text  vsn 2.0.0  [J,R,T,E,P]                                              ├─▶ FrameHeader + ClientEvent::from_text(E, P)
//!  binary vsn 2.0.0 kind 3 (binary.rs)                                       ──▶ FrameHeader + ClientEvent::Broadcast
//! ```
//!
//! Decoding is total: any byte string yields a frame or a [`DecodeError`],
//! never a panic, and nothing read from the wire sizes an allocation beyond
//! the frame's own length. Payloads that are kept are zero-copy slices of the
//! frame.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::binary;
use super::broadcast::BroadcastPush;
use super::client::{ClientEvent, ClientFrame, FrameHeader};
use super::error::DecodeError;
use super::vsn::Vsn;

/// Supabase's endpoint limit (`max_frame_size: 5_000_000`).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 5_000_000;

/// Decodes the frames of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    vsn: Vsn,
    max_frame_bytes: usize,
}

impl FrameDecoder {
    /// A decoder for a socket of `vsn` with the default frame limit.
    pub fn new(vsn: Vsn) -> Self {
        Self {
            vsn,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }

    /// Changes the largest frame accepted.
    pub fn with_max_frame_bytes(self, max_frame_bytes: usize) -> Self {
        Self {
            max_frame_bytes,
            ..self
        }
    }

    /// The socket's vsn.
    pub fn vsn(&self) -> Vsn {
        self.vsn
    }

    /// Decodes a WebSocket text frame.
    pub fn decode_text(&self, frame: Bytes) -> Result<ClientFrame, DecodeError> {
        self.check_len(&frame)?;
        let text = std::str::from_utf8(&frame).map_err(|_| DecodeError::NotUtf8("text frame"))?;
        let (header, event, payload) = match self.vsn {
            Vsn::V1 => decode_v1(text)?,
            Vsn::V2 => decode_v2(text)?,
        };
        let event = ClientEvent::from_text(&header, &event, payload, &frame)?;
        Ok(ClientFrame { header, event })
    }

    /// Decodes a WebSocket binary frame: only vsn 2.0.0 user broadcast
    /// pushes (kind 3) are accepted.
    pub fn decode_binary(&self, frame: Bytes) -> Result<ClientFrame, DecodeError> {
        if self.vsn == Vsn::V1 {
            return Err(DecodeError::BinaryOnV1);
        }
        self.check_len(&frame)?;
        let (header, push) = binary::decode_user_broadcast_push(&frame)?;
        Ok(ClientFrame {
            header,
            event: ClientEvent::Broadcast(BroadcastPush::User(push)),
        })
    }

    fn check_len(&self, frame: &Bytes) -> Result<(), DecodeError> {
        if frame.len() > self.max_frame_bytes {
            return Err(DecodeError::TooLarge {
                len: frame.len(),
                max: self.max_frame_bytes,
            });
        }
        Ok(())
    }
}

type Envelope<'a> = (FrameHeader, String, &'a RawValue);

/// Phoenix's V1 serializer requires `topic`, `event` and `payload`; `ref`
/// may be null and `join_ref` absent. We also accept a missing `ref`.
fn decode_v1(text: &str) -> Result<Envelope<'_>, DecodeError> {
    #[derive(Deserialize)]
    struct V1<'a> {
        topic: String,
        event: String,
        #[serde(borrow)]
        payload: &'a RawValue,
        #[serde(rename = "ref", default)]
        reference: Option<String>,
        #[serde(default)]
        join_ref: Option<String>,
    }
    let fail = |err| DecodeError::from_envelope(Vsn::V1, text, err);
    let message: V1<'_> = serde_json::from_str(text).map_err(fail)?;
    // Derived structs also accept arrays; vsn 1.0.0 frames are objects.
    if !text.trim_start().starts_with('{') {
        return Err(fail(shape_error("expected a json object")));
    }
    Ok((
        FrameHeader {
            join_ref: message.join_ref,
            reference: message.reference,
            topic: message.topic,
        },
        message.event,
        message.payload,
    ))
}

/// `[join_ref, ref, topic, event, payload]`; like Supabase's
/// `V2Serializer`, elements after the fifth are ignored.
fn decode_v2(text: &str) -> Result<Envelope<'_>, DecodeError> {
    serde_json::from_str::<V2Envelope<'_>>(text)
        .map(|V2Envelope(envelope)| envelope)
        .map_err(|err| DecodeError::from_envelope(Vsn::V2, text, err))
}

struct V2Envelope<'a>(Envelope<'a>);

impl<'de> Deserialize<'de> for V2Envelope<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(V2Visitor)
    }
}

struct V2Visitor;

impl<'de> serde::de::Visitor<'de> for V2Visitor {
    type Value = V2Envelope<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[join_ref, ref, topic, event, payload]")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let missing = |i| A::Error::invalid_length(i, &self);
        let join_ref = seq
            .next_element::<Option<String>>()?
            .ok_or_else(|| missing(0))?;
        let reference = seq
            .next_element::<Option<String>>()?
            .ok_or_else(|| missing(1))?;
        let topic = seq.next_element::<String>()?.ok_or_else(|| missing(2))?;
        let event = seq.next_element::<String>()?.ok_or_else(|| missing(3))?;
        let payload = seq
            .next_element::<&'de RawValue>()?
            .ok_or_else(|| missing(4))?;
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(V2Envelope((
            FrameHeader {
                join_ref,
                reference,
                topic,
            },
            event,
            payload,
        )))
    }
}

fn shape_error(msg: &'static str) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(msg)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
