//! The HTTP server: the WebSocket endpoints (token checked before the
//! upgrade), and the hub's feed from the change stream.
//!
//! ```text
//!  GET /realtime/v1/websocket?apikey=…&vsn=…  ─┐  400 not an upgrade, 401 {"error": …} on a bad token
//!  GET /socket/websocket?apikey=…&vsn=…       ─┴─▶ 101 (websocket.rs) ──▶ Session (reader) + Writer (socket owner)
//!  GET /health                                     status, connections, channels, queued bytes
//!  GET /metrics                                    Prometheus text (metrics.rs)
//!  POST /api/broadcast, /api/broadcast/:topic/events/:event   (service_role; also under /realtime/v1)
//!       ──BroadcastRate (429)──▶ Hub::broadcast
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use changes::Event;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::{Filter, Reply};

use crate::auth::{self, Authenticator};
use crate::connection::{
    Connection, DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_FRAMES, Outbox, QueueLimits, QueuedBytes, Writer,
};
use crate::hub::{Hub, TopicKey};
use crate::protocol::{
    DEFAULT_MAX_FRAME_BYTES, OutboundBroadcast, RawJson, UserPayload, Vsn, names,
};
use crate::rate_limit::BroadcastRate;
use crate::session::Session;
use crate::socket::Transport;
use crate::token::{BearerToken, SharedTokens};
use crate::websocket::{self, Handshake};

/// Per-socket and HTTP limits, with Supabase's defaults where Supabase has
/// one (reference §7 item 17, and its quotas).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Channels one socket may join (Supabase: 100).
    pub max_channels_per_socket: usize,
    /// Joins per second per socket before it is disconnected (Supabase: 100).
    pub max_joins_per_second: u32,
    /// Broadcast and presence pushes per second per socket; one more closes
    /// the channel it came on with the system error "Too many messages per
    /// second" (Supabase: `max_events_per_second` 100, per tenant).
    pub max_events_per_second: u32,
    /// Largest broadcast payload a client may push; a larger one is dropped
    /// and, with `broadcast.ack`, answered `payload_size_exceeded`; the
    /// socket stays (Supabase: `max_payload_size_in_kb` 3000).
    pub max_payload_bytes: usize,
    /// Largest frame accepted; a larger one closes the socket with 1009
    /// (Supabase: 5 MB).
    pub max_frame_bytes: usize,
    /// A socket with no inbound frame for this long is closed (Phoenix: 60 s).
    pub idle_timeout: Duration,
    /// A new connection that has not sent a whole request head within this
    /// is closed (slow clients, port scanners).
    pub handshake_timeout: Duration,
    /// Outbound queue length before a connection counts as slow.
    pub queue_frames: usize,
    /// Outbound queued bytes before a connection counts as slow.
    pub queue_bytes: usize,
    /// Messages one token may broadcast over HTTP per second; beyond it the
    /// answer is 429 (Supabase: the tenant's `max_events_per_second`, 100).
    pub http_broadcast_per_token_per_second: u32,
    /// Messages all callers together may broadcast over HTTP per second;
    /// beyond it the answer is 429.
    pub http_broadcast_per_second: u32,
    /// Upgrade with warp's `ws()` (tungstenite's default 128 KiB buffers)
    /// instead of walcast's own upgrade. Only for the idle-memory
    /// benchmark's baseline.
    pub legacy_warp_ws: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_channels_per_socket: 100,
            max_joins_per_second: 100,
            max_events_per_second: 100,
            max_payload_bytes: 3000 * 1000,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            queue_frames: DEFAULT_QUEUE_FRAMES,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            http_broadcast_per_token_per_second: 100,
            http_broadcast_per_second: 1000,
            legacy_warp_ws: false,
        }
    }
}

