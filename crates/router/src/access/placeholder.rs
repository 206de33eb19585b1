//! Placeholders: the `{id}` (a topic param) and `{claims.tenant_id}` (a token
//! claim) that route filters, SQL params and row policies use.
//!
//! A placeholder always stands for one whole value and is resolved to a
//! plain string after the text around it has been parsed, never spliced
//! into text that is parsed again: a claim such as `a,b)` or
//! `x,tenant_id=neq.0` stays one literal and cannot change the structure of
//! a filter, and a value that itself reads `{claims.x}` is not resolved
//! again. Validation checks every name against the route's topic params,
//! so a typo fails at startup rather than denying every join.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::claims::ClaimsView;

/// One `{…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placeholder {
    /// `{name}`: a param of the topic template.
    Param(Arc<str>),
    /// `{claims.path}`: a claim, by dotted path.
    Claim(Arc<str>),
}

/// Why a placeholder (or the text around one) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    /// `{}` or `{a b}`: not a name nor `claims.path`.
    #[error("invalid placeholder {{{0}}}")]
    Invalid(String),
    /// A name that is not a param of the topic template.
    #[error("unknown placeholder {{{0}}}")]
    Unknown(String),
    /// A `{` without its `}`.
    #[error("unclosed `{{`")]
    Unclosed,
    /// A `}` without a `{`.
    #[error("`}}` without `{{`")]
    StrayBrace,
    /// Text around a placeholder (`x{id}`): placeholders stand for whole
    /// values only.
    #[error("\"{0}\": a placeholder must be the whole value")]
    NotWhole(String),
}

/// `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

/// `claims.` followed by identifiers joined by `.`: the path without the
/// prefix.
pub(crate) fn claim_path(text: &str) -> Option<&str> {
    let path = text.strip_prefix("claims.")?;
    path.split('.').all(is_identifier).then_some(path)
}

impl Placeholder {
    /// Parses the inside of `{…}`, checking params against `params`.
    pub(crate) fn parse(inner: &str, params: &[Arc<str>]) -> Result<Self, PlaceholderError> {
        if let Some(path) = claim_path(inner) {
            return Ok(Self::Claim(path.into()));
        }
        if !is_identifier(inner) {
            return Err(PlaceholderError::Invalid(inner.to_owned()));
        }
        params
            .iter()
            .find(|param| ***param == *inner)
            .map(|param| Self::Param(Arc::clone(param)))
            .ok_or_else(|| PlaceholderError::Unknown(inner.to_owned()))
    }

    /// Parses a whole value that is exactly `{…}`; `None` when `text` holds
    /// no brace at all (a literal).
    pub(crate) fn parse_whole(
        text: &str,
        params: &[Arc<str>],
    ) -> Result<Option<Self>, PlaceholderError> {
        if !text.contains(['{', '}']) {
            return Ok(None);
        }
        match text
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
        {
            Some(inner) if !inner.contains(['{', '}']) => Self::parse(inner, params).map(Some),
            _ => Err(PlaceholderError::NotWhole(text.to_owned())),
        }
    }

    /// The value for this join: a topic param, or a claim's string form
    /// (`None` when the token lacks it).
    pub(crate) fn resolve<'a>(
        &self,
        params: &'a [(Arc<str>, String)],
        claims: &ClaimsView<'a>,
    ) -> Option<Cow<'a, str>> {
        match self {
            Self::Param(name) => params
                .iter()
                .find(|(param, _)| param == name)
                .map(|(_, value)| Cow::Borrowed(value.as_str())),
            Self::Claim(path) => claims.text(path),
        }
    }
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Param(name) => write!(f, "{{{name}}}"),
            Self::Claim(path) => write!(f, "{{claims.{path}}}"),
        }
    }
}

/// One param of a route's SQL check: a placeholder or a literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqlParam {
    /// Sent as written.
    Literal(String),
    /// Resolved at join.
    Placeholder(Placeholder),
}

impl SqlParam {
    /// Parses one entry of `params`.
    pub(crate) fn parse(text: &str, params: &[Arc<str>]) -> Result<Self, PlaceholderError> {
        Ok(match Placeholder::parse_whole(text, params)? {
            Some(placeholder) => Self::Placeholder(placeholder),
            None => Self::Literal(text.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        let params = [Arc::from("id")];
        assert_eq!(
            Placeholder::parse("id", &params),
            Ok(Placeholder::Param("id".into()))
        );
        assert_eq!(
            Placeholder::parse("claims.app_metadata.tenant_id", &params),
            Ok(Placeholder::Claim("app_metadata.tenant_id".into()))
        );
        assert_eq!(
            Placeholder::parse("conv", &params).map_err(|e| e.to_string()),
            Err("unknown placeholder {conv}".to_owned())
        );
        for bad in ["", "a b", "claims.", "claims..x", "1id", "claims.x-y"] {
            assert_eq!(
                Placeholder::parse(bad, &params),
                Err(PlaceholderError::Invalid(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn sql_params_are_whole_placeholders_or_literals() {
        let params = [Arc::from("id")];
        assert_eq!(
            SqlParam::parse("{id}", &params),
            Ok(SqlParam::Placeholder(Placeholder::Param("id".into())))
        );
        assert_eq!(
            SqlParam::parse("active", &params),
            Ok(SqlParam::Literal("active".into()))
        );
        assert_eq!(
            SqlParam::parse("x{id}", &params),
            Err(PlaceholderError::NotWhole("x{id}".into()))
        );
        assert_eq!(
            SqlParam::parse("{id}{id}", &params),
            Err(PlaceholderError::NotWhole("{id}{id}".into()))
        );
    }
}
