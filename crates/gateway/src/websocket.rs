//! The WebSocket transport: walcast answers the HTTP upgrade itself, so it
//! chooses the socket's buffers.
//!
//! ```text
//!  GET …/websocket ──warp: query, x-api-key, Handshake (headers + hyper's OnUpgrade)──▶ Gateway::upgrade
//!     │ not an upgrade ─▶ 400 {"error": …}        bad token ─▶ 401 {"error": …}     (no upgrade)
//!     └─▶ 101 + Sec-WebSocket-Accept ──OnUpgrade──▶ WebSocketStream (tungstenite, small buffers)
//!                                   one task: Session (reads) + Writer (writes), SharedSocket
//! ```
//!
//! # Memory
//!
//! warp's `ws()` filter gives tungstenite its default configuration: a
//! 128 KiB read buffer, zero-filled by the first read, so resident for the
//! life of every socket, and a 128 KiB write-buffer target. Here the read
//! buffer starts at [`Limits::read_buffer_bytes`] and the writer batches up
//! to [`Limits::write_buffer_bytes`] before a write. tungstenite (0.29)
//! never shrinks either buffer: the read buffer reserves a frame's whole
//! length on top of what it already holds, so it ends at up to twice the
//! largest frame read (typically the join), and the write buffer keeps the
//! size of the largest batch. `crates/bench`'s `idle-memory` measures the
//! result (BENCHMARKS.md, B4).
//!
//! The old path stays behind [`Limits::legacy_warp_ws`], for that
//! benchmark's same-run baseline only.

use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::{Sink, SinkExt, Stream, StreamExt, future};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tracing::debug;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::{Filter, Reply};

use crate::server::Limits;

/// Why a request to a WebSocket endpoint was not upgraded (HTTP 400 body).
pub(crate) const NOT_AN_UPGRADE: &str = "expected a WebSocket upgrade request (version 13)";

/// A request to a WebSocket endpoint, before the token is checked: its
/// headers and hyper's handle to the connection once it is upgraded.
pub(crate) struct Handshake {
    headers: HeaderMap,
    on_upgrade: Option<OnUpgrade>,
}

/// Extracts the [`Handshake`] of any request. It never rejects: the
/// endpoint answers a request that is not an upgrade (400) or carries a
/// bad token (401) itself, with a JSON body, without upgrading.
pub(crate) fn handshake()
-> impl Filter<Extract = (Handshake,), Error = std::convert::Infallible> + Clone + Send + Sync + 'static
{
    warp::header::headers_cloned()
        .and(warp::ext::optional::<OnUpgrade>())
        .map(|headers, on_upgrade| Handshake {
            headers,
            on_upgrade,
        })
}

/// A handshake that asked for a version 13 WebSocket.
pub(crate) struct Accepted {
    accept_key: String,
    on_upgrade: OnUpgrade,
}

impl Handshake {
    /// Checks the upgrade headers (RFC 6455 §4.2.1); `None` when this is not
    /// a WebSocket upgrade walcast can accept.
    pub(crate) fn accept(self) -> Option<Accepted> {
        let headers = &self.headers;
        let has_token = |name: header::HeaderName, token: &str| {
            headers.get_all(name).iter().any(|value| {
                value.to_str().is_ok_and(|value| {
                    value
                        .split(',')
                        .any(|part| part.trim().eq_ignore_ascii_case(token))
                })
            })
        };
        if !has_token(header::CONNECTION, "upgrade")
            || !has_token(header::UPGRADE, "websocket")
            || headers.get(header::SEC_WEBSOCKET_VERSION)? != "13"
        {
            return None;
        }
        let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
        Some(Accepted {
            accept_key: tokio_tungstenite::tungstenite::handshake::derive_accept_key(
                key.as_bytes(),
            ),
            on_upgrade: self.on_upgrade?,
        })
    }
}