/// What every session shares.
pub(crate) struct GatewayState {
    pub(crate) hub: Hub,
    pub(crate) authenticator: Authenticator,
    /// Who may join what and see which rows; `None`: no access control
    /// (every valid token joins anything and sees every row), the library
    /// default for embedding and tests. The binary always sets one.
    pub(crate) access: Option<router::Access>,
    /// Runs routes' SQL join checks; without one such routes are refused.
    pub(crate) join_checker: Option<crate::JoinChecker>,
    pub(crate) limits: Limits,
    next_connection: AtomicU64,
    open_connections: AtomicU64,
    queued_bytes: QueuedBytes,
    /// One copy of each connect token for all the sessions that hold it.
    connect_tokens: SharedTokens,
    broadcast_rate: BroadcastRate,
    started: SystemTime,
}

/// `/health` and `/health/ready`: whether the gateway can deliver (the
/// replication stream is connected and the replay window is rebuilt), and
/// the figures an operator looks at first.
fn health_report(state: &GatewayState) -> (bool, serde_json::Value) {
    let stats = state.hub.stats();
    let metrics = state.hub.metrics();
    let replication = metrics.replication();
    let replay_ready = state.hub.is_replay_ready();
    // Without a replication stream (embedded use, tests) readiness is the
    // gateway's own; with one, the stream must be connected and the replay
    // window rebuilt.
    let ready =
        !state.hub.has_stream() || (replay_ready && replication.is_some_and(|r| r.connected));
    let channels = state.hub.channels_by_kind();
    let body = json!({
        "status": if ready { "ok" } else { "degraded" },
        "uptime_seconds": state.started.elapsed().map(|d| d.as_secs()).unwrap_or(0),
        "connections": state.open_connections.load(Ordering::Relaxed),
        "channels": {
            "total": stats.channels,
            "postgres_changes": channels.postgres_changes,
            "broadcast_changes": channels.broadcast_changes,
            "other": channels.other,
        },
        "postgres_bindings": stats.bindings,
        "deliveries": stats.deliveries,
        "queued_bytes": state.queued_bytes.get(),
        "replication": {
            "connected": replication.map(|r| r.connected),
            "slot_lag_bytes": replication.and_then(|r| r.slot_lag_bytes),
            "replay_ready": replay_ready,
            "replay_window_changes": stats.replay_events,
            "last_commit_age_seconds": metrics.last_commit_age(),
        },
        "memory": {"resident_bytes": crate::metrics::resident_bytes()},
    });
    (ready, body)
}

/// Pending connections the listening socket queues before `accept`.
const LISTEN_BACKLOG: u32 = 8192;

/// The listening socket, as `TcpListener::bind` makes it but with two
/// options every accepted socket inherits (Linux copies them from the
/// listener):
///
/// - a longer accept queue: a reconnect storm (every client after a
///   restart) overflowed tokio's 1,024 (BENCHMARKS.md, B5); the kernel caps
///   it at `net.core.somaxconn`;
/// - `TCP_NODELAY`: a frame is one `writev` and must leave at once. With
///   Nagle's algorithm a frame written while the previous one is still
///   unacknowledged waits for the client's delayed ACK, up to 40 ms; B3's
///   p99 sat at 45–50 ms from 25 rows/s up until this was set.
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The gateway: shared state plus the tasks it runs.
#[derive(Clone)]
pub struct Gateway {
    state: Arc<GatewayState>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    /// More routes, tried after the built-in ones (`walcast dev`'s demo).
    extra_routes: Option<warp::filters::BoxedFilter<(warp::reply::Response,)>>,
}

impl Gateway {
    /// A gateway that checks tokens with `authenticator`. Its sessions end
    /// when `shutdown` is cancelled.
    pub fn new(authenticator: Authenticator, limits: Limits, shutdown: CancellationToken) -> Self {
        let state = GatewayState {
            hub: Hub::new(),
            authenticator,
            access: None,
            join_checker: None,
            limits,
            next_connection: AtomicU64::new(1),
            open_connections: AtomicU64::new(0),
            queued_bytes: QueuedBytes::default(),
            connect_tokens: SharedTokens::default(),
            broadcast_rate: BroadcastRate::new(),
            started: SystemTime::now(),
        };
        Self {
            state: Arc::new(state),
            tracker: TaskTracker::new(),
            shutdown,
            extra_routes: None,
        }
    }

