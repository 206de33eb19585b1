//! The WebSocket transport: walcast answers the HTTP upgrade itself and
//! speaks the frames itself ([`Socket`]), so it decides what a socket holds.
//!
//! ```text
//!  GET …/websocket ──warp: query, x-api-key, Handshake (headers + hyper's OnUpgrade)──▶ Gateway::upgrade
//!     │ not an upgrade ─▶ 400 {"error": …}        bad token ─▶ 401 {"error": …}     (no upgrade)
//!     └─▶ 101 + Sec-WebSocket-Accept ──OnUpgrade──▶ Socket (wsframe; no buffer while idle)
//!                                   one task: Session (reads) + Writer (writes); producers write directly
//! ```
//!
//! # Memory
//!
//! warp's `ws()` filter gives tungstenite its default configuration: a
//! 128 KiB read buffer, zero-filled by the first read, so resident for the
//! life of every socket, and a 128 KiB write-buffer target. Even with
//! small buffers, tungstenite (0.29) never shrinks them: the read buffer
//! ends at up to twice the largest frame read, the write buffer at the
//! largest batch. [`Socket`] holds neither while idle (see its module).
//! `crates/bench`'s `idle-memory` measures the result (BENCHMARKS.md, B4).
//!
//! The old path stays behind [`Limits::legacy_warp_ws`], for that
//! benchmark's same-run baseline only.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, SinkExt, Stream, StreamExt, future};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tracing::debug;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::{Filter, Reply};

use crate::protocol::ServerFrame;
#[cfg(doc)]
use crate::server::Limits;
use crate::socket::{Inbound, Outgoing, ReadError, Socket, Transport};

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
        let headers = || {
            self.headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes()))
        };
        Some(Accepted {
            accept_key: accept_key(headers)?,
            on_upgrade: self.on_upgrade?,
        })
    }
}

