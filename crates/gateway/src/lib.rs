//! The client-facing edge of walcast: Supabase Realtime over WebSocket.
//!
//! ```text
//!  HTTP upgrade ──auth::connect_token──▶ Authenticator::verify ──▶ 401 {"error":…} or upgrade
//!  bytes ──socket (wsframe)──▶ frames ──protocol::FrameDecoder──▶ ClientFrame ──▶ session (join: auth::join_token + verify)
//!  session / router ──protocol::encode, FanoutFrame──▶ frames
//! ```
//!
//! This crate knows nothing of pgoutput or Postgres: it sees typed
//! [`changes::Event`]s, matches them through the [`router`] index, and
//! speaks the protocol to clients. The codec ([`protocol`]) and the token
//! checks ([`auth`]) are pure; [`Gateway`] owns the sockets.

pub mod auth;
pub mod connection;
mod delivery;
mod hub;
mod join_check;
mod listener;
mod metrics;
mod presence;
pub mod protocol;
mod rate_limit;
pub mod reasons;
mod replay;
mod server;
mod session;
mod socket;
mod token;
mod websocket;

pub use delivery::{MESSAGE_PREFIX, ResumeUnavailable};
pub use hub::{Hub, HubStats, TopicKey};
pub use join_check::JoinChecker;
pub use metrics::{Metrics, ReplicationHealth};
pub use server::{Gateway, Limits};
pub use token::BearerToken;
