//! Access rules end to end: config validation, join decisions, and scopes
//! applied through the subscription index to hand-built changes (the chat
//! schema of the design brief: visitors, agents, tenants).
//!
//! | file | what |
//! |---|---|
//! | `validation.rs` | one refused config per rule, with its one-line error |
//! | `joins.rs` | join decisions: routes, conditions, SQL checks, service_role, open roles |
//! | `scopes.rs` | scopes through the index: wildcards, typing, injection, DELETE |
//! | `replay.rs` | replay keys and `matches_subscriber` |

use std::sync::Arc;

use changes::{Change, ChangeKind, Relation};
use serde_json::{Map, Value, json};

use super::*;
use crate::binding::{Binding, BindingId};
use crate::index::{Hit, ReplayKey, SubscriberId, SubscriptionIndex, replay_value_text};
use crate::testing::{change, relation, row};

mod joins;
mod replay;
mod scopes;
mod validation;

const C1: &str = "11111111-1111-1111-1111-111111111111";
const C2: &str = "22222222-2222-2222-2222-222222222222";
const T1: &str = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
const T2: &str = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn chat_config() -> Value {
    json!({
        "channels": {"open_roles": ["anon", "visitor", "agent"]},
        "routes": [
            {
                "topic": "conversation:{id}:messages",
                "table": "public.messages",
                "filter": "conversation_id=eq.{id}",
                "allow": {
                    "visitor": "{id} == claims.conversation_id",
                    "agent": {
                        "when": "claims.tenant_id != ''",
                        "sql": "select 1 from public.conversations where id = $1::uuid and tenant_id = $2::uuid",
                        "params": ["{id}", "{claims.tenant_id}"],
                    },
                },
            },
            {
                "topic": "conversation:{id}:typing",
                "allow": {"visitor": "{id} == claims.conversation_id", "agent": true},
            },
            {
                "topic": "tenant:{tenant_id}:conversations",
                "table": "conversations",
                "filter": "tenant_id=eq.{tenant_id}",
                "broadcast": false,
                "allow": {"agent": "{tenant_id} == claims.tenant_id"},
            },
        ],
        "policies": [
            {"table": "public.messages", "role": "visitor", "row": "conversation_id=eq.{claims.conversation_id}"},
            {"table": "public.*", "roles": ["agent"], "row": "tenant_id=eq.{claims.tenant_id}"},
        ],
    })
}

fn access(config: Value) -> Access {
    let config: AccessConfig = serde_json::from_value(config).expect("config shape");
    Access::from_config(config).unwrap_or_else(|err| panic!("{err}"))
}

fn config_error(config: Value) -> String {
    let config: AccessConfig = serde_json::from_value(config).expect("config shape");
    match Access::from_config(config) {
        Ok(access) => panic!("accepted: {access:?}"),
        Err(err) => err.to_string(),
    }
}

fn join(access: &Access, topic: &str, claims: Value) -> Result<JoinGrant, String> {
    let claims = object(claims);
    access
        .authorize_join(topic, &ClaimsView::new(&claims))
        .map_err(|denied| denied.join_reason())
}

fn visitor(conversation: &str) -> Value {
    json!({"role": "visitor", "conversation_id": conversation})
}

fn agent(tenant: &str) -> Value {
    json!({"role": "agent", "tenant_id": tenant})
}

fn messages() -> Arc<Relation> {
    relation(
        200,
        "public",
        "messages",
        &[
            ("id", 20, true),
            ("conversation_id", 2950, false),
            ("tenant_id", 2950, false),
            ("body", 25, false),
        ],
    )
}

fn conversations() -> Arc<Relation> {
    relation(
        201,
        "public",
        "conversations",
        &[("id", 2950, true), ("tenant_id", 2950, false)],
    )
}

fn insert(rel: &Arc<Relation>, texts: &[Option<&str>]) -> Change {
    let texts: Vec<Option<Option<&str>>> = texts.iter().map(|t| Some(*t)).collect();
    change(ChangeKind::Insert, rel, Some(row(rel, &texts)), None)
}

fn message(id: &str, conversation: &str, tenant: &str) -> Change {
    insert(
        &messages(),
        &[Some(id), Some(conversation), Some(tenant), Some("hi")],
    )
}

fn binding(params: Value, grant: &JoinGrant) -> Binding {
    Binding::from_params(&params)
        .unwrap_or_else(|err| panic!("{params}: {err}"))
        .scoped(grant.scope())
}

fn subscribers(index: &mut SubscriptionIndex, change: &Change) -> Vec<u64> {
    let mut out: Vec<Hit> = Vec::new();
    index.matching(change, &mut out);
    out.iter().map(|hit| hit.subscriber.0).collect()
}
