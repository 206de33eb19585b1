//! What [`Access::authorize_join`](super::Access::authorize_join) hands the
//! gateway: a grant (with a SQL check still to run, the channel's
//! [`Scope`], whether members may broadcast) or a denial whose text the
//! client sees.
//!
//! ```text
//!  phx_join "realtime:conversation:c1:messages" + claims
//!     │ authorize_join ─────────────▶ Err(Denied) ──▶ reply "Unauthorized: <message>"
//!     ▼
//!  JoinGrant ── sql_check()? ── gateway runs it (bind params only) ── no row ──▶ sql_check_failed()
//!     │ scope() ──▶ Binding::scoped for each postgres_changes binding
//!     │ routed_table() / route_binding() ──▶ changes without declared bindings,
//!     ▼                                     delivered as broadcast events
//!  SUBSCRIBED
//! ```
//!
//! Denial texts name the role, the route's template and the rule that
//! failed, never a claim's value or the topic's params: they help the
//! developer who wrote the token without telling a stranger what it
//! would have needed.

use std::sync::Arc;

use serde_json::json;

use super::scope::Scope;
use crate::binding::Binding;

/// The route a topic matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub(crate) index: usize,
    pub(crate) template: Arc<str>,
    pub(crate) params: Vec<(Arc<str>, String)>,
}

impl RouteMatch {
    /// The route's position in `[[routes]]`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The route's topic template (`conversation:{id}:messages`).
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The topic's params, in template order.
    pub fn params(&self) -> &[(Arc<str>, String)] {
        &self.params
    }

    /// The value of param `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(param, _)| **param == *name)
            .map(|(_, value)| value.as_str())
    }
}

/// A query the gateway must run before the join succeeds: parameterized
/// (`$1` is `params[0]`, sent as text), passing iff it returns a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlCheck {
    /// The query, as configured.
    pub sql: Arc<str>,
    /// Its bind parameters, filled in for this join.
    pub params: Vec<String>,
}

/// A join refused. `Display` is the message; the reply's reason is
/// [`Denied::join_reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    message: String,
}

impl Denied {
    /// The code before the message in a join error reply.
    pub const CODE: &'static str = "Unauthorized";

    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// `"Unauthorized: <message>"`, the reason of a join error reply.
    pub fn join_reason(&self) -> String {
        format!("{}: {self}", Self::CODE)
    }
}

/// A join allowed (pending [`JoinGrant::sql_check`]).
#[derive(Debug, Clone)]
pub struct JoinGrant {
    pub(crate) role: Arc<str>,
    pub(crate) route: Option<RouteMatch>,
    pub(crate) sql_check: Option<SqlCheck>,
    pub(crate) can_broadcast: bool,
    pub(crate) scope: Arc<Scope>,
    pub(crate) routed_table: Option<(Arc<str>, Arc<str>)>,
}

impl JoinGrant {
    /// The route the topic matched; `None` for a topic no route names.
    pub fn route(&self) -> Option<&RouteMatch> {
        self.route.as_ref()
    }

    /// A query to run before replying; the join is refused (with
    /// [`JoinGrant::sql_check_failed`]) unless it returns a row.
    pub fn sql_check(&self) -> Option<&SqlCheck> {
        self.sql_check.as_ref()
    }

    /// The denial to send when [`JoinGrant::sql_check`] found no row.
    pub fn sql_check_failed(&self) -> Denied {
        let template = self.route.as_ref().map_or("", |route| &*route.template);
        Denied::new(format!(
            "role {} may not join {template}: the access query found no row",
            self.role
        ))
    }

    /// Whether members may send client broadcasts and presence.
    pub fn can_broadcast(&self) -> bool {
        self.can_broadcast
    }

    /// What the channel may see of each table: give it to every binding
    /// of the channel with [`Binding::scoped`].
    pub fn scope(&self) -> Arc<Scope> {
        Arc::clone(&self.scope)
    }

    /// The table a routed topic carries, as `(schema, table)`: changes of
    /// it reach a channel that declared no binding as broadcast events
    /// (`INSERT` / `UPDATE` / `DELETE`).
    pub fn routed_table(&self) -> Option<(&str, &str)> {
        self.routed_table
            .as_ref()
            .map(|(schema, table)| (&**schema, &**table))
    }

    /// The binding for those broadcast events: every event of the routed
    /// table, under this grant's scope. Its id is the hash of
    /// `{"event": "*", "schema": …, "table": …}`, like a client binding's.
    pub fn route_binding(&self) -> Option<Binding> {
        let (schema, table) = self.routed_table()?;
        let params = json!({"event": "*", "schema": schema, "table": table});
        // Validated names always make a valid binding.
        let binding = Binding::from_params(&params).ok()?;
        Some(binding.scoped(self.scope()))
    }
}
