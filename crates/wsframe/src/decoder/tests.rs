use super::*;
use crate::close_code;

const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];
const MAX: usize = 1024;

/// A client frame: masked, with the shortest length encoding.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        len @ 0..=125 => out.push(0x80 | len as u8),
        len @ 126..=65_535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], MASK);
    out
}

/// Decodes every frame of `input`, which must end on a frame boundary.
fn decode_all(decoder: &mut Decoder, mut input: &[u8]) -> Result<Vec<Message>, Error> {
    let mut messages = Vec::new();
    while !input.is_empty() {
        match decoder.decode(input)? {
            Decoded::Frame { len, message } => {
                messages.extend(message);
                input = &input[len..];
            }
            Decoded::Incomplete { .. } => panic!("incomplete with {} bytes left", input.len()),
        }
    }
    Ok(messages)
}

fn one(input: &[u8]) -> Result<Vec<Message>, Error> {
    decode_all(&mut Decoder::new(MAX), input)
}

#[test]
fn masked_text_and_binary_frames_are_unmasked() {
    assert_eq!(
        one(&frame(true, 0x1, "héllo".as_bytes())),
        Ok(vec![Message::Text(Bytes::from("héllo"))])
    );
    assert_eq!(
        one(&frame(true, 0x2, &[0, 1, 2, 255])),
        Ok(vec![Message::Binary(Bytes::from_static(&[0, 1, 2, 255]))])
    );
    assert_eq!(
        one(&frame(true, 0x1, b"")),
        Ok(vec![Message::Text(Bytes::new())])
    );
    let long = vec![b'x'; 300];
    assert_eq!(
        one(&frame(true, 0x1, &long)),
        Ok(vec![Message::Text(Bytes::from(long))])
    );
}

#[test]
fn every_prefix_of_a_frame_is_incomplete_and_knows_its_length_after_the_header() {
    let bytes = frame(true, 0x1, &[b'a'; 200]);
    let mut decoder = Decoder::new(MAX);
    for end in 0..bytes.len() {
        let expected = if end < 8 { None } else { Some(bytes.len()) };
        assert_eq!(
            decoder.decode(&bytes[..end]),
            Ok(Decoded::Incomplete {
                frame_len: expected
            }),
            "{end} bytes"
        );
    }
    let mut two = bytes.clone();
    two.extend_from_slice(&frame(true, 0x9, b"p"));
    assert!(matches!(
        decoder.decode(&two),
        Ok(Decoded::Frame { len, message: Some(Message::Text(_)) }) if len == bytes.len()
    ));
}

#[test]
fn unmasked_client_frames_are_a_protocol_error() {
    let err = Decoder::new(MAX)
        .decode(&[0x81, 0x02, b'h', b'i'])
        .expect_err("unmasked");
    assert_eq!(err, Error::Protocol(ProtocolError::Unmasked));
    assert_eq!(err.close_code(), close_code::PROTOCOL_ERROR);
}

#[test]
fn fragments_are_joined_with_control_frames_in_between() {
    let mut input = frame(false, 0x1, "frag".as_bytes());
    input.extend(frame(true, 0x9, b"ping in the middle"));
    // A two-byte character split across fragments.
    input.extend(frame(false, 0x0, &"mented é".as_bytes()[..8]));
    input.extend(frame(true, 0xA, b""));
    input.extend(frame(true, 0x0, &"mented é".as_bytes()[8..]));
    let mut decoder = Decoder::new(MAX);
    assert_eq!(
        decode_all(&mut decoder, &input),
        Ok(vec![
            Message::Ping(Bytes::from_static(b"ping in the middle")),
            Message::Pong(Bytes::new()),
            Message::Text(Bytes::from("fragmented é")),
        ])
    );
    assert!(!decoder.in_message());

    let mut binary = frame(false, 0x2, &[1, 2]);
    binary.extend(frame(false, 0x0, &[]));
    binary.extend(frame(true, 0x0, &[3]));
    assert_eq!(
        one(&binary),
        Ok(vec![Message::Binary(Bytes::from_static(&[1, 2, 3]))])
    );
}

#[test]
fn continuations_must_continue_something_and_messages_must_not_interleave() {
    assert_eq!(
        one(&frame(true, 0x0, b"x")),
        Err(ProtocolError::UnexpectedContinuation.into())
    );
    let mut input = frame(false, 0x1, b"a");
    input.extend(frame(true, 0x1, b"b"));
    assert_eq!(one(&input), Err(ProtocolError::ExpectedContinuation.into()));
    let mut input = frame(false, 0x2, b"a");
    input.extend(frame(true, 0x0, b"b"));
    input.extend(frame(true, 0x0, b"c"));
    assert_eq!(
        one(&input),
        Err(ProtocolError::UnexpectedContinuation.into())
    );
}

