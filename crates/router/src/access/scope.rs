//! What one channel may see of each table: the per-table restriction that
//! is ANDed into every binding of the channel.
//!
//! ```text
//!  Scope (built once per join)
//!  ├─ route: routed topic with a table → only that table, under the route's
//!  │         filter with the topic's params filled in
//!  └─ rows:  Unrestricted (service_role)
//!            | Policies [(table pattern, row filter with claims filled in)]
//!                 the most specific pattern that matches a table decides:
//!                 schema.table > schema.* > *; no pattern → table denied
//!
//!  Scope::table(schema, table) → Deny | Allow(route filter AND row filter)
//! ```
//!
//! The index asks once per (binding, table layout), when it binds the
//! binding to a table; the answer then runs as ordinary filter terms, typed
//! against the column like a client's literal, and an `eq` among them keys
//! the binding in the index. A decision depends on the table's name only,
//! never on its layout, so a denied table stays denied across ALTER TABLE.

use std::sync::Arc;

use crate::binding::Selector;
use crate::filter::Filter;

/// Whether and how a channel may see one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableAccess {
    /// Nothing of this table.
    Deny,
    /// The rows that pass this filter (empty: every row).
    Allow(Filter),
}

/// What a channel may see, table by table. The default is unrestricted.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// A routed topic that names no table carries no row changes at all
    /// (presence and broadcast rooms): every table is hidden, whatever the
    /// role's row policies would allow elsewhere.
    no_tables: bool,
    route: Option<RouteTable>,
    /// `None`: no row policies apply (service_role).
    policies: Option<Vec<ScopedPolicy>>,
}

/// The table a routed topic carries.
#[derive(Debug, Clone)]
pub(crate) struct RouteTable {
    pub(crate) table: TableName,
    /// `None` when a value the filter needs is missing: deny.
    pub(crate) filter: Option<Filter>,
}

/// One row policy of the joining role, filled in with its claims.
#[derive(Debug, Clone)]
pub(crate) struct ScopedPolicy {
    pub(crate) pattern: TablePattern,
    /// `None` when the token lacks a claim the policy reads: deny.
    pub(crate) row: Option<Filter>,
}

/// `schema.table`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TableName {
    pub(crate) schema: Arc<str>,
    pub(crate) table: Arc<str>,
}

/// The tables a policy applies to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TablePattern {
    /// `*`.
    Any,
    /// `schema.*`.
    Schema(Arc<str>),
    /// `schema.table` or `table` (in `public`).
    Table(TableName),
}

impl TableName {
    /// Parses `schema.table`, or `table` meaning `public.table`.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let (schema, table) = text.split_once('.').unwrap_or(("public", text));
        (is_name(schema) && is_name(table)).then(|| Self {
            schema: schema.into(),
            table: table.into(),
        })
    }

    fn is(&self, schema: &str, table: &str) -> bool {
        *self.schema == *schema && *self.table == *table
    }
}

/// A schema or table name as config writes it: not empty, no `.`, `*`,
/// quote or space (names are matched exactly, as pgoutput spells them).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| matches!(c, '.' | '*' | '"') || c.is_whitespace())
}

impl TablePattern {
    /// Parses `*`, `schema.*`, `schema.table` or `table`.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        if text == "*" {
            return Some(Self::Any);
        }
        if let Some(schema) = text.strip_suffix(".*") {
            return is_name(schema).then(|| Self::Schema(schema.into()));
        }
        TableName::parse(text).map(Self::Table)
    }

    /// Whether the pattern selects `schema.table`.
    pub(crate) fn matches(&self, schema: &str, table: &str) -> bool {
        self.specificity(schema, table).is_some()
    }

    /// How specific a match is; `None` when the pattern does not match.
    fn specificity(&self, schema: &str, table: &str) -> Option<u8> {
        match self {
            Self::Any => Some(0),
            Self::Schema(own) => (**own == *schema).then_some(1),
            Self::Table(name) => name.is(schema, table).then_some(2),
        }
    }
}

impl Scope {
    /// Every table, every row: no route, no row policies.
    pub fn unrestricted() -> Self {
        Self::default()
    }

    /// A scope of `route` (if the topic is routed to a table) and `policies`
    /// (`None` for a role without row policies).
    pub(crate) fn new(route: Option<RouteTable>, policies: Option<Vec<ScopedPolicy>>) -> Self {
        Self {
            no_tables: false,
            route,
            policies,
        }
    }

    /// The scope of a routed topic without a table: no table is visible.
    pub(crate) fn without_tables() -> Self {
        Self {
            no_tables: true,
            route: None,
            policies: None,
        }
    }

    /// Whether this scope lets everything through.
    pub fn is_unrestricted(&self) -> bool {
        !self.no_tables && self.route.is_none() && self.policies.is_none()
    }

    /// What the channel may see of `schema.table`.
    pub fn table(&self, schema: &str, table: &str) -> TableAccess {
        if self.no_tables {
            return TableAccess::Deny;
        }
        let mut filter = Filter::default();
        if let Some(route) = &self.route {
            match (&route.filter, route.table.is(schema, table)) {
                (Some(route_filter), true) => filter = route_filter.clone(),
                _ => return TableAccess::Deny,
            }
        }
        if let Some(policies) = &self.policies {
            let decisive = policies
                .iter()
                .filter_map(|policy| Some((policy.pattern.specificity(schema, table)?, policy)))
                .max_by_key(|(specificity, _)| *specificity);
            match decisive {
                Some((_, ScopedPolicy { row: Some(row), .. })) => filter = filter.and(row.clone()),
                _ => return TableAccess::Deny,
            }
        }
        TableAccess::Allow(filter)
    }

