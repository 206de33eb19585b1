//! Every sentence a Supabase client can read from us, in one place.
//!
//! Clients and their applications match on these strings (realtime-js shows
//! `Object.values(response).join(', ')` to the user, other SDKs parse the
//! `Code:` prefix), so they are copied byte for byte from Supabase Realtime.
//! Each constant names its source: a line of
//! `shared/reference/supabase-realtime-protocol.md` (`ref L<n>`) or, where the
//! reference only names the code, the upstream file it was copied from.
//!
//! Join refusals are `"<Code>: <message>"` in a `phx_reply` error
//! (`{"status":"error","response":{"reason":…}}`); channel shutdowns are the
//! bare message in a `system` push followed by `phx_close`; connect refusals
//! are the bare message in an HTTP body `{"error":…}`.

// ---- join refusals: `phx_reply` {"status":"error","response":{"reason":…}} ----

/// `realtime:` with nothing after it (ref L156).
pub const TOPIC_NAME_REQUIRED: &str = "TopicNameRequired: You must provide a topic name";

/// Catch-all join refusal, deliberately without a code prefix (ref L219).
pub const UNKNOWN_ERROR_ON_CHANNEL: &str = "Unknown Error on Channel";

/// Per-socket channel limit reached (ref L214).
pub const TOO_MANY_CHANNELS: &str = "ChannelRateLimitReached: Too many channels";

/// Join rate limit reached; Supabase also disconnects the socket (ref L215).
pub const TOO_MANY_JOINS: &str = "ClientJoinRateLimitReached: Too many joins per second";

/// Connected-users limit reached at join time (ref L216).
pub const TOO_MANY_CONNECTED_USERS: &str = "ConnectionRateLimitReached: Too many connected users";

/// A public join on a deployment that only allows private channels (ref L216).
pub const PRIVATE_ONLY: &str = "PrivateOnly: This project only allows private channels";

/// A join during shutdown (ref L217).
pub const REALTIME_RESTARTING: &str = "RealtimeRestarting: Realtime is restarting, please standby";

/// `config.broadcast.replay` on a public channel (ref L219).
pub const REPLAY_NOT_ALLOWED_FOR_PUBLIC: &str =
    "UnableToReplayMessages: Replay is not allowed for public channels";

/// Prefix of the refusal for a topic the caller may not read; the topic
/// (without `realtime:`) follows (ref L214, L470). See [`unauthorized_topic`].
pub const UNAUTHORIZED_TOPIC_PREFIX: &str =
    "Unauthorized: You do not have permissions to read from this Channel topic: ";

/// The join refusal for a topic the caller may not read (ref L214).
pub fn unauthorized_topic(sub_topic: &str) -> String {
    format!("{UNAUTHORIZED_TOPIC_PREFIX}{sub_topic}")
}

/// Phoenix's own reply to a push on a topic this socket never joined (ref L220).
pub const UNMATCHED_TOPIC: &str = "unmatched topic";

/// Phoenix's own reply when its per-transport channel limit is hit (ref L220).
pub const TOO_MANY_CHANNELS_JOINED: &str = "too many channels joined";

// ---- replies to pushes ----

/// Error reply to a presence `track` whose `payload` is not an object, under
/// the key `reason` (ref L423).
pub const PRESENCE_TRACK_PAYLOAD_MUST_BE_MAP: &str = "Presence track payload must be a map";

/// Error reply to an acked broadcast that is too large, under the key
/// `error` (ref L386).
pub const PAYLOAD_SIZE_EXCEEDED: &str = "payload_size_exceeded";

// ---- `system` pushes ----

/// `system` ok message once postgres bindings are live (ref L225).
pub const SUBSCRIBED_TO_POSTGRES: &str = "Subscribed to PostgreSQL";

/// Opt-in `replication_ready` confirmation (ref L243).
pub const REPLICATION_CONNECTION_ESTABLISHED: &str = "Replication connection established";

/// Operational disconnect sent to every channel; status ok, no `channel` (ref L240).
pub const SERVER_REQUESTED_DISCONNECT: &str = "Server requested disconnect";

/// Channel shutdown: message rate limit (ref L237).
pub const TOO_MANY_MESSAGES_PER_SECOND: &str = "Too many messages per second";

/// Channel shutdown: presence rate limit (ref L237).
pub const TOO_MANY_PRESENCE_MESSAGES_PER_SECOND: &str = "Too many presence messages per second";

/// Channel shutdown: per-client presence rate limit (ref L237).
pub const CLIENT_PRESENCE_RATE_LIMIT_EXCEEDED: &str = "Client presence rate limit exceeded";

/// Channel shutdown: tracked presence metadata too large (ref L238).
pub const TRACK_MESSAGE_SIZE_EXCEEDED: &str = "Track message size exceeded";

/// Channel shutdown: opt-in `replication_ready` timed out (ref L239).
pub const REPLICATION_NOT_ESTABLISHED_IN_TIME: &str =
    "Replication connection was not established in time";