/// The `Sec-WebSocket-Accept` answer to a request with these headers, if
/// they ask for a version 13 WebSocket (RFC 6455 §4.2.1): `Connection`
/// lists `upgrade`, `Upgrade` lists `websocket`, and a key is given.
///
/// `headers` gives the request's headers afresh on each call. Both ways
/// in use it ([`crate::listener`] with httparse's headers, the warp route
/// with hyper's), so both accept exactly the same requests.
/// Names match case-insensitively; a value counts only as hyper's
/// `HeaderValue::to_str` would read it (visible ASCII and tabs); where a
/// header repeats, `Connection` and `Upgrade` are searched in every value,
/// the version and key are taken from the first.
pub(crate) fn accept_key<'a, I>(headers: impl Fn() -> I) -> Option<String>
where
    I: Iterator<Item = (&'a str, &'a [u8])>,
{
    let values = |name: &'static str| {
        headers()
            .filter(move |(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    };
    let lists = |name: &'static str, token: &str| {
        values(name).any(|value| {
            header_str(value).is_some_and(|value| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
        })
    };
    if !lists("connection", "upgrade")
        || !lists("upgrade", "websocket")
        || values("sec-websocket-version").next()? != b"13"
    {
        return None;
    }
    let key = values("sec-websocket-key").next()?;
    Some(tokio_tungstenite::tungstenite::handshake::derive_accept_key(key))
}

/// A header value as text, when hyper's `HeaderValue::to_str` would give
/// it: only tabs and visible ASCII.
pub(crate) fn header_str(value: &[u8]) -> Option<&str> {
    if value
        .iter()
        .all(|&byte| byte == b'\t' || (0x20..0x7f).contains(&byte))
    {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// The 101 answer with its `Sec-WebSocket-Accept`, as walcast writes it
/// itself ([`crate::listener`]).
pub(crate) fn switching_protocols(accept_key: &str) -> Vec<u8> {
    const START: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: ";
    let mut response = Vec::with_capacity(START.len() + accept_key.len() + 4);
    response.extend_from_slice(START);
    response.extend_from_slice(accept_key.as_bytes());
    response.extend_from_slice(b"\r\n\r\n");
    response
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

/// Waits for hyper to hand over the upgraded connection and wraps it.
pub(crate) async fn open(
    on_upgrade: OnUpgrade,
    max_frame_bytes: usize,
) -> Option<Socket<TokioIo<Upgraded>>> {
    match on_upgrade.await {
        Ok(upgraded) => Some(Socket::new(TokioIo::new(upgraded), max_frame_bytes)),
        Err(err) => {
            debug!(error = %err, "websocket upgrade failed");
            None
        }
    }
}

/// warp's WebSocket as a stream of [`Inbound`] and a sink of
/// [`Outgoing`], so the session and writer run unchanged over the
/// baseline path. warp answers pings itself.
pub(crate) fn from_warp(socket: warp::ws::WebSocket) -> impl Transport + 'static {
    let socket = socket
        .filter_map(|message| {
            future::ready(match message {
                Ok(message) => from_warp_message(message).map(Ok),
                Err(err) => Some(Err(ReadError::Io(std::io::Error::other(err)))),
            })
        })
        .sink_map_err(std::io::Error::other)
        .with(|outgoing| future::ready(Ok::<_, std::io::Error>(to_warp_message(outgoing))));
    WarpSocket(socket)
}

fn from_warp_message(message: warp::ws::Message) -> Option<Inbound> {
    if message.is_close() {
        Some(Inbound::Close)
    } else if message.is_text() {
        Some(Inbound::Text(message.into_bytes()))
    } else if message.is_binary() {
        Some(Inbound::Binary(message.into_bytes()))
    } else {
        None
    }
}

fn to_warp_message(outgoing: Outgoing) -> warp::ws::Message {
    match outgoing {
        Outgoing::Frame(ServerFrame::Text(text)) => warp::ws::Message::text(text.as_str()),
        Outgoing::Frame(ServerFrame::Binary(bytes)) => warp::ws::Message::binary(bytes),
        Outgoing::Close(Some((code, reason))) => warp::ws::Message::close_with(code, reason),
        Outgoing::Close(None) => warp::ws::Message::close(),
    }
}

/// warp's socket as a [`Transport`]; it never writes directly.
pub(crate) struct WarpSocket<S>(S);

impl<S> Stream for WarpSocket<S>
where
    S: Stream + Unpin,
{
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_next_unpin(cx)
    }
}

impl<S> Sink<Outgoing> for WarpSocket<S>
where
    S: Sink<Outgoing> + Unpin,
{
    type Error = S::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready_unpin(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Outgoing) -> Result<(), S::Error> {
        self.0.start_send_unpin(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_flush_unpin(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_close_unpin(cx)
    }
}

impl<S> Transport for WarpSocket<S> where
    S: Stream<Item = Result<Inbound, ReadError>>
        + Sink<Outgoing, Error = std::io::Error>
        + Send
        + Unpin
{
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listener's 101 and the keep-alive route's 101 are built apart
    /// (bytes from a template, a hyper response); a client must not be
    /// able to tell them apart.
    #[test]
    fn both_101_answers_carry_the_same_headers() {
        let key = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        let bytes = switching_protocols(key);
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut written = httparse::Response::new(&mut headers);
        assert_eq!(
            written.parse(&bytes),
            Ok(httparse::Status::Complete(bytes.len()))
        );
        assert_eq!(written.code, Some(101));
        let mut listener: Vec<(String, Vec<u8>)> = written
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
            .collect();

        let accepted = Accepted {
            accept_key: key.to_owned(),
            on_upgrade: hyper::upgrade::on(warp::http::Request::new(())),
        };
        let (response, _) = accepted.into_parts();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let mut route: Vec<(String, Vec<u8>)> = response
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect();

        listener.sort();
        route.sort();
        assert_eq!(listener, route);
        assert!(route.contains(&("sec-websocket-accept".to_owned(), key.as_bytes().to_vec())));
    }
}
