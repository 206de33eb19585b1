//! Presence: who is on a topic, in Phoenix's shape, and the diffs that
//! keep every member's copy current.
//!
//! ```text
//!  state: { "<key>": { "metas": [ { "phx_ref": "…", <tracked payload> }, … ] }, … }
//!  diff:  { "joins": { <key>: { "metas": [...] } }, "leaves": { <key>: { "metas": [...] } } }
//! ```
//!
//! One key may have several metas (several sockets tracking under the same
//! key). Re-tracking the same payload is a no-op; a changed payload is a
//! join carrying `phx_ref_prev` plus a leave of the old meta, as Phoenix
//! does. Pure: the hub holds one [`PresenceTopic`] per topic under a lock and
//! fans the diffs out.

use std::collections::BTreeMap;

use router::SubscriberId;
use serde_json::{Map, Value, json};

/// One tracked presence.
#[derive(Debug, Clone, PartialEq)]
struct Meta {
    subscriber: SubscriberId,
    phx_ref: String,
    payload: Map<String, Value>,
}

impl Meta {
    fn to_json(&self, previous: Option<&str>) -> Value {
        let mut object = self.payload.clone();
        object.insert("phx_ref".into(), Value::String(self.phx_ref.clone()));
        if let Some(previous) = previous {
            object.insert("phx_ref_prev".into(), Value::String(previous.to_owned()));
        }
        Value::Object(object)
    }
}

/// The presences of one topic.
#[derive(Debug, Default)]
pub(crate) struct PresenceTopic {
    keys: BTreeMap<String, Vec<Meta>>,
}

/// Joins and leaves to send as `presence_diff`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Diff {
    joins: BTreeMap<String, Vec<Value>>,
    leaves: BTreeMap<String, Vec<Value>>,
}

impl Diff {
    /// True when nothing changed.
    pub(crate) fn is_empty(&self) -> bool {
        self.joins.is_empty() && self.leaves.is_empty()
    }

    /// `{"joins": …, "leaves": …}`.
    pub(crate) fn to_json(&self) -> Value {
        let side = |entries: &BTreeMap<String, Vec<Value>>| {
            Value::Object(
                entries
                    .iter()
                    .map(|(key, metas)| (key.clone(), json!({ "metas": metas })))
                    .collect(),
            )
        };
        json!({ "joins": side(&self.joins), "leaves": side(&self.leaves) })
    }
}

impl PresenceTopic {
    /// True when nobody is tracked.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The full state, for `presence_state`.
    pub(crate) fn state(&self) -> Value {
        Value::Object(
            self.keys
                .iter()
                .map(|(key, metas)| {
                    let metas: Vec<Value> = metas.iter().map(|m| m.to_json(None)).collect();
                    (key.clone(), json!({ "metas": metas }))
                })
                .collect(),
        )
    }

    /// Tracks `payload` for `subscriber` under `key`, with a fresh
    /// `phx_ref`.
    pub(crate) fn track(
        &mut self,
        subscriber: SubscriberId,
        key: &str,
        payload: Map<String, Value>,
        phx_ref: String,
    ) -> Diff {
        let mut diff = Diff::default();
        let metas = self.keys.entry(key.to_owned()).or_default();
        let meta = Meta {
            subscriber,
            phx_ref,
            payload,
        };
        match metas.iter_mut().find(|m| m.subscriber == subscriber) {
            Some(existing) if existing.payload == meta.payload => {}
            Some(existing) => {
                diff.leaves
                    .entry(key.to_owned())
                    .or_default()
                    .push(existing.to_json(None));
                diff.joins
                    .entry(key.to_owned())
                    .or_default()
                    .push(meta.to_json(Some(&existing.phx_ref)));
                *existing = meta;
            }
            None => {
                diff.joins
                    .entry(key.to_owned())
                    .or_default()
                    .push(meta.to_json(None));
                metas.push(meta);
            }
        }
        diff
    }

    /// Removes everything `subscriber` tracked.
    pub(crate) fn untrack(&mut self, subscriber: SubscriberId) -> Diff {
        let mut diff = Diff::default();
        self.keys.retain(|key, metas| {
            metas.retain(|meta| {
                if meta.subscriber == subscriber {
                    diff.leaves
                        .entry(key.clone())
                        .or_default()
                        .push(meta.to_json(None));
                    false
                } else {
                    true
                }
            });
            !metas.is_empty()
        });
        diff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn track_update_and_untrack_produce_phoenix_diffs() {
        let mut topic = PresenceTopic::default();
        let a = SubscriberId(1);
        let diff = topic.track(a, "u1", payload(json!({"name": "ann"})), "r1".into());
        assert_eq!(
            diff.to_json(),
            json!({"joins": {"u1": {"metas": [{"name": "ann", "phx_ref": "r1"}]}}, "leaves": {}})
        );
        assert!(
            topic
                .track(a, "u1", payload(json!({"name": "ann"})), "r2".into())
                .is_empty()
        );
        let diff = topic.track(
            a,
            "u1",
            payload(json!({"name": "ann", "typing": true})),
            "r3".into(),
        );
        assert_eq!(
            diff.to_json(),
            json!({
                "joins": {"u1": {"metas": [{"name": "ann", "typing": true, "phx_ref": "r3", "phx_ref_prev": "r1"}]}},
                "leaves": {"u1": {"metas": [{"name": "ann", "phx_ref": "r1"}]}}
            })
        );
        topic.track(
            SubscriberId(2),
            "u1",
            payload(json!({"name": "ann"})),
            "r4".into(),
        );
        assert_eq!(
            topic.state()["u1"]["metas"].as_array().map(Vec::len),
            Some(2)
        );
        let diff = topic.untrack(a);
        assert_eq!(diff.to_json()["leaves"]["u1"]["metas"][0]["phx_ref"], "r3");
        assert!(!topic.is_empty());
        topic.untrack(SubscriberId(2));
        assert!(topic.is_empty());
        assert_eq!(topic.state(), json!({}));
    }
}
