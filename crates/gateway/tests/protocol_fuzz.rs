//! The decoder is total, and what it accepts re-encodes to valid frames.
//!
//! A deterministic PRNG drives ~60k inputs through both decoders of both
//! vsns: random bytes, random JSON-shaped text, every truncation of real
//! realtime-js frames, and byte mutations of them. No input may panic, and
//! every payload the decoder keeps must splice into server frames that are
//! still valid JSON (the reason `RawJson` exists).

use bytes::Bytes;
use gateway::protocol::{
    BindingId, ClientEvent, FrameDecoder, OutboundBroadcast, ServerFrame, Vsn, encode,
};

/// xorshift64*: small, fast, and the same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS_V2: &[&str] = &[
    r#"["6","6","realtime:room1","phx_join",{"config":{"broadcast":{"self":true,"ack":true},"presence":{"key":"u1","enabled":true},"postgres_changes":[{"event":"*","schema":"public","table":"todos"},{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"}],"private":false},"access_token":"user.jwt.token"}]"#,
    r#"[null,"7","phoenix","heartbeat",{}]"#,
    r#"["6","13","realtime:room1","phx_leave",{}]"#,
    r#"["6","14","realtime:room1","access_token",{"access_token":"token2"}]"#,
    r#"["10","1","realtime:chat-room","broadcast",{"event":"user-event","type":"broadcast","payload":{"a":[1,"x",{"b":null}]}}]"#,
    r#"["1","5","realtime:presence-room","presence",{"type":"presence","event":"track","payload":{"name":"Alice"}}]"#,
];

const SEEDS_V1: &[&str] = &[
    r#"{"topic":"realtime:room1","event":"phx_join","payload":{"config":{"postgres_changes":[{"event":"*","schema":"public"}]}},"ref":"6","join_ref":"6"}"#,
    r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}"#,
    r#"{"topic":"realtime:room1","event":"broadcast","payload":{"type":"broadcast","event":"ev","payload":{"y":1}},"ref":"14","join_ref":"12"}"#,
];

fn binary_seed() -> Vec<u8> {
    let mut bytes = vec![3, 1, 1, 14, 6, 0, 1];
    bytes.extend_from_slice(b"67realtime:room1cursor{\"x\":1}");
    bytes
}

const JSON_PIECES: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "null",
    "true",
    "false",
    "0",
    "-1.5e3",
    "\"\"",
    "\"phoenix\"",
    "\"heartbeat\"",
    "\"phx_join\"",
    "\"broadcast\"",
    "\"presence\"",
    "\"access_token\"",
    "\"config\"",
    "\"postgres_changes\"",
    "\"payload\"",
    "\"event\"",
    "\"topic\"",
    "\"ref\"",
    "\"track\"",
    "\"realtime:x\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    " ",
    "\"é\"",
    "1e999",
];

/// Checks that an accepted frame's kept payloads splice into valid frames.
fn reencode(event: &ClientEvent, vsn: Vsn) {
    let to = encode::ReplyTo {
        join_ref: Some("1"),
        reference: Some("2"),
        topic: "realtime:t",
    };
    let check = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .unwrap_or_else(|e| panic!("invalid frame {e}: {text}"));
    };
    match event {
        ClientEvent::Join(join) => {
            if let Some(config) = &join.config {
                let id = BindingId::new(1).expect("non-zero id");
                let bindings = config.postgres_changes.iter().map(|b| (b, b.id()));
                check(encode::join_reply_ok(vsn, to, bindings).as_str());
                let fixed = config.postgres_changes.iter().map(|b| (b, id));
                check(encode::join_reply_ok(vsn, to, fixed).as_str());
            }
        }
        ClientEvent::Broadcast(push) => {
            let outbound: OutboundBroadcast = push.clone().into_outbound();
            if let Ok(Some(ServerFrame::Text(text))) =
                encode::broadcast(vsn, "realtime:t", &outbound)
            {
                check(text.as_str());
            }
        }
        ClientEvent::Other { payload, .. } => {
            check(encode::reply(vsn, to, encode::Status::Ok, payload).as_str());
        }
        ClientEvent::Presence(gateway::protocol::PresencePush::Track(meta)) => {
            check(encode::presence_state(vsn, Some("1"), "realtime:t", meta).as_str());
        }
        _ => {}
    }
}

fn feed(input: &[u8], accepted: &mut usize) {
    for vsn in [Vsn::V1, Vsn::V2] {
        let decoder = FrameDecoder::new(vsn).with_max_frame_bytes(4096);
        let bytes = Bytes::copy_from_slice(input);
        if let Ok(frame) = decoder.decode_text(bytes.clone()) {
            *accepted += 1;
            reencode(&frame.event, vsn);
        }
        if let Ok(frame) = decoder.decode_binary(bytes) {
            *accepted += 1;
            reencode(&frame.event, vsn);
        }
    }
}

#[test]
fn decoding_is_total_and_reencoding_stays_valid() {
    let mut rng = Rng(0x5eed_0fc0_ffee);
    let mut inputs = 0usize;
    let mut accepted = 0usize;

    let seeds: Vec<Vec<u8>> = SEEDS_V2
        .iter()
        .chain(SEEDS_V1)
        .map(|s| s.as_bytes().to_vec())
        .chain([binary_seed()])
        .collect();

    // Every truncation of every real frame.
    for seed in &seeds {
        for end in 0..=seed.len() {
            feed(&seed[..end], &mut accepted);
            inputs += 1;
        }
    }

    for round in 0..50_000 {
        let input: Vec<u8> = match round % 4 {
            // Random bytes, sometimes starting with a binary kind byte.
            0 => {
                let len = rng.below(64);
                let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                if let Some(first) = bytes.first_mut() {
                    *first = [3, 4, b'[', b'{', *first][rng.below(5)];
                }
                bytes
            }
            // JSON-shaped token soup.
            1 => {
                let mut text = String::new();
                for _ in 0..rng.below(24) {
                    text.push_str(JSON_PIECES[rng.below(JSON_PIECES.len())]);
                }
                text.into_bytes()
            }
            // Byte mutations of real frames.
            2 => {
                let mut bytes = seeds[rng.below(seeds.len())].clone();
                for _ in 0..=rng.below(3) {
                    let at = rng.below(bytes.len());
                    bytes[at] = match rng.below(3) {
                        0 => rng.next() as u8,
                        1 => b"[]{}\",:\\0"[rng.below(9)],
                        _ => bytes[at].wrapping_add(1),
                    };
                }
                bytes
            }
            // Splices of two real frames.
            _ => {
                let a = &seeds[rng.below(seeds.len())];
                let b = &seeds[rng.below(seeds.len())];
                let (i, j) = (rng.below(a.len()), rng.below(b.len()));
                [&a[..i], &b[j..]].concat()
            }
        };
        feed(&input, &mut accepted);
        inputs += 1;
    }

    eprintln!("fuzz: {inputs} inputs, {accepted} decoded");
    assert!(inputs > 50_000);
    // The seeds themselves and many mutations decode; the loop is not vacuous.
    assert!(
        accepted > 1_000,
        "only {accepted} of {inputs} inputs decoded"
    );
}
