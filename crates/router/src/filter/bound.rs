//! A [`Filter`] bound to one table layout, and its evaluation against
//! changes with SQL semantics.
//!
//! Binding resolves each column name to its index in the [`Relation`] and
//! turns each literal into a [`Datum`] of that column's type with
//! [`from_filter_text`], which is what Supabase's `literal::type` cast does.
//! It fails, with the text Supabase's subscription check raises, when a
//! column does not exist or a literal does not read as the column's type;
//! such a binding must never match (fail closed).
//!
//! Evaluation follows what Supabase's `is_visible_through_filters` computes
//! in SQL:
//! - INSERT and UPDATE test the new row, DELETE tests the old row (the
//!   replica identity: usually only the key columns); TRUNCATE never
//!   matches (Supabase does not deliver it).
//! - A filtered column absent from the tested row (a non-key column of a
//!   DELETE under REPLICA IDENTITY DEFAULT, an unchanged TOAST value) fails
//!   the whole filter: unknown is not visible.
//! - Each term is three-valued: a comparison with `NULL` is unknown, `not.`
//!   of unknown stays unknown, and only a true term passes. So `eq`, `neq`
//!   and their negations never match `NULL`; `is.null` and `isdistinct` do.

use std::borrow::Cow;
use std::cmp::Ordering;

use changes::value::from_filter_text;
use changes::{Change, ChangeKind, Datum, PgType, Relation, Row, TypeKind};

use super::{CompareOp, Filter, IsValue, LikePattern, Op, Term};

/// Why a filter cannot apply to a table. `Display` is the text of the
/// exception Supabase's `subscription_check_filters` raises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// No such column.
    #[error("invalid column for filter {column}")]
    UnknownColumn {
        /// The column named in the filter.
        column: String,
    },
    /// A literal that is not a value of the column's type (PostgreSQL's
    /// text for a failed cast).
    #[error("invalid input syntax for type {ty}: \"{literal}\"")]
    InvalidLiteral {
        /// The column type, as PostgreSQL names it.
        ty: String,
        /// The literal.
        literal: String,
    },
    /// `is.true`, `is.false` or `is.unknown` on a non-boolean column.
    #[error("is {value} filter requires a boolean column, got {ty}")]
    IsNeedsBoolean {
        /// The keyword.
        value: &'static str,
        /// The column type, as PostgreSQL names it.
        ty: String,
    },
    /// `like` / `ilike` on a column that is not text.
    #[error("operator {op} requires a text-compatible column type, got {ty}")]
    PatternNeedsText {
        /// `like` or `ilike`.
        op: &'static str,
        /// The column type, as PostgreSQL names it.
        ty: String,
    },
}

/// A filter resolved against one table layout.
#[derive(Debug, Clone)]
pub struct BoundFilter {
    /// OID of the relation it was bound to.
    relation_oid: u32,
    terms: Vec<BoundTerm>,
}

/// A term with its column index and typed literals.
#[derive(Debug, Clone)]
pub(crate) struct BoundTerm {
    pub(crate) column: usize,
    negate: bool,
    pub(crate) test: Test,
}

/// A term's test, literals typed.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    Compare(CompareOp, Datum),
    /// Elements may be [`Datum::Null`].
    In(Vec<Datum>),
    Like(LikePattern),
    Is(IsValue),
    IsDistinct(Datum),
}

impl Filter {
    /// Binds this filter to `relation`.
    pub fn bind(&self, relation: &Relation) -> Result<BoundFilter, BindError> {
        BoundFilter::bind(self.terms(), relation)
    }
}

impl BoundFilter {
    /// Binds `terms` (ANDed) to `relation`.
    pub fn bind<'a>(
        terms: impl IntoIterator<Item = &'a Term>,
        relation: &Relation,
    ) -> Result<Self, BindError> {
        let terms = terms
            .into_iter()
            .map(|term| bind_term(term, relation))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            relation_oid: relation.oid,
            terms,
        })
    }

    /// Whether `change` passes every term. `change` must be of the
    /// relation this filter was bound to (same OID; callers rebind when
    /// the layout changes); a change of another relation never matches.
    pub fn matches(&self, change: &Change) -> bool {
        if change.relation.oid != self.relation_oid {
            return false;
        }
        let row = match change.kind {
            ChangeKind::Insert | ChangeKind::Update => change.record.as_ref(),
            ChangeKind::Delete => change.old_record.as_ref(),
            ChangeKind::Truncate => return false,
        };
        if self.terms.is_empty() {
            return true;
        }
        row.is_some_and(|row| self.matches_row(row))
    }

    /// Whether `row` passes every term; an absent column fails.
    pub fn matches_row(&self, row: &Row) -> bool {
        self.terms.iter().all(|term| match row.get(term.column) {
            Some(value) => term.holds(value) == Some(true),
            None => false,
        })
    }

    /// The terms, for the subscription index.
    pub(crate) fn bound_terms(&self) -> &[BoundTerm] {
        &self.terms
    }

    /// Gives back the spare room the terms were collected with: the index
    /// keeps a bound filter for every binding, for as long as it lives.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.terms.shrink_to_fit();
    }

    /// This filter's terms, then `other`'s: both must hold. Both must be
    /// bound to the same relation.
    pub(crate) fn and(mut self, other: BoundFilter) -> Self {
        debug_assert_eq!(self.relation_oid, other.relation_oid);
        self.terms.extend(other.terms);
        self
    }
}

