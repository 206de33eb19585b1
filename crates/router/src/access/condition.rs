//! Join conditions of `allow` rules: claim comparisons evaluated in memory
//! when a client joins a routed topic.
//!
//! ```text
//!  condition  = "true" | comparison { "&&" comparison }
//!  comparison = operand ( "==" | "!=" ) operand
//!  operand    = "{" param "}"          a param of the topic template
//!             | "claims." name {"." name}   a claim's string form
//!             | "'" text "'"           a literal (no quote inside)
//! ```
//!
//! Deliberately small: no `||`, no parentheses, no functions. A comparison
//! with a missing claim is false whatever the operator, so a token without
//! the claim a rule reads is denied, never let through by `!=`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::claims::ClaimsView;
use super::placeholder::{Placeholder, PlaceholderError, claim_path};
use super::template::TopicParams;

/// A parsed condition: comparisons that must all hold (none: `true`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Condition {
    comparisons: Vec<Comparison>,
}

#[derive(Debug, Clone)]
pub(crate) struct Comparison {
    left: Operand,
    equal: bool,
    right: Operand,
}

#[derive(Debug, Clone)]
enum Operand {
    Param(Arc<str>),
    Claim(Arc<str>),
    Literal(Box<str>),
}

/// Why a condition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// Nothing to evaluate.
    #[error("empty condition (write true to allow every token of the role)")]
    Empty,
    /// A token where another was expected.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the grammar wanted.
        expected: &'static str,
        /// What was there.
        found: String,
    },
    /// A `'` without its closing `'`.
    #[error("unterminated literal")]
    UnterminatedLiteral,
    /// A `{param}` that is not a param of the topic, or a bad name.
    #[error(transparent)]
    Placeholder(#[from] PlaceholderError),
    /// `{claims.x}`: claims are written without braces in conditions.
    #[error("write claims.{0} without braces")]
    BracedClaim(String),
    /// `'a' == 'b'`: decided before any token is seen.
    #[error("a comparison needs a param or a claim")]
    Constant,
}

/// Why a condition did not hold for a token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unmet<'a> {
    /// The token lacks this claim (path).
    MissingClaim(&'a str),
    /// This comparison is false.
    False(&'a Comparison),
}

impl Condition {
    /// Parses `text`; `{…}` must be one of `params`.
    pub(crate) fn parse(text: &str, params: &[Arc<str>]) -> Result<Self, ConditionError> {
        let mut lexer = Lexer { rest: text.trim() };
        if lexer.rest.is_empty() {
            return Err(ConditionError::Empty);
        }
        if lexer.rest == "true" {
            return Ok(Self::default());
        }
        let mut comparisons = Vec::new();
        loop {
            let left = lexer.operand(params)?;
            let equal = match lexer.token() {
                Some("==") => true,
                Some("!=") => false,
                found => return Err(unexpected("`==` or `!=`", found)),
            };
            let right = lexer.operand(params)?;
            if matches!((&left, &right), (Operand::Literal(_), Operand::Literal(_))) {
                return Err(ConditionError::Constant);
            }
            comparisons.push(Comparison { left, equal, right });
            match lexer.token() {
                None => return Ok(Self { comparisons }),
                Some("&&") => {}
                found => return Err(unexpected("`&&` or the end", found)),
            }
        }
    }

    /// Whether the condition holds for a join of a topic with `params` by
    /// a token with `claims`.
    pub(crate) fn check<'a>(
        &'a self,
        params: &TopicParams,
        claims: &ClaimsView<'_>,
    ) -> Result<(), Unmet<'a>> {
        for comparison in &self.comparisons {
            let value = |operand: &'a Operand| {
                operand.value(params, claims).ok_or(match operand {
                    Operand::Claim(path) => Unmet::MissingClaim(path),
                    // Validation only accepts the template's params, which
                    // a match always binds; were one absent, deny all the same.
                    Operand::Param(_) | Operand::Literal(_) => Unmet::False(comparison),
                })
            };
            let (left, right) = (value(&comparison.left)?, value(&comparison.right)?);
            if (left == right) != comparison.equal {
                return Err(Unmet::False(comparison));
            }
        }
        Ok(())
    }
}

impl Operand {
    fn value<'v>(
        &'v self,
        params: &'v TopicParams,
        claims: &ClaimsView<'v>,
    ) -> Option<Cow<'v, str>> {
        match self {
            Self::Param(name) => params
                .iter()
                .find(|(param, _)| param == name)
                .map(|(_, value)| Cow::Borrowed(value.as_str())),
            Self::Claim(path) => claims.text(path),
            Self::Literal(text) => Some(Cow::Borrowed(text)),
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.equal { "==" } else { "!=" };
        write!(f, "{} {op} {}", self.left, self.right)
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Param(name) => write!(f, "{{{name}}}"),
            Self::Claim(path) => write!(f, "claims.{path}"),
            Self::Literal(text) => write!(f, "'{text}'"),
        }
    }
}

fn unexpected(expected: &'static str, found: Option<&str>) -> ConditionError {
    ConditionError::Unexpected {
        expected,
        found: found.map_or_else(|| "the end".to_owned(), |token| format!("`{token}`")),
    }
}

