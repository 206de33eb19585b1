use serde_json::Value;
use serde_json::value::RawValue;

use super::*;
use crate::protocol::JoinPayload;
use crate::reasons;

fn json(text: &str) -> RawJson {
    RawJson::parse(Bytes::from(text.to_owned())).expect("test input is valid")
}

fn to(
    join_ref: Option<&'static str>,
    reference: &'static str,
    topic: &'static str,
) -> ReplyTo<'static> {
    ReplyTo {
        join_ref,
        reference: Some(reference),
        topic,
    }
}

/// Every frame must be one JSON value; returns it for structural checks.
fn parsed(frame: &TextFrame) -> Value {
    serde_json::from_str(frame.as_str()).expect("test input is valid")
}

#[test]
fn heartbeat_replies_match_the_reference() {
    let to = ReplyTo {
        join_ref: None,
        reference: Some("9"),
        topic: "phoenix",
    };
    assert_eq!(
        reply_ok(Vsn::V2, to).as_str(),
        r#"[null,"9","phoenix","phx_reply",{"status":"ok","response":{}}]"#
    );
    assert_eq!(
        reply_ok(Vsn::V1, to).as_str(),
        r#"{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"9"}"#
    );
}

fn bindings(payload: &str) -> JoinPayload {
    let frame = Bytes::from(payload.to_owned());
    let raw: &RawValue =
        serde_json::from_str(std::str::from_utf8(&frame).expect("test input is valid"))
            .expect("test input is valid");
    JoinPayload::parse(raw, &frame).expect("test input is valid")
}

#[test]
fn join_reply_echoes_bindings_with_ids() {
    let join = bindings(
        r#"{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"todos"},{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"}]}}"#,
    );
    let list = &join
        .config
        .as_ref()
        .expect("test input is valid")
        .postgres_changes;
    let ids = [
        BindingId::new(106_243_155).expect("test input is valid"),
        BindingId::new(29_482_102).expect("test input is valid"),
    ];
    let frame = join_reply_ok(
        Vsn::V2,
        to(Some("6"), "6", "realtime:room1"),
        list.iter().zip(ids),
    );
    assert_eq!(
        frame.as_str(),
        r#"["6","6","realtime:room1","phx_reply",{"status":"ok","response":{"postgres_changes":[{"id":106243155,"event":"*","schema":"public","table":"todos"},{"id":29482102,"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"}]}}]"#
    );

    let none = join_reply_ok(Vsn::V1, to(Some("1"), "1", "realtime:r"), []);
    assert_eq!(
        none.as_str(),
        r#"{"topic":"realtime:r","event":"phx_reply","payload":{"status":"ok","response":{"postgres_changes":[]}},"ref":"1"}"#
    );
}

