//! The `phx_join` payload, read the way Supabase's `Payloads.Join` reads it.
//!
//! ```text
//! {"config":{"broadcast":{"ack":false,"self":false,"replay":{…},"replication_ready":false},
//!            "presence":{"key":"","enabled":false},
//!            "postgres_changes":[{"event":"*","schema":"public","table":"todos","filter":"id=eq.1"}],
//!            "private":false},
//!  "access_token":"<jwt>", "version":"realtime-js/2.109.0"}
//! ```
//!
//! Supabase validates with Ecto and, when a field does not cast, logs
//! `InvalidJoinPayload` and joins with that field at its default. We do the
//! same and report each such field in [`JoinPayload::issues`] for the log.
//! Booleans also arrive as `"true"`/`"false"` strings (any case). Unknown
//! keys are ignored. A missing `presence` object means presence is *on*
//! (Supabase's `presence_enabled?/1` falls through to `true`); a present
//! object without `enabled` means off.
//!
//! `postgres_changes` bindings are kept verbatim: the join reply must echo
//! each object exactly as sent, in order, plus an `id`, or realtime-js
//! fails the join with "mismatch between server and client bindings".

use std::fmt;
use std::num::NonZeroU32;

use bytes::Bytes;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::error::PayloadError;
use super::raw_json::{RawJson, is_object};
use crate::token::BearerToken;

/// A typed `phx_join` payload.
#[derive(Debug, Clone, Default)]
pub struct JoinPayload {
    /// `None` when the payload has no `config` key: the legacy API, where
    /// the topic itself (`realtime:<schema>:<table>:<filter>`) names the
    /// postgres subscription and presence is on.
    pub config: Option<JoinConfig>,
    /// The user JWT for this channel (`access_token`).
    pub access_token: Option<BearerToken>,
    /// The older name of the same thing (`user_token`); Supabase prefers it
    /// when both are present.
    pub user_token: Option<BearerToken>,
    /// Fields that were present but did not parse and fell back to defaults.
    pub issues: Vec<FieldIssue>,
}

/// A join field that did not parse and was replaced by its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldIssue {
    /// The field's path, such as `config.broadcast.ack`.
    pub field: &'static str,
    /// What it should have been, as Supabase words it.
    pub expected: &'static str,
}

/// `config` of a join.
#[derive(Debug, Clone, Default)]
pub struct JoinConfig {
    /// `config.broadcast`.
    pub broadcast: BroadcastConfig,
    /// `config.presence`.
    pub presence: PresenceConfig,
    /// `config.postgres_changes` in registration order, nulls dropped.
    pub postgres_changes: Vec<PostgresChangeBinding>,
    /// `config.private`: authorize broadcast and presence by policy.
    pub private: bool,
    /// `config.resume`: walcast's extension, the last position the client
    /// saw on this channel, so the join replays what it missed.
    pub resume: Option<ResumeRequest>,
}

/// `config.resume` = `{"position": "<data.position of the last event seen>"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeRequest {
    /// The position as sent; empty when `position` was missing or not a
    /// string (the session answers that it cannot resume from it).
    pub position: String,
}

/// `config.broadcast`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastConfig {
    /// `self`: the sender receives its own broadcasts.
    pub self_broadcast: bool,
    /// `ack`: broadcasts are answered with a reply.
    pub ack: bool,
    /// `replay`, present whenever the key is (even when malformed): a public
    /// channel must refuse it.
    pub replay: Option<ReplayConfig>,
    /// `replication_ready`: send a `system` message once replication is up.
    pub replication_ready: bool,
}

/// `config.broadcast.replay`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayConfig {
    /// Replay messages inserted since this time (milliseconds since the epoch).
    pub since: Option<i64>,
    /// At most this many messages.
    pub limit: Option<i64>,
}

/// `config.presence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceConfig {
    /// Whether to send `presence_state` after the join.
    pub enabled: bool,
    /// The presence key; `None` when missing or empty, in which case the
    /// server generates one. Numbers and booleans are kept as their JSON text.
    pub key: Option<String>,
}