impl Accepted {
    /// The 101 answer, and the future that yields the upgraded socket once
    /// hyper has sent it.
    pub(crate) fn into_parts(self) -> (warp::reply::Response, OnUpgrade) {
        let mut response = warp::reply().into_response();
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(value) = HeaderValue::from_str(&self.accept_key) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, value);
        }
        (response, self.on_upgrade)
    }
}

/// The socket configuration for `limits`.
pub(crate) fn config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(limits.read_buffer_bytes)
        .write_buffer_size(limits.write_buffer_bytes)
        .max_message_size(Some(limits.max_frame_bytes))
        .max_frame_size(Some(limits.max_frame_bytes))
}

/// Waits for hyper to hand over the upgraded connection and wraps it.
pub(crate) async fn open(
    on_upgrade: OnUpgrade,
    config: WebSocketConfig,
) -> Option<WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>> {
    match on_upgrade.await {
        Ok(upgraded) => Some(
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await,
        ),
        Err(err) => {
            debug!(error = %err, "websocket upgrade failed");
            None
        }
    }
}

/// warp's WebSocket as a stream and sink of tungstenite messages, so the
/// session and writer run unchanged over the baseline path.
pub(crate) fn from_warp(
    socket: warp::ws::WebSocket,
) -> impl Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Send + Unpin + 'static
{
    socket
        .map(|message| match message {
            Ok(message) => Ok(from_warp_message(message)),
            Err(err) => Err(WsError::Io(std::io::Error::other(err))),
        })
        .sink_map_err(|err| WsError::Io(std::io::Error::other(err)))
        .with(|message| future::ready(Ok::<_, WsError>(to_warp_message(message))))
}

fn from_warp_message(message: warp::ws::Message) -> Message {
    if message.is_close() {
        let frame = message.close_frame().map(|(code, reason)| CloseFrame {
            code: code.into(),
            reason: Utf8Bytes::from(reason),
        });
        return Message::Close(frame);
    }
    let (text, binary, ping) = (message.is_text(), message.is_binary(), message.is_ping());
    let bytes = message.into_bytes();
    if text {
        Utf8Bytes::try_from(bytes).map_or(Message::Binary(Default::default()), Message::Text)
    } else if binary {
        Message::Binary(bytes)
    } else if ping {
        Message::Ping(bytes)
    } else {
        Message::Pong(bytes)
    }
}

fn to_warp_message(message: Message) -> warp::ws::Message {
    match message {
        Message::Text(text) => warp::ws::Message::text(text.as_str()),
        Message::Binary(bytes) => warp::ws::Message::binary(bytes),
        Message::Ping(bytes) => warp::ws::Message::ping(bytes),
        Message::Pong(bytes) => warp::ws::Message::pong(bytes),
        Message::Close(Some(frame)) => {
            warp::ws::Message::close_with(u16::from(frame.code), frame.reason.to_string())
        }
        Message::Close(None) => warp::ws::Message::close(),
        Message::Frame(frame) => {
            let text = frame.header().opcode == OpCode::Data(Data::Text);
            let payload = frame.into_payload();
            if text {
                warp::ws::Message::text(String::from_utf8_lossy(&payload))
            } else {
                warp::ws::Message::binary(payload)
            }
        }
    }
}

/// One socket shared by the session (reading) and the writer (writing)
/// when both run in the connection's single task: each poll takes the
/// lock for the length of one call, so the two never contend. This saves
/// the second task and the split's allocation on every connection.
pub(crate) struct SharedSocket<'a, S>(pub(crate) &'a Mutex<S>);

impl<S> SharedSocket<'_, S> {
    fn socket(&self) -> MutexGuard<'_, S> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S> Stream for SharedSocket<'_, S>
where
    S: Stream + Unpin,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.socket().poll_next_unpin(cx)
    }
}

impl<S, T> Sink<T> for SharedSocket<'_, S>
where
    S: Sink<T> + Unpin,
{
    type Error = S::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.socket().poll_ready_unpin(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        self.socket().start_send_unpin(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.socket().poll_flush_unpin(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.socket().poll_close_unpin(cx)
    }
}
