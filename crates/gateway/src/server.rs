//! The HTTP server: the WebSocket endpoints (token checked before the
//! upgrade), and the hub's feed from the change stream.
//!
//! ```text
//!  GET /realtime/v1/websocket?apikey=…&vsn=…  ─┐  401 {"error": …} on a bad token
//!  GET /socket/websocket?apikey=…&vsn=…       ─┴─▶ upgrade ──▶ Session (reader) + Writer (socket owner)
//!  GET /health                                     status, connections, channels
//!  POST /api/broadcast, /api/broadcast/:topic/events/:event   (service_role) ──▶ Hub::broadcast
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use changes::Event;
use futures_util::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};
use warp::http::StatusCode;
use warp::{Filter, Reply};

use crate::auth::{self, Authenticator};
use crate::connection::{Connection, DEFAULT_QUEUE_FRAMES, Writer};
use crate::hub::{Hub, TopicKey};
use crate::protocol::{
    DEFAULT_MAX_FRAME_BYTES, OutboundBroadcast, RawJson, UserPayload, Vsn, names,
};
use crate::session::Session;

/// Per-socket limits, with Supabase's defaults.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Channels one socket may join (Supabase: 100).
    pub max_channels_per_socket: usize,
    /// Joins per second per socket before it is disconnected (Supabase: 100).
    pub max_joins_per_second: u32,
    /// Largest frame accepted (Supabase: 5 MB).
    pub max_frame_bytes: usize,
    /// A socket with no inbound frame for this long is closed (Phoenix: 60 s).
    pub idle_timeout: Duration,
    /// Outbound queue length before a connection counts as slow.
    pub queue_frames: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_channels_per_socket: 100,
            max_joins_per_second: 100,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            idle_timeout: Duration::from_secs(60),
            queue_frames: DEFAULT_QUEUE_FRAMES,
        }
    }
}

/// What every session shares.
pub(crate) struct GatewayState {
    pub(crate) hub: Hub,
    pub(crate) authenticator: Authenticator,
    pub(crate) limits: Limits,
    next_connection: AtomicU64,
    open_connections: AtomicU64,
    started: SystemTime,
}

