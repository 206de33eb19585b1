//! Bad input over real WebSocket connections: random bytes, truncated
//! JSON, unknown events, unjoined topics, oversized frames and a flood of
//! joins each get the protocol's answer or a close, and the process and
//! every other client carry on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use gateway::auth::{Authenticator, JwtSecret};
use gateway::{Gateway, Limits};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "bad-input-test-secret";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn token(role: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({"role": role, "exp": now + 3600});
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("sign")
}

async fn start(limits: Limits) -> (String, CancellationToken) {
    let shutdown = CancellationToken::new();
    let authenticator =
        Authenticator::new(Some(JwtSecret::new(SECRET).expect("secret")), None).expect("auth");
    let gateway = Gateway::new(authenticator, limits, shutdown.clone());
    let (addr, server) = gateway
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    tokio::spawn(server);
    (
        format!(
            "ws://{addr}/realtime/v1/websocket?vsn=2.0.0&apikey={}",
            token("anon")
        ),
        shutdown,
    )
}

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
        .0
}

/// The next text frame as JSON, skipping nothing.
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .expect("socket open")
            .expect("frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::text(frame.to_string()))
        .await
        .expect("send");
}

/// A heartbeat round trip: proves the socket still works.
async fn heartbeat(socket: &mut Socket, reference: &str) {
    send(socket, json!([null, reference, "phoenix", "heartbeat", {}])).await;
    let reply = next_json(socket).await;
    assert_eq!(
        reply,
        json!([null, reference, "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
}

#[tokio::test]
async fn garbage_is_survived_and_answered_in_protocol_terms() {
    let (url, shutdown) = start(Limits::default()).await;
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
    shutdown.cancel();
}

#[tokio::test]
async fn an_oversized_frame_closes_only_its_socket() {
    let limits = Limits {
        max_frame_bytes: 64 * 1024,
        ..Limits::default()
    };
    let (url, shutdown) = start(limits).await;
    let mut bystander = connect(&url).await;
    let mut socket = connect(&url).await;
    let big = format!(
        "[null,\"1\",\"phoenix\",\"heartbeat\",{{\"pad\":\"{}\"}}]",
        "x".repeat(100 * 1024)
    );
    let _ = socket.send(Message::text(big)).await;
    let end = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("answer");
    assert!(
        matches!(end, None | Some(Err(_)) | Some(Ok(Message::Close(_)))),
        "the oversized socket is closed, got {end:?}"
    );
    heartbeat(&mut bystander, "b1").await;
    shutdown.cancel();
}

#[tokio::test]
async fn a_flood_of_joins_is_refused_and_disconnected() {
    let limits = Limits {
        max_joins_per_second: 10,
        ..Limits::default()
    };
    let (url, shutdown) = start(limits).await;
    let mut bystander = connect(&url).await;
    let mut socket = connect(&url).await;
    for i in 0..11 {
        send(&mut socket, json!([i.to_string(), i.to_string(), format!("realtime:r{i}"), "phx_join", {"config": {"presence": {"enabled": false}}}])).await;
    }
    let mut refused = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
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
    shutdown.cancel();
}

#[tokio::test]
async fn a_bad_connect_token_is_a_401_before_the_upgrade() {
    let (url, shutdown) = start(Limits::default()).await;
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
    let missing = url.split("&apikey").next().expect("url").to_owned();
    assert!(tokio_tungstenite::connect_async(missing).await.is_err());
    shutdown.cancel();
}
