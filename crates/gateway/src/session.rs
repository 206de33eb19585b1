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
//! timeout, the pending catch-ups of resuming channels (once the queue has
//! drained), then the next frame.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use futures_util::{Stream, StreamExt};
use router::{Binding, ClaimsView, JoinGrant, SubscriberId};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::auth::{self, Claims};
use crate::connection::{Connection, Outbound, close};
use crate::delivery::{CatchUp, CatchUpState, ResumeUnavailable};
use crate::hub::{ChangeForm, Registration, TopicKey};
use crate::metrics::Metrics;
use crate::protocol::encode::{self, Status, SystemExtension, SystemMessage};
use crate::protocol::{
    BroadcastPush, ClientEvent, ClientFrame, DecodeError, FrameDecoder, FrameHeader, JoinPayload,
    PresencePush, names,
};
use crate::reasons;
use crate::server::GatewayState;
use crate::token::BearerToken;

/// How long a join with a resume position waits for the replay window to
/// be rebuilt after a restart before it is told to retry.
const RESUME_READY_WAIT: Duration = Duration::from_secs(10);

/// A channel this socket joined.
struct Joined {
    join_ref: Option<String>,
    subscriber: SubscriberId,
    topic: TopicKey,
    /// `config.broadcast.ack`: acknowledge each broadcast push.
    ack: bool,
    /// The route lets members send broadcasts and presence.
    can_broadcast: bool,
    /// `config.presence.key`, or a generated one.
    presence_key: String,
    /// When the channel's token expires.
    expires_at: SystemTime,
    /// What a resume has still to replay; dropped with the channel.
    catch_up: Option<CatchUp>,
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
    pub(crate) async fn run<S>(&mut self, mut stream: S, shutdown: CancellationToken)
    where
        S: Stream<Item = Result<Message, WsError>> + Unpin,
    {
        let idle = self.state.limits.idle_timeout;
        let mut idle_deadline = Instant::now() + idle;
        let mut events = crate::rate_limit::EventWindow::new(Instant::now());
        // One timer for both deadlines (idle, token expiry). It is moved
        // later only when it fires, not on every frame, and earlier when a
        // frame brings an earlier expiry.
        let timer = tokio::time::sleep_until(idle_deadline);
        tokio::pin!(timer);
        loop {
            let catching_up = self
                .channels
                .values()
                .any(|joined| joined.catch_up.is_some());
            tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    self.server_disconnect();
                    break;
                }
                () = self.connection.evicted().cancelled() => break,
                () = &mut timer => {
                    if Instant::now() >= idle_deadline {
                        self.connection.send(Outbound::Close(close::IDLE, "no frame within the idle timeout"));
                        break;
                    }
                    self.expire_tokens();
                    timer.as_mut().reset(self.next_deadline(idle_deadline));
                }
                () = self.connection.drained(), if catching_up => {
                    self.continue_catch_ups();
                    // A chunk ends at its candidate cap with the queue
                    // still low: let the socket's other work run first.
                    tokio::task::yield_now().await;
                }
                message = stream.next() => {
                    let message = match message {
                        Some(Ok(message)) => message,
                        Some(Err(WsError::Capacity(_))) => {
                            self.connection.send(Outbound::Close(close::TOO_BIG, "frame too large"));
                            break;
                        }
                        _ => break,
                    };
                    idle_deadline = Instant::now() + idle;
                    // Boxed: the join path's future is large, and only
                    // needed while a frame is handled, not while idle.
                    if !Box::pin(self.handle_message(message, &mut events)).await {
                        break;
                    }
                    let next = self.next_deadline(idle_deadline);
                    if next < timer.deadline() {
                        timer.as_mut().reset(next);
                    }
                }
            }
        }
        for (_, joined) in self.channels.drain() {
            self.state.hub.unregister(joined.subscriber);
        }
    }

    /// Returns false when the socket must close. `events` counts this
    /// socket's pushes for [`Limits::max_events_per_second`](crate::Limits).
    async fn handle_message(
        &mut self,
        message: Message,
        events: &mut crate::rate_limit::EventWindow,
    ) -> bool {
        let decoded = match message {
            Message::Text(text) => self.decoder.decode_text(text.into()),
            Message::Binary(bytes) => self.decoder.decode_binary(bytes),
            Message::Close(_) => return false,
            // Pings: tungstenite queues the pong itself.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return true,
        };
        match decoded {
            Ok(frame) if self.over_event_rate(&frame, events) => true,
            Ok(frame) => self.handle_frame(frame).await,
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

    async fn handle_frame(&mut self, frame: ClientFrame) -> bool {
        let ClientFrame { header, event } = frame;
        match event {
            ClientEvent::Heartbeat => {
                self.connection
                    .send_text(encode::reply_ok(self.connection.vsn(), header.reply_to()));
                true
            }
            ClientEvent::Join(payload) => self.handle_join(&header, *payload).await,
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
    ///
    /// Order: join rate, topic, token, authorization (the route's rules,
    /// then its SQL check), then the channel goes live (registered with
    /// scoped bindings) before the reply is queued; a resume replays the
    /// first chunk of what the channel missed right after the reply, under
    /// the window lock, and the rest as the queue drains
    /// ([`Session::continue_catch_ups`]).
    async fn handle_join(&mut self, header: &FrameHeader, payload: JoinPayload) -> bool {
        let vsn = self.connection.vsn();
        let to = header.reply_to();
        let state = Arc::clone(&self.state);
        let metrics = state.hub.metrics();
        let reply_error = |connection: &Connection, reason: &str| {
            metrics.join_error(reason);
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
        let grant = match self.authorize(&sub_topic, &claims).await {
            Ok(grant) => grant,
            Err(reason) => {
                reply_error(&self.connection, &reason);
                return true;
            }
        };
        let config = payload.config.unwrap_or_default();
        if config.resume.is_some() && !self.state.hub.wait_ready(RESUME_READY_WAIT).await {
            reply_error(&self.connection, reasons::RESUME_NOT_READY);
            return true;
        }

        // A second join of a joined topic replaces the first.
        if let Some(old) = self.channels.remove(&header.topic) {
            self.state.hub.unregister(old.subscriber);
            self.connection
                .send_text(encode::close(vsn, old.join_ref.as_deref(), &header.topic));
        } else if self.channels.len() >= self.state.limits.max_channels_per_socket {
            reply_error(&self.connection, reasons::TOO_MANY_CHANNELS);
            return true;
        }

        let scope = grant.as_ref().map(JoinGrant::scope);
        let mut bindings = Vec::with_capacity(config.postgres_changes.len());
        let mut binding_errors = Vec::new();
        let mut echo = Vec::with_capacity(config.postgres_changes.len());
        for raw in &config.postgres_changes {
            match Binding::from_params(&Value::Object(raw.fields().clone())) {
                Ok(binding) => {
                    echo.push((raw, raw.id()));
                    bindings.push(match &scope {
                        Some(scope) => binding.scoped(Arc::clone(scope)),
                        None => binding,
                    });
                }
                Err(err) => {
                    echo.push((raw, raw.id()));
                    binding_errors.push(err.to_string());
                }
            }
        }
        // A routed topic joined without bindings gets its table's changes
        // as broadcast events.
        let mut form = ChangeForm::PostgresChanges;
        if config.postgres_changes.is_empty()
            && let Some(binding) = grant.as_ref().and_then(JoinGrant::route_binding)
        {
            bindings.push(binding);
            form = ChangeForm::Broadcast;
        }

        let subscriber = self.state.hub.next_subscriber();
        let topic = TopicKey {
            topic: Arc::from(header.topic.as_str()),
            private: config.private,
        };
        let registration = Registration {
            subscriber,
            topic: topic.clone(),
            self_broadcast: config.broadcast.self_broadcast,
            connection: self.connection.clone(),
            bindings,
            form,
        };
        let join_ref = header.join_ref.as_deref();
        let connection = &self.connection;
        let hub = &self.state.hub;
        // Queued once the channel is live: the reply, presence, the system
        // message, in the order realtime-js expects.
        let reply = || {
            connection.send_text(encode::join_reply_ok(
                vsn,
                to,
                echo.iter().map(|(raw, id)| (*raw, *id)),
            ));
            if config.presence.enabled {
                let state = hub.presence_state(&topic);
                connection.send_text(encode::presence_state(vsn, join_ref, &header.topic, &state));
            }
            if !config.postgres_changes.is_empty() {
                let (status, message) = match binding_errors.first() {
                    None => (Status::Ok, reasons::SUBSCRIBED_TO_POSTGRES),
                    Some(err) => (Status::Error, err.as_str()),
                };
                connection.send_text(encode::system(
                    vsn,
                    join_ref,
                    &header.topic,
                    &SystemMessage {
                        extension: SystemExtension::PostgresChanges,
                        status,
                        message,
                        channel: Some(&sub_topic),
                    },
                ));
            }
        };
        metrics.joins_total.fetch_add(1, Ordering::Relaxed);
        let mut catch_up = None;
        match &config.resume {
            None => {
                hub.register(registration);
                reply();
            }
            Some(resume) => {
                metrics.resumes.fetch_add(1, Ordering::Relaxed);
                match hub.register_and_resume(registration, &resume.position, reply) {
                    Ok(pending) => catch_up = pending,
                    Err(why) => {
                        resume_unavailable(metrics, connection, join_ref, &header.topic, &why);
                    }
                }
            }
        }

        self.channels.insert(
            header.topic.clone(),
            Joined {
                join_ref: header.join_ref.clone(),
                subscriber,
                topic,
                ack: config.broadcast.ack,
                can_broadcast: grant.as_ref().is_none_or(JoinGrant::can_broadcast),
                presence_key: config
                    .presence
                    .key
                    .clone()
                    .filter(|key| !key.is_empty())
                    .unwrap_or_else(random_key),
                expires_at: expiry_of(&claims),
                catch_up,
            },
        );
        true
    }

    /// Replays the next chunk of every pending catch-up, while the queue
    /// has room (see [paced catch-up](crate::delivery#paced-catch-up)).
    fn continue_catch_ups(&mut self) {
        let hub = &self.state.hub;
        for (topic, joined) in &mut self.channels {
            let Some(catch_up) = joined.catch_up.as_mut() else {
                continue;
            };
            match hub.continue_catch_up(catch_up, &self.connection) {
                Ok(CatchUpState::Pending) => {}
                Ok(CatchUpState::Live) => joined.catch_up = None,
                Err(why) => {
                    joined.catch_up = None;
                    let join_ref = joined.join_ref.as_deref();
                    resume_unavailable(hub.metrics(), &self.connection, join_ref, topic, &why);
                }
            }
        }
    }

    /// Applies the access rules (when configured) and runs the route's SQL
    /// check. `Err` is the join error reason.
    async fn authorize(
        &self,
        sub_topic: &str,
        claims: &Claims,
    ) -> Result<Option<JoinGrant>, String> {
        let Some(access) = &self.state.access else {
            return Ok(None);
        };
        let grant = access
            .authorize_join(sub_topic, &ClaimsView::new(claims.all()))
            .map_err(|denied| denied.join_reason())?;
        if let Some(check) = grant.sql_check() {
            let Some(checker) = &self.state.join_checker else {
                return Err(reasons::join_check_unavailable(
                    "no database for join checks",
                ));
            };
            match checker
                .check(Arc::clone(&check.sql), check.params.clone())
                .await
            {
                Ok(true) => {}
                Ok(false) => return Err(grant.sql_check_failed().join_reason()),
                Err(why) => return Err(reasons::join_check_unavailable(&why)),
            }
        }
        Ok(Some(grant))
    }

    /// Relays a client broadcast to the topic's other members (and to the
    /// sender with `broadcast.self`); acknowledges it with `broadcast.ack`.
    fn handle_broadcast(&mut self, header: &FrameHeader, push: BroadcastPush) {
        let Some(joined) = self.channels.get(&header.topic) else {
            return;
        };
        if !joined.can_broadcast {
            self.connection.send_text(encode::reply_error(
                self.connection.vsn(),
                header.reply_to(),
                reasons::BROADCAST_NOT_ALLOWED,
            ));
            return;
        }
        // Like Supabase: dropped, and refused only to a sender that asked for acks.
        if push_size(&push) > self.state.limits.max_payload_bytes {
            if joined.ack {
                self.connection.send_text(encode::reply_broadcast_error(
                    self.connection.vsn(),
                    header.reply_to(),
                    reasons::PAYLOAD_SIZE_EXCEEDED,
                ));
            }
            return;
        }
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
        if !joined.can_broadcast {
            self.connection.send_text(encode::reply_error(
                vsn,
                header.reply_to(),
                reasons::BROADCAST_NOT_ALLOWED,
            ));
            return;
        }
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

/// Tells a resuming channel that walcast cannot replay what it missed
/// (a `system` message starting `ResumeUnavailable:`); the channel is live.
fn resume_unavailable(
    metrics: &Metrics,
    connection: &Connection,
    join_ref: Option<&str>,
    topic: &str,
    why: &ResumeUnavailable,
) {
    metrics.resumes_unavailable.fetch_add(1, Ordering::Relaxed);
    let message = format!("{}: {why}", reasons::RESUME_UNAVAILABLE);
    connection.send_text(encode::system(
        connection.vsn(),
        join_ref,
        topic,
        &SystemMessage {
            extension: SystemExtension::PostgresChanges,
            status: Status::Error,
            message: &message,
            channel: names::sub_topic(topic),
        },
    ));
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

impl Session {
    /// The session timer's next deadline: the idle deadline, or the
    /// earliest token expiry when that comes first.
    fn next_deadline(&self, idle_deadline: Instant) -> Instant {
        let Some(expiry) = self.next_expiry() else {
            return idle_deadline;
        };
        let wait = expiry.duration_since(SystemTime::now()).unwrap_or_default();
        idle_deadline.min(Instant::now() + wait)
    }

    /// Counts a broadcast or presence push on a joined channel against the
    /// socket's events-per-second limit. Over the limit the push is dropped
    /// and its channel closed the way Supabase closes a tenant's channels
    /// (system error "Too many messages per second", then `phx_close`);
    /// returns true then.
    fn over_event_rate(
        &mut self,
        frame: &ClientFrame,
        events: &mut crate::rate_limit::EventWindow,
    ) -> bool {
        let push = matches!(
            frame.event,
            ClientEvent::Broadcast(_) | ClientEvent::Presence(_)
        );
        if !push || !self.is_member(&frame.header) {
            return false;
        }
        let limit = self.state.limits.max_events_per_second;
        if events.try_add(Instant::now(), 1, limit) {
            return false;
        }
        debug!(connection = self.connection.id(), topic = %frame.header.topic, "too many messages per second");
        self.close_channel(&frame.header.topic, reasons::TOO_MANY_MESSAGES_PER_SECOND);
        true
    }
}

/// The bytes of a broadcast push that count against
/// [`Limits::max_payload_bytes`](crate::Limits): what would be relayed.
fn push_size(push: &BroadcastPush) -> usize {
    match push {
        BroadcastPush::Json { payload, .. } => payload.as_bytes().len(),
        BroadcastPush::User(user) => {
            let payload = match &user.payload {
                crate::protocol::UserPayload::Json(json) => json.as_bytes().len(),
                crate::protocol::UserPayload::Binary(bytes) => bytes.len(),
            };
            user.event.len() + payload
        }
    }
}
