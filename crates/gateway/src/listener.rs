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

use std::future::Future;
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

use crate::server::{Gateway, SocketTask};
use crate::socket::{Socket, Transport};
use crate::websocket;

/// The largest request head read here; hyper gets a larger one (and
/// answers 431).
const MAX_HEAD: usize = 16 * 1024;

/// The first read's buffer, on the stack: realtime-js' upgrade, with its
/// token in the URL, is about 600 bytes.
const FIRST_READ: usize = 4096;

/// What each further read of a head reserves.
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
    S: HttpService,
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
                let connection = Box::new(Accepted {
                    gateway: Arc::clone(&gateway),
                    http: Arc::clone(&http),
                    stream,
                    watcher: graceful.watcher(),
                });
                tracker.spawn(connection.serve());
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

/// A connection just accepted, before its first request is read; boxed
/// (see [`Accepted::serve`]).
struct Accepted<S> {
    gateway: Arc<Gateway>,
    /// The warp routes, for a connection that is hyper's.
    http: Arc<S>,
    stream: TcpStream,
    /// Lets a graceful shutdown wait for the connection while hyper
    /// serves it.
    watcher: Watcher,
}

/// What the bytes read so far of a connection's first request ask for.
enum Head {
    /// A whole head of this many bytes, asking for an upgrade answered
    /// here.
    Upgrade(Upgrade, usize),
    /// Hyper's to answer: a whole head for anything else (refusals
    /// included), or bytes this module does not read (malformed, HTTP/2's
    /// preface, too large, too many headers).
    Http,
    /// Not a whole head yet.
    Partial,
}

/// What serves a connection after its first request head.
enum Next {
    /// Upgraded here: its session and writer serve the socket. Boxed,
    /// so that this future does not hold a second copy of them.
    Socket(Box<(SocketTask, Box<dyn Transport>)>),
    /// Anything else (hyper's connection; the rest of a 101 and then the
    /// socket), boxed: rare, or not a WebSocket.
    Boxed(Pin<Box<dyn Future<Output = ()> + Send>>),
}

/// What the first read decided.
enum First<S> {
    /// What to do next (nothing: the client is gone).
    Decided(Option<Next>),
    /// The head is not all in: read on, with what came so far.
    Wait(Box<Accepted<S>>, Vec<u8>),
}