    /// Enforces `access` (routes, join rules, row policies) on every join.
    /// Call before the gateway is cloned or bound.
    ///
    /// # Panics
    /// When the gateway was already cloned.
    pub fn with_access(
        mut self,
        access: router::Access,
        checker: Option<crate::JoinChecker>,
    ) -> Self {
        let state =
            Arc::get_mut(&mut self.state).expect("with_access before the gateway is cloned");
        state.access = Some(access);
        state.join_checker = checker;
        self
    }

    /// Also serves `routes`, tried after the built-in routes; what they
    /// reject answers 404 like any unknown path.
    pub fn with_routes(
        mut self,
        routes: warp::filters::BoxedFilter<(warp::reply::Response,)>,
    ) -> Self {
        self.extra_routes = Some(routes);
        self
    }

    /// The hub (for tests and metrics).
    pub fn hub(&self) -> &Hub {
        &self.state.hub
    }

    /// Open WebSocket connections (for tests and metrics).
    pub fn open_connections(&self) -> u64 {
        self.state.open_connections.load(Ordering::Relaxed)
    }

    /// Bytes queued for all connections and not yet handed to a socket
    /// (for tests and metrics).
    pub fn queued_bytes(&self) -> usize {
        self.state.queued_bytes.get()
    }

    /// Files committed events in the replay window and delivers them to
    /// subscribers, in order (see [`Hub::publish`]). Drains `events`.
    ///
    /// The fan-out writes up to [`DIRECT_WRITES`](crate::connection::DIRECT_WRITES) frames straight into
    /// idle sockets, and each write is a poll of a tokio socket. Inside
    /// tokio's cooperative budget (128 polls per turn of a task, partly
    /// spent on reading the replication stream) the writes past it would
    /// be refused and queued; the fan-out is bounded work, so it runs
    /// outside the budget.
    pub async fn publish(&self, events: &mut Vec<Event>) {
        let hub = &self.state.hub;
        tokio::task::coop::unconstrained(async { hub.publish(events) }).await;
    }

