//! What a client sends, typed by event.
//!
//! The envelope (`join_ref`, `ref`, `topic`) is the same for every event;
//! the payload is read according to the event, following what Supabase's
//! channel does with it: lenient where Supabase is lenient (an `access_token`
//! that is not a string is ignored), strict where Supabase would crash or
//! relay garbage (a broadcast payload must be an object).

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::broadcast::BroadcastPush;
use super::error::{DecodeError, PayloadError};
use super::join::JoinPayload;
use super::names;
use super::raw_json::{RawJson, is_object};
use crate::token::BearerToken;

/// The addressing part of every client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameHeader {
    /// The ref of the join this push belongs to (`None` for heartbeats).
    pub join_ref: Option<String>,
    /// The push's own ref; replies carry it back.
    pub reference: Option<String>,
    /// `phoenix` or `realtime:<name>`.
    pub topic: String,
}

/// One decoded client frame.
#[derive(Debug, Clone)]
pub struct ClientFrame {
    /// Where it is addressed.
    pub header: FrameHeader,
    /// What it asks for, with its typed payload.
    pub event: ClientEvent,
}

/// The events realtime-js sends, each with its payload.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// `phx_join`.
    Join(Box<JoinPayload>),
    /// `phx_leave`; the payload is ignored.
    Leave,
    /// `heartbeat` on the `phoenix` topic; the payload is ignored.
    Heartbeat,
    /// `access_token`: a refreshed JWT for the channel. `None` when the
    /// payload holds no string token, which Supabase ignores.
    AccessToken(Option<BearerToken>),
    /// `broadcast`, from a text frame or a binary kind-3 frame.
    Broadcast(BroadcastPush),
    /// `presence`.
    Presence(PresencePush),
    /// Any other event, kept for the session to answer or ignore
    /// (Supabase logs and ignores them; Phoenix answers `unmatched topic`
    /// when the topic is not joined).
    Other {
        /// The event name.
        event: String,
        /// The payload, unparsed.
        payload: RawJson,
    },
}

/// A `presence` push, sorted by the reply Supabase gives it.
#[derive(Debug, Clone)]
pub enum PresencePush {
    /// `track`: start or update tracking with this metadata object
    /// (the payload's `payload`, `{}` when absent). Reply ok.
    Track(RawJson),
    /// `track` whose metadata is not an object. Reply error with
    /// [`PRESENCE_TRACK_PAYLOAD_MUST_BE_MAP`](crate::reasons::PRESENCE_TRACK_PAYLOAD_MUST_BE_MAP).
    TrackPayloadNotAMap,
    /// `untrack`. Reply ok.
    Untrack,
    /// Another event name (lowercased). Reply error with an empty response.
    UnknownEvent(String),
    /// No string `event`, or a payload that is not an object: Supabase
    /// does nothing and replies ok.
    Ignored,
}

impl FrameHeader {
    /// The frame's `join_ref`, `ref` and `topic`, borrowed for a reply.
    pub fn reply_to(&self) -> super::encode::ReplyTo<'_> {
        super::encode::ReplyTo {
            join_ref: self.join_ref.as_deref(),
            reference: self.reference.as_deref(),
            topic: &self.topic,
        }
    }
}

impl ClientEvent {
    /// Types the payload of a text frame. `frame` is the text the payload
    /// was borrowed from, so kept payloads stay zero-copy slices of it.
    pub(crate) fn from_text(
        header: &FrameHeader,
        event: &str,
        payload: &RawValue,
        frame: &Bytes,
    ) -> Result<Self, DecodeError> {
        let fail = |problem| DecodeError::Payload {
            header: header.clone(),
            event: event.to_owned(),
            problem,
        };
        Ok(match event {
            names::HEARTBEAT if header.topic == names::PHOENIX_TOPIC => Self::Heartbeat,
            names::PHX_JOIN => {
                Self::Join(Box::new(JoinPayload::parse(payload, frame).map_err(fail)?))
            }
            names::PHX_LEAVE => Self::Leave,
            names::ACCESS_TOKEN => Self::AccessToken(access_token(payload)),
            names::BROADCAST => Self::Broadcast(text_broadcast(payload, frame).map_err(fail)?),
            names::PRESENCE => Self::Presence(presence(payload, frame)),
            _ => Self::Other {
                event: event.to_owned(),
                payload: RawJson::from_raw_in(frame, payload),
            },
        })
    }
}

fn access_token(payload: &RawValue) -> Option<BearerToken> {
    #[derive(Deserialize)]
    struct AccessToken {
        access_token: Option<serde_json::Value>,
    }
    if !is_object(payload) {
        return None;
    }
    match serde_json::from_str::<AccessToken>(payload.get()) {
        Ok(AccessToken {
            access_token: Some(serde_json::Value::String(token)),
        }) => Some(BearerToken::new(token)),
        _ => None,
    }
}

fn text_broadcast(payload: &RawValue, frame: &Bytes) -> Result<BroadcastPush, PayloadError> {
    #[derive(Deserialize)]
    struct Broadcast {
        event: Option<serde_json::Value>,
    }
    if !is_object(payload) {
        return Err(PayloadError::NotAnObject);
    }
    let fields: Broadcast =
        serde_json::from_str(payload.get()).map_err(|_| PayloadError::NotAnObject)?;
    let event = match fields.event {
        Some(serde_json::Value::String(event)) => Some(event),
        _ => None,
    };
    Ok(BroadcastPush::Json {
        event,
        payload: RawJson::from_raw_in(frame, payload),
    })
}

