//! What the socket-level tests share: a gateway on port 0 without a
//! database, signed tokens, WebSocket and plain HTTP clients.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use changes::{Change, ChangeKind, Column, Datum, Event, PgType, Position, Relation, Row};
use pgoutput::ReplicaIdentity;

use futures_util::{SinkExt, StreamExt};
use gateway::auth::{Authenticator, JwtSecret};
use gateway::{Gateway, Limits};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub(crate) const SECRET: &str = "socket-test-secret";

/// How long a test waits for a frame that must come: a hang guard, not a
/// timing assertion.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A token with exactly these claims, signed with [`SECRET`].
pub(crate) fn token_with(claims: Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("sign")
}

/// A valid token for `role`, good for an hour.
pub(crate) fn token(role: &str) -> String {
    token_with(json!({"role": role, "exp": now() + 3600}))
}

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    pub(crate) gateway: Gateway,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Server {
    /// The WebSocket URL for `vsn` (none: no `vsn` parameter) and an anon token.
    pub(crate) fn url(&self, vsn: Option<&str>) -> String {
        let mut url = format!(
            "ws://{}/realtime/v1/websocket?apikey={}",
            self.addr,
            token("anon")
        );
        if let Some(vsn) = vsn {
            url.push_str("&vsn=");
            url.push_str(vsn);
        }
        url
    }

    pub(crate) async fn connect(&self, vsn: Option<&str>) -> Socket {
        tokio_tungstenite::connect_async(self.url(vsn))
            .await
            .expect("connect")
            .0
    }
}

pub(crate) async fn start(limits: Limits) -> Server {
    let shutdown = CancellationToken::new();
    let authenticator =
        Authenticator::new(Some(JwtSecret::new(SECRET).expect("secret")), None).expect("auth");
    let gateway = Gateway::new(authenticator, limits, shutdown.clone());
    let (addr, server) = gateway
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    tokio::spawn(server);
    Server {
        addr,
        gateway,
        shutdown,
    }
}

/// The next frame other than ping and pong.
pub(crate) async fn next_message(socket: &mut Socket) -> Message {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
            return message;
        }
    }
}

/// The next text frame as JSON.
pub(crate) async fn next_json(socket: &mut Socket) -> Value {
    match next_message(socket).await {
        Message::Text(text) => serde_json::from_str(&text).expect("JSON frame"),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

pub(crate) async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::text(frame.to_string()))
        .await
        .expect("send");
}

/// A vsn 2.0.0 heartbeat round trip: proves the socket still works.
pub(crate) async fn heartbeat(socket: &mut Socket, reference: &str) {
    send(socket, json!([null, reference, "phoenix", "heartbeat", {}])).await;
    let reply = next_json(socket).await;
    assert_eq!(
        reply,
        json!([null, reference, "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
}

/// Joins `topic` on a vsn 2.0.0 socket with `config`; returns the reply.
pub(crate) async fn join(socket: &mut Socket, join_ref: &str, topic: &str, config: Value) -> Value {
    send(
        socket,
        json!([join_ref, join_ref, topic, "phx_join", {"config": config}]),
    )
    .await;
    let reply = next_json(socket).await;
    assert_eq!(reply[3], "phx_reply", "join answered: {reply}");
    assert_eq!(reply[4]["status"], "ok", "join accepted: {reply}");
    reply
}

/// A broadcast-only channel config.
pub(crate) fn broadcast_config(self_broadcast: bool, ack: bool) -> Value {
    json!({
        "broadcast": {"self": self_broadcast, "ack": ack},
        "presence": {"key": "", "enabled": false},
        "postgres_changes": [],
        "private": false
    })
}

/// A plain HTTP/1.1 request; returns the status and the body.
pub(crate) async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(body).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("an answer in time")
        .expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `POST /api/broadcast` with a bearer token.
pub(crate) async fn post_broadcast(addr: SocketAddr, bearer: &str, body: &Value) -> (u16, String) {
    let authorization = format!("Bearer {bearer}");
    http(
        addr,
        "POST",
        "/api/broadcast",
        &[
            ("Authorization", authorization.as_str()),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
    .await
}

/// Microseconds from 1970 to 2000, PostgreSQL's epoch.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// `public.items (id int8, conv int4, body text)`, the table of the
/// hand-made changes.
pub(crate) fn items() -> Arc<Relation> {
    let column = |name: &str, oid: u32| Column {
        name: name.into(),
        ty: PgType::unknown(oid),
        is_key: name == "id",
    };
    Arc::new(Relation {
        oid: 16384,
        schema: "public".into(),
        table: "items".into(),
        identity: ReplicaIdentity::Default,
        columns: vec![column("id", 20), column("conv", 23), column("body", 25)],
    })
}

/// An insert into [`items`] at `position`, committed now.
pub(crate) fn item_insert(
    relation: &Arc<Relation>,
    position: Position,
    id: i64,
    conv: i64,
    body: &str,
) -> Event {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_micros();
    Event::Change(Change {
        position,
        xid: 1,
        kind: ChangeKind::Insert,
        relation: Arc::clone(relation),
        commit_ts: i64::try_from(now).expect("a 64-bit time") - PG_EPOCH_MICROS,
        record: Some(Row(vec![
            Some(Datum::Int(id)),
            Some(Datum::Int(conv)),
            Some(Datum::String(body.into())),
        ])),
        old_record: None,
    })
}