    /// Serves on `addr` until shutdown; returns the bound address once
    /// listening, and a future that ends when the server and every session
    /// have stopped. WebSocket upgrades are answered by [`crate::listener`],
    /// everything else by the warp routes.
    pub async fn bind(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(
        SocketAddr,
        impl std::future::Future<Output = ()> + Send + 'static,
    )> {
        let listener = listen(addr)?;
        let local = listener.local_addr()?;
        let http = hyper_util::service::TowerToHyperService::new(warp::service(self.routes()));
        let (gateway, tracker) = (self.clone(), self.tracker.clone());
        let shutdown = self.shutdown.clone();
        let done = async move {
            crate::listener::serve(listener, gateway, http, tracker.clone(), shutdown).await;
            tracker.close();
            tracker.wait().await;
        };
        info!(addr = %local, "gateway listening");
        Ok((local, done))
    }

    fn routes(
        &self,
    ) -> impl Filter<Extract = (impl Reply,), Error = std::convert::Infallible>
    + Clone
    + Send
    + Sync
    + 'static {
        let websocket = self.websocket_route();
        let state = Arc::clone(&self.state);
        let health = warp::path!("health").and(warp::get()).map(move || {
            // 200 while the process serves (liveness); the body says
            // whether it can deliver, `/health/ready` answers 503 when not.
            let (_, body) = health_report(&state);
            warp::reply::json(&body).into_response()
        });
        let state = Arc::clone(&self.state);
        let ready = warp::path!("health" / "ready")
            .and(warp::get())
            .map(move || {
                let (ready, body) = health_report(&state);
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                warp::reply::with_status(warp::reply::json(&body), status).into_response()
            });
        let state = Arc::clone(&self.state);
        let metrics = warp::path!("metrics").and(warp::get()).map(move || {
            let stats = state.hub.stats();
            let text = state.hub.metrics().render(&crate::metrics::Gauges {
                connections: state.open_connections.load(Ordering::Relaxed),
                channels: stats.channels,
                bindings: stats.bindings,
                queued_bytes: state.queued_bytes.get(),
                replay_events: stats.replay_events,
                deliveries: stats.deliveries,
                resident_bytes: crate::metrics::resident_bytes(),
            });
            warp::reply::with_header(text, "content-type", "text/plain; version=0.0.4")
                .into_response()
        });
        let health = health.or(ready).unify().or(metrics).unify();
        let gateway = self.clone();
        let max_body = self.state.limits.max_frame_bytes as u64;
        let http_broadcast = warp::path!("api" / "broadcast")
            .and(warp::post())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::header::optional::<String>("apikey"))
            .and(warp::body::content_length_limit(max_body))
            .and(warp::body::bytes())
            .map(
                move |authorization: Option<String>, apikey: Option<String>, body: bytes::Bytes| {
                    gateway.http_broadcast(authorization.as_deref(), apikey.as_deref(), &body, None)
                },
            );
        let gateway = self.clone();
        let http_event = warp::path!("api" / "broadcast" / String / "events" / String)
            .and(warp::post())
            .and(warp::query::<HashMap<String, String>>())
            .and(warp::header::optional::<String>("authorization"))
            .and(warp::header::optional::<String>("apikey"))
            .and(warp::header::optional::<String>("content-type"))
            .and(warp::body::content_length_limit(max_body))
            .and(warp::body::bytes())
            .map(
                move |topic: String,
                      event: String,
                      query: HashMap<String, String>,
                      authorization: Option<String>,
                      apikey: Option<String>,
                      content_type: Option<String>,
                      body: bytes::Bytes| {
                    let private = query
                        .get("private")
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                    let binary = content_type.is_some_and(|t| {
                        t.split(';').next().is_some_and(|t| {
                            t.trim().eq_ignore_ascii_case("application/octet-stream")
                        })
                    });
                    gateway.http_broadcast(
                        authorization.as_deref(),
                        apikey.as_deref(),
                        &body,
                        Some(SingleEvent {
                            topic,
                            event,
                            private,
                            binary,
                        }),
                    )
                },
            );
        // Supabase serves these under the project's `/realtime/v1` too, and
        // realtime-js' `httpSend` derives that path from the socket's URL.
        let http_broadcast = http_broadcast.or(http_event).unify().boxed();
        let http_broadcast = warp::path!("realtime" / "v1" / ..)
            .and(http_broadcast.clone())
            .or(http_broadcast)
            .unify();
        let extra = self.extra_routes.clone().unwrap_or_else(|| {
            warp::any()
                .and_then(|| async { Err::<warp::reply::Response, _>(warp::reject::not_found()) })
                .boxed()
        });
        websocket
            .or(health)
            .unify()
            .or(http_broadcast)
            .unify()
            .or(extra)
            .unify()
            .recover(|_| async {
                Ok::<_, std::convert::Infallible>(
                    warp::reply::with_status(
                        warp::reply::json(&json!({"error": "not found"})),
                        StatusCode::NOT_FOUND,
                    )
                    .into_response(),
                )
            })
    }

    /// `GET /realtime/v1/websocket` and `/socket/websocket`.
    fn websocket_route(&self) -> BoxedFilter<(warp::reply::Response,)> {
        let endpoint = warp::path!("realtime" / "v1" / "websocket")
            .or(warp::path!("socket" / "websocket"))
            .unify()
            .and(warp::get())
            .and(warp::query::<HashMap<String, String>>())
            .and(warp::header::optional::<String>("x-api-key"));
        let gateway = self.clone();
        if self.state.limits.legacy_warp_ws {
            return endpoint
                .and(warp::ws())
                .map(
                    move |query: HashMap<String, String>, header: Option<String>, ws| {
                        gateway.upgrade_legacy(&query, header.as_deref(), ws)
                    },
                )
                .boxed();
        }
        endpoint
            .and(websocket::handshake())
            .map(
                move |query: HashMap<String, String>, header: Option<String>, handshake| {
                    gateway.upgrade(&query, header.as_deref(), handshake)
                },
            )
            .boxed()
    }

    /// Checks the upgrade headers, the token and the vsn, then answers 101
    /// and serves the socket once hyper hands it over; answers 400 or 401
    /// with `{"error": …}` otherwise, without upgrading.
    fn upgrade(
        &self,
        query: &HashMap<String, String>,
        header: Option<&str>,
        handshake: Handshake,
    ) -> warp::reply::Response {
        let Some(accepted) = handshake.accept() else {
            return error_response(400, websocket::NOT_AN_UPGRADE);
        };
        let (token, vsn) = match self.check_connect_query(query, header) {
            Ok(checked) => checked,
            Err((status, message)) => return error_response(status, &message),
        };
        let (response, on_upgrade) = accepted.into_parts();
        let mut task = self.socket_task(vsn, token);
        let max_frame_bytes = self.state.limits.max_frame_bytes;
        self.tracker.spawn(async move {
            // Unwrapped in its own statement, so the task holds the socket
            // once, not also the `Option` it came in.
            let Some(socket) = websocket::open(on_upgrade, max_frame_bytes).await else {
                return;
            };
            task.serve(Box::new(socket)).await;
        });
        response
    }

    /// [`Gateway::upgrade`] through warp's `ws()` (see
    /// [`Limits::legacy_warp_ws`]).
    fn upgrade_legacy(
        &self,
        query: &HashMap<String, String>,
        header: Option<&str>,
        ws: warp::ws::Ws,
    ) -> warp::reply::Response {
        let (token, vsn) = match self.check_connect_query(query, header) {
            Ok(checked) => checked,
            Err((status, message)) => return error_response(status, &message),
        };
        let mut task = self.socket_task(vsn, token);
        let max_frame = self.state.limits.max_frame_bytes;
        ws.max_frame_size(max_frame)
            .max_message_size(max_frame)
            .on_upgrade(move |socket| async move {
                task.serve(Box::new(websocket::from_warp(socket))).await;
            })
            .into_response()
    }

    /// [`Gateway::check_connect`] with the query as warp parsed it.
    fn check_connect_query(
        &self,
        query: &HashMap<String, String>,
        header: Option<&str>,
    ) -> Result<(BearerToken, Vsn), (u16, String)> {
        let param = |name: &str| query.get(name).map(String::as_str);
        self.check_connect(param("apikey"), header, param("vsn"))
    }

    /// The connect token (verified) and the vsn, from the `apikey` and
    /// `vsn` query parameters and the `x-api-key` header; or the HTTP
    /// status and `error` text to refuse the connect with.
    pub(crate) fn check_connect(
        &self,
        apikey: Option<&str>,
        x_api_key: Option<&str>,
        vsn: Option<&str>,
    ) -> Result<(BearerToken, Vsn), (u16, String)> {
        let token = auth::connect_token(apikey, x_api_key)
            .map_err(|err| (err.connect_status(), err.connect_message()))?;
        self.state
            .authenticator
            .verify(token.as_str(), SystemTime::now())
            .map_err(|err| (err.connect_status(), err.connect_message()))?;
        let vsn = Vsn::from_query(vsn).map_err(|err| (400, err.to_string()))?;
        Ok((token, vsn))
    }

    /// The largest frame a socket accepts.
    pub(crate) fn max_frame_bytes(&self) -> usize {
        self.state.limits.max_frame_bytes
    }

    /// See [`Limits::handshake_timeout`].
    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.state.limits.handshake_timeout
    }

    /// See [`Limits::legacy_warp_ws`].
    pub(crate) fn legacy_warp_ws(&self) -> bool {
        self.state.limits.legacy_warp_ws
    }

    /// Cancelled when the gateway shuts down.
    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// A new connection's session and queue, for the task that will serve
    /// its socket once the upgrade completes.
    pub(crate) fn socket_task(&self, vsn: Vsn, token: BearerToken) -> SocketTask {
        let state = &self.state;
        let id = state.next_connection.fetch_add(1, Ordering::Relaxed);
        let limits = QueueLimits {
            frames: state.limits.queue_frames,
            bytes: state.limits.queue_bytes,
        };
        let (connection, outbox) = Connection::new(id, vsn, limits, &state.queued_bytes);
        SocketTask {
            state: Arc::clone(state),
            shutdown: self.shutdown.clone(),
            id,
            vsn,
            session: Some(Session::new(
                Arc::clone(state),
                connection,
                state.connect_tokens.share(token),
            )),
            outbox: Some(outbox),
        }
    }
}