impl Default for PresenceConfig {
    /// No `presence` object: enabled, as in Supabase.
    fn default() -> Self {
        Self {
            enabled: true,
            key: None,
        }
    }
}

/// One element of `config.postgres_changes`, verbatim and parsed.
#[derive(Debug, Clone)]
pub struct PostgresChangeBinding {
    raw: RawJson,
    fields: Map<String, Value>,
}

/// The id a join reply gives a binding and `postgres_changes` events carry
/// in `ids`. Never 0: realtime-js routes with `bind.id && …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingId(NonZeroU32);

impl JoinPayload {
    /// Reads a join payload; `frame` is the text it was borrowed from.
    pub(crate) fn parse(payload: &RawValue, frame: &Bytes) -> Result<Self, PayloadError> {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(default, borrow)]
            config: Field<'a>,
            #[serde(default, borrow)]
            access_token: Field<'a>,
            #[serde(default, borrow)]
            user_token: Field<'a>,
        }
        if !is_object(payload) {
            return Err(PayloadError::NotAnObject);
        }
        let fields: Fields<'_> =
            serde_json::from_str(payload.get()).map_err(PayloadError::Shape)?;
        let mut issues = Vec::new();
        let config = match fields.config {
            Field::Absent => None,
            Field::Present(raw) => Some(JoinConfig::parse(raw, frame, &mut issues)?),
        };
        Ok(Self {
            config,
            access_token: token(fields.access_token, "access_token", &mut issues),
            user_token: token(fields.user_token, "user_token", &mut issues),
            issues,
        })
    }

    /// Whether presence is on for this join (legacy joins: always).
    pub fn presence_enabled(&self) -> bool {
        self.config.as_ref().is_none_or(|c| c.presence.enabled)
    }
}

impl JoinConfig {
    fn parse(
        raw: &RawValue,
        frame: &Bytes,
        issues: &mut Vec<FieldIssue>,
    ) -> Result<Self, PayloadError> {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(default, borrow)]
            broadcast: Field<'a>,
            #[serde(default, borrow)]
            presence: Field<'a>,
            #[serde(default, borrow)]
            postgres_changes: Field<'a>,
            #[serde(default, borrow)]
            private: Field<'a>,
            #[serde(default, borrow)]
            resume: Field<'a>,
        }
        let Some(fields) = object::<Fields<'_>>(raw, "config", issues)? else {
            return Ok(Self::default());
        };
        Ok(Self {
            broadcast: BroadcastConfig::parse(fields.broadcast, issues)?,
            presence: PresenceConfig::parse(fields.presence, issues)?,
            postgres_changes: bindings(fields.postgres_changes, frame, issues)?,
            private: flexible_bool(fields.private, "config.private", issues),
            resume: ResumeRequest::parse(fields.resume, issues)?,
        })
    }
}

impl ResumeRequest {
    fn parse(field: Field<'_>, issues: &mut Vec<FieldIssue>) -> Result<Option<Self>, PayloadError> {
        #[derive(Deserialize)]
        struct Fields {
            position: Option<Value>,
        }
        let Field::Present(raw) = field else {
            return Ok(None);
        };
        if raw.get() == "null" {
            return Ok(None);
        }
        let Some(fields) = object::<Fields>(raw, "config.resume", issues)? else {
            return Ok(Some(Self::default()));
        };
        let position = match fields.position {
            Some(Value::String(position)) => position,
            _ => {
                issues.push(FieldIssue {
                    field: "config.resume.position",
                    expected: "a string",
                });
                String::new()
            }
        };
        Ok(Some(Self { position }))
    }
}

