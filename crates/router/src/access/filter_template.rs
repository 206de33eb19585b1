//! Filters with placeholders (`conversation_id=eq.{id}`,
//! `tenant_id=in.({claims.tenant_id})`), parsed once at startup with the
//! client filter grammar and filled per join with whole literal values.
//!
//! ```text
//!  "a=eq.{id},b=in.({claims.t})"
//!     │ mark: each {…} checked, then written as U+E000 name U+E001
//!     ▼
//!  Filter::parse  (the same grammar and errors as client filters)
//!     │ check: a marker must be a whole eq/neq/lt/lte/gt/gte/isdistinct
//!     │        value or a whole in-list element; never in a column or pattern
//!     ▼
//!  FilterTemplate ──fill(values)──▶ Filter   (markers replaced in the parsed terms)
//! ```
//!
//! The markers are private-use characters a config may not contain, so a
//! marker can only come from a placeholder. Filling replaces a parsed
//! literal with the value, so a value containing `,`, `)` or `{claims.x}`
//! is a literal and nothing else.

use std::sync::Arc;

use super::placeholder::{Placeholder, PlaceholderError, claim_path};
use crate::filter::{Filter, FilterError, Op, Term};

/// Opens a marked placeholder.
const OPEN: char = '\u{E000}';
/// Closes a marked placeholder.
const CLOSE: char = '\u{E001}';

/// A parsed filter whose literals may be placeholders.
#[derive(Debug, Clone, Default)]
pub(crate) struct FilterTemplate {
    /// Placeholders appear as marked literals.
    filter: Filter,
}

/// Why a filter with placeholders was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterTemplateError {
    /// A placeholder is malformed, unknown or not a whole value.
    #[error(transparent)]
    Placeholder(#[from] PlaceholderError),
    /// The filter does not parse (the client filter errors).
    #[error("{0}")]
    Filter(FilterError),
    /// `{x}=eq.1`.
    #[error("a placeholder may not name a column (\"{0}\")")]
    Column(String),
    /// `name=like.{x}%`.
    #[error("placeholders may not stand in a like or ilike pattern")]
    Pattern,
    /// The text holds one of the characters that mark placeholders.
    #[error("reserved character U+{0:04X}")]
    Reserved(u32),
}

impl FilterTemplate {
    /// Parses `text`; placeholders may name `params` or claims.
    pub(crate) fn parse(text: &str, params: &[Arc<str>]) -> Result<Self, FilterTemplateError> {
        if let Some(reserved) = text.chars().find(|c| matches!(*c, OPEN | CLOSE)) {
            return Err(FilterTemplateError::Reserved(u32::from(reserved)));
        }
        let marked = mark(text, params)?;
        let filter = Filter::parse(&marked)
            .map_err(|err| FilterTemplateError::Filter(restore_error(err)))?;
        for term in filter.terms() {
            if term.column.contains(OPEN) {
                return Err(FilterTemplateError::Column(restore(&term.column)));
            }
            match &term.op {
                Op::Compare(_, literal) | Op::IsDistinct(literal) => check_literal(literal)?,
                Op::In(literals) => {
                    for literal in literals.iter().flatten() {
                        check_literal(literal)?;
                    }
                }
                Op::Like(pattern) if pattern.has_literal(OPEN) => {
                    return Err(FilterTemplateError::Pattern);
                }
                Op::Like(_) | Op::Is(_) => {}
            }
        }
        Ok(Self { filter })
    }

    /// The filter with every placeholder replaced by `resolve`'s value;
    /// `None` when a value is missing.
    pub(crate) fn fill(
        &self,
        mut resolve: impl FnMut(&Placeholder) -> Option<String>,
    ) -> Option<Filter> {
        let mut literal = |text: &String| match marked_name(text) {
            Some(name) => resolve(&placeholder_of(name)),
            None => Some(text.clone()),
        };
        let terms = self
            .filter
            .terms()
            .iter()
            .map(|term| {
                let op = match &term.op {
                    Op::Compare(op, text) => Op::Compare(*op, literal(text)?),
                    Op::IsDistinct(text) => Op::IsDistinct(literal(text)?),
                    Op::In(texts) => Op::In(
                        texts
                            .iter()
                            .map(|text| match text {
                                // SQL NULL stays NULL.
                                None => Some(None),
                                Some(text) => literal(text).map(Some),
                            })
                            .collect::<Option<_>>()?,
                    ),
                    op @ (Op::Like(_) | Op::Is(_)) => op.clone(),
                };
                Some(Term::new(Arc::clone(&term.column), term.negate, op))
            })
            .collect::<Option<_>>()?;
        Some(Filter::new(terms))
    }
}

