//! Why a client's bytes cannot be a WebSocket conversation.

use crate::close_code;

/// A frame the decoder refuses. Every one ends the connection, with
/// [`Error::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A frame, or a fragmented message so far, longer than the limit.
    #[error("{len} bytes is over the limit of {max} bytes")]
    TooLarge {
        /// The announced frame length, or the message length it would give.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A text message or close reason that is not UTF-8.
    #[error("text is not valid UTF-8")]
    InvalidUtf8,
    /// A frame RFC 6455 does not allow here.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

impl Error {
    /// The close code that fails the connection for this error.
    pub fn close_code(&self) -> u16 {
        match self {
            Self::TooLarge { .. } => close_code::TOO_BIG,
            Self::InvalidUtf8 => close_code::INVALID_PAYLOAD,
            Self::Protocol(_) => close_code::PROTOCOL_ERROR,
        }
    }
}

/// Framing rules a client broke (RFC 6455 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// RSV1–3 set, but no extension was negotiated.
    #[error("reserved bits set")]
    ReservedBits,
    /// An opcode RFC 6455 reserves.
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame without FIN.
    #[error("fragmented control frame")]
    FragmentedControl,
    /// A control frame with more than 125 bytes of payload.
    #[error("control frame over 125 bytes")]
    ControlTooLong,
    /// A 64-bit payload length with the most significant bit set.
    #[error("payload length out of range")]
    LengthOutOfRange,
    /// A client frame without a masking key.
    #[error("unmasked client frame")]
    Unmasked,
    /// A continuation frame with no fragmented message to continue.
    #[error("continuation without a message to continue")]
    UnexpectedContinuation,
    /// A text or binary frame before the fragmented message ended.
    #[error("new message before the fragmented one ended")]
    ExpectedContinuation,
    /// A close frame with a one-byte payload.
    #[error("close payload of one byte")]
    CloseTooShort,
    /// A close code a peer may not send.
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
}
