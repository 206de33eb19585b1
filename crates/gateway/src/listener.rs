//! The accept loop, and the upgrade every WebSocket client opens with,
//! answered here without hyper.
//!
//! ```text
//!  accept ──▶ read the first request head (httparse; ≤ 16 KiB, within Limits::handshake_timeout)
//!    ├─ GET /realtime/v1/websocket or /socket/websocket, a version 13 upgrade, a good token and vsn
//!    │     ──▶ 101 written here ──▶ SocketTask in this same task (bytes after the head go to the socket)
//!    └─ anything else: other paths, an upgrade to refuse (400, 401), HTTP/2, a head too large
//!          ──▶ hyper + warp (server.rs's routes), fed the bytes read so far first
//! ```
//!
//! # Why not through warp
//!
//! Through hyper and warp, a connect cost two tasks (hyper's connection,
//! then the socket's, woken through hyper's upgrade channel), hyper's
//! header map and its copy for the handshake filter, the query parsed
//! into a map, and warp's route tree, before the socket's first frame.
//! B5 measured walcast at 77 µs of CPU per connect + join + close against
//! 54 µs for a bare tokio-tungstenite server, 40 µs of both in the kernel;
//! hyper's task with warp's filters was 12 µs of walcast's (BENCHMARKS.md,
//! B5). Here the same request costs one parse of the head in place and
//! one 101 written from a template, in the task that then serves the
//! socket.
//!
//! Only a request the gateway would upgrade is answered here; everything
//! else, including every refusal, goes to the warp routes, so their
//! answers stay the one definition of the HTTP surface. Both ways check
//! the upgrade with [`websocket::accept_key`] and the token and vsn with
//! [`Gateway::check_connect`]. A keep-alive connection's later requests
//! are hyper's too; an upgrade among them takes the route's way.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error};
use warp::http::Request;

use crate::server::Gateway;
use crate::socket::Socket;
use crate::websocket;

/// The largest request head read here; hyper gets a larger one (and
/// answers 431).
const MAX_HEAD: usize = 16 * 1024;

/// What the first read of a head reserves: realtime-js' upgrade, with its
/// token in the URL, is about 600 bytes.
const HEAD_CHUNK: usize = 2048;

/// Headers parsed here; hyper gets a request with more.
const MAX_HEADERS: usize = 32;

