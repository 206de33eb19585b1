//! Access control: who may join which topic, and what each channel may see
//! of each table. Pure and in memory; deny by default.
//!
//! ```text
//!  AccessConfig ([channels], [[routes]], [[policies]])
//!     │ Access::from_config: templates, placeholders, filters, SQL params
//!     ▼ checked once, one-line errors naming the item
//!  Access ──authorize_join(sub_topic, claims)──▶ JoinGrant | Denied
//!                                                   │ scope(): Arc<Scope>
//!                                                   ▼
//!  Binding::scoped(scope) ──▶ SubscriptionIndex: per table, client filter
//!                              AND scope's filter, bound and keyed like any filter
//! ```
//!
//! The rules, in the order a join meets them:
//! - `service_role` may join anything and sees every row; a routed topic
//!   still carries only its table and filter.
//! - A topic a route's template matches is joined by the roles its `allow`
//!   lists, when their conditions hold (and the SQL check, run by the
//!   gateway, finds a row). A topic no route names is joined by the
//!   `open_roles` only.
//! - Every other role sees a table only through its row policy for that
//!   table (the most specific of `schema.table`, `schema.*`, `*`), ANDed
//!   into every binding of the channel; no policy, or a claim the policy
//!   needs and the token lacks, hides the table.
//!
//! | file | reason |
//! |---|---|
//! | `config.rs` | the TOML shape, fields refused when unknown |
//! | `template.rs` | topic templates: matching and overlap |
//! | `placeholder.rs` | `{param}` / `{claims.x}`: names and values |
//! | `filter_template.rs` | filters with placeholders, filled as whole literals |
//! | `condition.rs` | the `allow` condition grammar |
//! | `rule.rs` | an `allow` entry: conditions and the SQL check |
//! | `claims.rs` | claims by dotted path, in string form |
//! | `scope.rs` | [`Scope`]: per-table restriction of a channel |
//! | `join.rs` | [`JoinGrant`], [`Denied`] |

mod claims;
mod condition;
mod config;
mod filter_template;
mod join;
mod placeholder;
mod rule;
mod scope;
mod template;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

pub use claims::ClaimsView;
pub use condition::ConditionError;
pub use config::{AccessConfig, AllowCheck, AllowRule, ChannelsConfig, PolicyConfig, RouteConfig};
pub use filter_template::FilterTemplateError;
pub use join::{Denied, JoinGrant, RouteMatch, SqlCheck};
pub use placeholder::PlaceholderError;
pub use rule::{RuleError, SqlError};
pub use scope::{Scope, TableAccess};
pub use template::TemplateError;

use condition::Unmet;
use filter_template::FilterTemplate;
use rule::Rule;
use scope::{RouteTable, ScopedPolicy, TableName, TablePattern};
use template::TopicTemplate;

/// The role that bypasses every rule (Supabase's service key).
pub const SERVICE_ROLE: &str = "service_role";

/// Validated access rules. The default denies every role but
/// `service_role`.
#[derive(Debug, Clone, Default)]
pub struct Access {
    open_roles: HashSet<Box<str>>,
    routes: Vec<Route>,
    /// Row policies by role.
    policies: HashMap<Box<str>, Vec<Policy>>,
}

#[derive(Debug, Clone)]
struct Route {
    template: TopicTemplate,
    topic: Arc<str>,
    table: Option<TableName>,
    filter: FilterTemplate,
    broadcast: bool,
    allow: HashMap<Box<str>, Rule>,
}

#[derive(Debug, Clone)]
struct Policy {
    pattern: TablePattern,
    row: FilterTemplate,
}

/// Why the access configuration was refused: `<item>: <problem>`, one line,
/// e.g. `routes[2] (topic "conversation:{id}:typing"): filter: unknown
/// placeholder {conv}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{item}: {problem}")]
pub struct AccessError {
    item: String,
    problem: ConfigProblem,
}

impl AccessError {
    fn new(item: &str, problem: ConfigProblem) -> Self {
        Self {
            item: item.to_owned(),
            problem,
        }
    }

