//! Why a client frame could not be decoded, or a server frame encoded.
//!
//! The codec never decides what to tell the client. It sorts failures by
//! what the session can still do: [`DecodeError::Payload`] keeps the frame's
//! header so the session can answer that `ref` (for example with an error
//! reply); every other decode error means the frame is garbage, and the
//! session's policy (ignore, or close the socket) applies.

use super::client::FrameHeader;
use super::vsn::Vsn;

/// A client frame the codec rejected.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame is larger than the decoder's limit.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the frame.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A text frame that is not UTF-8 JSON.
    #[error("frame is not valid json")]
    InvalidJson(#[source] serde_json::Error),
    /// Valid JSON, but not a Phoenix message of the socket's vsn (wrong
    /// container, missing or mistyped `topic`/`event`/`ref`/`join_ref`).
    #[error("frame is not a vsn {vsn} message")]
    WrongShape {
        /// The socket's vsn.
        vsn: Vsn,
        /// What serde_json found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// vsn 1.0.0 has no binary frames.
    #[error("binary frame on a vsn 1.0.0 socket")]
    BinaryOnV1,
    /// A binary frame with no bytes at all.
    #[error("empty binary frame")]
    EmptyBinary,
    /// A binary frame of a kind clients may not send (only kind 3,
    /// user broadcast push, is accepted).
    #[error("unsupported binary frame kind {0}")]
    UnsupportedBinaryKind(u8),
    /// The binary frame ended inside the named field.
    #[error("binary frame truncated in {0}")]
    Truncated(&'static str),
    /// A binary header string that is not UTF-8.
    #[error("binary frame field {0} is not utf-8")]
    NotUtf8(&'static str),
    /// The envelope is fine but the payload is unusable for its event.
    #[error("invalid {event} payload: {problem}")]
    Payload {
        /// The frame's `join_ref`, `ref` and `topic`, for a reply.
        header: FrameHeader,
        /// The event whose payload failed.
        event: String,
        /// What is wrong with it.
        problem: PayloadError,
    },
}

/// What is wrong with the payload of an otherwise well-formed frame.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The payload must be a JSON object for this event.
    #[error("expected an object")]
    NotAnObject,
    /// The payload does not have the shape this event needs (duplicate
    /// keys, nesting beyond serde_json's depth limit, …).
    #[error("unexpected payload shape")]
    Shape(#[source] serde_json::Error),
    /// An element of `config.postgres_changes` is neither an object nor null.
    #[error("postgres_changes[{0}] is not an object")]
    BindingNotAnObject(usize),
    /// The binary frame's payload encoding byte is neither 0 nor 1.
    #[error("unknown payload encoding {0}")]
    UnknownEncoding(u8),
    /// A binary frame's JSON payload does not parse.
    #[error("payload is not valid json")]
    InvalidJson(#[source] serde_json::Error),
    /// A binary frame's metadata is not a JSON object.
    #[error("metadata is not a json object")]
    InvalidMetadata,
}

/// A server frame that cannot be represented.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A binary broadcast frame stores this field's length in one byte.
    #[error("{field} is {len} bytes, binary frames allow at most 255")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

impl DecodeError {
    /// Sorts a serde_json failure on `text`: JSON that does not parse is
    /// [`InvalidJson`](Self::InvalidJson) even when serde stopped first at a
    /// type mismatch; well-formed JSON of the wrong shape is
    /// [`WrongShape`](Self::WrongShape).
    pub(crate) fn from_envelope(vsn: Vsn, text: &str, source: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match source.classify() {
            Category::Data => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Ok(_) => Self::WrongShape { vsn, source },
                Err(syntax) => Self::InvalidJson(syntax),
            },
            Category::Syntax | Category::Eof | Category::Io => Self::InvalidJson(source),
        }
    }
}
