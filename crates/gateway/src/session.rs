//! One client session: reads frames, answers them, and keeps the channels
//! this socket joined. The session task owns the socket's read half and
//! its channel table; replies go through the connection's queue, so they
//! stay ordered with the fan-out frames the hub queues.
//!
//! ```text
//!  socket ──frames──▶ Session::run ──handle_join / handle_leave / …──▶ Hub (register, unregister)
//!                          │                                               │
//!                          └──────────── replies ──▶ Connection queue ◀───┘ fan-out
//! ```
//!
//! The loop is `biased`: shutdown, eviction, token expiry, the idle
//! timeout, then the next frame.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt};
use router::{Binding, SubscriberId};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;
use warp::ws::Message;

use crate::auth::{self, Claims};
use crate::connection::{Connection, Outbound, close};
use crate::hub::TopicKey;
use crate::protocol::encode::{self, Status, SystemExtension, SystemMessage};
use crate::protocol::{
    BindingId, BroadcastPush, ClientEvent, ClientFrame, DecodeError, FrameDecoder, FrameHeader,
    JoinPayload, PresencePush, names,
};
use crate::reasons;
use crate::server::GatewayState;
use crate::token::BearerToken;

/// A channel this socket joined.
struct Joined {
    join_ref: Option<String>,
    subscriber: SubscriberId,
    topic: TopicKey,
    /// `config.broadcast.ack`: acknowledge each broadcast push.
    ack: bool,
    /// `config.presence.key`, or a generated one.
    presence_key: String,
    /// When the channel's token expires.
    expires_at: SystemTime,
}

/// One socket's session.
pub(crate) struct Session {
    state: Arc<GatewayState>,
    connection: Connection,
    decoder: FrameDecoder,
    connect_token: BearerToken,
    channels: HashMap<String, Joined>,
    /// Joins in the current one-second window, for the joins-per-second limit.
    join_window: (Instant, u32),
}

impl Session {
    pub(crate) fn new(
        state: Arc<GatewayState>,
        connection: Connection,
        connect_token: BearerToken,
    ) -> Self {
        let decoder =
            FrameDecoder::new(connection.vsn()).with_max_frame_bytes(state.limits.max_frame_bytes);
        Self {
            state,
            connection,
            decoder,
            connect_token,
            channels: HashMap::new(),
            join_window: (Instant::now(), 0),
        }
    }