    /// The item: `routes[2] (topic "…")`, `policies[0] (table "…", role "…")`.
    pub fn item(&self) -> &str {
        &self.item
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &ConfigProblem {
        &self.problem
    }
}

/// What is wrong with one item of the access configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    /// An empty role name.
    #[error("empty role name")]
    EmptyRole,
    /// The topic template is malformed.
    #[error("topic: {0}")]
    Topic(TemplateError),
    /// Two routes can match the same topic.
    #[error("topic: overlaps {other}: both match \"{example}\"")]
    Overlap {
        /// The earlier route.
        other: String,
        /// A topic both match.
        example: String,
    },
    /// A route's table is not `schema.table` or `table`.
    #[error("table: invalid table \"{0}\" (write schema.table or table)")]
    Table(String),
    /// A policy's table is not a table or pattern.
    #[error("table: invalid table \"{0}\" (write schema.table, table, schema.* or *)")]
    TablePattern(String),
    /// The route filter is refused.
    #[error("filter: {0}")]
    Filter(FilterTemplateError),
    /// A route filter without the table it filters.
    #[error("filter: needs `table`, the table it filters")]
    FilterWithoutTable,
    /// An `allow` entry is refused.
    #[error("allow.{role}: {error}")]
    Allow {
        /// The role.
        role: String,
        /// Why.
        error: RuleError,
    },
    /// `service_role` listed in `allow` or a policy: it bypasses both.
    #[error("{0}: service_role bypasses routes and policies; leave it out")]
    ServiceRole(&'static str),
    /// A route with a table allows a role that has no policy for it, so
    /// that role could join but never see a row.
    #[error(
        "allow.{role}: role {role} has no policy for {table}, so it would see no row (add a [[policies]] entry)"
    )]
    NoPolicy {
        /// The role.
        role: String,
        /// `schema.table`.
        table: String,
    },
    /// A policy with neither or both of `role` and `roles`.
    #[error("give exactly one of `role` and `roles`")]
    Roles,
    /// The row filter is refused.
    #[error("row: {0}")]
    Row(FilterTemplateError),
    /// A second policy for the same role and table pattern.
    #[error("role {role} already has a policy for this table in {other}")]
    DuplicatePolicy {
        /// The role.
        role: String,
        /// The earlier policy.
        other: String,
    },
}

impl Access {
    /// Validates `config`.
    pub fn from_config(config: AccessConfig) -> Result<Self, AccessError> {
        let mut access = Self::default();
        for (index, role) in config.channels.open_roles.iter().enumerate() {
            if role.is_empty() {
                let item = format!("channels.open_roles[{index}]");
                return Err(AccessError::new(&item, ConfigProblem::EmptyRole));
            }
            access.open_roles.insert(role.as_str().into());
        }
        let mut policy_items: HashMap<(Box<str>, TablePattern), String> = HashMap::new();
        for (index, policy) in config.policies.iter().enumerate() {
            let (item, roles, policy) = compile_policy(index, policy)?;
            for role in roles {
                let key = (role.as_str().into(), policy.pattern.clone());
                if let Some(other) = policy_items.get(&key) {
                    let problem = ConfigProblem::DuplicatePolicy {
                        role,
                        other: other.clone(),
                    };
                    return Err(AccessError::new(&item, problem));
                }
                policy_items.insert(key, item.clone());
                access
                    .policies
                    .entry(role.into_boxed_str())
                    .or_default()
                    .push(policy.clone());
            }
        }
        let mut items: Vec<String> = Vec::new();
        for (index, route) in config.routes.iter().enumerate() {
            let item = format!("routes[{index}] (topic {:?})", route.topic);
            let route = access
                .compile_route(route)
                .map_err(|problem| AccessError::new(&item, problem))?;
            for (earlier, other) in access.routes.iter().zip(&items) {
                if let Some(example) = earlier.template.overlap(&route.template) {
                    let other = other.clone();
                    return Err(AccessError::new(
                        &item,
                        ConfigProblem::Overlap { other, example },
                    ));
                }
            }
            access.routes.push(route);
            items.push(item);
        }
        Ok(access)
    }

    fn compile_route(&self, config: &RouteConfig) -> Result<Route, ConfigProblem> {
        let template = TopicTemplate::parse(&config.topic).map_err(ConfigProblem::Topic)?;
        let params = template.params();
        let table = match &config.table {
            Some(text) => {
                Some(TableName::parse(text).ok_or_else(|| ConfigProblem::Table(text.clone()))?)
            }
            None => None,
        };
        let filter = match (&config.filter, &table) {
            (Some(text), Some(_)) => {
                FilterTemplate::parse(text, &params).map_err(ConfigProblem::Filter)?
            }
            (Some(text), None) if !text.trim().is_empty() => {
                return Err(ConfigProblem::FilterWithoutTable);
            }
            _ => FilterTemplate::default(),
        };
        let mut allow = HashMap::new();
        for (role, rule) in &config.allow {
            if role.is_empty() {
                return Err(ConfigProblem::EmptyRole);
            }
            if role == SERVICE_ROLE {
                return Err(ConfigProblem::ServiceRole("allow"));
            }
            let rule = Rule::compile(rule, &params).map_err(|error| ConfigProblem::Allow {
                role: role.clone(),
                error,
            })?;
            if let Some(table) = &table {
                let covered = self.policies.get(role.as_str()).is_some_and(|policies| {
                    policies
                        .iter()
                        .any(|policy| policy.pattern.matches(&table.schema, &table.table))
                });
                if !covered {
                    return Err(ConfigProblem::NoPolicy {
                        role: role.clone(),
                        table: format!("{}.{}", table.schema, table.table),
                    });
                }
            }
            allow.insert(role.as_str().into(), rule);
        }
        Ok(Route {
            template,
            topic: config.topic.as_str().into(),
            table,
            filter,
            broadcast: config.broadcast,
            allow,
        })
    }

