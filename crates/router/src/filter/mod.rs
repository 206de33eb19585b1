//! Filters of `postgres_changes` bindings: the `filter` string a client
//! sends (`room_id=eq.42`, `status=not.in.(closed,spam),title=ilike.%urgent%`)
//! parsed into terms that are ANDed.
//!
//! ```text
//!  "col=op.value,…" ──Filter::parse──▶ Filter { terms }      (no table needed)
//!                                          │ bind(&Relation): column → index,
//!                                          │ literal → Datum of the column type
//!                                          ▼
//!                                      BoundFilter ──matches(&Change)──▶ bool
//! ```
//!
//! The grammar and the error texts are Supabase Realtime's
//! (`lib/extensions/postgres_cdc_rls/subscriptions.ex`, newest parser):
//! terms are `column=[not.]op.value`; ops `eq neq lt lte gt gte in like
//! ilike is isdistinct`; `in.(a,b,"c,d")` holds at most 100 values; a value
//! may be PostgREST-quoted (`eq."a,b"`); an empty or blank filter is no
//! filter. `match` and `imatch` (POSIX regular expressions) are parsed but
//! refused: walcast has no POSIX regex engine and will not guess.
//!
//! Literals stay text until the filter is bound to a table, because their
//! meaning depends on the column type (`9 < 10` for `int4`, `"10" < "9"`
//! for `text`); see [`BoundFilter`].

mod bound;
mod like;
mod syntax;

use std::sync::Arc;

pub use bound::{BindError, BoundFilter};
pub use like::LikePattern;

use crate::inspect;

/// Most values an `in` list may hold (Supabase's limit).
pub const MAX_IN_VALUES: usize = 100;

/// A parsed filter: terms that must all hold. The empty filter matches
/// every row. The terms are a boxed slice, not a `Vec`: every binding in
/// the index holds a filter, so a word less is per-connection memory
/// (BENCHMARKS.md, B4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    terms: Box<[Term]>,
}

/// One `column=[not.]op.value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Column name, as written.
    pub column: Arc<str>,
    /// `not.` prefix: the SQL `NOT` of the test (still unknown on `NULL`).
    pub negate: bool,
    /// The test.
    pub op: Op,
}

/// What a term tests. Literals are kept as text until bound to a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `eq`, `neq`, `lt`, `lte`, `gt`, `gte` against a literal.
    Compare(CompareOp, String),
    /// `in.(…)`: equal to one of the values; `None` is an SQL `NULL` element.
    In(Vec<Option<String>>),
    /// `like` / `ilike`.
    Like(LikePattern),
    /// `is.null`, `is.true`, `is.false`, `is.unknown`.
    Is(IsValue),
    /// `isdistinct`: SQL `IS DISTINCT FROM` (a `NULL`-safe `neq`).
    IsDistinct(String),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `<>`
    Neq,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
}

/// The keyword of an `is` term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsValue {
    /// `IS NULL`: any column type.
    Null,
    /// `IS TRUE`: boolean columns.
    True,
    /// `IS FALSE`: boolean columns.
    False,
    /// `IS UNKNOWN` (`NULL`): boolean columns.
    Unknown,
}

impl IsValue {
    /// The keyword as written in a filter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::True => "true",
            Self::False => "false",
            Self::Unknown => "unknown",
        }
    }
}

/// Why a filter string was refused. `Display` is Supabase's reason text;
/// [`crate::BindingError`] adds the ``Error parsing `filter` params: ``
/// prefix where Supabase's parser would.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Two commas in a row, or a trailing comma.
    #[error("filter must not contain empty segments (check for extra commas)")]
    EmptySegment,
    /// A term without `=` (Supabase inspects the term: `["undefined"]`).
    #[error("{}", inspect::string_list(&[.term]))]
    MissingEquals {
        /// The term.
        term: String,
    },
    /// No `.` between operator and value (`id=eq` → `["eq"]`).
    #[error("{}", inspect::string_list(&[.op_and_value]))]
    MissingOperator {
        /// What follows `=` (and `not.`).
        op_and_value: String,
    },
    /// An operator Supabase does not know (`["foo", "hey"]`).
    #[error("{}", inspect::string_list(&[.op, .value]))]
    UnknownOperator {
        /// The operator.
        op: String,
        /// The value after it.
        value: String,
    },
    /// `match` / `imatch`: known to Supabase, not supported by walcast.
    #[error("`{op}` filters (regular expressions) are not supported")]
    RegexUnsupported {
        /// `match` or `imatch`.
        op: &'static str,
    },
    /// `in` without `(…)`.
    #[error("`in` filter value must be wrapped by parentheses")]
    InNotParenthesized,
    /// The in-list is not a valid array literal (PostgreSQL's text).
    #[error("malformed array literal: \"{{{list}}}\"")]
    MalformedInList {
        /// What was inside the parentheses.
        list: String,
    },
    /// More than [`MAX_IN_VALUES`] values.
    #[error("too many values for `in` filter. Maximum 100")]
    TooManyInValues,
    /// `is` with something other than its four keywords.
    #[error("invalid value for is filter: must be null, true, false, or unknown")]
    InvalidIsValue,
    /// A `like` pattern ending in `\` (PostgreSQL's text).
    #[error("LIKE pattern must not end with escape character")]
    LikeTrailingEscape,
}

