//! Server frames for both vsns, written straight into one buffer.
//!
//! ```text
//! vsn 1.0.0  {"topic":T,"event":E,"payload":P,"ref":R}      (no join_ref, like Phoenix's V1 serializer)
//! vsn 2.0.0  [J,R,T,E,P]
//! ```
//!
//! Both forms end with the payload, so a frame is header, payload, tail:
//! payloads that are already JSON ([`RawJson`]) are copied in, never parsed
//! or re-encoded.
//!
//! Which frames carry a `join_ref` (vsn 2.0.0), following Phoenix and
//! Supabase (reference §1, "Framing"):
//!
//! | frame | join_ref | ref | per socket? |
//! |---|---|---|---|
//! | `phx_reply` | the push's | the push's | yes |
//! | `system`, `presence_state` (channel pushes) | the join's | null | yes, sent once per join |
//! | `phx_close`, `phx_error` | the join's | the join's | yes |
//! | `postgres_changes`, `broadcast`, `presence_diff` (fan-out) | null | null | **no** |
//!
//! phoenix.js drops a message only when its `join_ref` is non-null and not
//! the channel's current one, so fan-out frames with a null `join_ref` reach
//! every member. That makes a fan-out frame identical for all sockets of a
//! topic and vsn: it is encoded once and shared (see
//! [`FanoutFrame`](super::FanoutFrame)); the per-socket part is nil.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::binary;
use super::broadcast::{OutboundBroadcast, UserPayload};
use super::error::EncodeError;
use super::join::{BindingId, PostgresChangeBinding};
use super::names;
use super::raw_json::RawJson;
use super::vsn::Vsn;

/// An encoded text frame; cloning shares the text.
#[derive(Clone, PartialEq, Eq)]
pub struct TextFrame(Arc<str>);

/// An encoded frame, text or binary; cloning shares the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// A WebSocket text frame.
    Text(TextFrame),
    /// A WebSocket binary frame (only user broadcasts, kind 4).
    Binary(Bytes),
}

/// Where a reply goes: the push's `join_ref`, `ref` and topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTo<'a> {
    /// The push's `join_ref`.
    pub join_ref: Option<&'a str>,
    /// The push's `ref`.
    pub reference: Option<&'a str>,
    /// The push's topic.
    pub topic: &'a str,
}

/// `status` of replies and `system` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `"ok"`.
    Ok,
    /// `"error"`.
    Error,
}

/// `extension` of a `system` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemExtension {
    /// `"system"`: about the channel itself; errors are followed by `phx_close`.
    System,
    /// `"postgres_changes"`: about the channel's postgres bindings; errors do
    /// not close the channel.
    PostgresChanges,
}

/// The payload of a `system` push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemMessage<'a> {
    /// `extension`.
    pub extension: SystemExtension,
    /// `status`.
    pub status: Status,
    /// `message`, usually one of [`crate::reasons`].
    pub message: &'a str,
    /// `channel`: the sub-topic (see [`names::sub_topic`]); absent in the
    /// tenant-wide "Server requested disconnect".
    pub channel: Option<&'a str>,
}

/// `phx_reply` with any response object.
pub fn reply(vsn: Vsn, to: ReplyTo<'_>, status: Status, response: &RawJson) -> TextFrame {
    let mut frame = FrameWriter::begin(vsn, to.join_ref, to.reference, to.topic, names::PHX_REPLY);
    frame.push(b"{\"status\":");
    frame.string(status.as_str());
    frame.push(b",\"response\":");
    frame.raw(response);
    frame.push(b"}");
    frame.finish()
}

/// `{"status":"ok","response":{}}`: heartbeats, leaves, acks, presence.
pub fn reply_ok(vsn: Vsn, to: ReplyTo<'_>) -> TextFrame {
    reply(vsn, to, Status::Ok, &RawJson::empty_object())
}

/// `{"status":"error","response":{}}`: an unknown presence event.
pub fn reply_error_empty(vsn: Vsn, to: ReplyTo<'_>) -> TextFrame {
    reply(vsn, to, Status::Error, &RawJson::empty_object())
}

/// `{"status":"error","response":{"reason":…}}`: join refusals and Phoenix
/// errors; realtime-js shows the reason to the application.
pub fn reply_error(vsn: Vsn, to: ReplyTo<'_>, reason: &str) -> TextFrame {
    error_response(vsn, to, "reason", reason)
}

/// `{"status":"error","response":{"error":…}}`: a refused acked broadcast
/// (see [`crate::reasons::PAYLOAD_SIZE_EXCEEDED`]).
pub fn reply_broadcast_error(vsn: Vsn, to: ReplyTo<'_>, error: &str) -> TextFrame {
    error_response(vsn, to, "error", error)
}

