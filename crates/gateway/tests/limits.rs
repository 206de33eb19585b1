//! Limits over real sockets: a slow consumer is evicted with 1013 while
//! its topic's other members get everything and the server's queued bytes
//! stay bounded; too many pushes close the channel the way Supabase does;
//! an oversized broadcast gets `payload_size_exceeded` and the socket stays;
//! HTTP broadcasts get Supabase's 429s.
//!
//! No assertion depends on timing: loops are bounded by message counts and
//! waits only guard against hangs.

mod support;

use futures_util::StreamExt;
use gateway::Limits;
use serde_json::{Value, json};
use support::{
    PATIENCE, broadcast_config, heartbeat, join, next_json, post_broadcast, send, start, token,
};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_slow_consumer_is_closed_with_1013_and_the_others_get_everything() {
    const FRAME_PAYLOAD: usize = 16 * 1024;
    let limits = Limits {
        queue_frames: 32,
        queue_bytes: 128 * 1024,
        max_events_per_second: u32::MAX,
        ..Limits::default()
    };
    let queue_bytes = limits.queue_bytes;
    let server = start(limits).await;

    // The slow client reads nothing until it is evicted; a small receive
    // buffer makes that come sooner.
    let tcp = TcpSocket::new_v4().expect("socket");
    tcp.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = tcp.connect(server.addr).await.expect("connect");
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (mut slow, _) = tokio_tungstenite::client_async(server.url(Some("2.0.0")), stream)
        .await
        .expect("upgrade");
    join(
        &mut slow,
        "1",
        "realtime:hot",
        broadcast_config(false, false),
    )
    .await;

    // The fast client publishes with `self: true` and reads its own copy of
    // each message before sending the next, so its queue never fills.
    let mut fast = server.connect(Some("2.0.0")).await;
    join(
        &mut fast,
        "1",
        "realtime:hot",
        broadcast_config(true, false),
    )
    .await;
    assert_eq!(server.gateway.hub().stats().channels, 2);

    let pad = "x".repeat(FRAME_PAYLOAD);
    let mut sent = 0u32;
    let mut evicted_at = None;
    while sent < 4000 {
        send(&mut fast, json!(["1", null, "realtime:hot", "broadcast", {"type": "broadcast", "event": "n", "payload": {"n": sent, "pad": pad}}])).await;
        let echo = next_json(&mut fast).await;
        assert_eq!(
            echo[4]["payload"]["n"], sent,
            "the fast client misses nothing"
        );
        sent += 1;
        assert!(
            server.gateway.queued_bytes() <= queue_bytes + 2 * (FRAME_PAYLOAD + 1024),
            "queued bytes stay bounded: {}",
            server.gateway.queued_bytes()
        );
        if evicted_at.is_none() && server.gateway.hub().stats().channels == 1 {
            evicted_at = Some(sent);
            // A few more, to show the fast client carries on.
            for _ in 0..5 {
                send(&mut fast, json!(["1", null, "realtime:hot", "broadcast", {"type": "broadcast", "event": "n", "payload": {"n": sent}}])).await;
                assert_eq!(next_json(&mut fast).await[4]["payload"]["n"], sent);
                sent += 1;
            }
            break;
        }
    }
    let evicted_at = evicted_at.expect("the slow client is evicted");

    // Now the slow client reads: a gap-free prefix of the messages, then
    // the close frame with 1013.
    let mut expected = 0u64;
    let code = loop {
        let next = tokio::time::timeout(PATIENCE, slow.next())
            .await
            .expect("the slow client's data and close arrive");
        match next {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).expect("json");
                assert_eq!(frame[4]["payload"]["n"], expected, "in order, no gaps");
                expected += 1;
            }
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(code, Some(1013));
    assert!(
        expected < u64::from(evicted_at),
        "the slow client got a prefix"
    );
    heartbeat(&mut fast, "h").await;
    assert_eq!(server.gateway.queued_bytes(), 0, "nothing stays queued");
}

#[tokio::test]
async fn too_many_pushes_close_the_channel_not_the_socket() {
    let limits = Limits {
        max_events_per_second: 3,
        ..Limits::default()
    };
    let server = start(limits).await;
    let mut socket = server.connect(Some("2.0.0")).await;
    join(
        &mut socket,
        "1",
        "realtime:busy",
        broadcast_config(false, true),
    )
    .await;

    // Seven pushes: however a one-second window boundary falls, one window
    // sees more than three.
    for n in 0..7 {
        send(&mut socket, json!(["1", format!("p{n}"), "realtime:busy", "broadcast", {"type": "broadcast", "event": "e", "payload": {"n": n}}])).await;
    }
    let mut acked = 0;
    let closed = loop {
        let frame = next_json(&mut socket).await;
        match frame[3].as_str() {
            Some("phx_reply") if frame[4]["status"] == "ok" => acked += 1,
            Some("system") => {
                assert_eq!(
                    frame,
                    json!(["1", null, "realtime:busy", "system", {"channel": "busy", "extension": "system", "message": "Too many messages per second", "status": "error"}])
                );
                let close = next_json(&mut socket).await;
                assert_eq!(close[3], "phx_close");
                break true;
            }
            _ => panic!("unexpected frame {frame}"),
        }
    };
    assert!(closed);
    assert!((3..7).contains(&acked), "{acked} pushes went through first");

    // The socket survives: the pushes after the close are answered like any
    // push to a topic that is not joined, then the heartbeat.
    send(&mut socket, json!([null, "h", "phoenix", "heartbeat", {}])).await;
    loop {
        let frame = next_json(&mut socket).await;
        if frame[2] == "phoenix" {
            assert_eq!(frame[4]["status"], "ok");
            break;
        }
        assert_eq!(frame[4]["response"]["reason"], "unmatched topic", "{frame}");
    }
    join(
        &mut socket,
        "2",
        "realtime:calm",
        broadcast_config(false, true),
    )
    .await;
}