/// What one connection's task owns: its session and the writer's end of
/// its queue, made before the upgrade completes.
///
/// Built outside the task and borrowed by [`SocketTask::serve`], so the
/// task's future holds each value once: an `async fn` keeps its arguments
/// in its state beside what they are moved into, and every idle
/// connection pays for its task's size (BENCHMARKS.md, B4).
pub(crate) struct SocketTask {
    state: Arc<GatewayState>,
    shutdown: CancellationToken,
    id: u64,
    vsn: Vsn,
    /// `None` once the session has ended.
    session: Option<Session>,
    /// Taken by the writer.
    outbox: Option<Outbox>,
}

impl SocketTask {
    /// Runs the session and the writer over `socket`, joined in the calling
    /// task, until both have finished. The socket lives with the
    /// connection's queue, where producers can write it directly
    /// ([`Connection::send`]).
    pub(crate) async fn serve(&mut self, socket: Box<dyn Transport>) {
        let Some(outbox) = self.outbox.take() else {
            return;
        };
        outbox.attach(socket);
        let reader = outbox.socket();
        let mut writer = Writer::new(outbox.socket(), outbox);
        let state = &self.state;
        state.open_connections.fetch_add(1, Ordering::Relaxed);
        let opened = &state.hub.metrics().connections_total;
        opened.fetch_add(1, Ordering::Relaxed);
        debug!(connection = self.id, vsn = self.vsn.as_str(), "connected");
        let shutdown = self.shutdown.clone();
        let session = &mut self.session;
        // Built in place: a future bound to a local first would be stored
        // twice. The session is dropped as soon as it ends, which lets go
        // of its connection handle, so the writer finishes too.
        tokio::join!(
            async move {
                if let Some(running) = session.as_mut() {
                    running.run(reader, shutdown).await;
                }
                *session = None;
            },
            writer.run()
        );
        writer.detach();
        if writer.evicted() {
            let closes = &state.hub.metrics().slow_consumer_closes;
            closes.fetch_add(1, Ordering::Relaxed);
        }
        state.open_connections.fetch_sub(1, Ordering::Relaxed);
        debug!(connection = self.id, "disconnected");
    }
}