/// Prefix of the shutdown after a refreshed token lost read access; the
/// topic follows (ref L238, L478). See [`read_permission_revoked`].
pub const READ_PERMISSION_REVOKED_PREFIX: &str =
    "You no longer have permission to read from this Channel topic: ";

/// The shutdown message after a refreshed token lost read access (ref L478).
pub fn read_permission_revoked(sub_topic: &str) -> String {
    format!("{READ_PERMISSION_REVOKED_PREFIX}{sub_topic}")
}

// ---- JWT: codes and messages (see `auth::AuthError` for which goes where) ----

/// Code of expiry and claim problems (ref L212).
pub const CODE_INVALID_JWT_TOKEN: &str = "InvalidJWTToken";
/// Code of a token that is not a JWT (ref L213).
pub const CODE_MALFORMED_JWT: &str = "MalformedJWT";
/// Code of a signature that does not verify (ref L213).
pub const CODE_JWT_SIGNATURE_ERROR: &str = "JwtSignatureError";
/// Code of a token no configured key can verify. Not in the reference;
/// copied from upstream `realtime_channel.ex` `join/3`.
pub const CODE_JWT_SIGNER_ERROR: &str = "JwtSignerError";

/// No token at connect: neither `apikey` nor `x-api-key` (ref L81).
pub const API_KEY_MISSING: &str = "API key is missing";
/// Connect refusal for an expired token: no seconds here (ref L81).
pub const TOKEN_HAS_EXPIRED: &str = "Token has expired";
/// `role` or `exp` missing (ref L81, L212, L236).
pub const ROLE_AND_EXP_REQUIRED: &str = "Fields `role` and `exp` are required in JWT";
/// Not three base64url JSON parts (ref L82, L213).
pub const NOT_A_VALID_JWT: &str = "The token provided is not a valid JWT";
/// Signature does not verify (ref L82, L213).
pub const JWT_SIGNATURE_INVALID: &str = "Failed to validate JWT signature";
/// `exp` that is not a number. Not in the reference; copied from upstream
/// `realtime_channel.ex` `join/3` (`InvalidJWTToken: Token expiration time is invalid`).
pub const TOKEN_EXPIRATION_INVALID: &str = "Token expiration time is invalid";
/// No key for the token's algorithm. Not in the reference; copied from
/// upstream `user_socket.ex` `error_response/1`.
pub const JWT_SIGNER_UNAVAILABLE: &str =
    "Failed to generate JWT signer, check your JWT secret or JWKS configuration";

/// The expiry message with its count, as join refusals and channel
/// shutdowns carry it: `Token has expired N seconds ago` (ref L212, L236, L480).
pub fn token_expired_seconds_ago(seconds: i64) -> String {
    format!("{TOKEN_HAS_EXPIRED} {seconds} seconds ago")
}

/// The signer message naming the `kid` the way Elixir's `inspect/1` quotes
/// it. Not in the reference; copied from upstream `user_socket.ex`.
pub fn jwt_signer_unavailable_for_kid(kid: &str) -> String {
    format!(
        "Failed to generate JWT signer for key ID (kid) {kid:?}, check your JWT secret or JWKS configuration"
    )
}

// ---- client-side texts we must never provoke (kept for tests and docs) ----

/// What realtime-js reports when a join reply's `postgres_changes` differs
/// from its bindings (ref L198). The gateway avoids it by echoing bindings.
pub const CLIENT_BINDING_MISMATCH: &str =
    "mismatch between server and client bindings for postgres changes";

/// `system` message (extension `postgres_changes`, status `error`) when a
/// join's `config.resume` cannot be answered; the channel continues live
/// and the client should refetch. walcast's own code.
pub const RESUME_UNAVAILABLE: &str = "ResumeUnavailable";

/// Join error while the replay window is still being rebuilt after a
/// restart; realtime-js rejoins by itself after its back-off.
pub const RESUME_NOT_READY: &str =
    "ResumeNotReady: the server is still rebuilding its replay window, retry shortly";

/// Join error when a route's SQL check could not run (the database is
/// unreachable); a retry may succeed.
pub fn join_check_unavailable(why: &str) -> String {
    format!("Unauthorized: the join check could not run ({why}), retry shortly")
}

/// Error reply to a broadcast or presence push on a routed topic whose
/// route does not let members send.
pub const BROADCAST_NOT_ALLOWED: &str =
    "Unauthorized: members of this topic may not send broadcast or presence";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_messages_match_supabase() {
        assert_eq!(
            token_expired_seconds_ago(12),
            "Token has expired 12 seconds ago"
        );
        assert_eq!(
            unauthorized_topic("room1"),
            "Unauthorized: You do not have permissions to read from this Channel topic: room1"
        );
        assert_eq!(
            read_permission_revoked("room1"),
            "You no longer have permission to read from this Channel topic: room1"
        );
        assert_eq!(
            jwt_signer_unavailable_for_kid("key-id-1"),
            "Failed to generate JWT signer for key ID (kid) \"key-id-1\", check your JWT secret or JWKS configuration"
        );
    }
}
