//! No input makes the decoders panic, and malformed input is an error.
//!
//! The bytes come from the network, so "total" is a property worth checking
//! on more than hand-picked cases: every prefix and many single-byte
//! corruptions of the captured fixtures, and a deterministic stream of
//! pseudo-random messages. The fuzz target in `../fuzz` explores further.

mod support;

use bytes::Bytes;
use pgoutput::{Decoder, Message, ReplicationMessage, decode_envelope};
use support::{FIXTURES, messages};

/// XLogData header length: tag, wal_start, wal_end, send_time.
const XLOGDATA_HEADER_LEN: usize = 1 + 8 + 8 + 8;

/// Decodes one message, checking that the stream-block state changes only
/// through a successfully decoded Stream Start or Stream Stop.
fn decode(decoder: &mut Decoder, data: &Bytes) -> Option<Message> {
    let before = decoder.in_stream_block();
    let result = decoder.decode(data);
    let expected = match &result {
        Ok(Message::StreamStart(_)) => true,
        Ok(Message::StreamStop) => false,
        _ => before,
    };
    assert_eq!(
        decoder.in_stream_block(),
        expected,
        "{data:02x?} -> {result:?}"
    );
    result.ok()
}

fn in_stream_block() -> Decoder {
    let mut decoder = Decoder::new();
    decoder
        .decode(&Bytes::from_static(b"S\x00\x00\x03\x00\x01"))
        .expect("stream start");
    decoder
}

fn xlogdata(message: &Bytes) -> Bytes {
    let mut payload = vec![b'w'];
    payload.extend_from_slice(&[0x11; XLOGDATA_HEADER_LEN - 1]);
    payload.extend_from_slice(message);
    Bytes::from(payload)
}

/// Every fixture message, with the decoder state it is decoded in.
fn fixture_messages() -> Vec<(Decoder, Bytes)> {
    let mut all = Vec::new();
    for (name, text) in FIXTURES {
        let mut decoder = Decoder::new();
        for data in messages(text) {
            all.push((decoder.clone(), data.clone()));
            decoder
                .decode(&data)
                .unwrap_or_else(|err| panic!("{name}: {err}"));
        }
    }
    all
}

#[test]
fn every_truncated_fixture_message_is_an_error() {
    // Every pgoutput field is fixed-size, counted or NUL-terminated, so no
    // proper prefix of a message is itself a message. (The one exception,
    // Stream Abort's protocol-4 tail, is not in the fixtures.)
    for (decoder, data) in fixture_messages() {
        for len in 0..data.len() {
            let prefix = data.slice(..len);
            let decoded = decode(&mut decoder.clone(), &prefix);
            assert!(decoded.is_none(), "{prefix:02x?} decoded as {decoded:?}");
        }
    }
}

#[test]
fn every_truncated_envelope_is_an_error_or_a_shorter_payload() {
    for (_, message) in fixture_messages() {
        let payload = xlogdata(&message);
        for len in 0..=payload.len() {
            match decode_envelope(payload.slice(..len)) {
                Ok(ReplicationMessage::XLogData(xlog)) => {
                    assert!(len >= XLOGDATA_HEADER_LEN);
                    assert_eq!(xlog.data, message.slice(..len - XLOGDATA_HEADER_LEN));
                }
                Ok(other) => panic!("decoded as {other:?}"),
                Err(_) => assert!(len < XLOGDATA_HEADER_LEN),
            }
        }
    }
}

#[test]
fn corrupted_fixture_messages_do_not_panic() {
    for (decoder, data) in fixture_messages() {
        // For the one long (TOAST) message, the header and the tail are
        // where the structure is.
        let positions = (0..data.len()).filter(|&i| i < 64 || data.len() - i <= 64);
        for i in positions {
            let original = data[i];
            for replacement in [0x00, 0xff, original ^ 0x80, original.wrapping_add(1)] {
                let mut corrupted = data.to_vec();
                corrupted[i] = replacement;
                let corrupted = Bytes::from(corrupted);
                decode(&mut decoder.clone(), &corrupted);
                let _ = decode_envelope(xlogdata(&corrupted));
            }
        }
    }
}

/// xorshift64: deterministic, dependency-free pseudo-random numbers.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn pseudo_random_messages_do_not_panic() {
    const TAGS: &[u8] = b"BCORYIUDTMSEcAwk";
    // Bytes that steer decoding into deeper branches: markers, column kinds,
    // small counts and lengths, terminators.
    const INTERESTING: &[u8] = b"\x00\x00\x00\x01\x02\xff\x7f\x80NKOnutbdfi";
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut decoded = 0;
    for _ in 0..200_000 {
        let len = (rng.next() % 65) as usize;
        let mut input = Vec::with_capacity(len);
        if len > 0 {
            input.push(rng.pick(TAGS));
        }
        let interesting = rng.next() % 2 == 0;
        while input.len() < len {
            input.push(if interesting {
                rng.pick(INTERESTING)
            } else {
                rng.next() as u8
            });
        }
        let input = Bytes::from(input);
        decoded += usize::from(decode(&mut Decoder::new(), &input).is_some());
        decoded += usize::from(decode(&mut in_stream_block(), &input).is_some());
        decoded += usize::from(decode_envelope(input).is_ok());
    }
    // Some inputs are valid (Stream Stop, short envelopes…): the generator
    // reaches the end of messages, not only their first field.
    assert!(decoded > 100, "only {decoded} inputs decoded");
}
