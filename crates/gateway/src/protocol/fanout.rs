//! Encode once, send to every socket of a topic.
//!
//! ```text
//!  router: one FanoutFrame per (event, topic) ──Arc──▶ socket A (vsn 2) ─┐
//!                                              ├──▶ socket B (vsn 2) ─┼─ frame(V2): encoded on first use, then shared
//!                                              └──▶ socket C (vsn 1) ─── frame(V1): encoded on first use, then shared
//! ```
//!
//! Fan-out frames carry a null `join_ref` and `ref` (see
//! [`encode`](super::encode)), so the only thing that varies between
//! sockets is the vsn. Each vsn's frame is built at most once, lazily, by
//! whichever socket asks first; sockets of a vsn nobody uses cost nothing.
//! Supabase's `MessageDispatcher` caches per serializer the same way.
//! `postgres_changes` frames also carry the channel's binding ids, so they
//! are shared by sockets whose bindings hash to the same ids (see
//! [`PostgresChangeBinding::id`](super::PostgresChangeBinding::id)).

use std::sync::OnceLock;

use super::binary;
use super::broadcast::{OutboundBroadcast, UserPayload};
use super::encode::{self, ServerFrame};
use super::error::EncodeError;
use super::join::BindingId;
use super::raw_json::RawJson;
use super::vsn::Vsn;

/// A message for every member of one topic.
#[derive(Debug, Clone)]
pub enum FanoutMessage {
    /// A row change.
    PostgresChanges {
        /// `realtime:<name>`.
        topic: String,
        /// The channel's bindings the change matched.
        ids: Vec<BindingId>,
        /// The change (`schema`, `table`, `type`, `record`, …), serialised once.
        data: RawJson,
    },
    /// A broadcast.
    Broadcast {
        /// `realtime:<name>`.
        topic: String,
        /// The message.
        message: OutboundBroadcast,
    },
    /// Presence joins and leaves.
    PresenceDiff {
        /// `realtime:<name>`.
        topic: String,
        /// `{"joins":…,"leaves":…}`.
        diff: RawJson,
    },
}

/// A fan-out message with its encoded frames, built lazily per vsn and
/// shared by reference (`Arc<FanoutFrame>`) across socket queues.
#[derive(Debug)]
pub struct FanoutFrame {
    message: FanoutMessage,
    v1: OnceLock<Option<ServerFrame>>,
    v2: OnceLock<Option<ServerFrame>>,
}

impl FanoutFrame {
    /// Wraps a message. Fails now, rather than per socket, when a binary
    /// broadcast's fields do not fit a binary frame.
    pub fn new(message: FanoutMessage) -> Result<Self, EncodeError> {
        if let FanoutMessage::Broadcast {
            topic,
            message:
                OutboundBroadcast::Parts {
                    event,
                    payload: UserPayload::Binary(_),
                    meta,
                },
        } = &message
        {
            binary::check_user_broadcast(topic, event, meta.as_ref())?;
        }
        Ok(Self {
            message,
            v1: OnceLock::new(),
            v2: OnceLock::new(),
        })
    }

    /// The message.
    pub fn message(&self) -> &FanoutMessage {
        &self.message
    }

    /// The frame for sockets of `vsn`; `None` when that vsn cannot carry the
    /// message (a binary broadcast to a vsn 1.0.0 socket), which is then skipped.
    pub fn frame(&self, vsn: Vsn) -> Option<&ServerFrame> {
        let cell = match vsn {
            Vsn::V1 => &self.v1,
            Vsn::V2 => &self.v2,
        };
        cell.get_or_init(|| self.encode(vsn)).as_ref()
    }

    fn encode(&self, vsn: Vsn) -> Option<ServerFrame> {
        match &self.message {
            FanoutMessage::PostgresChanges { topic, ids, data } => Some(ServerFrame::Text(
                encode::postgres_changes(vsn, topic, ids, data),
            )),
            FanoutMessage::PresenceDiff { topic, diff } => {
                Some(ServerFrame::Text(encode::presence_diff(vsn, topic, diff)))
            }
            // `new` checked the only way this can fail.
            FanoutMessage::Broadcast { topic, message } => {
                encode::broadcast(vsn, topic, message).ok().flatten()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn json(text: &'static str) -> RawJson {
        RawJson::parse(Bytes::from_static(text.as_bytes())).expect("test message is valid")
    }

    #[test]
    fn each_vsn_is_encoded_once_and_shared() {
        let frame = FanoutFrame::new(FanoutMessage::PostgresChanges {
            topic: "realtime:room1".into(),
            ids: vec![BindingId::new(7).expect("test message is valid")],
            data: json(r#"{"type":"INSERT"}"#),
        })
        .expect("test message is valid");
        let Some(ServerFrame::Text(first)) = frame.frame(Vsn::V2) else {
            panic!("text frame expected");
        };
        let Some(ServerFrame::Text(second)) = frame.frame(Vsn::V2) else {
            panic!("text frame expected");
        };
        assert!(
            std::ptr::eq(first.as_str(), second.as_str()),
            "same allocation"
        );
        assert_eq!(
            first.as_str(),
            r#"[null,null,"realtime:room1","postgres_changes",{"ids":[7],"data":{"type":"INSERT"}}]"#
        );
        let Some(ServerFrame::Text(v1)) = frame.frame(Vsn::V1) else {
            panic!("text frame expected");
        };
        assert_eq!(
            v1.as_str(),
            r#"{"topic":"realtime:room1","event":"postgres_changes","payload":{"ids":[7],"data":{"type":"INSERT"}},"ref":null}"#
        );
    }

    #[test]
    fn binary_broadcasts_skip_vsn_1() {
        let frame = FanoutFrame::new(FanoutMessage::Broadcast {
            topic: "realtime:r".into(),
            message: OutboundBroadcast::Parts {
                event: "blob".into(),
                payload: UserPayload::Binary(Bytes::from_static(&[1, 2])),
                meta: None,
            },
        })
        .expect("test message is valid");
        assert!(frame.frame(Vsn::V1).is_none());
        assert!(matches!(frame.frame(Vsn::V2), Some(ServerFrame::Binary(_))));

        let too_long = FanoutFrame::new(FanoutMessage::Broadcast {
            topic: "t".repeat(300),
            message: OutboundBroadcast::Parts {
                event: "blob".into(),
                payload: UserPayload::Binary(Bytes::new()),
                meta: None,
            },
        });
        assert!(too_long.is_err());
    }

    #[test]
    fn presence_diff_is_null_addressed() {
        let frame = FanoutFrame::new(FanoutMessage::PresenceDiff {
            topic: "realtime:p".into(),
            diff: json(r#"{"joins":{},"leaves":{}}"#),
        })
        .expect("test message is valid");
        let Some(ServerFrame::Text(text)) = frame.frame(Vsn::V2) else {
            panic!("text frame expected");
        };
        assert_eq!(
            text.as_str(),
            r#"[null,null,"realtime:p","presence_diff",{"joins":{},"leaves":{}}]"#
        );
    }
}
