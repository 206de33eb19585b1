//! The access configuration as operators write it: the binary's settings
//! embed these as top-level `[channels]`, `[[routes]]` and `[[policies]]`
//! sections. These types only read the shape (unknown fields are refused);
//! [`Access::from_config`](super::Access::from_config) validates the
//! meaning.
//!
//! ```toml
//! [channels]
//! open_roles = ["anon", "authenticated"]
//!
//! [[routes]]
//! topic = "conversation:{id}:messages"
//! table = "public.messages"
//! filter = "conversation_id=eq.{id}"
//! [routes.allow]
//! visitor = "{id} == claims.conversation_id"
//! agent = { when = "claims.tenant_id != ''", sql = "select 1 from public.conversations where id = $1::uuid and tenant_id = $2::uuid", params = ["{id}", "{claims.tenant_id}"] }
//!
//! [[policies]]
//! table = "public.messages"
//! role = "visitor"
//! row = "conversation_id=eq.{claims.conversation_id}"
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// `[channels]`, `[[routes]]` and `[[policies]]` together. The default
/// (nothing configured) lets only `service_role` join anything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// `[channels]`.
    #[serde(default)]
    pub channels: ChannelsConfig,
    /// `[[routes]]`.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// `[[policies]]`.
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
}

/// `[channels]`: topics no route names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    /// Roles that may join topics no route names (raw `postgres_changes`,
    /// broadcast, presence). `service_role` always may. Default: none.
    #[serde(default)]
    pub open_roles: Vec<String>,
}

/// One `[[routes]]` entry: a family of topics, what they carry, who may
/// join them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Topic template, e.g. `conversation:{id}:messages`.
    pub topic: String,
    /// The table whose changes the topic carries (`schema.table`, or
    /// `table` in `public`).
    #[serde(default)]
    pub table: Option<String>,
    /// Filter over `table` in the client filter grammar; may use topic
    /// params and `{claims.x}` as whole values.
    #[serde(default)]
    pub filter: Option<String>,
    /// Whether members may send client broadcasts and presence.
    #[serde(default = "yes")]
    pub broadcast: bool,
    /// Role → condition; a role not listed is denied.
    #[serde(default)]
    pub allow: BTreeMap<String, AllowRule>,
}

fn yes() -> bool {
    true
}

/// One `allow` entry: a condition string (or `true`), or a table with a
/// condition and a SQL check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRule {
    /// `"{id} == claims.conversation_id"`, `"true"` or `true`.
    Condition(String),
    /// `{ when = "…", sql = "…", params = […] }`.
    Check(AllowCheck),
}

/// The table form of an `allow` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowCheck {
    /// Claim conditions, evaluated first (default: none).
    #[serde(default)]
    pub when: Option<String>,
    /// A query run once per join with bind parameters; the join passes
    /// iff it returns at least one row.
    #[serde(default)]
    pub sql: Option<String>,
    /// The query's `$1`, `$2`, …: `{param}`, `{claims.x}` or literals.
    #[serde(default)]
    pub params: Vec<String>,
}

/// A string, `true`/`false`, or a table; written by hand so that a table
/// with a misspelt key says which key rather than "did not match any
/// variant".
impl<'de> Deserialize<'de> for AllowRule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RuleVisitor;

        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = AllowRule;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a condition string, true, or a table with when / sql / params")
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<AllowRule, E> {
                if value {
                    Ok(AllowRule::Condition("true".to_owned()))
                } else {
                    Err(E::custom(
                        "false is not a condition: leave the role out to deny it",
                    ))
                }
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<AllowRule, E> {
                Ok(AllowRule::Condition(value.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AllowRule, A::Error> {
                AllowCheck::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(AllowRule::Check)
            }
        }

        deserializer.deserialize_any(RuleVisitor)
    }
}

/// One `[[policies]]` entry: what a role may see of a table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `schema.table`, `table` (in `public`), `schema.*` or `*`.
    pub table: String,
    /// The role (or give `roles`).
    #[serde(default)]
    pub role: Option<String>,
    /// The roles (or give `role`).
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// Row filter in the client filter grammar with `{claims.x}` values;
    /// `*` or empty: every row.
    pub row: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_the_documented_shape() {
        let config: AccessConfig = serde_json::from_value(json!({
            "channels": {"open_roles": ["anon"]},
            "routes": [{
                "topic": "conversation:{id}:messages",
                "table": "public.messages",
                "filter": "conversation_id=eq.{id}",
                "allow": {
                    "visitor": "{id} == claims.conversation_id",
                    "agent": {"when": "claims.tenant_id != ''", "sql": "select 1", "params": []},
                    "staff": true,
                },
            }],
            "policies": [{"table": "*", "roles": ["agent"], "row": "*"}],
        }))
        .expect("valid shape");
        let route = &config.routes[0];
        assert!(route.broadcast);
        assert_eq!(
            route.allow.get("staff"),
            Some(&AllowRule::Condition("true".into()))
        );
        assert!(
            matches!(route.allow.get("agent"), Some(AllowRule::Check(check)) if check.sql.as_deref() == Some("select 1"))
        );
        assert!(AccessConfig::default().routes.is_empty());
    }

    #[test]
    fn refuses_unknown_fields() {
        let error = |value: serde_json::Value| {
            serde_json::from_value::<AccessConfig>(value)
                .expect_err("refused")
                .to_string()
        };
        assert!(error(json!({"route": []})).contains("unknown field `route`"));
        assert!(
            error(json!({"routes": [{"topic": "a", "allow": {"x": {"sq": "select 1"}}}]}))
                .contains("unknown field `sq`")
        );
        assert!(
            error(json!({"routes": [{"topic": "a", "allow": {"x": false}}]}))
                .contains("leave the role out")
        );
        assert!(error(json!({"policies": [{"table": "*", "role": "a"}]})).contains("`row`"));
    }
}