impl Gateway {
    /// `POST /api/broadcast` (Supabase body `{"messages":[{topic, event,
    /// payload, private?, id?}]}`), or with `single`
    /// `POST /api/broadcast/:topic/events/:event` whose body is the payload
    /// (JSON, or opaque bytes sent as a binary broadcast). Needs a
    /// `service_role` token; answers 202 with no body.
    fn http_broadcast(
        &self,
        authorization: Option<&str>,
        apikey: Option<&str>,
        body: &bytes::Bytes,
        single: Option<SingleEvent>,
    ) -> warp::reply::Response {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .or(apikey);
        let Some(token) = token else {
            return error_response(401, crate::reasons::API_KEY_MISSING);
        };
        match self.state.authenticator.verify(token, SystemTime::now()) {
            Ok(claims) if claims.role() == "service_role" => {}
            Ok(_) => {
                return error_response(401, "Broadcasting over HTTP needs a service_role token");
            }
            Err(err) => return error_response(err.connect_status(), &err.connect_message()),
        }
        let messages = match single {
            Some(SingleEvent {
                topic,
                event,
                private,
                binary,
            }) => {
                let payload = if binary {
                    UserPayload::Binary(body.clone())
                } else {
                    match RawJson::parse(body.clone()) {
                        Ok(json) => UserPayload::Json(json),
                        Err(_) => return error_response(422, "the body must be a JSON payload"),
                    }
                };
                vec![HttpMessage {
                    topic,
                    event,
                    payload,
                    private,
                    id: None,
                }]
            }
            None => match parse_http_messages(body) {
                Ok(messages) => messages,
                Err(message) => return error_response(422, &message),
            },
        };
        let limits = &self.state.limits;
        if let Err(refusal) = self.state.broadcast_rate.admit(
            tokio::time::Instant::now(),
            token,
            u32::try_from(messages.len()).unwrap_or(u32::MAX),
            limits.http_broadcast_per_token_per_second,
            limits.http_broadcast_per_second,
        ) {
            return error_response(429, refusal.message());
        }
        for message in messages {
            let meta = message
                .id
                .and_then(|id| RawJson::from_serialize(&json!({ "id": id })).ok());
            let topic = TopicKey {
                topic: Arc::from(format!("{}{}", names::TOPIC_PREFIX, message.topic)),
                private: message.private,
            };
            let outbound = OutboundBroadcast::Parts {
                event: message.event,
                payload: message.payload,
                meta,
            };
            self.state.hub.broadcast(&topic, None, outbound);
        }
        warp::reply::with_status(warp::reply(), StatusCode::ACCEPTED).into_response()
    }
}

