//! The floor: the least an idle joined connection can cost on the socket
//! model walcast uses, measured in the same run as walcast so that
//! "walcast − floor" is walcast's own state (BENCHMARKS.md, B4).
//!
//! ```text
//!  accept ──▶ one tokio task per connection, holding the TcpStream
//!    ├─ GET /realtime/v1/websocket ──▶ 101 + Sec-WebSocket-Accept, then a frame decoder:
//!    │     client's phx_join ──▶ phx_reply ok + "Subscribed to PostgreSQL"
//!    │     heartbeat ──▶ phx_reply ok;  ping ──▶ pong;  then waits on the next read
//!    └─ GET /health ──▶ {"connections": n, "channels": n}, then close
//! ```
//!
//! It is a baseline, not a server: it keeps nothing per connection but
//! what tokio needs to hold a socket and wait on it (a task, the
//! `TcpStream` and its I/O registration) and a [`wsframe::Decoder`]. As
//! walcast's own accept loop (`gateway::listener`) does since it stopped
//! taking the upgrade through hyper, the request head is read and answered
//! in the socket's own task, and nothing of it is kept afterwards. No
//! session, hub, router, outbound queue, timer, token or shutdown waiter;
//! it does not check the token. It answers the join with the frames the
//! load processes wait for and the heartbeats as walcast does, so the wire
//! traffic matches. Like walcast's socket it reads into a chunk on the
//! stack and holds no buffer while idle. Tasks are not tracked: they end
//! with the runtime when the process exits.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Poll, ready};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_util::sync::CancellationToken;
use wsframe::{Decoded, Decoder, Message, OpCode, ServerHeader};

/// walcast's default frame limit (5 MB); the decoder keeps only the number.
const MAX_FRAME_BYTES: usize = 5 * 1000 * 1000;

/// Bytes one read takes into the chunk on the stack (walcast's too).
const READ_CHUNK: usize = 4096;

/// Pending connections before `accept`, as walcast's listener.
const LISTEN_BACKLOG: u32 = 8192;

/// The largest request head read, as walcast's listener.
const MAX_HEAD: usize = 16 * 1024;

/// What `/health` reports, so the orchestrator checks the floor as it
/// checks walcast.
#[derive(Debug, Default)]
struct Counts {
    /// Upgraded sockets still open.
    connections: AtomicU64,
    /// Joins answered, on sockets still open.
    channels: AtomicU64,
}

/// Serves on `addr` until `shutdown`; returns the bound address and the
/// server's future.
pub(crate) fn bind(
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> std::io::Result<(SocketAddr, impl Future<Output = ()> + Send + 'static)> {
    // As walcast's listener: every accepted socket inherits TCP_NODELAY.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(LISTEN_BACKLOG)?;
    let local = listener.local_addr()?;
    let counts = Arc::new(Counts::default());
    let server = async move {
        loop {
            let accepted = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            if let Ok((stream, _)) = accepted {
                tokio::spawn(connection(stream, Arc::clone(&counts)));
            }
        }
    };
    Ok((local, server))
}

/// One connection: its request head, then the socket until it closes.
async fn connection(mut stream: TcpStream, counts: Arc<Counts>) {
    // Boxed, and done before the socket is served: the task keeps none of
    // the handshake's state while the socket idles.
    let handshake = Box::pin(handshake(&mut stream, &counts));
    let Some(input) = handshake.await else {
        return;
    };
    counts.connections.fetch_add(1, Ordering::Relaxed);
    let joined = serve(stream, input, &counts).await;
    counts.channels.fetch_sub(joined, Ordering::Relaxed);
    counts.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Reads the request head and answers it: `/health` (then `None`: the
/// connection is done), or a WebSocket upgrade, whose 101 is written and
/// whose bytes after the head are returned as the socket's first input.
async fn handshake(stream: &mut TcpStream, counts: &Counts) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(READ_CHUNK);
    loop {
        if stream.read_buf(&mut head).await.ok()? == 0 {
            return None;
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        let length = match request.parse(&head) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) | Err(_) => return None,
        };
        let path = request.path?.split('?').next()?;
        let key = request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
            .map(|h| derive_accept_key(h.value));
        let (answer, input) = match (path, key) {
            ("/realtime/v1/websocket", Some(accept)) => (
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: {accept}\r\n\r\n"
                ),
                Some(head.get(length..).unwrap_or_default().to_vec()),
            ),
            ("/health", _) => {
                let body = json!({
                    "connections": counts.connections.load(Ordering::Relaxed),
                    "channels": counts.channels.load(Ordering::Relaxed),
                })
                .to_string();
                (
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    None,
                )
            }
            _ => (
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_owned(),
                None,
            ),
        };
        stream.write_all(answer.as_bytes()).await.ok()?;
        return input;
    }
}