fn error_response(vsn: Vsn, to: ReplyTo<'_>, key: &str, text: &str) -> TextFrame {
    let mut frame = FrameWriter::begin(vsn, to.join_ref, to.reference, to.topic, names::PHX_REPLY);
    frame.push(b"{\"status\":\"error\",\"response\":{");
    frame.string(key);
    frame.push(b":");
    frame.string(text);
    frame.push(b"}}");
    frame.finish()
}

/// The ok reply to a join: `{"postgres_changes":[…]}` with every binding
/// echoed exactly as the client sent it, in the same order, plus its `id`.
/// A client object that already has an `id` key gets it replaced.
pub fn join_reply_ok<'b>(
    vsn: Vsn,
    to: ReplyTo<'_>,
    bindings: impl IntoIterator<Item = (&'b PostgresChangeBinding, BindingId)>,
) -> TextFrame {
    let mut frame = FrameWriter::begin(vsn, to.join_ref, to.reference, to.topic, names::PHX_REPLY);
    frame.push(b"{\"status\":\"ok\",\"response\":{\"postgres_changes\":[");
    for (i, (binding, id)) in bindings.into_iter().enumerate() {
        if i > 0 {
            frame.push(b",");
        }
        frame.binding_with_id(binding, id);
    }
    frame.push(b"]}}");
    frame.finish()
}

/// A `system` push of a joined channel.
pub fn system(
    vsn: Vsn,
    join_ref: Option<&str>,
    topic: &str,
    message: &SystemMessage<'_>,
) -> TextFrame {
    let mut frame = FrameWriter::begin(vsn, join_ref, None, topic, names::SYSTEM);
    frame.push(b"{\"message\":");
    frame.string(message.message);
    frame.push(b",\"status\":");
    frame.string(message.status.as_str());
    frame.push(b",\"extension\":");
    frame.string(message.extension.as_str());
    if let Some(channel) = message.channel {
        frame.push(b",\"channel\":");
        frame.string(channel);
    }
    frame.push(b"}");
    frame.finish()
}

/// `presence_state` right after a join (even when `{}`: phoenix.js buffers
/// diffs until it has seen a state).
pub fn presence_state(vsn: Vsn, join_ref: Option<&str>, topic: &str, state: &RawJson) -> TextFrame {
    let mut frame = FrameWriter::begin(vsn, join_ref, None, topic, names::PRESENCE_STATE);
    frame.raw(state);
    frame.finish()
}

/// `phx_close` with `{}`: the channel is gone and will not be rejoined.
/// Phoenix sends it with `ref` = `join_ref`.
pub fn close(vsn: Vsn, join_ref: Option<&str>, topic: &str) -> TextFrame {
    let mut frame = FrameWriter::begin(vsn, join_ref, join_ref, topic, names::PHX_CLOSE);
    frame.push(b"{}");
    frame.finish()
}

/// `phx_error` with `{}`: the channel crashed; the client rejoins.
pub fn channel_error(vsn: Vsn, join_ref: Option<&str>, topic: &str) -> TextFrame {
    let mut frame = FrameWriter::begin(vsn, join_ref, join_ref, topic, names::PHX_ERROR);
    frame.push(b"{}");
    frame.finish()
}

/// A `postgres_changes` fan-out frame: `{"ids":[…],"data":…}`, where `data`
/// is the change as the router serialised it.
pub fn postgres_changes(vsn: Vsn, topic: &str, ids: &[BindingId], data: &RawJson) -> TextFrame {
    let mut frame = FrameWriter::begin(vsn, None, None, topic, names::POSTGRES_CHANGES);
    frame.push(b"{\"ids\":[");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            frame.push(b",");
        }
        frame.number(id.get());
    }
    frame.push(b"],\"data\":");
    frame.raw(data);
    frame.push(b"}");
    frame.finish()
}

/// A `presence_diff` fan-out frame (`{"joins":…,"leaves":…}`).
pub fn presence_diff(vsn: Vsn, topic: &str, diff: &RawJson) -> TextFrame {
    let mut frame = FrameWriter::begin(vsn, None, None, topic, names::PRESENCE_DIFF);
    frame.raw(diff);
    frame.finish()
}