#[test]
fn join_reply_handles_odd_binding_objects() {
    let join = bindings(
        r#"{"config":{"postgres_changes":[ { } ,{ "event" : "*" },{"id":"client","event":"UPDATE"}]}}"#,
    );
    let list = &join
        .config
        .as_ref()
        .expect("test input is valid")
        .postgres_changes;
    let frame = join_reply_ok(
        Vsn::V2,
        to(Some("1"), "1", "realtime:r"),
        list.iter()
            .map(|b| (b, BindingId::new(5).expect("test input is valid"))),
    );
    let value = parsed(&frame);
    let echoed = value[4]["response"]["postgres_changes"]
        .as_array()
        .expect("test input is valid")
        .clone();
    assert_eq!(echoed[0], serde_json::json!({"id": 5}));
    assert_eq!(echoed[1], serde_json::json!({"id": 5, "event": "*"}));
    assert_eq!(echoed[2], serde_json::json!({"id": 5, "event": "UPDATE"}));
    assert!(
        frame.as_str().contains(r#"{"id":5, "event" : "*" }"#),
        "whitespace inside the client's object is kept: {}",
        frame.as_str()
    );
    assert_eq!(
        frame.as_str().matches("\"id\"").count(),
        3,
        "no duplicate id keys"
    );
}

#[test]
fn error_replies_carry_supabase_reasons() {
    assert_eq!(
        reply_error(
            Vsn::V2,
            to(Some("6"), "6", "realtime:room1"),
            reasons::TOPIC_NAME_REQUIRED
        )
        .as_str(),
        r#"["6","6","realtime:room1","phx_reply",{"status":"error","response":{"reason":"TopicNameRequired: You must provide a topic name"}}]"#
    );
    assert_eq!(
        reply_broadcast_error(
            Vsn::V1,
            to(Some("6"), "8", "realtime:r"),
            reasons::PAYLOAD_SIZE_EXCEEDED
        )
        .as_str(),
        r#"{"topic":"realtime:r","event":"phx_reply","payload":{"status":"error","response":{"error":"payload_size_exceeded"}},"ref":"8"}"#
    );
    assert_eq!(
        reply_error_empty(Vsn::V2, to(Some("1"), "5", "realtime:p")).as_str(),
        r#"["1","5","realtime:p","phx_reply",{"status":"error","response":{}}]"#
    );
    let custom = reply(
        Vsn::V2,
        to(None, "2", "realtime:r"),
        Status::Ok,
        &json(r#"{"a":[1]}"#),
    );
    assert_eq!(parsed(&custom)[4]["response"]["a"][0], 1);
}

#[test]
fn channel_pushes_carry_the_join_ref() {
    let subscribed = SystemMessage {
        extension: SystemExtension::PostgresChanges,
        status: Status::Ok,
        message: reasons::SUBSCRIBED_TO_POSTGRES,
        channel: Some("room1"),
    };
    assert_eq!(
        system(Vsn::V2, Some("6"), "realtime:room1", &subscribed).as_str(),
        r#"["6",null,"realtime:room1","system",{"message":"Subscribed to PostgreSQL","status":"ok","extension":"postgres_changes","channel":"room1"}]"#
    );
    let disconnect = SystemMessage {
        extension: SystemExtension::System,
        status: Status::Ok,
        message: reasons::SERVER_REQUESTED_DISCONNECT,
        channel: None,
    };
    assert_eq!(
        system(Vsn::V1, Some("6"), "realtime:room1", &disconnect).as_str(),
        r#"{"topic":"realtime:room1","event":"system","payload":{"message":"Server requested disconnect","status":"ok","extension":"system"},"ref":null}"#
    );
    assert_eq!(
        presence_state(
            Vsn::V2,
            Some("4"),
            "realtime:cursor-room",
            &json(r#"{"u":{"metas":[{"phx_ref":"GHlA"}]}}"#)
        )
        .as_str(),
        r#"["4",null,"realtime:cursor-room","presence_state",{"u":{"metas":[{"phx_ref":"GHlA"}]}}]"#
    );
    assert_eq!(
        close(Vsn::V2, Some("6"), "realtime:room1").as_str(),
        r#"["6","6","realtime:room1","phx_close",{}]"#
    );
    assert_eq!(
        close(Vsn::V1, Some("6"), "realtime:room1").as_str(),
        r#"{"topic":"realtime:room1","event":"phx_close","payload":{},"ref":"6"}"#
    );
    assert_eq!(
        channel_error(Vsn::V2, Some("6"), "realtime:room1").as_str(),
        r#"["6","6","realtime:room1","phx_error",{}]"#
    );
}

#[test]
fn fanout_frames_are_null_addressed() {
    let ids = [
        BindingId::new(106_243_155).expect("test input is valid"),
        BindingId::new(2).expect("test input is valid"),
    ];
    let change = postgres_changes(
        Vsn::V2,
        "realtime:room1",
        &ids,
        &json(r#"{"type":"UPDATE","errors":null}"#),
    );
    assert_eq!(
        change.as_str(),
        r#"[null,null,"realtime:room1","postgres_changes",{"ids":[106243155,2],"data":{"type":"UPDATE","errors":null}}]"#
    );
    assert_eq!(
        presence_diff(Vsn::V1, "realtime:p", &json(r#"{"joins":{},"leaves":{}}"#)).as_str(),
        r#"{"topic":"realtime:p","event":"presence_diff","payload":{"joins":{},"leaves":{}},"ref":null}"#
    );
}

#[test]
fn broadcasts_per_vsn() {
    let verbatim = OutboundBroadcast::Verbatim(json(
        r#"{"type":"broadcast","event":"ev","payload":{"y":1}}"#,
    ));
    let Ok(Some(ServerFrame::Text(text))) = broadcast(Vsn::V2, "realtime:room1", &verbatim) else {
        panic!("text expected");
    };
    assert_eq!(
        text.as_str(),
        r#"[null,null,"realtime:room1","broadcast",{"type":"broadcast","event":"ev","payload":{"y":1}}]"#
    );

    let parts = OutboundBroadcast::Parts {
        event: "cursor".into(),
        payload: UserPayload::Json(json(r#"{"x":1}"#)),
        meta: Some(json(r#"{"id":"u-1"}"#)),
    };
    let Ok(Some(ServerFrame::Text(v1))) = broadcast(Vsn::V1, "realtime:room1", &parts) else {
        panic!("text expected");
    };
    assert_eq!(
        v1.as_str(),
        r#"{"topic":"realtime:room1","event":"broadcast","payload":{"type":"broadcast","event":"cursor","payload":{"x":1},"meta":{"id":"u-1"}},"ref":null}"#
    );

    let binary = OutboundBroadcast::Parts {
        event: "blob".into(),
        payload: UserPayload::Binary(Bytes::from_static(&[7])),
        meta: None,
    };
    assert_eq!(broadcast(Vsn::V1, "realtime:r", &binary), Ok(None));
    assert_eq!(
        broadcast(Vsn::V2, "realtime:r", &binary),
        Ok(Some(ServerFrame::Binary(Bytes::from_static(
            b"\x04\x0a\x04\x00\x00realtime:rblob\x07"
        ))))
    );
}

#[test]
fn strings_are_escaped_like_serde_json() {
    let nasty = "q\"b\\s/n\nr\rt\tb\u{8}f\u{c}z\u{0}e\u{1f}\u{7f}é\u{2028}😀";
    let frame = reply_error(Vsn::V2, to(Some(nasty), nasty, "realtime:t"), nasty);
    let value = parsed(&frame);
    assert_eq!(value[0], nasty);
    assert_eq!(value[4]["response"]["reason"], nasty);
    let mut ours = Vec::new();
    write_json_string(&mut ours, nasty);
    assert_eq!(
        String::from_utf8(ours).expect("test input is valid"),
        serde_json::to_string(nasty).expect("test input is valid")
    );

    // Deterministic sweep over every char class that matters.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..2_000 {
        let s: String = (0..16)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                let pick = (state >> 33) as u32;
                char::from_u32(match pick % 4 {
                    0 => pick % 0x20,
                    1 => 0x20 + pick % 0x60,
                    2 => 0x80 + pick % 0x800,
                    _ => 0x1_0000 + pick % 0x1000,
                })
                .unwrap_or('?')
            })
            .collect();
        let mut ours = Vec::new();
        write_json_string(&mut ours, &s);
        assert_eq!(
            String::from_utf8(ours).expect("test input is valid"),
            serde_json::to_string(&s).expect("test input is valid")
        );
    }
}

#[test]
fn text_frames_share_their_bytes() {
    let frame = reply_ok(Vsn::V2, to(None, "1", "phoenix"));
    let clone = frame.clone();
    assert!(std::ptr::eq(frame.as_str(), clone.as_str()));
    let bytes = frame.to_bytes();
    assert_eq!(bytes.as_ptr(), frame.as_str().as_ptr());
    assert_eq!(frame.len(), bytes.len());
    assert!(!frame.is_empty());
    assert_eq!(
        format!("{frame:?}"),
        format!("TextFrame({} bytes)", frame.len())
    );
}
