//! The token's claims as access rules read them: the `role`, and claims by
//! dotted path (`claims.tenant_id`, `claims.app_metadata.tenant_id`) in their
//! string form.
//!
//! Only strings and numbers have a string form (`42` → `"42"`), so that a
//! claim compares the same way whether the issuer wrote it as a number or a
//! string. Anything else (objects, arrays, booleans, `null`) counts as
//! missing, and a missing claim never satisfies a rule: deny by default.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// A borrowed view of a verified token's claims.
#[derive(Debug, Clone, Copy)]
pub struct ClaimsView<'a> {
    claims: &'a Map<String, Value>,
}

impl<'a> ClaimsView<'a> {
    /// The claims of a verified token (its payload object).
    pub fn new(claims: &'a Map<String, Value>) -> Self {
        Self { claims }
    }

    /// The `role` claim, when it is a string.
    pub fn role(&self) -> Option<&'a str> {
        self.claims.get("role").and_then(Value::as_str)
    }

    /// The string form of the claim at `path` (`tenant_id`,
    /// `app_metadata.tenant_id`): a string as is, a number as JSON prints
    /// it; `None` when absent or of another type.
    pub fn text(&self, path: &str) -> Option<Cow<'a, str>> {
        let mut names = path.split('.');
        let mut value = self.claims.get(names.next()?)?;
        for name in names {
            value = value.as_object()?.get(name)?;
        }
        match value {
            Value::String(text) => Some(Cow::Borrowed(text)),
            Value::Number(number) => Some(Cow::Owned(number.to_string())),
            _ => None,
        }
    }
}

impl<'a> From<&'a Map<String, Value>> for ClaimsView<'a> {
    fn from(claims: &'a Map<String, Value>) -> Self {
        Self::new(claims)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn string_forms_by_path() {
        let Value::Object(map) = json!({
            "role": "agent",
            "tenant_id": "t1",
            "n": 42,
            "f": 1.5,
            "flag": true,
            "app_metadata": {"tenant_id": "t2", "deep": {"x": 7}},
        }) else {
            unreachable!()
        };
        let claims = ClaimsView::new(&map);
        assert_eq!(claims.role(), Some("agent"));
        assert_eq!(claims.text("tenant_id").as_deref(), Some("t1"));
        assert_eq!(claims.text("n").as_deref(), Some("42"));
        assert_eq!(claims.text("f").as_deref(), Some("1.5"));
        assert_eq!(claims.text("app_metadata.tenant_id").as_deref(), Some("t2"));
        assert_eq!(claims.text("app_metadata.deep.x").as_deref(), Some("7"));
        for missing in ["flag", "app_metadata", "nope", "tenant_id.x", ""] {
            assert_eq!(claims.text(missing), None, "{missing}");
        }
    }
}