    /// The tables a binding selecting `schema` / `table` can see at all,
    /// when that is a known list (a route's table, or row policies naming
    /// exact tables); `None` when it may be any table.
    pub(crate) fn visible_tables(
        &self,
        schema: &Selector,
        table: &Selector,
    ) -> Option<Vec<(Arc<str>, Arc<str>)>> {
        if self.no_tables {
            return Some(Vec::new());
        }
        let selected =
            |name: &TableName| schema.matches(&name.schema) && table.matches(&name.table);
        let names: Vec<&TableName> = if let Some(route) = &self.route {
            vec![&route.table]
        } else {
            let mut names = Vec::new();
            for policy in self.policies.as_ref()? {
                match &policy.pattern {
                    TablePattern::Table(name) => names.push(name),
                    TablePattern::Schema(own) if !schema.matches(own) => {}
                    TablePattern::Schema(_) | TablePattern::Any => return None,
                }
            }
            names
        };
        Some(
            names
                .into_iter()
                .filter(|name| {
                    selected(name) && self.table(&name.schema, &name.table) != TableAccess::Deny
                })
                .map(|name| (Arc::clone(&name.schema), Arc::clone(&name.table)))
                .collect(),
        )
    }
}

#[cfg(test)]
impl Scope {
    /// A scope from texts: the route's `schema.table` and filter, and row
    /// policies `(pattern, row filter)` where `None` stands for a claim
    /// the token lacks; `policies: None` for service_role.
    pub(crate) fn for_tests(
        route: Option<(&str, &str)>,
        policies: Option<&[(&str, Option<&str>)]>,
    ) -> Self {
        let filter = |text: &str| Filter::parse(text).expect("valid filter");
        let route = route.map(|(table, text)| RouteTable {
            table: TableName::parse(table).expect("valid table"),
            filter: Some(filter(text)),
        });
        let policies = policies.map(|policies| {
            policies
                .iter()
                .map(|(pattern, row)| ScopedPolicy {
                    pattern: TablePattern::parse(pattern).expect("valid pattern"),
                    row: row.map(filter),
                })
                .collect()
        });
        Self::new(route, policies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: &str) -> Filter {
        Filter::parse(text).expect("valid")
    }

    fn policy(pattern: &str, row: Option<&str>) -> ScopedPolicy {
        ScopedPolicy {
            pattern: TablePattern::parse(pattern).expect("valid pattern"),
            row: row.map(filter),
        }
    }

    #[test]
    fn parses_names_and_patterns() {
        let name = |text: &str| TableName::parse(text).map(|n| format!("{}.{}", n.schema, n.table));
        assert_eq!(name("messages").as_deref(), Some("public.messages"));
        assert_eq!(name("chat.messages").as_deref(), Some("chat.messages"));
        for bad in ["", ".", "a.", ".b", "a.b.c", "a.*", "*", "a b", "\"a\""] {
            assert_eq!(name(bad), None, "{bad}");
        }
        assert_eq!(TablePattern::parse("*"), Some(TablePattern::Any));
        assert_eq!(
            TablePattern::parse("chat.*"),
            Some(TablePattern::Schema("chat".into()))
        );
        assert_eq!(TablePattern::parse("*.messages"), None);
        assert_eq!(TablePattern::parse(".*"), None);
    }

    #[test]
    fn most_specific_policy_decides() {
        let scope = Scope::new(
            None,
            Some(vec![
                policy("*", Some("tenant_id=eq.t")),
                policy("public.*", Some("")),
                policy("public.messages", Some("conversation_id=eq.c")),
                policy("public.secrets", None),
            ]),
        );
        assert_eq!(
            scope.table("public", "messages"),
            TableAccess::Allow(filter("conversation_id=eq.c"))
        );
        assert_eq!(
            scope.table("public", "rooms"),
            TableAccess::Allow(filter(""))
        );
        assert_eq!(
            scope.table("audit", "log"),
            TableAccess::Allow(filter("tenant_id=eq.t"))
        );
        assert_eq!(scope.table("public", "secrets"), TableAccess::Deny);

        let none = Scope::new(None, Some(vec![]));
        assert_eq!(none.table("public", "messages"), TableAccess::Deny);
        assert!(Scope::unrestricted().is_unrestricted());
        assert_eq!(
            Scope::unrestricted().table("any", "thing"),
            TableAccess::Allow(Filter::default())
        );
    }

    #[test]
    fn a_route_narrows_to_its_table() {
        let route = RouteTable {
            table: TableName::parse("messages").expect("valid"),
            filter: Some(filter("conversation_id=eq.c")),
        };
        let scope = Scope::new(
            Some(route.clone()),
            Some(vec![policy("public.*", Some("tenant_id=eq.t"))]),
        );
        assert_eq!(
            scope.table("public", "messages"),
            TableAccess::Allow(filter("conversation_id=eq.c,tenant_id=eq.t"))
        );
        assert_eq!(scope.table("public", "rooms"), TableAccess::Deny);
        let service = Scope::new(Some(route), None);
        assert_eq!(
            service.table("public", "messages"),
            TableAccess::Allow(filter("conversation_id=eq.c"))
        );
        assert_eq!(service.table("public", "rooms"), TableAccess::Deny);
    }
}