impl BoundTerm {
    /// The SQL truth value of this term for `value`: `None` is unknown.
    fn holds(&self, value: &Datum) -> Option<bool> {
        let result = self.test.holds(value)?;
        Some(result != self.negate)
    }

    /// Whether this term is a plain `eq` or `in` (not negated): a matching
    /// row's value is equal to one of these literals.
    pub(crate) fn equality_literals(&self) -> Option<&[Datum]> {
        if self.negate {
            return None;
        }
        match &self.test {
            Test::Compare(CompareOp::Eq, literal) => Some(std::slice::from_ref(literal)),
            Test::In(literals) => Some(literals),
            _ => None,
        }
    }
}

impl Test {
    fn holds(&self, value: &Datum) -> Option<bool> {
        match self {
            Test::Is(keyword) => Some(match keyword {
                IsValue::Null | IsValue::Unknown => matches!(value, Datum::Null),
                IsValue::True => matches!(value, Datum::Bool(true)),
                IsValue::False => matches!(value, Datum::Bool(false)),
            }),
            Test::IsDistinct(literal) => match value {
                Datum::Null => Some(true),
                value => Some(value.compare(literal)? != Ordering::Equal),
            },
            _ if matches!(value, Datum::Null) => None,
            Test::Compare(op, literal) => {
                let order = value.compare(literal)?;
                Some(match op {
                    CompareOp::Eq => order == Ordering::Equal,
                    CompareOp::Neq => order != Ordering::Equal,
                    CompareOp::Lt => order == Ordering::Less,
                    CompareOp::Lte => order != Ordering::Greater,
                    CompareOp::Gt => order == Ordering::Greater,
                    CompareOp::Gte => order != Ordering::Less,
                })
            }
            // `= ANY`: true on an equal element; else unknown if an element
            // was NULL or incomparable; else false.
            Test::In(literals) => {
                let mut unknown = false;
                for literal in literals {
                    match value.compare(literal) {
                        Some(Ordering::Equal) => return Some(true),
                        Some(_) => {}
                        None => unknown = true,
                    }
                }
                if unknown { None } else { Some(false) }
            }
            Test::Like(pattern) => match value {
                Datum::String(text) => Some(pattern.matches(text)),
                _ => None,
            },
        }
    }
}

fn bind_term(term: &Term, relation: &Relation) -> Result<BoundTerm, BindError> {
    let (column, ty) = relation
        .columns
        .iter()
        .enumerate()
        .find(|(_, column)| column.name == term.column)
        .map(|(index, column)| (index, &column.ty))
        .ok_or_else(|| BindError::UnknownColumn {
            column: term.column.to_string(),
        })?;
    let test = match &term.op {
        Op::Compare(op, literal) => Test::Compare(*op, typed_literal(ty, literal)?),
        Op::IsDistinct(literal) => Test::IsDistinct(typed_literal(ty, literal)?),
        Op::In(literals) => Test::In(
            literals
                .iter()
                .map(|literal| match literal {
                    Some(literal) => typed_literal(ty, literal),
                    None => Ok(Datum::Null),
                })
                .collect::<Result<_, _>>()?,
        ),
        Op::Like(pattern) => {
            if ty.kind != TypeKind::Text {
                return Err(BindError::PatternNeedsText {
                    op: if pattern.is_case_insensitive() {
                        "ilike"
                    } else {
                        "like"
                    },
                    ty: regtype_name(ty).into_owned(),
                });
            }
            Test::Like(pattern.clone())
        }
        Op::Is(keyword) => {
            if *keyword != IsValue::Null && ty.kind != TypeKind::Bool {
                return Err(BindError::IsNeedsBoolean {
                    value: keyword.as_str(),
                    ty: regtype_name(ty).into_owned(),
                });
            }
            Test::Is(*keyword)
        }
    };
    Ok(BoundTerm {
        column,
        negate: term.negate,
        test,
    })
}

/// `literal` as a value of `ty`, or the error PostgreSQL's cast would give.
fn typed_literal(ty: &PgType, literal: &str) -> Result<Datum, BindError> {
    let datum = from_filter_text(&ty.kind, literal);
    if reads_as(&ty.kind, &datum) {
        Ok(datum)
    } else {
        Err(BindError::InvalidLiteral {
            ty: regtype_name(ty).into_owned(),
            literal: literal.to_owned(),
        })
    }
}

