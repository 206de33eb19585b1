//! Frame headers (RFC 6455 §5.2) and masking (§5.3).
//!
//! ```text
//!   0                   1                   2                   3
//!   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!  +-+-+-+-+-------+-+-------------+-------------------------------+
//!  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//!  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//!  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//!  | |1|2|3|       |K|             |                               |
//!  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//!  |     Extended payload length continued, if payload len == 127  |
//!  + - - - - - - - - - - - - - - - +-------------------------------+
//!  |                               | Masking-key, if MASK set to 1 |
//!  +-------------------------------+-------------------------------+
//!  | Masking-key (continued)       |          Payload Data         |
//!  +-------------------------------- - - - - - - - - - - - - - - - +
//! ```

use crate::error::ProtocolError;

const FIN: u8 = 0x80;
const RSV: u8 = 0x70;
const OPCODE: u8 = 0x0F;
const MASKED: u8 = 0x80;
const LEN: u8 = 0x7F;
/// Payload length code: a 16-bit length follows.
const LEN_16: u8 = 126;
/// Payload length code: a 64-bit length follows.
const LEN_64: u8 = 127;

/// Largest payload of a control frame (§5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: the next fragment of a message.
    Continuation,
    /// 0x1: (the first fragment of) a UTF-8 text message.
    Text,
    /// 0x2: (the first fragment of) a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The final fragment of its message.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: OpCode,
    /// The masking key (every client frame has one).
    pub mask: Option<[u8; 4]>,
    /// Payload bytes after the header.
    pub payload_len: u64,
    /// Bytes of the header itself (2 to 14).
    pub len: usize,
}

/// Parses the header at the start of `buf`; `Ok(None)` while `buf` holds
/// only part of it. Checks what the header alone can tell: reserved bits
/// and opcodes, and the shape of control frames.
pub fn parse_header(buf: &[u8]) -> Result<Option<Header>, ProtocolError> {
    let [first, second, ..] = *buf else {
        return Ok(None);
    };
    if first & RSV != 0 {
        return Err(ProtocolError::ReservedBits);
    }
    let opcode =
        OpCode::from_bits(first & OPCODE).ok_or(ProtocolError::ReservedOpcode(first & OPCODE))?;
    let fin = first & FIN != 0;
    let (payload_len, mut len) = match second & LEN {
        LEN_16 => match buf.get(2..4) {
            Some(&[high, low]) => (u64::from(u16::from_be_bytes([high, low])), 4),
            _ => return Ok(None),
        },
        LEN_64 => match buf
            .get(2..10)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        {
            Some(bytes) => (u64::from_be_bytes(bytes), 10),
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    if payload_len > i64::MAX as u64 {
        return Err(ProtocolError::LengthOutOfRange);
    }
    if opcode.is_control() {
        if !fin {
            return Err(ProtocolError::FragmentedControl);
        }
        if payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(ProtocolError::ControlTooLong);
        }
    }
    let mask = if second & MASKED != 0 {
        match buf.get(len..len + 4) {
            Some(&[a, b, c, d]) => {
                len += 4;
                Some([a, b, c, d])
            }
            _ => return Ok(None),
        }
    } else {
        None
    };
    Ok(Some(Header {
        fin,
        opcode,
        mask,
        payload_len,
        len,
    }))
}

/// The header of a frame a server sends: final, unmasked. Written in
/// front of the payload, which stays where it is (shared by every socket
/// a fan-out frame goes to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHeader {
    bytes: [u8; 10],
    len: u8,
}

impl ServerHeader {
    /// The header of a final, unmasked frame of `payload_len` bytes.
    pub fn new(opcode: OpCode, payload_len: usize) -> Self {
        let mut bytes = [0; 10];
        bytes[0] = FIN | opcode.bits();
        let len = if payload_len < usize::from(LEN_16) {
            bytes[1] = payload_len as u8;
            2
        } else if let Ok(short) = u16::try_from(payload_len) {
            bytes[1] = LEN_16;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = LEN_64;
            bytes[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
            10
        };
        Self { bytes, len }
    }

    /// The header's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// XORs `data` with `mask` (§5.3), from the first byte of a payload;
/// masking twice gives the original back.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let word = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut words = data.chunks_exact_mut(8);
    for chunk in &mut words {
        if let Ok(bytes) = <[u8; 8]>::try_from(&*chunk) {
            chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
        }
    }
    // The rest starts at a multiple of 8, so the key starts over.
    for (byte, key) in words.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_headers_use_the_shortest_length_and_parse_back() {
        for (len, header_len) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (65_535, 4),
            (65_536, 10),
            (5 << 20, 10),
        ] {
            let header = ServerHeader::new(OpCode::Binary, len);
            assert_eq!(header.as_bytes().len(), header_len, "{len}");
            let parsed = parse_header(header.as_bytes())
                .expect("valid")
                .expect("complete");
            assert_eq!(
                parsed,
                Header {
                    fin: true,
                    opcode: OpCode::Binary,
                    mask: None,
                    payload_len: len as u64,
                    len: header_len,
                }
            );
        }
        assert_eq!(ServerHeader::new(OpCode::Text, 5).as_bytes(), [0x81, 5]);
        assert_eq!(ServerHeader::new(OpCode::Close, 2).as_bytes(), [0x88, 2]);
    }

    #[test]
    fn headers_are_incomplete_until_the_mask_is_in() {
        let full = [0x82, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4];
        for end in 0..full.len() {
            assert_eq!(parse_header(&full[..end]), Ok(None), "{end} bytes");
        }
        let header = parse_header(&full).expect("valid").expect("complete");
        assert_eq!(header.payload_len, 256);
        assert_eq!(header.mask, Some([1, 2, 3, 4]));
        assert_eq!(header.len, 8);
    }

    #[test]
    fn reserved_bits_opcodes_and_bad_control_frames_are_refused() {
        assert_eq!(
            parse_header(&[0xC1, 0x80]),
            Err(ProtocolError::ReservedBits)
        );
        for opcode in [0x3, 0x7, 0xB, 0xF] {
            assert_eq!(
                parse_header(&[0x80 | opcode, 0x80]),
                Err(ProtocolError::ReservedOpcode(opcode))
            );
        }
        assert_eq!(
            parse_header(&[0x09, 0x80]),
            Err(ProtocolError::FragmentedControl)
        );
        assert_eq!(
            parse_header(&[0x89, 0x80 | 126, 0, 126]),
            Err(ProtocolError::ControlTooLong)
        );
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(parse_header(&huge), Err(ProtocolError::LengthOutOfRange));
    }

    #[test]
    fn masking_matches_the_bytewise_definition_and_undoes_itself() {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        for len in [0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 100] {
            let original: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut masked = original.clone();
            apply_mask(&mut masked, mask);
            let expected: Vec<u8> = original
                .iter()
                .enumerate()
                .map(|(i, byte)| byte ^ mask[i % 4])
                .collect();
            assert_eq!(masked, expected, "{len}");
            apply_mask(&mut masked, mask);
            assert_eq!(masked, original, "{len}");
        }
    }
}
