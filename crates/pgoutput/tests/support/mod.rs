//! Loads the byte fixtures captured from a real server by
//! `tests/fixtures/capture.sh`, shared by the fixture and robustness tests.

#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use pgoutput::{Decoder, Message};

macro_rules! fixture {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/",
                $name,
                ".hex"
            )),
        )
    };
}

/// Every fixture file, by name. `every_fixture_file_is_listed` keeps this in
/// step with the directory.
pub const FIXTURES: &[(&str, &str)] = &[
    fixture!("v1_default_identity"),
    fixture!("v1_identities"),
    fixture!("v1_unchanged_toast"),
    fixture!("v1_truncate"),
    fixture!("v1_enum_type"),
    fixture!("v1_messages"),
    fixture!("v1_origin"),
    fixture!("v1_binary"),
    fixture!("v2_stream_commit"),
    fixture!("v2_stream_abort"),
];

/// The text of the fixture called `name`.
pub fn text(name: &str) -> &'static str {
    FIXTURES
        .iter()
        .find(|(fixture, _)| *fixture == name)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

/// The messages of a fixture: one per line, hex, `#` lines are comments.
pub fn messages(text: &str) -> Vec<Bytes> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| Bytes::from(hex(line)))
        .collect()
}

/// Decodes a whole fixture in order with one decoder, as a replication
/// stream would be.
pub fn decode_all(name: &str) -> Vec<Message> {
    let mut decoder = Decoder::new();
    let decoded = messages(text(name))
        .iter()
        .enumerate()
        .map(|(line, data)| {
            decoder
                .decode(data)
                .unwrap_or_else(|err| panic!("{name} message {line}: {err}"))
        })
        .collect();
    assert!(
        !decoder.in_stream_block(),
        "{name} ends inside a stream block"
    );
    decoded
}

fn hex(line: &str) -> Vec<u8> {
    assert!(line.len() % 2 == 0, "odd hex length: {line}");
    (0..line.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&line[i..i + 2], 16).expect("hex digit"))
        .collect()
}