/// One message of an HTTP broadcast.
struct HttpMessage {
    topic: String,
    event: String,
    payload: UserPayload,
    private: bool,
    id: Option<String>,
}

/// The path and body kind of `POST /api/broadcast/:topic/events/:event`.
struct SingleEvent {
    topic: String,
    event: String,
    private: bool,
    /// `Content-Type: application/octet-stream`: the body is opaque bytes.
    binary: bool,
}

/// Validates `{"messages":[{"topic","event","payload","private"?,"id"?}]}`;
/// the error says which message and field is wrong.
fn parse_http_messages(body: &[u8]) -> Result<Vec<HttpMessage>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the body is not JSON".to_owned())?;
    let list = value
        .get("messages")
        .and_then(serde_json::Value::as_array)
        .ok_or("`messages` must be an array")?;
    if list.is_empty() {
        return Err("`messages` must not be empty".into());
    }
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let field = |name: &str| {
                m.get(name)
                    .and_then(serde_json::Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            let topic =
                field("topic").ok_or(format!("messages[{i}].topic must be a non-empty string"))?;
            let event =
                field("event").ok_or(format!("messages[{i}].event must be a non-empty string"))?;
            let payload = m
                .get("payload")
                .filter(|p| p.is_object())
                .and_then(|p| RawJson::from_serialize(p).ok())
                .ok_or(format!("messages[{i}].payload must be an object"))?;
            Ok(HttpMessage {
                topic: topic.to_owned(),
                event: event.to_owned(),
                payload: UserPayload::Json(payload),
                private: m
                    .get("private")
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false),
                id: field("id").map(str::to_owned),
            })
        })
        .collect()
}

fn error_response(status: u16, message: &str) -> warp::reply::Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
    warp::reply::with_status(warp::reply::json(&json!({ "error": message })), status)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every accepted socket has Nagle's algorithm off, inherited from the
    /// listener: warp accepts the sockets, so this is the one place to set it.
    #[tokio::test]
    async fn accepted_sockets_have_nodelay() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = listen(addr).expect("listen");
        let addr = listener.local_addr().expect("bound");
        let client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (accepted, _) = listener.accept().await.expect("accept");
        assert!(accepted.nodelay().expect("getsockopt"));
        assert!(
            !client.nodelay().expect("getsockopt"),
            "the client's default is Nagle on"
        );
    }
}