/// Answers the client until it closes or fails; returns the joins it
/// answered.
async fn serve<IO>(mut io: IO, mut partial: Vec<u8>, counts: &Counts) -> u64
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut decoder = Decoder::new(MAX_FRAME_BYTES);
    let mut joined = 0;
    while let Some(message) = next_message(&mut io, &mut decoder, &mut partial).await {
        let (replies, join) = match message {
            Message::Text(text) => answer(&text),
            Message::Ping(payload) => (vec![frame(OpCode::Pong, &payload)], false),
            Message::Close(_) => return joined,
            Message::Binary(_) | Message::Pong(_) => (Vec::new(), false),
        };
        for reply in replies {
            if io.write_all(&reply).await.is_err() {
                return joined;
            }
        }
        if join {
            joined += 1;
            counts.channels.fetch_add(1, Ordering::Relaxed);
        }
    }
    joined
}

/// Reads until a whole message or control frame is decoded; `None` when
/// the stream ends or breaks the framing rules. Reads go into a chunk on
/// the stack of the poll, not the task; `partial` holds bytes only while a
/// frame is arriving and is freed once it is decoded.
async fn next_message<IO: AsyncRead + Unpin>(
    io: &mut IO,
    decoder: &mut Decoder,
    partial: &mut Vec<u8>,
) -> Option<Message> {
    loop {
        while !partial.is_empty() {
            match decoder.decode(partial).ok()? {
                Decoded::Incomplete { .. } => break,
                Decoded::Frame { len, message } => {
                    partial.drain(..len);
                    if partial.is_empty() {
                        *partial = Vec::new();
                    }
                    if message.is_some() {
                        return message;
                    }
                }
            }
        }
        let read = poll_fn(|cx| {
            let mut chunk = [0u8; READ_CHUNK];
            let mut buf = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut *io).poll_read(cx, &mut buf))?;
            partial.extend_from_slice(buf.filled());
            Poll::Ready(Ok::<_, std::io::Error>(buf.filled().len()))
        })
        .await;
        if !matches!(read, Ok(1..)) {
            return None;
        }
    }
}

/// The frames walcast sends for a text message: for a `phx_join`, the
/// reply echoing the bindings with ids and the "Subscribed to PostgreSQL"
/// system message; for a heartbeat, its reply; nothing otherwise. The flag
/// says whether a join was answered.
fn answer(text: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let Ok(Value::Array(message)) = serde_json::from_slice::<Value>(text) else {
        return (Vec::new(), false);
    };
    let [join_ref, reference, topic, event, payload] = message.as_slice() else {
        return (Vec::new(), false);
    };
    match event.as_str() {
        Some("heartbeat") => {
            let reply =
                json!([null, reference, "phoenix", "phx_reply", {"status": "ok", "response": {}}]);
            (
                vec![frame(OpCode::Text, reply.to_string().as_bytes())],
                false,
            )
        }
        Some("phx_join") => {
            let mut bindings = payload["config"]["postgres_changes"].clone();
            if let Some(list) = bindings.as_array_mut() {
                for (id, binding) in list.iter_mut().enumerate() {
                    if let Some(binding) = binding.as_object_mut() {
                        binding.insert("id".into(), json!(id + 1));
                    }
                }
            }
            let channel = topic
                .as_str()
                .and_then(|topic| topic.strip_prefix("realtime:"))
                .unwrap_or_default();
            let reply = json!([join_ref, reference, topic, "phx_reply",
                {"status": "ok", "response": {"postgres_changes": bindings}}]);
            // Key order as walcast writes it.
            let subscribed = format!(
                r#"[{join_ref},null,{topic},"system",{{"message":"Subscribed to PostgreSQL","extension":"postgres_changes","channel":{channel},"status":"ok"}}]"#,
                channel = json!(channel),
            );
            let frames = vec![
                frame(OpCode::Text, reply.to_string().as_bytes()),
                frame(OpCode::Text, subscribed.as_bytes()),
            ];
            (frames, true)
        }
        _ => (Vec::new(), false),
    }
}

/// A final, unmasked server frame.
fn frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let header = ServerHeader::new(opcode, payload.len());
    let mut bytes = Vec::with_capacity(header.as_bytes().len() + payload.len());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON of a text frame under 64 KiB.
    fn text(frame: &[u8]) -> Value {
        let header = if frame[1] == 126 { 4 } else { 2 };
        serde_json::from_slice(&frame[header..]).expect("a text frame")
    }

    #[test]
    fn join_is_answered_as_the_clients_expect() {
        let join = br#"["1","1","realtime:idle-7","phx_join",{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"messages","filter":"id=eq.7"}]},"access_token":"t"}]"#;
        let (frames, joined) = answer(join);
        assert!(joined);
        assert_eq!(frames.len(), 2);
        let reply = text(&frames[0]);
        assert_eq!(reply[3], "phx_reply");
        assert_eq!(reply[4]["status"], "ok");
        assert_eq!(reply[4]["response"]["postgres_changes"][0]["id"], 1);
        let system = text(&frames[1]);
        assert_eq!(system[3], "system");
        assert_eq!(system[4]["status"], "ok");
        assert_eq!(system[4]["channel"], "idle-7");
    }

    #[test]
    fn heartbeat_is_answered() {
        let (frames, joined) = answer(br#"[null,"2","phoenix","heartbeat",{}]"#);
        assert!(!joined);
        assert_eq!(frames.len(), 1);
        assert_eq!(text(&frames[0])[4]["status"], "ok");
    }
}