impl BroadcastConfig {
    fn parse(field: Field<'_>, issues: &mut Vec<FieldIssue>) -> Result<Self, PayloadError> {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(default, borrow)]
            ack: Field<'a>,
            #[serde(default, borrow, rename = "self")]
            self_broadcast: Field<'a>,
            #[serde(default, borrow)]
            replay: Field<'a>,
            #[serde(default, borrow)]
            replication_ready: Field<'a>,
        }
        let Field::Present(raw) = field else {
            return Ok(Self::default());
        };
        let Some(fields) = object::<Fields<'_>>(raw, "config.broadcast", issues)? else {
            return Ok(Self::default());
        };
        Ok(Self {
            self_broadcast: flexible_bool(fields.self_broadcast, "config.broadcast.self", issues),
            ack: flexible_bool(fields.ack, "config.broadcast.ack", issues),
            replay: ReplayConfig::parse(fields.replay, issues)?,
            replication_ready: flexible_bool(
                fields.replication_ready,
                "config.broadcast.replication_ready",
                issues,
            ),
        })
    }
}

impl ReplayConfig {
    fn parse(field: Field<'_>, issues: &mut Vec<FieldIssue>) -> Result<Option<Self>, PayloadError> {
        #[derive(Deserialize)]
        struct Fields {
            since: Option<Value>,
            limit: Option<Value>,
        }
        let Field::Present(raw) = field else {
            return Ok(None);
        };
        let Some(fields) = object::<Fields>(raw, "config.broadcast.replay", issues)? else {
            return Ok(Some(Self::default()));
        };
        let mut integer = |value: Option<Value>, field: &'static str| match value {
            None | Some(Value::Null) => None,
            Some(value) => value.as_i64().or_else(|| {
                issues.push(FieldIssue {
                    field,
                    expected: "integer",
                });
                None
            }),
        };
        Ok(Some(Self {
            since: integer(fields.since, "config.broadcast.replay.since"),
            limit: integer(fields.limit, "config.broadcast.replay.limit"),
        }))
    }
}

impl PresenceConfig {
    fn parse(field: Field<'_>, issues: &mut Vec<FieldIssue>) -> Result<Self, PayloadError> {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(default, borrow)]
            enabled: Field<'a>,
            key: Option<Value>,
        }
        let Field::Present(raw) = field else {
            return Ok(Self::default());
        };
        let Some(fields) = object::<Fields<'_>>(raw, "config.presence", issues)? else {
            return Ok(Self::default());
        };
        let key = match fields.key {
            None | Some(Value::Null) => None,
            Some(Value::String(key)) => Some(key).filter(|k| !k.is_empty()),
            Some(key @ (Value::Number(_) | Value::Bool(_))) => Some(key.to_string()),
            Some(_) => {
                issues.push(FieldIssue {
                    field: "config.presence.key",
                    expected: "a string",
                });
                None
            }
        };
        Ok(Self {
            enabled: flexible_bool(fields.enabled, "config.presence.enabled", issues),
            key,
        })
    }
}

impl PostgresChangeBinding {
    /// Parses one binding object; `raw` must be an object inside `frame`.
    fn parse(raw: &RawValue, frame: &Bytes) -> Result<Self, PayloadError> {
        let fields = serde_json::from_str(raw.get()).map_err(PayloadError::Shape)?;
        Ok(Self {
            raw: RawJson::from_raw_in(frame, raw),
            fields,
        })
    }

    /// The object exactly as the client sent it.
    pub fn raw(&self) -> &RawJson {
        &self.raw
    }

    /// The object's fields.
    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// `event`: `*`, `INSERT`, `UPDATE` or `DELETE` (when a string).
    pub fn event(&self) -> Option<&str> {
        self.str_field("event")
    }

    /// `schema` (when a string).
    pub fn schema(&self) -> Option<&str> {
        self.str_field("schema")
    }

    /// `table` (when a string).
    pub fn table(&self) -> Option<&str> {
        self.str_field("table")
    }

    /// `filter`, such as `id=eq.1` (when a string).
    pub fn filter(&self) -> Option<&str> {
        self.str_field("filter")
    }

