//! Client frames to messages: unmasking, reassembly of fragmented
//! messages, control frames, limits.
//!
//! ```text
//!  [Text fin=0] [Ping] [Cont fin=0] [Cont fin=1]
//!       │         │         │            │
//!       ▼         ▼         ▼            ▼
//!     None    Some(Ping)   None     Some(Text(whole message))
//! ```

use bytes::Bytes;

use crate::error::{Error, ProtocolError};
use crate::header::{MAX_CONTROL_PAYLOAD, OpCode, apply_mask, parse_header};

/// A message, or a control frame, from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping; the server answers with a pong of the same payload.
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// A close frame, with its code and reason when it has them.
    Close(Option<CloseFrame>),
}

/// The code and reason of a close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// A code a peer may send ([`is_valid_close_code`]).
    pub code: u16,
    /// The reason (valid UTF-8, possibly empty).
    pub reason: Bytes,
}

/// What [`Decoder::decode`] found at the start of its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The input holds only part of a frame. `frame_len` is the whole
    /// frame's length once the header is in (it passed the size limit).
    Incomplete {
        /// Header and payload bytes of the frame, when known.
        frame_len: Option<usize>,
    },
    /// One frame of `len` bytes, to be consumed from the input; the
    /// message it completed, if any (none for a fragment that is not the
    /// last one).
    Frame {
        /// Bytes the frame took.
        len: usize,
        /// The completed message or control frame.
        message: Option<Message>,
    },
}

/// A fragmented message being assembled.
#[derive(Debug)]
struct Fragments {
    text: bool,
    data: Vec<u8>,
}

/// Decodes the frames a client sends, one at a time. Between messages it
/// holds nothing but its limit (every idle socket holds a decoder, so the
/// rare fragmented message is boxed).
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    fragments: Option<Box<Fragments>>,
}

impl Decoder {
    /// A decoder refusing frames and messages longer than `max_message`
    /// bytes of payload.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            fragments: None,
        }
    }

    /// Decodes the frame at the start of `input`. After an error the
    /// connection must be failed: the decoder's state is not meaningful.
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, Error> {
        let Some(header) = parse_header(input)? else {
            return Ok(Decoded::Incomplete { frame_len: None });
        };
        let mask = header.mask.ok_or(ProtocolError::Unmasked)?;
        let so_far = match (header.opcode, &self.fragments) {
            (OpCode::Continuation, None) => {
                return Err(ProtocolError::UnexpectedContinuation.into());
            }
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::ExpectedContinuation.into());
            }
            (OpCode::Continuation, Some(fragments)) => fragments.data.len(),
            _ => 0,
        };
        let limit = self.max_message.saturating_sub(so_far);
        if header.payload_len > limit as u64 {
            return Err(Error::TooLarge {
                len: header.payload_len.saturating_add(so_far as u64),
                max: self.max_message,
            });
        }
        // Within the limit, so it fits a usize.
        let frame_len = header.len + header.payload_len as usize;
        let Some(payload) = input.get(header.len..frame_len) else {
            return Ok(Decoded::Incomplete {
                frame_len: Some(frame_len),
            });
        };
        let message = match header.opcode {
            OpCode::Text | OpCode::Binary => {
                let text = header.opcode == OpCode::Text;
                let data = unmasked(payload, mask);
                if header.fin {
                    Some(complete(text, data)?)
                } else {
                    self.fragments = Some(Box::new(Fragments { text, data }));
                    None
                }
            }
            OpCode::Continuation => match self.fragments.as_mut() {
                Some(fragments) => {
                    append_unmasked(&mut fragments.data, payload, mask);
                    match self.fragments.take() {
                        Some(whole) if header.fin => Some(complete(whole.text, whole.data)?),
                        rest => {
                            self.fragments = rest;
                            None
                        }
                    }
                }
                None => return Err(ProtocolError::UnexpectedContinuation.into()),
            },
            OpCode::Ping => Some(Message::Ping(unmasked(payload, mask).into())),
            OpCode::Pong => Some(Message::Pong(unmasked(payload, mask).into())),
            OpCode::Close => Some(Message::Close(close_frame(unmasked(payload, mask))?)),
        };
        Ok(Decoded::Frame {
            len: frame_len,
            message,
        })
    }

    /// Whether a fragmented message is being assembled.
    pub fn in_message(&self) -> bool {
        self.fragments.is_some()
    }
}

/// `payload` unmasked.
fn unmasked(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut data = Vec::with_capacity(payload.len());
    append_unmasked(&mut data, payload, mask);
    data
}

/// Appends `payload`, unmasked, to `data`.
fn append_unmasked(data: &mut Vec<u8>, payload: &[u8], mask: [u8; 4]) {
    let start = data.len();
    data.extend_from_slice(payload);
    apply_mask(&mut data[start..], mask);
}

fn complete(text: bool, data: Vec<u8>) -> Result<Message, Error> {
    if text {
        std::str::from_utf8(&data).map_err(|_| Error::InvalidUtf8)?;
        Ok(Message::Text(data.into()))
    } else {
        Ok(Message::Binary(data.into()))
    }
}

fn close_frame(payload: Vec<u8>) -> Result<Option<CloseFrame>, Error> {
    let code = match *payload.as_slice() {
        [] => return Ok(None),
        [_] => return Err(ProtocolError::CloseTooShort.into()),
        [high, low, ..] => u16::from_be_bytes([high, low]),
    };
    if !is_valid_close_code(code) {
        return Err(ProtocolError::InvalidCloseCode(code).into());
    }
    let reason = Bytes::from(payload).slice(2..);
    std::str::from_utf8(&reason).map_err(|_| Error::InvalidUtf8)?;
    Ok(Some(CloseFrame { code, reason }))
}

/// Whether a peer may send `code` in a close frame (§7.4): the defined
/// codes other than those reserved for local use (1004–1006, 1015), and
/// the ranges for libraries and applications (3000–4999).
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The payload of a close frame: `code`, then `reason` cut at a character
/// boundary to fit a control frame.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

#[cfg(test)]
mod tests;