/// Splits a condition into tokens: operators, `'…'`, and runs of other
/// characters (operands).
struct Lexer<'a> {
    rest: &'a str,
}

impl<'a> Lexer<'a> {
    fn token(&mut self) -> Option<&'a str> {
        let rest = self.rest.trim_start();
        if rest.is_empty() {
            self.rest = rest;
            return None;
        }
        let len = if ["==", "!=", "&&"].iter().any(|op| rest.starts_with(op)) {
            2
        } else if let Some(literal) = rest.strip_prefix('\'') {
            // Through the closing quote, or everything when there is none.
            literal.find('\'').map_or(rest.len(), |end| end + 2)
        } else {
            rest.find(|c: char| c.is_whitespace() || "=!&'".contains(c))
                .unwrap_or(rest.len())
                .max(1)
        };
        let (token, after) = rest.split_at(len.min(rest.len()));
        self.rest = after;
        Some(token)
    }

    fn operand(&mut self, params: &[Arc<str>]) -> Result<Operand, ConditionError> {
        let token = self.token();
        let Some(token) = token else {
            return Err(unexpected("an operand", None));
        };
        if let Some(literal) = token.strip_prefix('\'') {
            let text = literal
                .strip_suffix('\'')
                .ok_or(ConditionError::UnterminatedLiteral)?;
            return Ok(Operand::Literal(text.into()));
        }
        if let Some(inner) = token.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            if claim_path(inner).is_some() {
                return Err(ConditionError::BracedClaim(
                    inner.trim_start_matches("claims.").to_owned(),
                ));
            }
            return match Placeholder::parse(inner, params)? {
                Placeholder::Param(name) => Ok(Operand::Param(name)),
                Placeholder::Claim(path) => Ok(Operand::Claim(path)),
            };
        }
        if let Some(path) = claim_path(token) {
            return Ok(Operand::Claim(path.into()));
        }
        Err(unexpected("an operand", Some(token)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn holds(condition: &str, topic_id: &str, claims: Value) -> Result<(), String> {
        let condition =
            Condition::parse(condition, &["id".into()]).unwrap_or_else(|err| panic!("{err}"));
        let params = vec![(Arc::from("id"), topic_id.to_owned())];
        let claims = object(claims);
        condition
            .check(&params, &ClaimsView::new(&claims))
            .map_err(|unmet| match unmet {
                Unmet::MissingClaim(path) => format!("missing {path}"),
                Unmet::False(comparison) => format!("false: {comparison}"),
            })
    }

    fn error(condition: &str) -> String {
        match Condition::parse(condition, &["id".into()]) {
            Ok(parsed) => panic!("{condition} accepted: {parsed:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn evaluates_comparisons() {
        let rule = "{id} == claims.conversation_id";
        assert_eq!(holds(rule, "c1", json!({"conversation_id": "c1"})), Ok(()));
        assert_eq!(
            holds(rule, "c2", json!({"conversation_id": "c1"})),
            Err("false: {id} == claims.conversation_id".into())
        );
        assert_eq!(
            holds(rule, "c1", json!({})),
            Err("missing conversation_id".into())
        );
        // Numbers compare by their string form.
        assert_eq!(holds(rule, "42", json!({"conversation_id": 42})), Ok(()));
        // Booleans have no string form: missing.
        assert!(holds("claims.x == 'true'", "1", json!({"x": true})).is_err());

        let tenant = "claims.tenant_id != '' && claims.app.kind == 'agent'";
        assert_eq!(
            holds(
                tenant,
                "1",
                json!({"tenant_id": "t", "app": {"kind": "agent"}})
            ),
            Ok(())
        );
        assert_eq!(
            holds(
                tenant,
                "1",
                json!({"tenant_id": "", "app": {"kind": "agent"}})
            ),
            Err("false: claims.tenant_id != ''".into())
        );
        // `!=` with a missing claim is false too.
        assert_eq!(
            holds("claims.tenant_id != 'x'", "1", json!({})),
            Err("missing tenant_id".into())
        );
        assert_eq!(holds("true", "1", json!({})), Ok(()));
        assert_eq!(holds("  {id}=='a b'  ", "a b", json!({})), Ok(()));
    }

    #[test]
    fn refuses_malformed_conditions() {
        assert_eq!(
            error(""),
            "empty condition (write true to allow every token of the role)"
        );
        assert_eq!(error("{conv} == claims.x"), "unknown placeholder {conv}");
        assert_eq!(error("{claims.x} == {id}"), "write claims.x without braces");
        assert_eq!(error("{id} = claims.x"), "expected `==` or `!=`, found `=`");
        assert_eq!(error("{id} == "), "expected an operand, found the end");
        assert_eq!(
            error("{id} == claims.x || true"),
            "expected `&&` or the end, found `||`"
        );
        assert_eq!(error("{id} == 'x"), "unterminated literal");
        assert_eq!(
            error("{id} == tenant_id"),
            "expected an operand, found `tenant_id`"
        );
        assert_eq!(error("'a' == 'a'"), "a comparison needs a param or a claim");
        assert_eq!(
            error("true && {id} == 'x'"),
            "expected an operand, found `true`"
        );
    }
}
