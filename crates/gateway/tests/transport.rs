//! The WebSocket transport over real sockets: walcast answers the upgrade
//! itself, refuses bad tokens with 401 before upgrading (query `apikey` or
//! `x-api-key` header), speaks both vsns, accepts binary kind-3 pushes,
//! answers pings and closes with the documented codes.

mod support;

use futures_util::{SinkExt, StreamExt};
use gateway::Limits;
use gateway::protocol::KIND_USER_BROADCAST_PUSH;
use serde_json::{Value, json};
use support::{
    Socket, broadcast_config, heartbeat, http, join, next_json, now, send, start, token, token_with,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};

/// Connects with an optional `apikey` query and `x-api-key` header;
/// returns the refusal's status and JSON body, or `None` when upgraded.
async fn try_connect(
    server: &support::Server,
    apikey: Option<&str>,
    header: Option<&str>,
) -> Option<(u16, Value)> {
    let mut url = format!("ws://{}/realtime/v1/websocket?vsn=2.0.0", server.addr);
    if let Some(apikey) = apikey {
        url.push_str("&apikey=");
        url.push_str(apikey);
    }
    let mut request = url.into_client_request().expect("request");
    if let Some(header) = header {
        request
            .headers_mut()
            .insert("x-api-key", HeaderValue::from_str(header).expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok(_) => None,
        Err(WsError::Http(response)) => {
            let body = response.body().as_deref().unwrap_or_default();
            Some((
                response.status().as_u16(),
                serde_json::from_slice(body).expect("JSON body"),
            ))
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401_before_the_upgrade() {
    let server = start(Limits::default()).await;
    let expired = token_with(json!({"role": "anon", "exp": now() - 60}));
    let no_role = token_with(json!({"exp": now() + 60}));
    let forged = {
        let key = jsonwebtoken::EncodingKey::from_secret(b"another secret");
        let claims = json!({"role": "anon", "exp": now() + 60});
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("sign")
    };
    let cases: [(Option<&str>, Option<&str>, &str); 6] = [
        (None, None, "API key is missing"),
        (Some("nope"), None, "The token provided is not a valid JWT"),
        (Some(&expired), None, "Token has expired"),
        (
            Some(&no_role),
            None,
            "Fields `role` and `exp` are required in JWT",
        ),
        (Some(&forged), None, "Failed to validate JWT signature"),
        // The header wins over the query, as in Supabase's user_socket.ex.
        (Some(&token("anon")), Some(&expired), "Token has expired"),
    ];
    for (apikey, header, message) in cases {
        assert_eq!(
            try_connect(&server, apikey, header).await,
            Some((401, json!({ "error": message }))),
            "apikey {apikey:?}, x-api-key {header:?}"
        );
    }
    assert_eq!(server.gateway.open_connections(), 0, "nothing was upgraded");

    // A good x-api-key header alone is enough.
    assert_eq!(try_connect(&server, None, Some(&token("anon"))).await, None);
}

#[tokio::test]
async fn a_request_that_is_not_an_upgrade_gets_400() {
    let server = start(Limits::default()).await;
    let path = format!("/realtime/v1/websocket?vsn=2.0.0&apikey={}", token("anon"));
    let (status, body) = http(server.addr, "GET", &path, &[], b"").await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&body).expect("JSON body");
    assert!(body["error"].is_string(), "{body}");

    let (status, _) = http(
        server.addr,
        "GET",
        &path,
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "8"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        b"",
    )
    .await;
    assert_eq!(status, 400, "only version 13 is spoken");
}

#[tokio::test]
async fn vsn_1_and_vsn_2_both_work_over_the_new_upgrade() {
    let server = start(Limits::default()).await;

    // vsn 1.0.0 (also what no vsn means): JSON objects, no join_ref.
    for vsn in [Some("1.0.0"), None] {
        let mut socket = server.connect(vsn).await;
        send(&mut socket, json!({"topic": "realtime:v1", "event": "phx_join", "payload": {"config": broadcast_config(true, true)}, "ref": "1", "join_ref": "1"})).await;
        let reply = next_json(&mut socket).await;
        assert_eq!(reply["event"], "phx_reply");
        assert_eq!(reply["ref"], "1");
        assert_eq!(reply["payload"]["status"], "ok");
        assert!(reply.get("join_ref").is_none(), "{reply}");
        send(&mut socket, json!({"topic": "realtime:v1", "event": "broadcast", "payload": {"type": "broadcast", "event": "e", "payload": {"n": 1}}, "ref": "2", "join_ref": "1"})).await;
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(next_json(&mut socket).await);
        }
        assert!(
            got.iter()
                .any(|f| f["event"] == "broadcast" && f["payload"]["payload"]["n"] == 1),
            "self broadcast arrives: {got:?}"
        );
        assert!(
            got.iter()
                .any(|f| f["event"] == "phx_reply" && f["ref"] == "2"),
            "ack arrives: {got:?}"
        );
    }

    // vsn 2.0.0: arrays.
    let mut socket = server.connect(Some("2.0.0")).await;
    let reply = join(
        &mut socket,
        "4",
        "realtime:v2",
        broadcast_config(false, false),
    )
    .await;
    assert_eq!(
        reply,
        json!(["4", "4", "realtime:v2", "phx_reply", {"status": "ok", "response": {"postgres_changes": []}}])
    );
    heartbeat(&mut socket, "5").await;

    // Any other vsn is refused before the upgrade.
    let url = server.url(Some("3.0.0"));
    match tokio_tungstenite::connect_async(url).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected a 400, got {other:?}"),
    }
}

/// A kind-3 frame as realtime-js builds it for `channel.send`.
fn user_broadcast_push(
    join_ref: &str,
    reference: &str,
    topic: &str,
    event: &str,
    json: &str,
) -> Vec<u8> {
    let mut frame = vec![
        KIND_USER_BROADCAST_PUSH,
        join_ref.len() as u8,
        reference.len() as u8,
        topic.len() as u8,
        event.len() as u8,
        0, // no metadata
        1, // JSON payload
    ];
    for part in [join_ref, reference, topic, event, json] {
        frame.extend_from_slice(part.as_bytes());
    }
    frame
}

#[tokio::test]
async fn binary_broadcast_pushes_are_still_accepted() {
    let server = start(Limits::default()).await;
    let mut sender = server.connect(Some("2.0.0")).await;
    let mut receiver = server.connect(Some("2.0.0")).await;
    join(
        &mut sender,
        "1",
        "realtime:bin",
        broadcast_config(false, true),
    )
    .await;
    join(
        &mut receiver,
        "1",
        "realtime:bin",
        broadcast_config(false, false),
    )
    .await;

    let push = user_broadcast_push("1", "2", "realtime:bin", "cursor", r#"{"x":7}"#);
    sender
        .send(Message::Binary(Bytes::from(push)))
        .await
        .expect("send");
    assert_eq!(
        next_json(&mut sender).await,
        json!(["1", "2", "realtime:bin", "phx_reply", {"status": "ok", "response": {}}])
    );
    assert_eq!(
        next_json(&mut receiver).await,
        json!([null, null, "realtime:bin", "broadcast", {"type": "broadcast", "event": "cursor", "payload": {"x": 7}}])
    );
}

#[tokio::test]
async fn pings_are_answered_and_a_client_close_is_echoed() {
    let server = start(Limits::default()).await;
    let mut socket = server.connect(Some("2.0.0")).await;
    socket
        .send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .expect("ping");
    let pong = tokio::time::timeout(support::PATIENCE, socket.next())
        .await
        .expect("an answer in time")
        .expect("open")
        .expect("frame");
    assert_eq!(pong, Message::Pong(Bytes::from_static(b"are you there")));

    socket.close(None).await.expect("close");
    let end = read_to_close(&mut socket).await;
    assert!(end.is_some(), "the server answers the close handshake");
}

#[tokio::test]
async fn an_oversized_frame_closes_with_1009() {
    let limits = Limits {
        max_frame_bytes: 16 * 1024,
        ..Limits::default()
    };
    let server = start(limits).await;
    let mut bystander = server.connect(Some("2.0.0")).await;
    let mut socket = server.connect(Some("2.0.0")).await;
    let big = format!(
        "[null,\"1\",\"phoenix\",\"heartbeat\",{{\"pad\":\"{}\"}}]",
        "x".repeat(32 * 1024)
    );
    let _ = socket.send(Message::text(big)).await;
    assert_eq!(read_to_close(&mut socket).await, Some(1009));
    heartbeat(&mut bystander, "b1").await;
}

/// Reads until the server's close frame; its code, or `None` if the
/// connection ended without one.
async fn read_to_close(socket: &mut Socket) -> Option<u16> {
    loop {
        let next = tokio::time::timeout(support::PATIENCE, socket.next())
            .await
            .expect("the server ends the connection in time");
        match next {
            Some(Ok(Message::Close(frame))) => {
                return Some(frame.map_or(1005, |f| u16::from(f.code)));
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return None,
        }
    }
}

#[tokio::test]
async fn the_socket_path_works_too() {
    let server = start(Limits::default()).await;
    let url = format!(
        "ws://{}/socket/websocket?vsn=2.0.0&apikey={}",
        server.addr,
        token("anon")
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    assert_eq!(response.status(), 101);
    heartbeat(&mut socket, "1").await;
}

#[tokio::test]
async fn the_legacy_warp_upgrade_still_serves_for_the_benchmark_baseline() {
    let limits = Limits {
        legacy_warp_ws: true,
        ..Limits::default()
    };
    let server = start(limits).await;
    let mut socket = server.connect(Some("2.0.0")).await;
    join(
        &mut socket,
        "1",
        "realtime:old",
        broadcast_config(true, true),
    )
    .await;
    heartbeat(&mut socket, "2").await;
    assert_eq!(
        try_connect(&server, Some("nope"), None).await,
        Some((
            401,
            json!({"error": "The token provided is not a valid JWT"})
        ))
    );
}