/// The gateway: shared state plus the tasks it runs.
#[derive(Clone)]
pub struct Gateway {
    state: Arc<GatewayState>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Gateway {
    /// A gateway that checks tokens with `authenticator`. Its sessions end
    /// when `shutdown` is cancelled.
    pub fn new(authenticator: Authenticator, limits: Limits, shutdown: CancellationToken) -> Self {
        let state = GatewayState {
            hub: Hub::new(),
            authenticator,
            limits,
            next_connection: AtomicU64::new(1),
            open_connections: AtomicU64::new(0),
            started: SystemTime::now(),
        };
        Self {
            state: Arc::new(state),
            tracker: TaskTracker::new(),
            shutdown,
        }
    }

    /// The hub (for tests and metrics).
    pub fn hub(&self) -> &Hub {
        &self.state.hub
    }

    /// Feeds committed events to subscribers, in order.
    pub fn publish(&self, events: &[Event]) {
        let mut hits = Vec::new();
        for event in events {
            if let Event::Change(change) = event {
                self.state.hub.publish_change(change, &mut hits);
            }
        }
    }

    /// Serves on `addr` until shutdown; returns the bound address once
    /// listening, and a future that ends when the server and every session
    /// have stopped.
    pub async fn bind(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(
        SocketAddr,
        impl std::future::Future<Output = ()> + Send + 'static,
    )> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let shutdown = self.shutdown.clone();
        let tracker = self.tracker.clone();
        let server = warp::serve(self.routes())
            .incoming(listener)
            .graceful(async move { shutdown.cancelled().await });
        let done = async move {
            server.run().await;
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
        let gateway = self.clone();
        let websocket = warp::path!("realtime" / "v1" / "websocket")
            .or(warp::path!("socket" / "websocket"))
            .unify()
            .and(warp::get())
            .and(warp::query::<HashMap<String, String>>())
            .and(warp::header::optional::<String>("x-api-key"))
            .and(warp::ws())
            .map(
                move |query: HashMap<String, String>, header: Option<String>, ws: warp::ws::Ws| {
                    gateway.upgrade(&query, header.as_deref(), ws)
                },
            );
        let state = Arc::clone(&self.state);
        let health = warp::path!("health").and(warp::get()).map(move || {
            let stats = state.hub.stats();
            warp::reply::json(&json!({
                "status": "ok",
                "uptime_seconds": state.started.elapsed().map(|d| d.as_secs()).unwrap_or(0),
                "connections": state.open_connections.load(Ordering::Relaxed),
                "channels": stats.channels,
                "postgres_bindings": stats.bindings,
                "deliveries": stats.deliveries,
            }))
            .into_response()
        });
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
            .and(warp::body::content_length_limit(max_body))
            .and(warp::body::bytes())
            .map(
                move |topic: String,
                      event: String,
                      query: HashMap<String, String>,
                      authorization: Option<String>,
                      apikey: Option<String>,
                      body: bytes::Bytes| {
                    let private = query
                        .get("private")
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                    gateway.http_broadcast(
                        authorization.as_deref(),
                        apikey.as_deref(),
                        &body,
                        Some((topic, event, private)),
                    )
                },
            );
        websocket
            .or(health)
            .unify()
            .or(http_broadcast)
            .unify()
            .or(http_event)
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

    /// Checks the token and vsn before upgrading; answers 401/400 with
    /// `{"error": …}` otherwise.
    fn upgrade(
        &self,
        query: &HashMap<String, String>,
        header: Option<&str>,
        ws: warp::ws::Ws,
    ) -> warp::reply::Response {
        let token = match auth::connect_token(query.get("apikey").map(String::as_str), header) {
            Ok(token) => token,
            Err(err) => return error_response(err.connect_status(), &err.connect_message()),
        };
        if let Err(err) = self
            .state
            .authenticator
            .verify(token.as_str(), SystemTime::now())
        {
            return error_response(err.connect_status(), &err.connect_message());
        }
        let vsn = match Vsn::from_query(query.get("vsn").map(String::as_str)) {
            Ok(vsn) => vsn,
            Err(err) => return error_response(400, &err.to_string()),
        };
        let state = Arc::clone(&self.state);
        let shutdown = self.shutdown.clone();
        let tracker = self.tracker.clone();
        let max_frame = self.state.limits.max_frame_bytes;
        ws.max_frame_size(max_frame)
            .max_message_size(max_frame)
            .on_upgrade(move |socket| {
                let id = state.next_connection.fetch_add(1, Ordering::Relaxed);
                let (connection, rx) = Connection::new(id, vsn, state.limits.queue_frames);
                let (sink, stream) = socket.split();
                tracker.spawn(Writer::new(sink, rx, &connection).run());
                state.open_connections.fetch_add(1, Ordering::Relaxed);
                debug!(connection = id, vsn = vsn.as_str(), "connected");
                async move {
                    Session::new(Arc::clone(&state), connection, token)
                        .run(stream, shutdown)
                        .await;
                    state.open_connections.fetch_sub(1, Ordering::Relaxed);
                    debug!(connection = id, "disconnected");
                }
            })
            .into_response()
    }
}

impl Gateway {
    /// `POST /api/broadcast` (Supabase body `{"messages":[{topic, event,
    /// payload, private?, id?}]}`), or with `single` = (topic, event,
    /// private) `POST /api/broadcast/:topic/events/:event` whose body is the
    /// payload. Needs a `service_role` token; answers 202 with no body.
    fn http_broadcast(
        &self,
        authorization: Option<&str>,
        apikey: Option<&str>,
        body: &[u8],
        single: Option<(String, String, bool)>,
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
            Some((topic, event, private)) => {
                match serde_json::from_slice::<serde_json::Value>(body) {
                    Ok(payload) => vec![HttpMessage {
                        topic,
                        event,
                        payload,
                        private,
                        id: None,
                    }],
                    Err(_) => return error_response(422, "the body must be a JSON payload"),
                }
            }
            None => match parse_http_messages(body) {
                Ok(messages) => messages,
                Err(message) => return error_response(422, &message),
            },
        };
        for message in messages {
            let Ok(payload) = RawJson::from_serialize(&message.payload) else {
                continue;
            };
            let meta = message
                .id
                .and_then(|id| RawJson::from_serialize(&json!({ "id": id })).ok());
            let topic = TopicKey {
                topic: Arc::from(format!("{}{}", names::TOPIC_PREFIX, message.topic)),
                private: message.private,
            };
            let outbound = OutboundBroadcast::Parts {
                event: message.event,
                payload: UserPayload::Json(payload),
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
    payload: serde_json::Value,
    private: bool,
    id: Option<String>,
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
                .ok_or(format!("messages[{i}].payload must be an object"))?;
            Ok(HttpMessage {
                topic: topic.to_owned(),
                event: event.to_owned(),
                payload: payload.clone(),
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