#[test]
fn oversized_frames_are_refused_from_the_header_alone() {
    let big = frame(true, 0x1, &vec![b'x'; MAX + 1]);
    let header_only = &big[..8];
    let err = Decoder::new(MAX).decode(header_only).expect_err("too big");
    assert_eq!(
        err,
        Error::TooLarge {
            len: MAX as u64 + 1,
            max: MAX
        }
    );
    assert_eq!(err.close_code(), close_code::TOO_BIG);
    assert!(
        one(&frame(true, 0x2, &vec![0; MAX])).is_ok(),
        "the limit itself is fine"
    );
}

#[test]
fn oversized_fragmented_messages_are_refused_at_the_fragment_that_passes_the_limit() {
    let mut decoder = Decoder::new(MAX);
    let first = frame(false, 0x2, &vec![0; MAX - 10]);
    assert!(decode_all(&mut decoder, &first).is_ok());
    let next = frame(false, 0x0, &[0; 10]);
    assert!(decode_all(&mut decoder, &next).is_ok());
    let over = frame(true, 0x0, &[0; 1]);
    assert_eq!(
        decoder.decode(&over[..6]),
        Err(Error::TooLarge {
            len: MAX as u64 + 1,
            max: MAX
        })
    );
}

#[test]
fn text_must_be_utf8_once_whole() {
    let err = one(&frame(true, 0x1, &[b'a', 0xff])).expect_err("bad utf-8");
    assert_eq!(err, Error::InvalidUtf8);
    assert_eq!(err.close_code(), close_code::INVALID_PAYLOAD);
    let mut split = frame(false, 0x1, &[0xc3]);
    split.extend(frame(true, 0x0, b"("));
    assert_eq!(one(&split), Err(Error::InvalidUtf8));
    // Binary is not checked.
    assert!(one(&frame(true, 0x2, &[0xff])).is_ok());
}

#[test]
fn control_frames_must_be_short_and_whole() {
    assert_eq!(
        one(&frame(false, 0x9, b"")),
        Err(ProtocolError::FragmentedControl.into())
    );
    assert_eq!(
        one(&frame(true, 0xA, &[0; 126])),
        Err(ProtocolError::ControlTooLong.into())
    );
    assert_eq!(
        one(&frame(true, 0x9, &[7; 125])),
        Ok(vec![Message::Ping(Bytes::from(vec![7; 125]))])
    );
}

#[test]
fn close_frames_carry_a_valid_code_and_a_utf8_reason() {
    assert_eq!(one(&frame(true, 0x8, b"")), Ok(vec![Message::Close(None)]));
    assert_eq!(
        one(&frame(true, 0x8, &close_payload(1000, "bye"))),
        Ok(vec![Message::Close(Some(CloseFrame {
            code: 1000,
            reason: Bytes::from_static(b"bye")
        }))])
    );
    assert_eq!(
        one(&frame(true, 0x8, &[0x03])),
        Err(ProtocolError::CloseTooShort.into())
    );
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_eq!(
            one(&frame(true, 0x8, &code.to_be_bytes())),
            Err(ProtocolError::InvalidCloseCode(code).into()),
            "{code}"
        );
    }
    for code in [1000, 1001, 1002, 1003, 1007, 1011, 1013, 3000, 4999] {
        assert!(is_valid_close_code(code), "{code}");
    }
    let mut bad_reason = 1000u16.to_be_bytes().to_vec();
    bad_reason.push(0xff);
    assert_eq!(one(&frame(true, 0x8, &bad_reason)), Err(Error::InvalidUtf8));
}

#[test]
fn close_payloads_fit_a_control_frame_at_a_character_boundary() {
    assert_eq!(close_payload(1013, "slow"), b"\x03\xf5slow");
    let long = "é".repeat(100);
    let payload = close_payload(1000, &long);
    assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
    assert_eq!(payload.len(), 2 + 122);
    assert!(std::str::from_utf8(&payload[2..]).is_ok());
}

#[test]
fn a_frame_split_at_every_point_decodes_the_same() {
    let mut input = frame(false, 0x1, b"split ");
    input.extend(frame(true, 0x9, b"!"));
    input.extend(frame(true, 0x0, b"anywhere"));
    let expected = one(&input).expect("valid");
    for cut in 0..input.len() {
        // What a socket does: keep the undecoded bytes, add the next read.
        let mut decoder = Decoder::new(MAX);
        let mut pending = Vec::new();
        let mut messages = Vec::new();
        for chunk in [&input[..cut], &input[cut..]] {
            pending.extend_from_slice(chunk);
            while let Ok(Decoded::Frame { len, message }) = decoder.decode(&pending) {
                messages.extend(message);
                pending.drain(..len);
            }
        }
        assert!(pending.is_empty(), "cut at {cut}");
        assert_eq!(messages, expected, "cut at {cut}");
    }
}
