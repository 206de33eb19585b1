//! Routing of changes to subscribers: which channel gets which change.
//!
//! ```text
//!  phx_join config.postgres_changes[i] ──Binding::from_params──▶ Binding (id, event,
//!        (gateway)                                                schema, table, Filter)
//!                                                                   │ restrict(policy)
//!                                                                   ▼
//!  changes::Change ──▶ SubscriptionIndex::matching ◀──insert(SubscriberId, &Binding)
//!                          │ table → column → value → bindings; filters bound to the
//!                          │ table's Relation, evaluated with SQL semantics
//!                          ▼
//!              [Hit { subscriber, binding id }] ──by_subscriber──▶ one frame per channel
//! ```
//!
//! This crate knows Supabase's subscription rules (filter grammar, binding
//! validation, error texts, which row a DELETE is tested on) and nothing of
//! Postgres wire bytes or sockets: it sees decoded [`changes::Change`]s and
//! hands back subscriber ids; the gateway encodes and sends.

mod binding;
mod filter;
mod index;
mod inspect;
mod shared;

#[cfg(test)]
mod testing;

pub use binding::{Binding, BindingError, BindingId, EventFilter, Selector};
pub use filter::{
    BindError, BoundFilter, CompareOp, Filter, FilterError, IsValue, LikePattern, MAX_IN_VALUES,
    Op, Term,
};
pub use index::{
    BindProblem, BindingKey, Hit, Inserted, SubscriberId, SubscriptionIndex, by_subscriber,
};
pub use shared::SharedIndex;
