//! Fuzzes every decoder in `pgoutput` with arbitrary bytes.
//!
//! The decoders read bytes straight off a replication connection, so any
//! input must give `Ok` or `Err`, never a panic, and only a decoded Stream
//! Start or Stream Stop may change a decoder's state. The input is tried
//! whole as a CopyData payload and as one pgoutput message both outside and
//! inside a stream block, then split into a sequence of messages (each
//! prefixed by a one-byte length) decoded by one decoder, to reach states
//! that only a sequence can.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pgoutput::{Decoder, Message, decode_envelope};

/// Stream Start for xid 1, first segment.
const STREAM_START: &[u8] = b"S\x00\x00\x00\x01\x01";

fuzz_target!(|input: &[u8]| {
    let input = Bytes::copy_from_slice(input);

    let _ = decode_envelope(input.clone());

    decode_checked(&mut Decoder::new(), &input);
    let mut in_block = Decoder::new();
    decode_checked(&mut in_block, &Bytes::from_static(STREAM_START));
    decode_checked(&mut in_block, &input);

    let mut sequence = Decoder::new();
    let mut rest = input;
    while let Some((&len, _)) = rest.split_first() {
        let len = usize::from(len).min(rest.len() - 1);
        let message = rest.slice(1..1 + len);
        rest = rest.slice(1 + len..);
        decode_checked(&mut sequence, &message);
    }
});

/// Decodes `data`, asserting the stream-block state changed only as the
/// decoded message says it should.
fn decode_checked(decoder: &mut Decoder, data: &Bytes) {
    let before = decoder.in_stream_block();
    let after = match decoder.decode(data) {
        Ok(Message::StreamStart(_)) => true,
        Ok(Message::StreamStop) => false,
        _ => before,
    };
    assert_eq!(decoder.in_stream_block(), after);
}
