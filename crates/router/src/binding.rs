//! One `postgres_changes` binding of a channel join, as realtime-js sends it
//! in `config.postgres_changes`:
//!
//! ```json
//! {"event": "INSERT", "schema": "public", "table": "todos", "filter": "id=eq.1"}
//! ```
//!
//! validated the way Supabase Realtime's `parse_subscription_params`
//! validates it (same cases, same error texts), and given the id the join
//! reply echoes. realtime-js compares the echoed objects with its own
//! field by field and routes events by id; the gateway echoes the client's
//! own object (its `protocol::join`), so a [`Binding`] keeps only what
//! matching needs. One lives in the index for every joined channel, so
//! its size is per-connection memory (BENCHMARKS.md, B4): a copy of the
//! client's map alone cost more than 600 bytes.
//!
//! Ids: Supabase uses `:erlang.phash2(params)`, a hash of the client's map
//! in `0..2^27`. walcast hashes the map's canonical JSON (keys sorted) with
//! FNV-1a into `1..2^27`: deterministic for identical params, never 0
//! (realtime-js ignores a binding whose id is falsy), and small enough for
//! every SDK's integer type. Two different bindings of one channel share an
//! id with probability 2^-27, as on Supabase.

use std::num::NonZeroU32;
use std::sync::{Arc, LazyLock};

use changes::ChangeKind;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::access::{Scope, TableAccess};
use crate::filter::{Filter, FilterError};
use crate::inspect;

/// The id the server gives a binding, echoed in the join reply and listed
/// in each event's `ids`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BindingId(NonZeroU32);

impl BindingId {
    /// Ids stay below this, like `phash2`'s default range.
    const RANGE: u32 = 1 << 27;

    /// The id of the params object a client sent (also for params that
    /// do not validate: the join reply still echoes them with an id).
    pub fn of(params: &Map<String, Value>) -> Self {
        // serde_json's map is sorted by key, so this text is canonical (and
        // serializing a map of JSON values cannot fail). It is hashed as it
        // is written, never held.
        let mut hash = Fnv1a(0xcbf2_9ce4_8422_2325);
        let _ = serde_json::to_writer(&mut hash, params);
        let offset = u32::try_from(hash.0 % u64::from(Self::RANGE - 1)).unwrap_or(0);
        Self(NonZeroU32::MIN.saturating_add(offset))
    }

    /// The id as a number.
    pub fn get(self) -> u32 {
        self.0.get()
    }
}

/// 64-bit FNV-1a over the bytes written to it.
struct Fnv1a(u64);

impl std::io::Write for Fnv1a {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 = bytes.iter().fold(self.0, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Serialize for BindingId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.get())
    }
}

/// Which row events a binding wants. Supabase upper-cases `event`; any
/// other value, or none, means every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventFilter {
    /// `*`: INSERT, UPDATE and DELETE.
    All,
    /// `INSERT`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
}

impl EventFilter {
    fn from_param(event: Option<&Value>) -> Self {
        match event.and_then(Value::as_str).map(str::to_ascii_uppercase) {
            Some(event) if event == "INSERT" => Self::Insert,
            Some(event) if event == "UPDATE" => Self::Update,
            Some(event) if event == "DELETE" => Self::Delete,
            _ => Self::All,
        }
    }

    /// Whether a change of `kind` is wanted. TRUNCATE never is: Supabase
    /// does not deliver it.
    pub fn accepts(self, kind: ChangeKind) -> bool {
        match (self, kind) {
            (_, ChangeKind::Truncate) => false,
            (Self::All, _) => true,
            (Self::Insert, ChangeKind::Insert)
            | (Self::Update, ChangeKind::Update)
            | (Self::Delete, ChangeKind::Delete) => true,
            _ => false,
        }
    }
}

/// A schema or table name, or `*` for all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// `*`.
    Any,
    /// Exactly this name.
    Name(Arc<str>),
}

impl Selector {
    fn from_name(name: &str) -> Self {
        if name == "*" {
            Self::Any
        } else {
            Self::Name(name.into())
        }
    }

    /// Whether `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Name(own) => **own == *name,
        }
    }
}

/// Why a binding was refused. `Display` is Supabase's text; Supabase sends
/// it as a `system` message (`extension: "postgres_changes"`, `status:
/// "error"`) and keeps the channel; a join that waits for its
/// subscriptions replies `"RealtimeDisabledForConfiguration: <text>"`
/// instead (see [`BindingError::CODE`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// Neither a usable `schema` nor `table` (Supabase inspects the params,
    /// or prints `<redacted>` when they carry a token).
    #[error(
        "No subscription params provided. Please provide at least a `schema` or `table` to subscribe to: {0}"
    )]
    MissingParams(String),
    /// The filter string does not parse.
    #[error("Error parsing `filter` params: {0}")]
    FilterSyntax(FilterError),
    /// The filter parses but a value is refused (in-list size or form,
    /// `is` keyword, pattern).
    #[error("{0}")]
    FilterValue(FilterError),
    /// `select` is a string, not a list.
    #[error(
        "Error parsing `select` params: expected a list of column name strings, e.g. select: [\"col1\", \"col2\"]"
    )]
    SelectNotList,
    /// `select` with a wildcard schema or table.
    #[error(
        "Column selection is not supported for wildcard subscriptions. Provide an explicit schema and table name."
    )]
    SelectOnWildcard,
}

impl BindingError {
    /// The code Supabase puts before the text in a join error reply.
    pub const CODE: &'static str = "RealtimeDisabledForConfiguration";