impl<S> Accepted<S>
where
    S: HttpService,
    S::Future: Send + 'static,
{
    /// Serves the connection: as a WebSocket in this task, or through hyper.
    ///
    /// # Memory
    ///
    /// An idle socket's task holds this future for good, sized for its
    /// largest state. So the common case, a whole upgrade request in the
    /// first read, is handled without an await, on the stack: no buffer
    /// and no timer is allocated around the socket's long-lived state,
    /// and nothing larger than the session and writer is held. Waiting
    /// for the rest of a head, and hyper's connection, are boxed
    /// (BENCHMARKS.md, B4).
    async fn serve(self: Box<Self>) {
        // In a block, so that nothing of the handshake is held while the
        // socket is served.
        let (mut task, socket) = {
            let next = match self.first_read() {
                First::Decided(next) => next,
                First::Wait(accepted, head) => {
                    let rest = Box::pin(accepted.read_rest(head));
                    rest.await
                }
            };
            match next {
                Some(Next::Socket(upgraded)) => *upgraded,
                Some(Next::Boxed(serving)) => return serving.await,
                None => return,
            }
        };
        task.serve(socket).await;
    }

    /// One read, without waiting, into a buffer on the stack; decides
    /// when the whole head came with it (the usual case: the request
    /// arrives with the connection).
    fn first_read(self: Box<Self>) -> First<S> {
        let mut buf = [0u8; FIRST_READ];
        let read = match self.stream.try_read(&mut buf) {
            Ok(0) => return First::Decided(None),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                return First::Wait(self, Vec::new());
            }
            Err(_) => return First::Decided(None),
        };
        let data = buf.get(..read).unwrap_or_default();
        match self.gateway.read_head(data) {
            Head::Upgrade(upgrade, length) => First::Decided((*self).answer(upgrade, data, length)),
            Head::Http => First::Decided(Some((*self).into_hyper(data.to_vec()))),
            Head::Partial => First::Wait(self, data.to_vec()),
        }
    }

    /// Reads the rest of a head that did not come whole with the first
    /// read, then decides as [`Accepted::first_read`] does.
    async fn read_rest(mut self: Box<Self>, mut head: Vec<u8>) -> Option<Next> {
        match self.read_more(&mut head).await? {
            Head::Upgrade(upgrade, length) => (*self).answer(upgrade, &head, length),
            Head::Http | Head::Partial => Some((*self).into_hyper(head)),
        }
    }

    /// Answers `upgrade`, asked for by the head in the first `length`
    /// bytes of `data`; the bytes after it are the socket's first input.
    fn answer(self, upgrade: Upgrade, data: &[u8], length: usize) -> Option<Next> {
        let Accepted {
            gateway,
            stream,
            watcher,
            ..
        } = self;
        drop(watcher);
        // Frames a client sent without waiting for the 101.
        let input = data.get(length..).unwrap_or_default().to_vec();
        let response = websocket::switching_protocols(&upgrade.accept_key);
        // A new socket's send buffer is empty: the 101 fits at once.
        let written = match stream.try_write(&response) {
            Ok(written) => written,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
            Err(err) => {
                debug!(error = %err, "websocket upgrade failed");
                return None;
            }
        };
        let max_frame_bytes = gateway.max_frame_bytes();
        let mut task = upgrade.task;
        if written == response.len() {
            let socket = Socket::with_input(stream, max_frame_bytes, input);
            return Some(Next::Socket(Box::new((task, Box::new(socket)))));
        }
        let rest = response.get(written..).unwrap_or_default().to_vec();
        Some(Next::Boxed(Box::pin(async move {
            let mut stream = stream;
            if let Err(err) = stream.write_all(&rest).await {
                debug!(error = %err, "websocket upgrade failed");
                return;
            }
            let socket = Socket::with_input(stream, max_frame_bytes, input);
            task.serve(Box::new(socket)).await;
        })))
    }

    /// Hands the connection to hyper, which reads `read` again first.
    fn into_hyper(self, read: Vec<u8>) -> Next {
        let Accepted {
            stream,
            watcher,
            http,
            ..
        } = self;
        let io = TokioIo::new(Replay {
            read,
            at: 0,
            io: stream,
        });
        let http = S::clone(&http);
        Next::Boxed(Box::pin(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(io, http);
            if let Err(err) = watcher.watch(connection).await {
                debug!(error = %err, "http connection failed");
            }
        }))
    }

    /// Reads until `head` holds a whole request head or hyper's bytes,
    /// within the handshake timeout and until shutdown; `None` when the
    /// client went away or the server is shutting down first.
    async fn read_more(&mut self, head: &mut Vec<u8>) -> Option<Head> {
        let gateway = &self.gateway;
        let timeout = gateway.handshake_timeout();
        let shutdown = gateway.shutdown_token();
        let stream = &mut self.stream;
        let read = async {
            loop {
                head.reserve(HEAD_CHUNK.min(MAX_HEAD.saturating_sub(head.len())));
                match stream.read_buf(head).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => match gateway.read_head(head) {
                        Head::Partial => {}
                        done => return Some(done),
                    },
                }
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => None,
            read = tokio::time::timeout(timeout, read) => read.unwrap_or_else(|_| {
                debug!("no request head within the handshake timeout");
                None
            }),
        }
    }
}

/// The warp routes as hyper serves them.
pub(crate) trait HttpService:
    hyper::service::Service<
        Request<hyper::body::Incoming>,
        Response = warp::reply::Response,
        Error = std::convert::Infallible,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> HttpService for S where
    S: hyper::service::Service<
            Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// An upgrade answered here: the 101's key and the connection's task.
pub(crate) struct Upgrade {
    pub(crate) accept_key: String,
    pub(crate) task: SocketTask,
}

impl Gateway {
    /// What `data`, the bytes read so far of a connection, asks for;
    /// parsed once, in place.
    fn read_head(&self, data: &[u8]) -> Head {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(data) {
            Ok(httparse::Status::Complete(length)) => match self.upgrade_here(&request) {
                Some(upgrade) => Head::Upgrade(upgrade, length),
                None => Head::Http,
            },
            Ok(httparse::Status::Partial) if data.len() < MAX_HEAD => Head::Partial,
            Ok(httparse::Status::Partial) | Err(_) => Head::Http,
        }
    }

    /// The upgrade `parsed` (a whole head) asks for, when it is one the
    /// warp route would answer 101: `GET` on a WebSocket endpoint over
    /// HTTP/1.1, a version 13 upgrade, and a token and vsn that
    /// [`Gateway::check_connect`] accepts. `None` leaves the request to
    /// the routes, refusals included.
    fn upgrade_here(&self, parsed: &httparse::Request<'_, '_>) -> Option<Upgrade> {
        if self.legacy_warp_ws() {
            return None;
        }
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