    /// Runs until the client goes away, the server shuts down, or the
    /// connection is evicted; then leaves every channel.
    pub(crate) async fn run<S>(mut self, mut stream: S, shutdown: CancellationToken)
    where
        S: Stream<Item = Result<Message, warp::Error>> + Unpin,
    {
        let idle = self.state.limits.idle_timeout;
        let mut idle_deadline = Instant::now() + idle;
        loop {
            let expiry = self.next_expiry();
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    self.server_disconnect();
                    break;
                }
                () = self.connection.evicted().cancelled() => break,
                () = sleep_until_system(expiry), if expiry.is_some() => self.expire_tokens(),
                () = tokio::time::sleep_until(idle_deadline) => {
                    self.connection.send(Outbound::Close(close::IDLE, "no frame within the idle timeout"));
                    break;
                }
                message = stream.next() => {
                    let Some(Ok(message)) = message else { break };
                    idle_deadline = Instant::now() + idle;
                    if !self.handle_message(message) {
                        break;
                    }
                }
            }
        }
        for (_, joined) in self.channels.drain() {
            self.state.hub.unregister(joined.subscriber);
        }
    }

    /// Returns false when the socket must close.
    fn handle_message(&mut self, message: Message) -> bool {
        let decoded = if message.is_text() {
            self.decoder.decode_text(message.into_bytes())
        } else if message.is_binary() {
            self.decoder.decode_binary(message.into_bytes())
        } else if message.is_close() {
            return false;
        } else {
            return true; // ping/pong: warp answers pings itself
        };
        match decoded {
            Ok(frame) => self.handle_frame(frame),
            Err(err) => self.handle_decode_error(err),
        }
    }

    fn handle_decode_error(&mut self, err: DecodeError) -> bool {
        debug!(connection = self.connection.id(), error = %err, "bad frame");
        match err {
            DecodeError::TooLarge { .. } => {
                self.connection
                    .send(Outbound::Close(close::TOO_BIG, "frame too large"));
                false
            }
            DecodeError::Payload { header, .. } => {
                let vsn = self.connection.vsn();
                self.connection
                    .send_text(encode::reply_error_empty(vsn, header.reply_to()));
                true
            }
            // Phoenix ignores frames it cannot decode; the socket stays up.
            _ => true,
        }
    }

    fn handle_frame(&mut self, frame: ClientFrame) -> bool {
        let ClientFrame { header, event } = frame;
        match event {
            ClientEvent::Heartbeat => {
                self.connection
                    .send_text(encode::reply_ok(self.connection.vsn(), header.reply_to()));
                true
            }
            ClientEvent::Join(payload) => self.handle_join(&header, *payload),
            ClientEvent::Leave => {
                self.handle_leave(&header);
                true
            }
            ClientEvent::AccessToken(token) => {
                self.handle_access_token(&header, token);
                true
            }
            _ if !self.is_member(&header) => {
                self.connection.send_text(encode::reply_error(
                    self.connection.vsn(),
                    header.reply_to(),
                    reasons::UNMATCHED_TOPIC,
                ));
                true
            }
            ClientEvent::Broadcast(push) => {
                self.handle_broadcast(&header, push);
                true
            }
            ClientEvent::Presence(push) => {
                self.handle_presence(&header, push);
                true
            }
            // Like Supabase's channel: an event it does not know is logged
            // and dropped; the channel and the socket stay up.
            ClientEvent::Other { event, .. } => {
                debug!(connection = self.connection.id(), %event, "unknown event ignored");
                true
            }
        }
    }

    fn is_member(&self, header: &FrameHeader) -> bool {
        self.channels
            .get(&header.topic)
            .is_some_and(|joined| header.join_ref.is_none() || joined.join_ref == header.join_ref)
    }

    /// Returns false when the socket must close (join flood).
    fn handle_join(&mut self, header: &FrameHeader, payload: JoinPayload) -> bool {
        let vsn = self.connection.vsn();
        let to = header.reply_to();
        let reply_error = |connection: &Connection, reason: &str| {
            connection.send_text(encode::reply_error(vsn, to, reason));
        };

        if !self.count_join() {
            reply_error(&self.connection, reasons::TOO_MANY_JOINS);
            self.connection.send(Outbound::Close(
                close::POLICY_VIOLATION,
                "too many joins per second",
            ));
            return false;
        }
        let Some(sub_topic) = names::sub_topic(&header.topic).filter(|s| !s.is_empty()) else {
            reply_error(&self.connection, reasons::TOPIC_NAME_REQUIRED);
            return true;
        };
        let sub_topic = sub_topic.to_owned();
        let token = auth::join_token(
            payload.access_token.as_ref(),
            payload.user_token.as_ref(),
            &self.connect_token,
        );
        let claims = match self
            .state
            .authenticator
            .verify(token.as_str(), SystemTime::now())
        {
            Ok(claims) => claims,
            Err(err) => {
                reply_error(&self.connection, &err.join_reason());
                return true;
            }
        };
        // A second join of a joined topic replaces the first.
        if let Some(old) = self.channels.remove(&header.topic) {
            self.state.hub.unregister(old.subscriber);
            self.connection
                .send_text(encode::close(vsn, old.join_ref.as_deref(), &header.topic));
        } else if self.channels.len() >= self.state.limits.max_channels_per_socket {
            reply_error(&self.connection, reasons::TOO_MANY_CHANNELS);
            return true;
        }

        let config = payload.config.unwrap_or_default();
        let mut bindings = Vec::with_capacity(config.postgres_changes.len());
        let mut binding_errors = Vec::new();
        let mut echo = Vec::with_capacity(config.postgres_changes.len());
        for raw in &config.postgres_changes {
            match Binding::from_params(&Value::Object(raw.fields().clone())) {
                Ok(binding) => {
                    let id = BindingId::new(binding.id().get()).unwrap_or_else(|| raw.id());
                    echo.push((raw, id));
                    bindings.push(binding);
                }
                Err(err) => {
                    echo.push((raw, raw.id()));
                    binding_errors.push(err.to_string());
                }
            }
        }

        let subscriber = self.state.hub.next_subscriber();
        let topic = TopicKey {
            topic: Arc::from(header.topic.as_str()),
            private: config.private,
        };
        self.state.hub.register(
            subscriber,
            topic.clone(),
            config.broadcast.self_broadcast,
            self.connection.clone(),
            &bindings,
        );
        self.channels.insert(
            header.topic.clone(),
            Joined {
                join_ref: header.join_ref.clone(),
                subscriber,
                topic,
                ack: config.broadcast.ack,
                presence_key: config
                    .presence
                    .key
                    .clone()
                    .filter(|key| !key.is_empty())
                    .unwrap_or_else(random_key),
                expires_at: expiry_of(&claims),
            },
        );

        // Live before the reply leaves: the hub matches from here on.
        self.connection.send_text(encode::join_reply_ok(
            vsn,
            to,
            echo.iter().map(|(raw, id)| (*raw, *id)),
        ));
        let join_ref = header.join_ref.as_deref();
        if config.presence.enabled {
            let state = self.state.hub.presence_state(&TopicKey {
                topic: Arc::from(header.topic.as_str()),
                private: config.private,
            });
            self.connection
                .send_text(encode::presence_state(vsn, join_ref, &header.topic, &state));
        }
        if !config.postgres_changes.is_empty() {
            let (status, message) = match binding_errors.first() {
                None => (Status::Ok, reasons::SUBSCRIBED_TO_POSTGRES.to_owned()),
                Some(err) => (Status::Error, err.clone()),
            };
            self.connection.send_text(encode::system(
                vsn,
                join_ref,
                &header.topic,
                &SystemMessage {
                    extension: SystemExtension::PostgresChanges,
                    status,
                    message: &message,
                    channel: Some(&sub_topic),
                },
            ));
        }
        true
    }

    /// Relays a client broadcast to the topic's other members (and to the
    /// sender with `broadcast.self`); acknowledges it with `broadcast.ack`.
    fn handle_broadcast(&mut self, header: &FrameHeader, push: BroadcastPush) {
        let Some(joined) = self.channels.get(&header.topic) else {
            return;
        };
        self.state
            .hub
            .broadcast(&joined.topic, Some(joined.subscriber), push.into_outbound());
        if joined.ack {
            self.connection
                .send_text(encode::reply_ok(self.connection.vsn(), header.reply_to()));
        }
    }

    /// `track` / `untrack` with an ok reply; the diff goes to every member.
    fn handle_presence(&mut self, header: &FrameHeader, push: PresencePush) {
        let vsn = self.connection.vsn();
        let Some(joined) = self.channels.get(&header.topic) else {
            return;
        };
        let reply = match push {
            PresencePush::Track(payload) => {
                let map =
                    serde_json::from_slice::<serde_json::Map<String, Value>>(payload.as_bytes())
                        .unwrap_or_default();
                self.state
                    .hub
                    .track(&joined.topic, joined.subscriber, &joined.presence_key, map);
                encode::reply_ok(vsn, header.reply_to())
            }
            PresencePush::Untrack => {
                self.state.hub.untrack(&joined.topic, joined.subscriber);
                encode::reply_ok(vsn, header.reply_to())
            }
            PresencePush::TrackPayloadNotAMap => encode::reply_error(
                vsn,
                header.reply_to(),
                reasons::PRESENCE_TRACK_PAYLOAD_MUST_BE_MAP,
            ),
            _ => encode::reply_ok(vsn, header.reply_to()),
        };
        self.connection.send_text(reply);
    }

    fn handle_leave(&mut self, header: &FrameHeader) {
        let vsn = self.connection.vsn();
        self.connection
            .send_text(encode::reply_ok(vsn, header.reply_to()));
        if let Some(joined) = self.channels.remove(&header.topic) {
            self.state.hub.unregister(joined.subscriber);
            self.connection.send_text(encode::close(
                vsn,
                joined.join_ref.as_deref(),
                &header.topic,
            ));
        }
    }

    /// A refreshed token: no reply when valid (the expiry is re-armed);
    /// an invalid one closes the channel like an expired one.
    fn handle_access_token(&mut self, header: &FrameHeader, token: Option<BearerToken>) {
        let Some(token) = token.filter(|t| !t.is_opaque_api_key()) else {
            return;
        };
        let Some(joined) = self.channels.get_mut(&header.topic) else {
            return;
        };
        match self
            .state
            .authenticator
            .verify(token.as_str(), SystemTime::now())
        {
            Ok(claims) => joined.expires_at = expiry_of(&claims),
            Err(err) => {
                let message = err.message();
                self.close_channel(&header.topic.clone(), &message);
            }
        }
    }

    /// Closes every channel whose token has expired, with Supabase's
    /// system error followed by `phx_close`.
    fn expire_tokens(&mut self) {
        let now = SystemTime::now();
        let expired: Vec<(String, i64)> = self
            .channels
            .iter()
            .filter(|(_, joined)| joined.expires_at <= now)
            .map(|(topic, joined)| {
                let ago = now
                    .duration_since(joined.expires_at)
                    .unwrap_or_default()
                    .as_secs() as i64;
                (topic.clone(), ago)
            })
            .collect();
        for (topic, ago) in expired {
            self.close_channel(&topic, &reasons::token_expired_seconds_ago(ago));
        }
    }

    fn close_channel(&mut self, topic: &str, message: &str) {
        let Some(joined) = self.channels.remove(topic) else {
            return;
        };
        self.state.hub.unregister(joined.subscriber);
        let vsn = self.connection.vsn();
        let join_ref = joined.join_ref.as_deref();
        self.connection.send_text(encode::system(
            vsn,
            join_ref,
            topic,
            &SystemMessage {
                extension: SystemExtension::System,
                status: Status::Error,
                message,
                channel: names::sub_topic(topic),
            },
        ));
        self.connection
            .send_text(encode::close(vsn, join_ref, topic));
    }

    /// Server shutdown: tell every channel, then close with 1001.
    fn server_disconnect(&mut self) {
        let vsn = self.connection.vsn();
        for (topic, joined) in &self.channels {
            self.connection.send_text(encode::system(
                vsn,
                joined.join_ref.as_deref(),
                topic,
                &SystemMessage {
                    extension: SystemExtension::System,
                    status: Status::Ok,
                    message: reasons::SERVER_REQUESTED_DISCONNECT,
                    channel: None,
                },
            ));
        }
        self.connection
            .send(Outbound::Close(close::GOING_AWAY, "server shutting down"));
    }

    fn next_expiry(&self) -> Option<SystemTime> {
        self.channels.values().map(|joined| joined.expires_at).min()
    }

    /// Counts a join; false when the joins-per-second limit is exceeded.
    fn count_join(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.join_window.0) >= Duration::from_secs(1) {
            self.join_window = (now, 0);
        }
        self.join_window.1 += 1;
        self.join_window.1 <= self.state.limits.max_joins_per_second
    }
}

/// A presence key for joins that name none, shaped like the UUID Supabase
/// generates.
fn random_key() -> String {
    let bits: u128 = rand::random();
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn expiry_of(claims: &Claims) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(claims.exp().max(0) as u64)
}

async fn sleep_until_system(when: Option<SystemTime>) {
    let Some(when) = when else {
        return std::future::pending().await;
    };
    let wait = when.duration_since(SystemTime::now()).unwrap_or_default();
    tokio::time::sleep(wait).await;
}