/// A `broadcast` fan-out frame. JSON payloads become text frames for both
/// vsns; binary payloads become kind-4 binary frames for vsn 2.0.0 and
/// `None` for vsn 1.0.0, which cannot carry them (Supabase skips them too).
pub fn broadcast(
    vsn: Vsn,
    topic: &str,
    message: &OutboundBroadcast,
) -> Result<Option<ServerFrame>, EncodeError> {
    let (event, payload, meta) = match message {
        OutboundBroadcast::Verbatim(object) => {
            let mut frame = FrameWriter::begin(vsn, None, None, topic, names::BROADCAST);
            frame.raw(object);
            return Ok(Some(ServerFrame::Text(frame.finish())));
        }
        OutboundBroadcast::Parts {
            event,
            payload,
            meta,
        } => (event, payload, meta.as_ref()),
    };
    match (payload, vsn) {
        (UserPayload::Binary(_), Vsn::V1) => Ok(None),
        (UserPayload::Binary(_), Vsn::V2) => {
            binary::encode_user_broadcast(topic, event, meta, payload)
                .map(|bytes| Some(ServerFrame::Binary(bytes)))
        }
        (UserPayload::Json(json), _) => {
            let mut frame = FrameWriter::begin(vsn, None, None, topic, names::BROADCAST);
            frame.push(b"{\"type\":\"broadcast\",\"event\":");
            frame.string(event);
            frame.push(b",\"payload\":");
            frame.raw(json);
            if let Some(meta) = meta {
                frame.push(b",\"meta\":");
                frame.raw(meta);
            }
            frame.push(b"}");
            Ok(Some(ServerFrame::Text(frame.finish())))
        }
    }
}

impl TextFrame {
    /// The frame text, for a WebSocket text message.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The frame as shared bytes, without copying.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from_owner(SharedText(Arc::clone(&self.0)))
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the frame is empty (never, for frames built here).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Frames go to clients, not logs: show the size only.
impl fmt::Debug for TextFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TextFrame({} bytes)", self.0.len())
    }
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
        }
    }
}

impl SystemExtension {
    fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::PostgresChanges => "postgres_changes",
        }
    }
}

/// Lets `Bytes` share a frame's `Arc<str>`.
struct SharedText(Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// Builds one frame: the vsn's header, the caller's payload, the tail.
struct FrameWriter<'a> {
    buf: Vec<u8>,
    vsn: Vsn,
    reference: Option<&'a str>,
}

impl<'a> FrameWriter<'a> {
    fn begin(
        vsn: Vsn,
        join_ref: Option<&str>,
        reference: Option<&'a str>,
        topic: &str,
        event: &str,
    ) -> Self {
        let mut writer = Self {
            buf: Vec::with_capacity(96 + topic.len()),
            vsn,
            reference,
        };
        match vsn {
            Vsn::V1 => {
                writer.push(b"{\"topic\":");
                writer.string(topic);
                writer.push(b",\"event\":");
                writer.string(event);
                writer.push(b",\"payload\":");
            }
            Vsn::V2 => {
                writer.push(b"[");
                writer.opt_string(join_ref);
                writer.push(b",");
                writer.opt_string(reference);
                writer.push(b",");
                writer.string(topic);
                writer.push(b",");
                writer.string(event);
                writer.push(b",");
            }
        }
        writer
    }

    fn finish(mut self) -> TextFrame {
        match self.vsn {
            Vsn::V1 => {
                self.push(b",\"ref\":");
                self.opt_string(self.reference);
                self.push(b"}");
            }
            Vsn::V2 => self.push(b"]"),
        }
        // Every piece written is UTF-8 (escaped `&str`s, validated
        // `RawJson`, ASCII), so the lossy branch never runs; it only keeps
        // this function total.
        let text = String::from_utf8(self.buf)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());
        TextFrame(Arc::from(text))
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn raw(&mut self, json: &RawJson) {
        self.buf.extend_from_slice(json.as_bytes());
    }

    fn number(&mut self, n: u32) {
        self.buf.extend_from_slice(n.to_string().as_bytes());
    }

    fn opt_string(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.string(s),
            None => self.push(b"null"),
        }
    }

    fn string(&mut self, s: &str) {
        write_json_string(&mut self.buf, s);
    }

    /// The client's object with `"id":N` added as its first key; an object
    /// that has its own `id` is re-serialised with ours instead.
    fn binding_with_id(&mut self, binding: &PostgresChangeBinding, id: BindingId) {
        if binding.has_id_key() {
            let mut fields = binding.fields().clone();
            fields.insert("id".to_owned(), id.get().into());
            match RawJson::from_serialize(&fields) {
                Ok(json) => self.raw(&json),
                Err(_) => self.push(b"{}"),
            }
            return;
        }
        let text = binding.raw().as_bytes();
        // The raw text is a validated object: `{`, members, `}` with optional
        // whitespace, and no `id` member.
        let open = text.iter().position(|&b| b == b'{');
        let close = text.iter().rposition(|&b| b == b'}');
        let inner = match (open, close) {
            (Some(open), Some(close)) => text.get(open + 1..close).unwrap_or_default(),
            _ => &[],
        };
        self.push(b"{\"id\":");
        self.number(id.get());
        if inner.iter().any(|b| !b.is_ascii_whitespace()) {
            self.push(b",");
            self.push(inner);
        }
        self.push(b"}");
    }
}

/// Writes `s` as a JSON string, escaping what JSON requires (quote,
/// backslash, control characters) exactly as serde_json does.
fn write_json_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let short: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
