//! The accept loop over raw TCP: the upgrade walcast answers itself
//! however the request arrives (in pieces, with frames right behind it,
//! after a keep-alive request), what it leaves to hyper (a head too large
//! for it), and connections that never send a request.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use gateway::auth::{Authenticator, JwtSecret};
use gateway::{Gateway, Limits};
use serde_json::{Value, json};
use support::{PATIENCE, Socket, heartbeat, next_json, start, token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// realtime-js' upgrade request, with `extra` header lines.
fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path}?apikey={}&vsn=2.0.0 HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n{extra}\r\n",
        token("anon")
    )
}

/// Reads one response head, byte by byte so that nothing after it is
/// taken; returns the status and the head's text.
async fn read_head(stream: &mut TcpStream) -> (u16, String) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tokio::time::timeout(PATIENCE, stream.read_u8())
            .await
            .expect("a response in time")
            .expect("a response head");
        head.push(byte);
    }
    let head = String::from_utf8(head).expect("ASCII head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status line");
    (status, head)
}

/// Checks the 101 and its accept key, then speaks WebSocket over `stream`.
async fn upgraded(mut stream: TcpStream) -> Socket {
    let (status, head) = read_head(&mut stream).await;
    assert_eq!(status, 101, "{head}");
    let accept = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("sec-websocket-accept")
            .then(|| value.trim().to_owned())
    });
    assert_eq!(accept, Some(derive_accept_key(KEY.as_bytes())), "{head}");
    WebSocketStream::from_raw_socket(MaybeTlsStream::Plain(stream), Role::Client, None).await
}

/// A masked client text frame (RFC 6455 §5.3).
fn masked_text(text: &str) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let payload = text.as_bytes();
    let mut frame = vec![0x81];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | u8::try_from(len).expect("short")),
        len => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(len).expect("medium").to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

fn heartbeat_frame(reference: &str) -> String {
    json!([null, reference, "phoenix", "heartbeat", {}]).to_string()
}

fn heartbeat_reply(reference: &str) -> Value {
    json!([null, reference, "phoenix", "phx_reply", {"status": "ok", "response": {}}])
}

