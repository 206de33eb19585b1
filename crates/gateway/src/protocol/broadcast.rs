//! Broadcast messages in both directions.
//!
//! A client broadcast arrives in one of two forms and leaves in the form
//! each receiving socket understands:
//!
//! ```text
//!  text  {"type":"broadcast","event":"e","payload":{…},…}  ──▶ relayed verbatim (Supabase does not look inside)
//!  binary kind 3: event + payload (JSON or bytes) + metadata ──▶ Parts: rebuilt per vsn, client metadata dropped
//!  HTTP /api/broadcast, pg_logical_emit_message            ──▶ Parts with meta {"id":…}
//! ```

use bytes::Bytes;

use super::raw_json::RawJson;

/// A broadcast sent by a client on a joined channel.
#[derive(Debug, Clone)]
pub enum BroadcastPush {
    /// A text frame: the whole payload object, relayed to the other members
    /// exactly as it came (`{"type":"broadcast","event":…,"payload":…}`).
    Json {
        /// The payload's `event` when it is a string, for routing and logs.
        event: Option<String>,
        /// The payload object.
        payload: RawJson,
    },
    /// A vsn 2.0.0 binary kind-3 frame.
    User(UserBroadcastPush),
}

/// The content of a binary user broadcast push (kind 3).
#[derive(Debug, Clone)]
pub struct UserBroadcastPush {
    /// The user event name (`channel.send({event})`).
    pub event: String,
    /// Client metadata (keys in realtime-js's `allowedMetadataKeys`); usually
    /// absent. Supabase does not forward it.
    pub metadata: Option<RawJson>,
    /// The user payload.
    pub payload: UserPayload,
}

/// A broadcast's user payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserPayload {
    /// JSON text (payload encoding 1).
    Json(RawJson),
    /// Opaque bytes (payload encoding 0); only vsn 2.0.0 sockets can receive them.
    Binary(Bytes),
}

/// A broadcast on its way to subscribers.
#[derive(Debug, Clone)]
pub enum OutboundBroadcast {
    /// A payload object sent as is (from a client's text broadcast).
    Verbatim(RawJson),
    /// A message built from parts; sent as
    /// `{"type":"broadcast","event":…,"payload":…,"meta":…}` to text sockets
    /// and as a binary kind-4 frame when the payload is binary.
    Parts {
        /// The user event name.
        event: String,
        /// The user payload.
        payload: UserPayload,
        /// Server metadata such as `{"id":"<uuid>"}`; must be a JSON object.
        meta: Option<RawJson>,
    },
}

impl BroadcastPush {
    /// The user event name, when there is one.
    pub fn event(&self) -> Option<&str> {
        match self {
            Self::Json { event, .. } => event.as_deref(),
            Self::User(user) => Some(&user.event),
        }
    }

    /// The message to relay to the other members, as Supabase relays it:
    /// text payloads verbatim, binary pushes rebuilt without the client's
    /// metadata.
    pub fn into_outbound(self) -> OutboundBroadcast {
        match self {
            Self::Json { payload, .. } => OutboundBroadcast::Verbatim(payload),
            Self::User(user) => OutboundBroadcast::Parts {
                event: user.event,
                payload: user.payload,
                meta: None,
            },
        }
    }
}