    fn str_field(&self, key: &str) -> Option<&str> {
        self.fields.get(key).and_then(Value::as_str)
    }

    /// The binding's id: [`router::BindingId::of`] its fields, so equal
    /// bindings (same fields, in any key order) get equal ids and sockets
    /// joining a topic with the same bindings share one encoded frame.
    pub fn id(&self) -> BindingId {
        let id = router::BindingId::of(&self.fields).get();
        BindingId(NonZeroU32::new(id).unwrap_or(NonZeroU32::MIN))
    }

    /// Whether the client's object already has an `id` key, which the
    /// reply must replace rather than duplicate.
    pub(crate) fn has_id_key(&self) -> bool {
        self.fields.contains_key("id")
    }
}

impl BindingId {
    /// An id chosen elsewhere; `None` for 0.
    pub fn new(id: u32) -> Option<Self> {
        NonZeroU32::new(id).map(Self)
    }

    /// The numeric id.
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

impl fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: unable to parse, expected {}",
            self.field, self.expected
        )
    }
}

/// A key that may be absent, null or anything else; keeps the raw value.
#[derive(Default)]
enum Field<'a> {
    #[default]
    Absent,
    Present(&'a RawValue),
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(deserializer).map(Field::Present)
    }
}

/// Reads a nested object; `null` or a non-object is `None` (the caller's
/// default), the latter also reported as an issue.
fn object<'a, T: Deserialize<'a>>(
    raw: &'a RawValue,
    field: &'static str,
    issues: &mut Vec<FieldIssue>,
) -> Result<Option<T>, PayloadError> {
    if raw.get() == "null" {
        return Ok(None);
    }
    if !is_object(raw) {
        issues.push(FieldIssue {
            field,
            expected: "a map",
        });
        return Ok(None);
    }
    serde_json::from_str(raw.get())
        .map(Some)
        .map_err(PayloadError::Shape)
}

/// Supabase's `FlexibleBoolean`: `true`, `false`, or those words as strings
/// in any case. Missing and null are false; anything else is false and an issue.
fn flexible_bool(field: Field<'_>, name: &'static str, issues: &mut Vec<FieldIssue>) -> bool {
    let Field::Present(raw) = field else {
        return false;
    };
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Bool(value)) => value,
        Ok(Value::Null) => false,
        Ok(Value::String(text)) if text.eq_ignore_ascii_case("true") => true,
        Ok(Value::String(text)) if text.eq_ignore_ascii_case("false") => false,
        _ => {
            issues.push(FieldIssue {
                field: name,
                expected: "boolean",
            });
            false
        }
    }
}

fn token(
    field: Field<'_>,
    name: &'static str,
    issues: &mut Vec<FieldIssue>,
) -> Option<BearerToken> {
    let Field::Present(raw) = field else {
        return None;
    };
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::String(token)) => Some(BearerToken::new(token)),
        Ok(Value::Null) => None,
        _ => {
            issues.push(FieldIssue {
                field: name,
                expected: "string",
            });
            None
        }
    }
}

fn bindings(
    field: Field<'_>,
    frame: &Bytes,
    issues: &mut Vec<FieldIssue>,
) -> Result<Vec<PostgresChangeBinding>, PayloadError> {
    let Field::Present(raw) = field else {
        return Ok(Vec::new());
    };
    if raw.get() == "null" {
        return Ok(Vec::new());
    }
    let Ok(elements) = serde_json::from_str::<Vec<&RawValue>>(raw.get()) else {
        issues.push(FieldIssue {
            field: "config.postgres_changes",
            expected: "an array of maps",
        });
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(elements.len());
    for (index, element) in elements.into_iter().enumerate() {
        if element.get() == "null" {
            continue;
        }
        if !is_object(element) {
            return Err(PayloadError::BindingNotAnObject(index));
        }
        out.push(PostgresChangeBinding::parse(element, frame)?);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "join_tests.rs"]
mod tests;