#[tokio::test]
async fn an_upgrade_arriving_in_pieces_is_answered() {
    let server = start(Limits::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let request = upgrade_request("/realtime/v1/websocket", "");
    for piece in request.as_bytes().chunks(7) {
        stream.write_all(piece).await.expect("write");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut socket = upgraded(stream).await;
    heartbeat(&mut socket, "1").await;
}

#[tokio::test]
async fn frames_sent_right_behind_the_upgrade_request_are_read() {
    let server = start(Limits::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let mut bytes = upgrade_request("/socket/websocket", "").into_bytes();
    bytes.extend(masked_text(&heartbeat_frame("1")));
    // And half of a second frame: its rest comes after the 101.
    let second = masked_text(&heartbeat_frame("2"));
    let (first_half, second_half) = second.split_at(5);
    bytes.extend_from_slice(first_half);
    stream.write_all(&bytes).await.expect("write");
    let (status, head) = read_head(&mut stream).await;
    assert_eq!(status, 101, "{head}");
    stream.write_all(second_half).await.expect("write");
    let mut socket =
        WebSocketStream::from_raw_socket(MaybeTlsStream::Plain(stream), Role::Client, None).await;
    assert_eq!(next_json(&mut socket).await, heartbeat_reply("1"));
    assert_eq!(next_json(&mut socket).await, heartbeat_reply("2"));
}

#[tokio::test]
async fn an_upgrade_after_a_keep_alive_request_is_answered_by_the_route() {
    let server = start(Limits::default()).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let (status, head) = read_head(&mut stream).await;
    assert_eq!(status, 200, "{head}");
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .expect("content-length");
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.expect("body");
    let health: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(health["status"], "ok");
    // The same connection, now hyper's: the warp route upgrades it.
    stream
        .write_all(upgrade_request("/realtime/v1/websocket", "").as_bytes())
        .await
        .expect("write");
    let mut socket = upgraded(stream).await;
    heartbeat(&mut socket, "1").await;
}

#[tokio::test]
async fn a_head_larger_than_the_fast_path_reads_is_replayed_to_hyper() {
    let server = start(Limits::default()).await;
    let padding = format!("X-Padding: {}\r\n", "p".repeat(20 * 1024));
    // A plain request: hyper answers it from the replayed bytes.
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let request = format!("GET /health HTTP/1.1\r\nHost: test\r\n{padding}\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let (status, head) = read_head(&mut stream).await;
    assert_eq!(status, 200, "{head}");
    // An upgrade: the route answers it, and the socket works.
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let request = upgrade_request("/realtime/v1/websocket", &padding);
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut socket = upgraded(stream).await;
    heartbeat(&mut socket, "1").await;
}

#[tokio::test]
async fn refusals_still_come_from_the_route() {
    let server = start(Limits::default()).await;
    let request = upgrade_request("/realtime/v1/websocket", "")
        .replace(&token("anon"), "not-a-jwt")
        .replace(
            "Connection: Upgrade\r\n",
            "Connection: Upgrade\r\nConnection: close\r\n",
        );
    // Whole in the first read, and in pieces (decided after further reads).
    for piece in [request.len(), 7] {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        for bytes in request.as_bytes().chunks(piece) {
            stream.write_all(bytes).await.expect("write");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut response = Vec::new();
        tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
            .await
            .expect("an answer in time")
            .expect("read");
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 401"), "{piece}: {response}");
        assert!(response.contains(r#""error""#), "{piece}: {response}");
    }
}

#[tokio::test]
async fn a_connection_that_sends_no_whole_request_is_closed() {
    let limits = Limits {
        handshake_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let server = start(limits).await;
    for sent in ["", "GET /realtime/v1/websocket?apikey="] {
        let mut stream = TcpStream::connect(server.addr).await.expect("connect");
        stream.write_all(sent.as_bytes()).await.expect("write");
        let mut rest = Vec::new();
        let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut rest))
            .await
            .expect("closed in time");
        assert!(
            read.is_ok_and(|n| n == 0),
            "closed without an answer after {sent:?}"
        );
    }
    // The listener still serves.
    let mut socket = server.connect(Some("2.0.0")).await;
    heartbeat(&mut socket, "1").await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_silent_connection() {
    let shutdown = CancellationToken::new();
    let authenticator =
        Authenticator::new(Some(JwtSecret::new(support::SECRET).expect("secret")), None)
            .expect("auth");
    let limits = Limits {
        handshake_timeout: Duration::from_secs(3600),
        ..Limits::default()
    };
    let gateway = Gateway::new(authenticator, limits, shutdown.clone());
    let (addr, server) = gateway
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let server = tokio::spawn(server);
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    let mut half = TcpStream::connect(addr).await.expect("connect");
    half.write_all(b"GET /health HTT").await.expect("write");
    // Both are accepted and waiting for their heads.
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("the server stops in time")
        .expect("server task");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(PATIENCE, silent.read_to_end(&mut rest))
        .await
        .expect("closed in time");
    assert!(read.is_ok_and(|n| n == 0));
    // A closed listener refuses new connections.
    assert!(TcpStream::connect(addr).await.is_err());
    // Open until here: the server stopped while it waited.
    drop(half);
}

#[tokio::test]
async fn many_upgrades_at_once_all_succeed() {
    let server = start(Limits::default()).await;
    let mut sockets = Vec::new();
    for _ in 0..200 {
        sockets.push(tokio::spawn(tokio_tungstenite::connect_async(
            server.url(Some("2.0.0")),
        )));
    }
    for (n, socket) in sockets.into_iter().enumerate() {
        let (mut socket, _) = socket.await.expect("task").expect("connect");
        heartbeat(&mut socket, &n.to_string()).await;
        let _ = socket.close(None).await;
        let _ = socket.next().await;
    }
}
