//! Fuzzes the WebSocket frame decoder with arbitrary bytes.
//!
//! The decoder reads bytes straight off a client's connection, so any
//! input must give a frame, "incomplete" or an error, never a panic; a
//! frame never claims more bytes than the input holds, and an incomplete
//! frame's announced length is within the limit. The input is decoded as
//! one buffer, then again fed in two pieces split at its first byte's
//! value, the way a socket keeps undecoded bytes between reads.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wsframe::{Decoded, Decoder};

/// A small limit, so that the size checks are reached.
const MAX: usize = 4096;

fuzz_target!(|input: &[u8]| {
    decode_all(&mut Decoder::new(MAX), input);

    let split = usize::from(input.first().copied().unwrap_or(0)).min(input.len());
    let mut decoder = Decoder::new(MAX);
    let mut pending = Vec::new();
    for piece in [&input[..split], &input[split..]] {
        pending.extend_from_slice(piece);
        let used = decode_all(&mut decoder, &pending);
        pending.drain(..used);
    }
});

/// Decodes frames until the input runs out or is refused; returns the
/// bytes consumed.
fn decode_all(decoder: &mut Decoder, input: &[u8]) -> usize {
    let mut used = 0;
    loop {
        match decoder.decode(&input[used..]) {
            Ok(Decoded::Frame { len, .. }) => {
                assert!(len > 0 && used + len <= input.len(), "frame within the input");
                used += len;
            }
            Ok(Decoded::Incomplete { frame_len }) => {
                if let Some(frame_len) = frame_len {
                    assert!(frame_len <= MAX + 14, "announced length within the limit");
                }
                return used;
            }
            Err(_) => return used,
        }
    }
}
