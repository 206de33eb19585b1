//! The Phoenix channel protocol as Supabase Realtime speaks it, for
//! `@supabase/realtime-js` and the other Supabase SDKs.
//!
//! ```text
//!             ┌──────────────── one socket, one Vsn (?vsn= at connect) ────────────────┐
//!  WebSocket  │ text / binary ──FrameDecoder──▶ ClientFrame { header, ClientEvent }     │──▶ session
//!             │                                                                         │
//!  WebSocket  │ ◀── TextFrame / ServerFrame ── encode::{reply, system, close, …}        │◀── session
//!             └─────────────────────────────────────────────────────────────────────────┘
//!  all sockets of a topic ◀── Arc<FanoutFrame>: postgres_changes, broadcast, presence_diff,
//!                             encoded once per vsn and shared (null join_ref)
//! ```
//!
//! Pure: no I/O, no clocks, no policy. Decoding never panics on any input;
//! what to answer a bad frame is the session's decision. The wire strings
//! Supabase clients know live in [`crate::reasons`].

mod binary;
mod broadcast;
mod client;
mod decode;
pub mod encode;
mod error;
mod fanout;
mod join;
pub mod names;
mod raw_json;
mod vsn;

pub use binary::{
    ENCODING_BINARY, ENCODING_JSON, KIND_USER_BROADCAST, KIND_USER_BROADCAST_PUSH,
    encode_user_broadcast,
};
pub use broadcast::{BroadcastPush, OutboundBroadcast, UserBroadcastPush, UserPayload};
pub use client::{ClientEvent, ClientFrame, FrameHeader, PresencePush};
pub use decode::{DEFAULT_MAX_FRAME_BYTES, FrameDecoder};
pub use encode::{ReplyTo, ServerFrame, Status, SystemExtension, SystemMessage, TextFrame};
pub use error::{DecodeError, EncodeError, PayloadError};
pub use fanout::{FanoutFrame, FanoutMessage};
pub use join::{
    BindingId, BroadcastConfig, FieldIssue, JoinConfig, JoinPayload, PostgresChangeBinding,
    PresenceConfig, ReplayConfig, ResumeRequest,
};
pub use raw_json::RawJson;
pub use vsn::{UnsupportedVsn, Vsn};
