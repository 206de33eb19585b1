//! Topic and event names of the Phoenix/Supabase protocol.
//!
//! Phoenix reserves the `phx_` events and the `phoenix` topic; Supabase
//! adds its own events on `realtime:<name>` topics.

/// The socket-level topic heartbeats are sent on; it belongs to no channel.
pub const PHOENIX_TOPIC: &str = "phoenix";

/// Every Supabase channel topic starts with this.
pub const TOPIC_PREFIX: &str = "realtime:";

/// Client → server: join a channel.
pub const PHX_JOIN: &str = "phx_join";
/// Client → server: leave a channel.
pub const PHX_LEAVE: &str = "phx_leave";
/// Server → client: the answer to a push, matched by `ref`.
pub const PHX_REPLY: &str = "phx_reply";
/// Server → client: the channel is closed and will not be rejoined.
pub const PHX_CLOSE: &str = "phx_close";
/// Server → client: the channel crashed; the client rejoins with back-off.
pub const PHX_ERROR: &str = "phx_error";
/// Client → server on [`PHOENIX_TOPIC`]: keep the socket alive.
pub const HEARTBEAT: &str = "heartbeat";
/// Client → server: a refreshed JWT for one channel; never answered.
pub const ACCESS_TOKEN: &str = "access_token";
/// Both ways: a broadcast message.
pub const BROADCAST: &str = "broadcast";
/// Client → server: presence track or untrack.
pub const PRESENCE: &str = "presence";
/// Server → client: the full presence list, right after a join.
pub const PRESENCE_STATE: &str = "presence_state";
/// Server → client: presence joins and leaves.
pub const PRESENCE_DIFF: &str = "presence_diff";
/// Server → client: status and error notices of a channel.
pub const SYSTEM: &str = "system";
/// Server → client: one row change.
pub const POSTGRES_CHANGES: &str = "postgres_changes";

/// The channel name Supabase shows in `system` messages: the topic without
/// `realtime:`. `None` when the topic lacks the prefix; `Some("")` for the
/// bare `realtime:`, which a join must refuse with
/// [`TOPIC_NAME_REQUIRED`](crate::reasons::TOPIC_NAME_REQUIRED).
pub fn sub_topic(topic: &str) -> Option<&str> {
    topic.strip_prefix(TOPIC_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_topic_strips_the_prefix_only() {
        assert_eq!(sub_topic("realtime:room1"), Some("room1"));
        assert_eq!(sub_topic("realtime:a:b"), Some("a:b"));
        assert_eq!(sub_topic("realtime:"), Some(""));
        assert_eq!(sub_topic("phoenix"), None);
    }
}