impl FilterError {
    /// Whether Supabase reports this from its filter parser (with the
    /// ``Error parsing `filter` params: `` prefix), rather than from the
    /// database when the subscription row is checked.
    pub fn is_syntax(&self) -> bool {
        matches!(
            self,
            Self::EmptySegment
                | Self::MissingEquals { .. }
                | Self::MissingOperator { .. }
                | Self::UnknownOperator { .. }
                | Self::InNotParenthesized
        )
    }
}

impl Filter {
    /// A filter of these terms (all must hold).
    pub fn new(terms: Vec<Term>) -> Self {
        Self {
            terms: terms.into_boxed_slice(),
        }
    }

    /// Parses a `filter` string. Blank means no filter.
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self::default());
        }
        let terms = syntax::split_top_level(text)
            .into_iter()
            .map(Term::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(terms))
    }

    /// The terms.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Whether there are no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// This filter ANDed with `other`.
    pub fn and(self, other: Filter) -> Self {
        if other.terms.is_empty() {
            return self;
        }
        let mut terms = self.terms.into_vec();
        terms.extend(other.terms);
        Self::new(terms)
    }
}

impl Term {
    /// `column = [not] op`.
    pub fn new(column: impl Into<Arc<str>>, negate: bool, op: Op) -> Self {
        Self {
            column: column.into(),
            negate,
            op,
        }
    }

    /// `column=eq.literal`.
    pub fn eq(column: impl Into<Arc<str>>, literal: impl Into<String>) -> Self {
        Self::new(column, false, Op::Compare(CompareOp::Eq, literal.into()))
    }

    /// Parses one `column=[not.]op.value` segment (untrimmed).
    fn parse(segment: &str) -> Result<Self, FilterError> {
        let segment = segment.trim();
        if segment.is_empty() {
            return Err(FilterError::EmptySegment);
        }
        let Some((column, rest)) = segment.split_once('=') else {
            return Err(FilterError::MissingEquals {
                term: segment.to_owned(),
            });
        };
        let (negate, op_and_value) = match rest.strip_prefix("not.") {
            Some(op_and_value) => (true, op_and_value),
            None => (false, rest),
        };
        let Some((op, value)) = op_and_value.split_once('.') else {
            return Err(FilterError::MissingOperator {
                op_and_value: op_and_value.to_owned(),
            });
        };
        Ok(Self::new(column, negate, Op::parse(op, value)?))
    }
}

impl Op {
    fn parse(op: &str, value: &str) -> Result<Self, FilterError> {
        let compare = |op| Ok(Op::Compare(op, syntax::unquote(value)));
        match op {
            "eq" => compare(CompareOp::Eq),
            "neq" => compare(CompareOp::Neq),
            "lt" => compare(CompareOp::Lt),
            "lte" => compare(CompareOp::Lte),
            "gt" => compare(CompareOp::Gt),
            "gte" => compare(CompareOp::Gte),
            "in" => parse_in(value),
            "like" | "ilike" => LikePattern::compile(&syntax::unquote(value), op == "ilike")
                .map(Op::Like)
                .map_err(|_| FilterError::LikeTrailingEscape),
            "is" => match syntax::unquote(value).as_str() {
                "null" => Ok(Op::Is(IsValue::Null)),
                "true" => Ok(Op::Is(IsValue::True)),
                "false" => Ok(Op::Is(IsValue::False)),
                "unknown" => Ok(Op::Is(IsValue::Unknown)),
                _ => Err(FilterError::InvalidIsValue),
            },
            "isdistinct" => Ok(Op::IsDistinct(syntax::unquote(value))),
            "match" => Err(FilterError::RegexUnsupported { op: "match" }),
            "imatch" => Err(FilterError::RegexUnsupported { op: "imatch" }),
            _ => Err(FilterError::UnknownOperator {
                op: op.to_owned(),
                value: value.to_owned(),
            }),
        }
    }
}

/// `(a,b,"c,d")` → the list, read as the array literal `{a,b,"c,d"}`.
fn parse_in(value: &str) -> Result<Op, FilterError> {
    let body = value
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or(FilterError::InNotParenthesized)?;
    let values = syntax::array_elements(body).map_err(|_| FilterError::MalformedInList {
        list: body.to_owned(),
    })?;
    if values.len() > MAX_IN_VALUES {
        return Err(FilterError::TooManyInValues);
    }
    Ok(Op::In(values))
}

#[cfg(test)]
mod tests;
