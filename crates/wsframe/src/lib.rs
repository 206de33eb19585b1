//! WebSocket framing (RFC 6455) for a server, without I/O.
//!
//! ```text
//!  bytes from a client ──Decoder::decode──▶ Decoded::Frame { len, message }
//!                            │               (Text | Binary | Ping | Pong | Close)
//!                            └─ Decoded::Incomplete { frame_len }: read more
//!  a server frame: ServerHeader::new(opcode, len) + payload bytes, unmasked
//! ```
//!
//! The gateway reads a client's bytes into a transient buffer and hands
//! them here one frame at a time; the decoder keeps state only while a
//! fragmented message is being assembled. That is what lets an idle socket
//! hold no buffer at all (BENCHMARKS.md, B4): the WebSocket library this
//! replaces kept a read buffer and a write buffer per socket that never
//! shrank. Frames going out are a header of at most 10 bytes written in
//! front of shared payload bytes, so a fan-out frame is never copied per
//! socket.
//!
//! Pure and total: any input gives a [`Decoded`] or an [`Error`], never a
//! panic, and no length read from the wire sizes an allocation before the
//! frame's bytes have arrived and passed the size limit. The fuzz target is
//! in `fuzz/`. What the decoder enforces, for frames from a client:
//!
//! - masking (an unmasked client frame is a protocol error, §5.1);
//! - no reserved bits or opcodes (no extension is negotiated);
//! - control frames unfragmented and at most 125 bytes, allowed between
//!   the fragments of a message (§5.4, §5.5);
//! - continuation frames only inside a fragmented message, and no new
//!   message before it ends;
//! - the size limit on every frame and on the assembled message, checked
//!   as soon as a header announces the length;
//! - UTF-8 of text messages and close reasons, and the close codes a peer
//!   may send (§7.4).
//!
//! Each [`Error`] names the close code to fail the connection with.

mod decoder;
mod error;
mod header;

pub use decoder::{CloseFrame, Decoded, Decoder, Message, close_payload, is_valid_close_code};
pub use error::{Error, ProtocolError};
pub use header::{Header, MAX_CONTROL_PAYLOAD, OpCode, ServerHeader, apply_mask, parse_header};

/// Close codes (RFC 6455 §7.4.1) the decoder's errors map to.
pub mod close_code {
    /// A protocol error.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Text that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A frame or message over the size limit.
    pub const TOO_BIG: u16 = 1009;
}