/// Whether [`from_filter_text`] understood the literal as `kind`: it falls
/// back to a plain string when it did not. Kinds whose values are strings
/// anyway are checked by shape where a wrong literal would compare wrongly
/// (uuid, timestamps); other string kinds are taken as they are.
fn reads_as(kind: &TypeKind, datum: &Datum) -> bool {
    match (kind, datum) {
        (TypeKind::Bool, Datum::Bool(_)) | (TypeKind::Int, Datum::Int(_)) => true,
        (TypeKind::Bool | TypeKind::Int, _) => false,
        (TypeKind::Float | TypeKind::Numeric, Datum::Number(_)) => true,
        (TypeKind::Float | TypeKind::Numeric, Datum::String(special)) => {
            matches!(&**special, "NaN" | "Infinity" | "-Infinity")
        }
        (TypeKind::Float | TypeKind::Numeric, _) => false,
        (TypeKind::Uuid, Datum::String(text)) => is_canonical_uuid(text),
        (TypeKind::Timestamptz | TypeKind::Timestamp, Datum::String(text)) => {
            is_iso_timestamp(text)
        }
        (TypeKind::Uuid | TypeKind::Timestamptz | TypeKind::Timestamp, _) => false,
        (TypeKind::Array(_), datum) => matches!(datum, Datum::Array(_)),
        _ => true,
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lower-case hex.
fn is_canonical_uuid(text: &str) -> bool {
    text.len() == 36
        && text.bytes().enumerate().all(|(index, byte)| match index {
            8 | 13 | 18 | 23 => byte == b'-',
            _ => byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte),
        })
}

/// The forms `from_filter_text` produces for timestamps it read:
/// `YYYY-MM-DDTHH:MM:SS[.ffffff][+00:00][ BC]`, `infinity`, `-infinity`.
fn is_iso_timestamp(text: &str) -> bool {
    if matches!(text, "infinity" | "-infinity") {
        return true;
    }
    let text = text.strip_suffix(" BC").unwrap_or(text);
    let text = text.strip_suffix("+00:00").unwrap_or(text);
    let Some((date, time)) = text.split_once('T') else {
        return false;
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let mut date_parts = date.split('-');
    let date_ok = date_parts
        .next()
        .is_some_and(|year| year.len() >= 4 && digits(year))
        && date_parts
            .next()
            .is_some_and(|month| month.len() == 2 && digits(month))
        && date_parts
            .next()
            .is_some_and(|day| day.len() == 2 && digits(day))
        && date_parts.next().is_none();
    let (clock, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let clock_ok = clock.len() == 8
        && clock.split(':').count() == 3
        && clock.split(':').all(|part| part.len() == 2 && digits(part));
    date_ok && clock_ok && digits(fraction)
}

/// A type's name as PostgreSQL's `regtype` prints it (`integer`, not
/// `int4`), for error texts that Supabase builds with `col_type::text`.
pub(crate) fn regtype_name(ty: &PgType) -> Cow<'_, str> {
    if let Some(element) = ty.name.strip_prefix('_') {
        if matches!(ty.kind, TypeKind::Array(_)) {
            return Cow::Owned(format!("{}[]", sql_name(element)));
        }
    }
    Cow::Borrowed(sql_name(&ty.name))
}

fn sql_name(typname: &str) -> &str {
    match typname {
        "bool" => "boolean",
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "varchar" => "character varying",
        "bpchar" => "character",
        "char" => "\"char\"",
        "timestamptz" => "timestamp with time zone",
        "timestamp" => "timestamp without time zone",
        "timetz" => "time with time zone",
        "time" => "time without time zone",
        "varbit" => "bit varying",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regtype_names() {
        let name = |oid| regtype_name(&PgType::builtin(oid).expect("built in")).into_owned();
        assert_eq!(name(23), "integer");
        assert_eq!(name(1007), "integer[]");
        assert_eq!(name(1184), "timestamp with time zone");
        assert_eq!(name(2950), "uuid");
        assert_eq!(name(25), "text");
        assert_eq!(name(1020), "_box");
    }

    #[test]
    fn timestamp_shapes() {
        for ok in [
            "2025-11-03T09:32:55+00:00",
            "2025-11-03T09:32:55.123+00:00",
            "2025-11-03T09:32:55",
            "0044-03-15T00:00:00+00:00 BC",
            "infinity",
            "-infinity",
        ] {
            assert!(is_iso_timestamp(ok), "{ok}");
        }
        for bad in [
            "yesterday",
            "2025-11-03",
            "2025-11-03T9:32:55",
            "2025-1-03T09:32:55",
        ] {
            assert!(!is_iso_timestamp(bad), "{bad}");
        }
    }
}
