//! Routing of changes to subscribers: which channel gets which change.
//!
//! ```text
//!  phx_join topic + claims ──Access::authorize_join──▶ JoinGrant (scope, SQL check)
//!                                                          │ scope()
//!  phx_join config.postgres_changes[i] ──Binding::from_params──▶ Binding (id, event,
//!        (gateway)                                                schema, table, Filter)
//!                                                                   │ scoped(scope)
//!                                                                   ▼
//!  changes::Change ──▶ SubscriptionIndex::matching ◀──insert(SubscriberId, &Binding)
//!                          │ table → column → value → bindings; filters bound to the
//!                          │ table's Relation, evaluated with SQL semantics
//!                          ▼
//!              [Hit { subscriber, binding id }] ──by_subscriber──▶ one frame per channel
//!
//!  resume: replay_keys(subscriber) ──▶ log lookups; matches_subscriber(change) ──▶ ids
//! ```
//!
//! This crate knows Supabase's subscription rules (filter grammar, binding
//! validation, error texts, which row a DELETE is tested on) and walcast's
//! access rules (routed topics, join conditions, row policies; deny by
//! default), and nothing of Postgres wire bytes or sockets: it sees decoded
//! [`changes::Change`]s and hands back subscriber ids; the gateway runs the
//! SQL checks, encodes and sends.

mod access;
mod binding;
mod filter;
mod index;
mod inspect;
mod shared;

#[cfg(test)]
mod testing;

pub use access::{
    Access, AccessConfig, AccessError, AllowCheck, AllowRule, ChannelsConfig, ClaimsView,
    ConditionError, ConfigProblem, Denied, FilterTemplateError, JoinGrant, PlaceholderError,
    PolicyConfig, RouteConfig, RouteMatch, RuleError, SERVICE_ROLE, Scope, SqlCheck, SqlError,
    TableAccess, TemplateError,
};
pub use binding::{Binding, BindingError, BindingId, EventFilter, Selector};
pub use filter::{
    BindError, BoundFilter, CompareOp, Filter, FilterError, IsValue, LikePattern, MAX_IN_VALUES,
    Op, Term,
};
pub use index::{
    BindProblem, BindingKey, Hit, Inserted, ReplayKey, SubscriberId, SubscriptionIndex,
    by_subscriber, replay_value_text,
};
pub use shared::SharedIndex;