    /// Decides whether a token with `claims` may join `sub_topic` (the
    /// topic without its `realtime:` prefix).
    pub fn authorize_join(
        &self,
        sub_topic: &str,
        claims: &ClaimsView<'_>,
    ) -> Result<JoinGrant, Denied> {
        let role = claims
            .role()
            .ok_or_else(|| Denied::new("the token has no role"))?;
        let service = role == SERVICE_ROLE;
        let policies = (!service).then(|| self.scoped_policies(role, claims));
        let routed =
            self.routes.iter().enumerate().find_map(|(index, route)| {
                Some((index, route, route.template.matches(sub_topic)?))
            });
        let Some((index, route, params)) = routed else {
            if !service && !self.open_roles.contains(role) {
                return Err(Denied::new(format!(
                    "role {role} may not join {sub_topic}: no route names this topic"
                )));
            }
            return Ok(JoinGrant {
                role: role.into(),
                route: None,
                sql_check: None,
                can_broadcast: true,
                scope: Arc::new(Scope::new(None, policies)),
                routed_table: None,
            });
        };
        let topic = &route.topic;
        let mut sql_check = None;
        if !service {
            let denied =
                |why: String| Denied::new(format!("role {role} may not join {topic}{why}"));
            let rule = route.allow.get(role).ok_or_else(|| denied(String::new()))?;
            rule.when
                .check(&params, claims)
                .map_err(|unmet| match unmet {
                    Unmet::MissingClaim(path) => denied(format!(": the token has no claim {path}")),
                    Unmet::False(comparison) => denied(format!(": {comparison} does not hold")),
                })?;
            if let Some(sql) = &rule.sql {
                let values = sql.fill(&params, claims).map_err(|placeholder| {
                    denied(format!(": the token has no value for {placeholder}"))
                })?;
                sql_check = Some(SqlCheck {
                    sql: Arc::clone(&sql.sql),
                    params: values,
                });
            }
        }
        let route_table = route.table.as_ref().map(|table| RouteTable {
            table: table.clone(),
            filter: route
                .filter
                .fill(|placeholder| placeholder.resolve(&params, claims).map(Cow::into_owned)),
        });
        let routed_table = route
            .table
            .as_ref()
            .map(|table| (Arc::clone(&table.schema), Arc::clone(&table.table)));
        Ok(JoinGrant {
            role: role.into(),
            route: Some(RouteMatch {
                index,
                template: Arc::clone(topic),
                params,
            }),
            sql_check,
            can_broadcast: service || route.broadcast,
            scope: Arc::new(match route_table {
                Some(route_table) => Scope::new(Some(route_table), policies),
                None => Scope::without_tables(),
            }),
            routed_table,
        })
    }

    /// The row policies of `role`, filled in with `claims`.
    fn scoped_policies(&self, role: &str, claims: &ClaimsView<'_>) -> Vec<ScopedPolicy> {
        let Some(policies) = self.policies.get(role) else {
            return Vec::new();
        };
        policies
            .iter()
            .map(|policy| ScopedPolicy {
                pattern: policy.pattern.clone(),
                row: policy
                    .row
                    .fill(|placeholder| placeholder.resolve(&[], claims).map(Cow::into_owned)),
            })
            .collect()
    }
}

/// Validates one `[[policies]]` entry: its item text, roles and policy.
fn compile_policy(
    index: usize,
    config: &PolicyConfig,
) -> Result<(String, Vec<String>, Policy), AccessError> {
    let roles = match (&config.role, &config.roles) {
        (Some(role), None) => vec![role.clone()],
        (None, Some(roles)) if !roles.is_empty() => roles.clone(),
        _ => Vec::new(),
    };
    let item = match (&config.role, &config.roles) {
        (Some(role), None) => format!(
            "policies[{index}] (table {:?}, role {role:?})",
            config.table
        ),
        (None, Some(roles)) => format!(
            "policies[{index}] (table {:?}, roles {roles:?})",
            config.table
        ),
        _ => format!("policies[{index}] (table {:?})", config.table),
    };
    let fail = |problem| AccessError::new(&item, problem);
    if roles.is_empty() {
        return Err(fail(ConfigProblem::Roles));
    }
    if roles.iter().any(String::is_empty) {
        return Err(fail(ConfigProblem::EmptyRole));
    }
    if roles.iter().any(|role| role == SERVICE_ROLE) {
        return Err(fail(ConfigProblem::ServiceRole("role")));
    }
    let pattern = TablePattern::parse(&config.table)
        .ok_or_else(|| fail(ConfigProblem::TablePattern(config.table.clone())))?;
    let row = match config.row.trim() {
        "*" => FilterTemplate::default(),
        text => FilterTemplate::parse(text, &[]).map_err(|err| fail(ConfigProblem::Row(err)))?,
    };
    Ok((item, roles, Policy { pattern, row }))
}