/// `text` with each `{…}` checked and replaced by its marked form.
fn mark(text: &str, params: &[Arc<str>]) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(['{', '}']) {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let inner_and_rest = from.strip_prefix('{').ok_or(PlaceholderError::StrayBrace)?;
        let (inner, after) = inner_and_rest
            .split_once('}')
            .ok_or(PlaceholderError::Unclosed)?;
        if inner.contains('{') {
            return Err(PlaceholderError::Unclosed);
        }
        Placeholder::parse(inner, params)?;
        out.push(OPEN);
        out.push_str(inner);
        out.push(CLOSE);
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// A literal that holds a marker must be exactly one marked placeholder.
fn check_literal(literal: &str) -> Result<(), PlaceholderError> {
    if literal.contains(OPEN) && marked_name(literal).is_none() {
        return Err(PlaceholderError::NotWhole(restore(literal)));
    }
    Ok(())
}

/// The name inside a literal that is exactly one marked placeholder.
fn marked_name(literal: &str) -> Option<&str> {
    let name = literal.strip_prefix(OPEN)?.strip_suffix(CLOSE)?;
    (!name.contains([OPEN, CLOSE])).then_some(name)
}

/// The placeholder of a name [`mark`] checked.
fn placeholder_of(name: &str) -> Placeholder {
    match claim_path(name) {
        Some(path) => Placeholder::Claim(path.into()),
        None => Placeholder::Param(name.into()),
    }
}

/// Marked text as the config wrote it.
fn restore(text: &str) -> String {
    text.replace(OPEN, "{").replace(CLOSE, "}")
}

/// A parse error with the config's spelling in its texts.
fn restore_error(err: FilterError) -> FilterError {
    match err {
        FilterError::MissingEquals { term } => FilterError::MissingEquals {
            term: restore(&term),
        },
        FilterError::MissingOperator { op_and_value } => FilterError::MissingOperator {
            op_and_value: restore(&op_and_value),
        },
        FilterError::UnknownOperator { op, value } => FilterError::UnknownOperator {
            op: restore(&op),
            value: restore(&value),
        },
        FilterError::MalformedInList { list } => FilterError::MalformedInList {
            list: restore(&list),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::CompareOp;

    fn params() -> Vec<Arc<str>> {
        vec!["id".into()]
    }

    fn error(text: &str) -> String {
        match FilterTemplate::parse(text, &params()) {
            Ok(template) => panic!("{text} accepted: {template:?}"),
            Err(err) => err.to_string(),
        }
    }

    fn fill(text: &str, values: &[(&str, &str)]) -> Option<Filter> {
        let template = FilterTemplate::parse(text, &params()).expect("valid");
        template.fill(|placeholder| {
            let name = placeholder.to_string();
            values
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn refuses_what_is_not_a_whole_value() {
        assert_eq!(error("a=eq.{conv}"), "unknown placeholder {conv}");
        assert_eq!(error("a=eq.{a b}"), "invalid placeholder {a b}");
        assert_eq!(error("a=eq.{id"), "unclosed `{`");
        assert_eq!(error("a=eq.id}"), "`}` without `{`");
        assert_eq!(
            error("a=eq.x{id}"),
            "\"x{id}\": a placeholder must be the whole value"
        );
        assert_eq!(
            error("a=in.({id}x,2)"),
            "\"{id}x\": a placeholder must be the whole value"
        );
        assert_eq!(
            error("{id}=eq.1"),
            "a placeholder may not name a column (\"{id}\")"
        );
        assert_eq!(
            error("a=like.{id}%"),
            "placeholders may not stand in a like or ilike pattern"
        );
        assert_eq!(error("a=eq.\u{e000}"), "reserved character U+E000");
        assert_eq!(error("a=zz.{id}"), r#"["zz", "{id}"]"#);
        assert_eq!(
            error("a=is.{id}"),
            "invalid value for is filter: must be null, true, false, or unknown"
        );
    }

    #[test]
    fn fills_whole_literals_only() {
        let filled = fill(
            "a=eq.{id},b=in.({claims.x}),c=isdistinct.\"{id}\",d=is.null",
            &[("{id}", "1"), ("{claims.x}", "x),id=neq.(")],
        )
        .expect("all values");
        assert_eq!(
            filled.terms(),
            [
                Term::eq("a", "1"),
                Term::new("b", false, Op::In(vec![Some("x),id=neq.(".into())])),
                Term::new("c", false, Op::IsDistinct("1".into())),
                Term::new("d", false, Op::Is(crate::filter::IsValue::Null)),
            ]
        );
        // A value that looks like a placeholder or a filter is a literal.
        let filled =
            fill("a=neq.{claims.x}", &[("{claims.x}", "{claims.y},b=eq.1")]).expect("value");
        assert_eq!(
            filled.terms(),
            [Term::new(
                "a",
                false,
                Op::Compare(CompareOp::Neq, "{claims.y},b=eq.1".into())
            )]
        );
        assert_eq!(fill("a=eq.{claims.missing}", &[]), None);
        assert!(fill("", &[]).expect("empty").is_empty());
    }
}