fn presence(payload: &RawValue, frame: &Bytes) -> PresencePush {
    #[derive(Deserialize)]
    struct Presence<'a> {
        event: Option<serde_json::Value>,
        #[serde(borrow)]
        payload: Option<&'a RawValue>,
    }
    if !is_object(payload) {
        return PresencePush::Ignored;
    }
    let Ok(fields) = serde_json::from_str::<Presence<'_>>(payload.get()) else {
        return PresencePush::Ignored;
    };
    let Some(serde_json::Value::String(event)) = fields.event else {
        return PresencePush::Ignored;
    };
    match event.to_ascii_lowercase().as_str() {
        "track" => match fields.payload {
            None => PresencePush::Track(RawJson::empty_object()),
            Some(meta) => {
                let meta = RawJson::from_raw_in(frame, meta);
                if meta.is_object() {
                    PresencePush::Track(meta)
                } else {
                    PresencePush::TrackPayloadNotAMap
                }
            }
        },
        "untrack" => PresencePush::Untrack,
        other => PresencePush::UnknownEvent(other.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(topic: &str, name: &str, payload: &str) -> Result<ClientEvent, DecodeError> {
        let frame = Bytes::from(payload.to_owned());
        let text = std::str::from_utf8(&frame).expect("test payload is valid");
        let raw: &RawValue = serde_json::from_str(text).expect("test payload is valid");
        let header = FrameHeader {
            join_ref: Some("1".into()),
            reference: Some("2".into()),
            topic: topic.into(),
        };
        ClientEvent::from_text(&header, name, raw, &frame)
    }

    #[test]
    fn heartbeat_only_on_the_phoenix_topic() {
        assert!(matches!(
            event("phoenix", "heartbeat", "{}"),
            Ok(ClientEvent::Heartbeat)
        ));
        assert!(matches!(
            event("realtime:a", "heartbeat", "{}"),
            Ok(ClientEvent::Other { .. })
        ));
    }

    #[test]
    fn access_token_is_kept_only_when_a_string() {
        let Ok(ClientEvent::AccessToken(Some(token))) =
            event("realtime:a", "access_token", r#"{"access_token":"t2"}"#)
        else {
            panic!("expected a token");
        };
        assert_eq!(token.as_str(), "t2");
        for payload in [
            r#"{"access_token":null}"#,
            r#"{"access_token":5}"#,
            "{}",
            "[]",
            r#"["t"]"#,
            "7",
        ] {
            assert!(
                matches!(
                    event("realtime:a", "access_token", payload),
                    Ok(ClientEvent::AccessToken(None))
                ),
                "{payload}"
            );
        }
    }

    #[test]
    fn text_broadcast_keeps_the_whole_object() {
        let payload = r#"{"type":"broadcast","event":"ev","payload":{"y":1},"extra":true}"#;
        let Ok(ClientEvent::Broadcast(BroadcastPush::Json {
            event: name,
            payload: raw,
        })) = event("realtime:a", "broadcast", payload)
        else {
            panic!("expected a broadcast");
        };
        assert_eq!(name.as_deref(), Some("ev"));
        assert_eq!(raw.as_bytes(), payload.as_bytes());

        let err = event("realtime:a", "broadcast", r#"["e"]"#).expect_err("should be refused");
        assert!(matches!(
            err,
            DecodeError::Payload {
                problem: PayloadError::NotAnObject,
                ..
            }
        ));
    }

    #[test]
    fn presence_follows_supabase_replies() {
        let track = event(
            "realtime:a",
            "presence",
            r#"{"type":"presence","event":"TRACK","payload":{"name":"Alice"}}"#,
        );
        let Ok(ClientEvent::Presence(PresencePush::Track(meta))) = track else {
            panic!("expected track");
        };
        assert_eq!(meta.as_bytes(), br#"{"name":"Alice"}"#);

        type Expect = fn(&PresencePush) -> bool;
        let cases: [(&str, Expect); 6] = [
            (
                r#"{"event":"track"}"#,
                |p| matches!(p, PresencePush::Track(m) if m.as_bytes() == b"{}"),
            ),
            (r#"{"event":"track","payload":[1]}"#, |p| {
                matches!(p, PresencePush::TrackPayloadNotAMap)
            }),
            (r#"{"type":"presence","event":"untrack"}"#, |p| {
                matches!(p, PresencePush::Untrack)
            }),
            (
                r#"{"event":"Wave"}"#,
                |p| matches!(p, PresencePush::UnknownEvent(e) if e == "wave"),
            ),
            (r#"{"type":"presence"}"#, |p| {
                matches!(p, PresencePush::Ignored)
            }),
            (r#"["track"]"#, |p| matches!(p, PresencePush::Ignored)),
        ];
        for (payload, expected) in cases {
            let Ok(ClientEvent::Presence(push)) = event("realtime:a", "presence", payload) else {
                panic!("{payload}");
            };
            assert!(expected(&push), "{payload}: {push:?}");
        }
    }

    #[test]
    fn unknown_events_are_preserved() {
        let Ok(ClientEvent::Other {
            event: name,
            payload,
        }) = event("realtime:a", "custom_thing", r#"{"k":[1,2]}"#)
        else {
            panic!("expected other");
        };
        assert_eq!(name, "custom_thing");
        assert_eq!(payload.as_bytes(), br#"{"k":[1,2]}"#);
    }
}
