use super::*;
use crate::protocol::{ClientEvent, DecodeError, PayloadError, PresencePush, UserPayload};

fn text(vsn: Vsn, frame: &str) -> Result<ClientFrame, DecodeError> {
    FrameDecoder::new(vsn).decode_text(Bytes::from(frame.to_owned()))
}

fn refs(frame: &ClientFrame) -> (Option<&str>, Option<&str>, &str) {
    (
        frame.header.join_ref.as_deref(),
        frame.header.reference.as_deref(),
        frame.header.topic.as_str(),
    )
}

/// The frames realtime-js sends, copied from the reference (§1, §2, §5, §6).
#[test]
fn decodes_realtime_js_v2_frames() {
    let join = text(
        Vsn::V2,
        r#"["6","6","realtime:room1","phx_join",{"config":{"broadcast":{"self":true,"ack":true},"presence":{"key":"u1","enabled":true},"postgres_changes":[{"event":"*","schema":"public","table":"todos"},{"event":"INSERT","schema":"public","table":"todos","filter":"id=eq.1"}],"private":false},"access_token":"user.jwt.token"}]"#,
    )
    .expect("test frame is valid");
    assert_eq!(refs(&join), (Some("6"), Some("6"), "realtime:room1"));
    let ClientEvent::Join(payload) = &join.event else {
        panic!("join expected");
    };
    assert_eq!(
        payload
            .config
            .as_ref()
            .expect("test frame is valid")
            .postgres_changes
            .len(),
        2
    );

    let heartbeat =
        text(Vsn::V2, r#"[null,"7","phoenix","heartbeat",{}]"#).expect("test frame is valid");
    assert_eq!(refs(&heartbeat), (None, Some("7"), "phoenix"));
    assert!(matches!(heartbeat.event, ClientEvent::Heartbeat));

    let leave = text(Vsn::V2, r#"["6","13","realtime:room1","phx_leave",{}]"#)
        .expect("test frame is valid");
    assert!(matches!(leave.event, ClientEvent::Leave));

    let refresh = text(
        Vsn::V2,
        r#"["6","14","realtime:room1","access_token",{"access_token":"token2"}]"#,
    )
    .expect("test frame is valid");
    assert!(matches!(&refresh.event, ClientEvent::AccessToken(Some(t)) if t.as_str() == "token2"));

    let broadcast = text(
        Vsn::V2,
        r#"["10","1","realtime:chat-room","broadcast",{"event":"user-event","type":"broadcast","payload":{"a":1}}]"#,
    )
    .expect("test frame is valid");
    let ClientEvent::Broadcast(push) = &broadcast.event else {
        panic!("broadcast expected");
    };
    assert_eq!(push.event(), Some("user-event"));

    let presence = text(
        Vsn::V2,
        r#"["1","5","realtime:presence-room","presence",{"type":"presence","event":"track","payload":{"name":"Alice"}}]"#,
    )
    .expect("test frame is valid");
    assert!(matches!(
        presence.event,
        ClientEvent::Presence(PresencePush::Track(_))
    ));
}

#[test]
fn decodes_realtime_js_v1_frames() {
    let join = text(
        Vsn::V1,
        r#"{"topic":"realtime:room1","event":"phx_join","payload":{"config":{}},"ref":"6","join_ref":"6"}"#,
    )
    .expect("test frame is valid");
    assert_eq!(refs(&join), (Some("6"), Some("6"), "realtime:room1"));
    assert!(matches!(join.event, ClientEvent::Join(_)));

    let heartbeat = text(
        Vsn::V1,
        r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}"#,
    )
    .expect("test frame is valid");
    assert_eq!(refs(&heartbeat), (None, Some("3"), "phoenix"));
    assert!(matches!(heartbeat.event, ClientEvent::Heartbeat));

    let broadcast = text(
        Vsn::V1,
        r#"{"topic":"realtime:room1","event":"broadcast","payload":{"type":"broadcast","event":"ev","payload":{"y":1}},"ref":"14","join_ref":"12"}"#,
    )
    .expect("test frame is valid");
    let ClientEvent::Broadcast(BroadcastPush::Json { payload, .. }) = &broadcast.event else {
        panic!("broadcast expected");
    };
    assert_eq!(
        payload.as_bytes(),
        br#"{"type":"broadcast","event":"ev","payload":{"y":1}}"#
    );

    let no_ref =
        text(Vsn::V1, r#"{"topic":"t","event":"x","payload":1}"#).expect("test frame is valid");
    assert_eq!(refs(&no_ref), (None, None, "t"));
}

#[test]
fn decodes_binary_broadcast_pushes_on_v2_only() {
    let mut bytes = vec![3, 1, 1, 14, 6, 0, 1];
    bytes.extend_from_slice(b"67realtime:room1cursor{\"x\":1}");
    let frame = FrameDecoder::new(Vsn::V2)
        .decode_binary(Bytes::from(bytes.clone()))
        .expect("test frame is valid");
    assert_eq!(refs(&frame), (Some("6"), Some("7"), "realtime:room1"));
    let ClientEvent::Broadcast(BroadcastPush::User(push)) = &frame.event else {
        panic!("user broadcast expected");
    };
    assert_eq!(push.event, "cursor");
    assert!(matches!(&push.payload, UserPayload::Json(j) if j.as_bytes() == br#"{"x":1}"#));

    assert!(matches!(
        FrameDecoder::new(Vsn::V1).decode_binary(Bytes::from(bytes)),
        Err(DecodeError::BinaryOnV1)
    ));
}

#[test]
fn sorts_malformed_frames() {
    let invalid_json = [r#"["1","2","t","e",{}"#, "", "{", "nul", "[1,]"];
    for frame in invalid_json {
        for vsn in [Vsn::V1, Vsn::V2] {
            assert!(
                matches!(text(vsn, frame), Err(DecodeError::InvalidJson(_))),
                "{vsn} {frame}"
            );
        }
    }
    let wrong_shape_v2 = [
        r#"{"topic":"t","event":"e","payload":{}}"#,
        r#"["1","2","t","e"]"#,
        r#"[1,"2","t","e",{}]"#,
        r#"["1","2",null,"e",{}]"#,
        r#"["1","2","t",["e"],{}]"#,
        "42",
    ];
    for frame in wrong_shape_v2 {
        assert!(
            matches!(
                text(Vsn::V2, frame),
                Err(DecodeError::WrongShape { vsn: Vsn::V2, .. })
            ),
            "{frame}"
        );
    }
    let wrong_shape_v1 = [
        r#"["t","e",{},"1","2"]"#,
        r#"{"topic":"t","event":"e"}"#,
        r#"{"topic":1,"event":"e","payload":{}}"#,
        r#"{"topic":"t","event":"e","payload":{},"ref":5}"#,
        r#"{"topic":"t","event":"e","payload":{},"topic":"u"}"#,
    ];
    for frame in wrong_shape_v1 {
        assert!(
            matches!(
                text(Vsn::V1, frame),
                Err(DecodeError::WrongShape { vsn: Vsn::V1, .. })
            ),
            "{frame}"
        );
    }
    let extra =
        text(Vsn::V2, r#"["1","2","t","e",{},"ignored",[1]]"#).expect("test frame is valid");
    assert_eq!(refs(&extra), (Some("1"), Some("2"), "t"));
    assert!(matches!(
        FrameDecoder::new(Vsn::V2).decode_text(Bytes::from_static(b"[\"\xff\"]")),
        Err(DecodeError::NotUtf8("text frame"))
    ));
}

#[test]
fn payload_errors_keep_the_header() {
    let err = text(
        Vsn::V2,
        r#"["3","4","realtime:r","phx_join","not an object"]"#,
    )
    .expect_err("should be refused");
    let DecodeError::Payload {
        header,
        event,
        problem,
    } = err
    else {
        panic!("payload error expected");
    };
    assert_eq!(header.reference.as_deref(), Some("4"));
    assert_eq!(event, "phx_join");
    assert!(matches!(problem, PayloadError::NotAnObject));
}

#[test]
fn enforces_the_frame_limit() {
    let decoder = FrameDecoder::new(Vsn::V2).with_max_frame_bytes(10);
    assert!(matches!(
        decoder.decode_text(Bytes::from_static(
            b"[null,null,\"phoenix\",\"heartbeat\",{}]"
        )),
        Err(DecodeError::TooLarge { len: 36, max: 10 })
    ));
    assert!(matches!(
        decoder.decode_binary(Bytes::from(vec![3; 11])),
        Err(DecodeError::TooLarge { .. })
    ));
    assert_eq!(decoder.vsn(), Vsn::V2);
}

#[test]
fn kept_payloads_are_slices_of_the_frame() {
    let frame = Bytes::from_static(br#"["1","2","realtime:r","custom",{"big":[1,2,3]}]"#);
    let decoded = FrameDecoder::new(Vsn::V2)
        .decode_text(frame.clone())
        .expect("test frame is valid");
    let ClientEvent::Other { payload, .. } = decoded.event else {
        panic!("other expected");
    };
    let start = payload.as_bytes().as_ptr() as usize - frame.as_ptr() as usize;
    assert_eq!(
        &frame[start..start + payload.as_bytes().len()],
        payload.as_bytes()
    );
}