/// The pause after `accept` fails for want of a file or memory. Short,
/// unlike hyper's second: the listen queue overflows while nothing
/// accepts, and every client that loses its SYN waits a second or more
/// to retry.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How often a failing `accept` is logged.
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// Accepts until `shutdown`, then waits for hyper's connections to finish
/// gracefully. Every connection runs as a task of `tracker`, and a
/// WebSocket session ends on `shutdown` itself.
pub(crate) async fn serve<S>(
    listener: TcpListener,
    gateway: Gateway,
    http: S,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) where
    S: hyper::service::Service<
            Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    // Shared, not cloned per connection: most never reach hyper.
    let (gateway, http) = (Arc::new(gateway), Arc::new(http));
    let graceful = GracefulShutdown::new();
    let cancelled = shutdown.cancelled();
    tokio::pin!(cancelled);
    let mut errors = AcceptErrors::default();
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut cancelled => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let connection = Accepted {
                    gateway: Arc::clone(&gateway),
                    stream,
                    watcher: graceful.watcher(),
                };
                tracker.spawn(connection.serve(Arc::clone(&http)));
            }
            Err(err) if is_connection_error(&err) => {}
            Err(err) => {
                errors.log(&err);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A connection just accepted, before its first request is read.
struct Accepted {
    gateway: Arc<Gateway>,
    stream: TcpStream,
    /// Lets a graceful shutdown wait for the connection while hyper
    /// serves it.
    watcher: Watcher,
}

/// How reading the first request head ended.
enum Head {
    /// A whole head of this many bytes.
    Complete(usize),
    /// Not a head this module reads (malformed, HTTP/2's preface, too
    /// large, too many headers): hyper's to answer.
    Other,
    /// The client went away, or the server is shutting down.
    Gone,
}

impl Accepted {
    async fn serve<S>(mut self, http: Arc<S>)
    where
        S: hyper::service::Service<
                Request<hyper::body::Incoming>,
                Response = warp::reply::Response,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let mut head = Vec::with_capacity(HEAD_CHUNK);
        let length = match self.read_head(&mut head).await {
            Head::Complete(length) => Some(length),
            Head::Other => None,
            Head::Gone => return,
        };
        let upgrade = length.and_then(|length| {
            let request = head.get(..length)?;
            Some((length, self.gateway.upgrade_here(request)?))
        });
        let Accepted {
            gateway,
            mut stream,
            watcher,
        } = self;
        if let Some((length, upgrade)) = upgrade {
            drop(watcher);
            let response = websocket::switching_protocols(&upgrade.accept_key);
            if let Err(err) = stream.write_all(&response).await {
                debug!(error = %err, "websocket upgrade failed");
                return;
            }
            // Frames a client sent without waiting for the 101.
            head.drain(..length);
            let max_frame_bytes = gateway.max_frame_bytes();
            let socket = Socket::with_input(stream, max_frame_bytes, head);
            let mut task = upgrade.task;
            task.serve(Box::new(socket)).await;
            return;
        }
        let io = TokioIo::new(Replay {
            read: head,
            at: 0,
            io: stream,
        });
        let builder = auto::Builder::new(TokioExecutor::new());
        let connection = builder.serve_connection_with_upgrades(io, S::clone(&http));
        if let Err(err) = watcher.watch(connection).await {
            debug!(error = %err, "http connection failed");
        }
    }

    /// Reads until `head` holds a whole request head. The first read is
    /// tried at once (the request usually arrives with the connection);
    /// only when it has not come are the timeout and the shutdown watched.
    async fn read_head(&mut self, head: &mut Vec<u8>) -> Head {
        match self.stream.try_read_buf(head) {
            Ok(0) => return Head::Gone,
            Ok(_) => {
                if let Some(done) = parse_head(head) {
                    return done;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Head::Gone,
        }
        let timeout = self.gateway.handshake_timeout();
        let shutdown = self.gateway.shutdown_token();
        let stream = &mut self.stream;
        let read = async {
            loop {
                if head.len() >= MAX_HEAD {
                    return Head::Other;
                }
                head.reserve(HEAD_CHUNK.min(MAX_HEAD - head.len()));
                match stream.read_buf(head).await {
                    Ok(0) | Err(_) => return Head::Gone,
                    Ok(_) => {
                        if let Some(done) = parse_head(head) {
                            return done;
                        }
                    }
                }
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => Head::Gone,
            read = tokio::time::timeout(timeout, read) => read.unwrap_or_else(|_| {
                debug!("no request head within the handshake timeout");
                Head::Gone
            }),
        }
    }
}

/// Whether `head` holds a whole request head (`Some`), or needs more.
fn parse_head(head: &[u8]) -> Option<Head> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::Request::new(&mut headers).parse(head) {
        Ok(httparse::Status::Complete(length)) => Some(Head::Complete(length)),
        Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => None,
        Ok(httparse::Status::Partial) | Err(_) => Some(Head::Other),
    }
}

/// An upgrade answered here: the 101's key and the connection's task.
pub(crate) struct Upgrade {
    pub(crate) accept_key: String,
    pub(crate) task: crate::server::SocketTask,
}

impl Gateway {
    /// The upgrade `request` (a whole head) asks for, when it is one the
    /// warp route would answer 101: `GET` on a WebSocket endpoint over
    /// HTTP/1.1, a version 13 upgrade, and a token and vsn that
    /// [`Gateway::check_connect`] accepts. `None` leaves the request to
    /// the routes, refusals included.
    fn upgrade_here(&self, request: &[u8]) -> Option<Upgrade> {
        if self.legacy_warp_ws() {
            return None;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        parsed.parse(request).ok()?;
        if parsed.method? != "GET" || parsed.version? != 1 {
            return None;
        }
        let target = parsed.path?;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if !matches!(path, "/realtime/v1/websocket" | "/socket/websocket") {
            return None;
        }
        let headers = || parsed.headers.iter().map(|h| (h.name, h.value));
        let accept_key = websocket::accept_key(headers)?;
        let x_api_key = match headers().find(|(name, _)| name.eq_ignore_ascii_case("x-api-key")) {
            Some((_, value)) => Some(websocket::header_str(value)?),
            None => None,
        };
        // As warp's `query::<HashMap<String, String>>()` reads them: the
        // last of repeated keys wins.
        let (mut apikey, mut vsn) = (None, None);
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "apikey" => apikey = Some(value),
                "vsn" => vsn = Some(value),
                _ => {}
            }
        }
        let (token, vsn) = self
            .check_connect(apikey.as_deref(), x_api_key, vsn.as_deref())
            .ok()?;
        Some(Upgrade {
            accept_key,
            task: self.socket_task(vsn, token),
        })
    }
}

/// A connection whose first bytes were read here: hyper reads them again
/// first, then the stream.
struct Replay {
    read: Vec<u8>,
    at: usize,
    io: TcpStream,
}

impl AsyncRead for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(rest) = this.read.get(this.at..).filter(|rest| !rest.is_empty()) {
            let take = rest.len().min(buf.remaining());
            buf.put_slice(rest.get(..take).unwrap_or_default());
            this.at += take;
            if this.at == this.read.len() {
                this.read = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Replay {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Errors of `accept` that concern one connection, not the listener.
fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Logs a failing `accept` (out of files, most likely) once per
/// [`ACCEPT_ERROR_LOG_EVERY`], with how many failed in between.
#[derive(Default)]
struct AcceptErrors {
    logged: Option<Instant>,
    since: u64,
}

impl AcceptErrors {
    fn log(&mut self, err: &io::Error) {
        self.since += 1;
        if self
            .logged
            .is_some_and(|at| at.elapsed() < ACCEPT_ERROR_LOG_EVERY)
        {
            return;
        }
        error!(
            error = %err,
            failures = self.since,
            "accept failed (retrying every {} ms)",
            ACCEPT_BACKOFF.as_millis()
        );
        self.logged = Some(Instant::now());
        self.since = 0;
    }
}