    /// `"<CODE>: <text>"`, the reason of a join error reply.
    pub fn join_reason(&self) -> String {
        format!("{}: {self}", Self::CODE)
    }
}

impl From<FilterError> for BindingError {
    fn from(err: FilterError) -> Self {
        if err.is_syntax() {
            Self::FilterSyntax(err)
        } else {
            Self::FilterValue(err)
        }
    }
}

/// The scope of a binding no access rule narrowed, shared by all of them.
static UNRESTRICTED: LazyLock<Arc<Scope>> = LazyLock::new(|| Arc::new(Scope::unrestricted()));

/// A validated `postgres_changes` binding.
#[derive(Debug, Clone)]
pub struct Binding {
    id: BindingId,
    event: EventFilter,
    schema: Selector,
    table: Selector,
    filter: Filter,
    /// Boxed, not a `Vec`: a binding lives in the index for every joined
    /// channel (BENCHMARKS.md, B4).
    select: Option<Box<[Arc<str>]>>,
    /// What the channel may see of each table (route and row policies),
    /// ANDed in per table by the index; never echoed.
    scope: Arc<Scope>,
}

impl Binding {
    /// Validates one element of `config.postgres_changes`.
    pub fn from_params(params: &Value) -> Result<Self, BindingError> {
        let Value::Object(map) = params else {
            return Err(BindingError::MissingParams(inspect::json(params)));
        };
        Self::from_object(map)
    }

    /// [`Binding::from_params`] of an object's fields.
    pub fn from_object(map: &Map<String, Value>) -> Result<Self, BindingError> {
        let select = match map.get("select") {
            Some(Value::Array(columns)) => {
                let names: Vec<Arc<str>> = columns
                    .iter()
                    .filter_map(Value::as_str)
                    .map(Arc::from)
                    .collect();
                (!names.is_empty()).then(|| names.into_boxed_slice())
            }
            Some(Value::String(_)) => return Err(BindingError::SelectNotList),
            _ => None,
        };
        let text = |key: &str| map.get(key).and_then(Value::as_str);
        let has = |key: &str| map.contains_key(key);
        // Supabase's clauses, in its order.
        let (schema, table, filter) = match (text("schema"), text("table"), text("filter")) {
            (Some(schema), Some(table), Some(filter)) => (schema, table, Filter::parse(filter)?),
            (Some(schema), Some(table), None) if !has("filter") => {
                (schema, table, Filter::default())
            }
            (Some(schema), None, None) if !has("table") && !has("filter") => {
                (schema, "*", Filter::default())
            }
            (None, Some(table), None) if !has("schema") && !has("filter") => {
                ("public", table, Filter::default())
            }
            _ if has("user_token") || has("auth_token") => {
                return Err(BindingError::MissingParams("<redacted>".into()));
            }
            _ => {
                let params = Value::Object(map.clone());
                return Err(BindingError::MissingParams(inspect::json(&params)));
            }
        };
        let (schema, table) = (Selector::from_name(schema), Selector::from_name(table));
        if select.is_some() && (schema == Selector::Any || table == Selector::Any) {
            return Err(BindingError::SelectOnWildcard);
        }
        Ok(Self {
            id: BindingId::of(map),
            event: EventFilter::from_param(map.get("event")),
            schema,
            table,
            filter,
            select,
            scope: Arc::clone(&UNRESTRICTED),
        })
    }

    /// The binding under `scope`, the channel's access (see
    /// [`JoinGrant::scope`](crate::JoinGrant::scope)); replaces any earlier
    /// scope. For each table the binding selects, the index ANDs the
    /// scope's filter for that table into the client's, or never matches
    /// the table when the scope denies it.
    pub fn scoped(mut self, scope: Arc<Scope>) -> Self {
        self.scope = scope;
        self
    }

    /// The id echoed in the join reply.
    pub fn id(&self) -> BindingId {
        self.id
    }

    /// The events wanted.
    pub fn event(&self) -> EventFilter {
        self.event
    }

    /// The schema selected.
    pub fn schema(&self) -> &Selector {
        &self.schema
    }

    /// The table selected.
    pub fn table(&self) -> &Selector {
        &self.table
    }

    /// The schema and table selectors, for the index to share its own
    /// copies of the names.
    pub(crate) fn selectors_mut(&mut self) -> (&mut Selector, &mut Selector) {
        (&mut self.schema, &mut self.table)
    }

    /// The client's filter.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The channel's access, set by [`Binding::scoped`] (unrestricted
    /// until then).
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Every term a row of `schema.table` must pass: the client's filter,
    /// then the scope's for that table; `None` when the scope denies the
    /// table.
    pub fn terms_for(&self, schema: &str, table: &str) -> Option<Filter> {
        match self.scope.table(schema, table) {
            TableAccess::Deny => None,
            TableAccess::Allow(scope) => Some(self.filter.clone().and(scope)),
        }
    }

    /// `select`: the columns the client asked for, when it narrowed them.
    /// Validated like Supabase does; narrowing the record is the encoder's
    /// job, not the router's.
    pub fn selected_columns(&self) -> Option<&[Arc<str>]> {
        self.select.as_deref()
    }

    /// Whether this binding can match changes of `schema.table`.
    pub fn selects(&self, schema: &str, table: &str) -> bool {
        self.schema.matches(schema) && self.table.matches(table)
    }
}

#[cfg(test)]
mod tests;
