//! Bad input over real WebSocket connections: random bytes, truncated
//! JSON, unknown events, unjoined topics, oversized frames and a flood of
//! joins each get the protocol's answer or a close, and the process and
//! every other client carry on.

mod support;

use futures_util::{SinkExt, StreamExt};
use gateway::Limits;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use support::{PATIENCE, Socket, heartbeat, next_json, send, token};

/// A gateway and the vsn 2.0.0 URL of an anon client; the gateway stops
/// when the server handle is dropped.
async fn start(limits: Limits) -> (String, support::Server) {
    let server = support::start(limits).await;
    (server.url(Some("2.0.0")), server)
}

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
        .0
}

#[tokio::test]
async fn garbage_is_survived_and_answered_in_protocol_terms() {
    let (url, server) = start(Limits::default()).await;
    let mut bystander = connect(&url).await;
    let mut socket = connect(&url).await;

    socket
        .send(Message::binary(vec![0xFF, 0x00, 0x13, 0x37]))
        .await
        .expect("send");
    socket
        .send(Message::text("[\"1\",\"2\",\"realtime:x\",\"phx_jo"))
        .await
        .expect("send");
    socket
        .send(Message::text("{\"not\":\"a frame\"}"))
        .await
        .expect("send");
    heartbeat(&mut socket, "h1").await;

    // A push to a topic that was never joined.
    send(&mut socket, json!(["9", "10", "realtime:never", "broadcast", {"type": "broadcast", "event": "e", "payload": {}}])).await;
    let reply = next_json(&mut socket).await;
    assert_eq!(
        reply[4],
        json!({"status": "error", "response": {"reason": "unmatched topic"}})
    );

    // An unknown event on a joined topic is dropped; the channel stays.
    send(&mut socket, json!(["1", "1", "realtime:room", "phx_join", {"config": {"presence": {"enabled": false}}}])).await;
    let joined = next_json(&mut socket).await;
    assert_eq!(joined[4]["status"], "ok");
    send(
        &mut socket,
        json!(["1", "2", "realtime:room", "no_such_event", {}]),
    )
    .await;
    heartbeat(&mut socket, "h2").await;

    // A topic with no name.
    send(&mut socket, json!(["3", "3", "realtime:", "phx_join", {}])).await;
    let reply = next_json(&mut socket).await;
    assert_eq!(
        reply[4]["response"]["reason"],
        "TopicNameRequired: You must provide a topic name"
    );

    // A bad token in the join.
    send(
        &mut socket,
        json!(["4", "4", "realtime:t", "phx_join", {"access_token": "x.y.z"}]),
    )
    .await;
    let reply = next_json(&mut socket).await;
    assert_eq!(reply[4]["status"], "error");
    assert!(
        reply[4]["response"]["reason"]
            .as_str()
            .expect("reason")
            .starts_with("MalformedJWT")
    );

    heartbeat(&mut bystander, "b1").await;
    drop(server);
}

#[tokio::test]
async fn an_oversized_frame_closes_only_its_socket() {
    let limits = Limits {
        max_frame_bytes: 64 * 1024,
        ..Limits::default()
    };
    let (url, server) = start(limits).await;
    let mut bystander = connect(&url).await;
    let mut socket = connect(&url).await;
    let big = format!(
        "[null,\"1\",\"phoenix\",\"heartbeat\",{{\"pad\":\"{}\"}}]",
        "x".repeat(100 * 1024)
    );
    let _ = socket.send(Message::text(big)).await;
    let end = tokio::time::timeout(PATIENCE, socket.next())
        .await
        .expect("answer");
    assert!(
        matches!(end, None | Some(Err(_)) | Some(Ok(Message::Close(_)))),
        "the oversized socket is closed, got {end:?}"
    );
    heartbeat(&mut bystander, "b1").await;
    drop(server);
}

#[tokio::test]
async fn a_flood_of_joins_is_refused_and_disconnected() {
    let limits = Limits {
        max_joins_per_second: 10,
        ..Limits::default()
    };
    let (url, server) = start(limits).await;
    let mut bystander = connect(&url).await;
    let mut socket = connect(&url).await;
    for i in 0..11 {
        send(&mut socket, json!([i.to_string(), i.to_string(), format!("realtime:r{i}"), "phx_join", {"config": {"presence": {"enabled": false}}}])).await;
    }
    let mut refused = false;
    loop {
        match tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("frames")
        {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).expect("json");
                if frame[4]["response"]["reason"]
                    == "ClientJoinRateLimitReached: Too many joins per second"
                {
                    refused = true;
                }
            }
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1008));
                break;
            }
            None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    assert!(
        refused,
        "the eleventh join gets Supabase's rate-limit reason"
    );
    heartbeat(&mut bystander, "b1").await;
    drop(server);
}

#[tokio::test]
async fn a_join_past_the_channel_limit_is_refused_and_the_socket_stays() {
    let limits = Limits {
        max_channels_per_socket: 2,
        ..Limits::default()
    };
    let (url, server) = start(limits).await;
    let mut socket = connect(&url).await;
    let join = |i: usize, topic: &str| json!([i.to_string(), i.to_string(), topic, "phx_join", {"config": {"presence": {"enabled": false}}}]);
    for (i, topic) in ["realtime:a", "realtime:b"].into_iter().enumerate() {
        send(&mut socket, join(i, topic)).await;
        assert_eq!(next_json(&mut socket).await[4]["status"], "ok", "{topic}");
    }
    send(&mut socket, join(2, "realtime:c")).await;
    let refused = next_json(&mut socket).await;
    assert_eq!(refused[2], "realtime:c");
    assert_eq!(
        refused[4],
        json!({"status": "error", "response": {"reason": "ChannelRateLimitReached: Too many channels"}})
    );
    // Joining a joined topic again replaces it, so it is not refused.
    send(&mut socket, join(3, "realtime:a")).await;
    let mut frames = [next_json(&mut socket).await, next_json(&mut socket).await];
    frames.sort_by_key(|frame| frame[3].as_str().map(str::to_owned));
    assert_eq!(frames[0][3], "phx_close");
    assert_eq!(frames[1][3], "phx_reply");
    assert_eq!(frames[1][4]["status"], "ok");
    heartbeat(&mut socket, "h1").await;
    drop(server);
}

#[tokio::test]
async fn a_bad_connect_token_is_a_401_before_the_upgrade() {
    let (url, server) = start(Limits::default()).await;
    let bad = url.replace(&format!("apikey={}", token("anon")), "apikey=nope");
    let err = tokio_tungstenite::connect_async(bad)
        .await
        .expect_err("refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 401);
            let body: Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default())
                    .expect("json body");
            assert_eq!(
                body,
                json!({"error": "The token provided is not a valid JWT"})
            );
        }
        other => panic!("expected an HTTP 401, got {other}"),
    }
    let missing = url.replace(&format!("apikey={}", token("anon")), "");
    assert!(!missing.contains("apikey"));
    assert!(tokio_tungstenite::connect_async(missing).await.is_err());
    drop(server);
}