#[tokio::test]
async fn an_oversized_broadcast_is_refused_and_the_socket_stays() {
    let limits = Limits {
        max_payload_bytes: 1000,
        ..Limits::default()
    };
    let server = start(limits).await;
    let mut sender = server.connect(Some("2.0.0")).await;
    let mut receiver = server.connect(Some("2.0.0")).await;
    join(
        &mut sender,
        "1",
        "realtime:big",
        broadcast_config(false, true),
    )
    .await;
    join(
        &mut receiver,
        "1",
        "realtime:big",
        broadcast_config(false, false),
    )
    .await;

    let big = "y".repeat(2000);
    send(&mut sender, json!(["1", "2", "realtime:big", "broadcast", {"type": "broadcast", "event": "e", "payload": {"big": big}}])).await;
    assert_eq!(
        next_json(&mut sender).await,
        json!(["1", "2", "realtime:big", "phx_reply", {"status": "error", "response": {"error": "payload_size_exceeded"}}])
    );

    // Still joined: a small broadcast goes through, and is the first thing
    // the receiver sees.
    send(&mut sender, json!(["1", "3", "realtime:big", "broadcast", {"type": "broadcast", "event": "e", "payload": {"small": true}}])).await;
    assert_eq!(
        next_json(&mut sender).await,
        json!(["1", "3", "realtime:big", "phx_reply", {"status": "ok", "response": {}}])
    );
    assert_eq!(
        next_json(&mut receiver).await[4]["payload"],
        json!({"small": true})
    );
    heartbeat(&mut sender, "h").await;
}

fn messages(count: usize) -> Value {
    let list: Vec<Value> = (0..count)
        .map(|n| json!({"topic": "room", "event": "e", "payload": {"n": n}}))
        .collect();
    json!({ "messages": list })
}

#[tokio::test]
async fn http_broadcasts_over_the_per_token_rate_get_429() {
    let limits = Limits {
        http_broadcast_per_token_per_second: 5,
        ..Limits::default()
    };
    let server = start(limits).await;
    let service = token("service_role");

    let (status, body) = post_broadcast(server.addr, &service, &messages(6)).await;
    assert_eq!(status, 429);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({"error": "Too many messages to broadcast, please reduce the batch size"})
    );

    // Fill the window, then one more. A window that ends between the two
    // requests lets the second through; try again then.
    let mut refused = None;
    for _ in 0..3 {
        let (status, _) = post_broadcast(server.addr, &service, &messages(5)).await;
        if status != 202 {
            continue;
        }
        let (status, body) = post_broadcast(server.addr, &service, &messages(1)).await;
        if status == 429 {
            refused = Some(body);
            break;
        }
    }
    let body = refused.expect("a full window refuses");
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({"error": "You have exceeded your rate limit"})
    );

    // Unchanged: 401 without a usable token, 422 for a bad body.
    let (status, _) = post_broadcast(server.addr, "nope", &messages(1)).await;
    assert_eq!(status, 401);
    let (status, _) = post_broadcast(server.addr, &service, &json!({"messages": "x"})).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn http_broadcasts_over_the_global_rate_get_429() {
    let limits = Limits {
        http_broadcast_per_token_per_second: 100,
        http_broadcast_per_second: 3,
        ..Limits::default()
    };
    let server = start(limits).await;
    let first = token("service_role");
    // Another token: a different expiry makes a different string.
    let second = support::token_with(json!({"role": "service_role", "exp": support::now() + 7200}));
    let mut refused = false;
    for _ in 0..3 {
        let (status, _) = post_broadcast(server.addr, &first, &messages(3)).await;
        if status != 202 {
            continue;
        }
        let (status, body) = post_broadcast(server.addr, &second, &messages(1)).await;
        if status == 429 {
            assert_eq!(
                serde_json::from_str::<Value>(&body).expect("json"),
                json!({"error": "You have exceeded your rate limit"})
            );
            refused = true;
            break;
        }
    }
    assert!(refused, "the global window refuses another token");
}
