//! A compact JWS taken apart, before any key is involved.
//!
//! ```text
//!  base64url(header JSON) . base64url(claims JSON) . base64url(signature)
//!  └──────────── signing input ─────────────┘
//! ```
//!
//! Only structure is checked here: three parts, two JSON objects, a string
//! `alg`. Which key may verify the token is decided by the caller from
//! `alg` and `kid`, never by anything else in the header (`jwk`, `jku`,
//! `x5u` are ignored, so a token cannot bring its own key).

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::error::AuthError;

/// Tokens longer than this are refused before decoding.
pub(crate) const MAX_TOKEN_BYTES: usize = 32 * 1024;

/// The parts of a token, decoded.
pub(crate) struct Jwt<'a> {
    /// `header.claims`, the bytes the signature covers.
    pub(crate) signing_input: &'a str,
    /// The signature, still base64url.
    pub(crate) signature: &'a str,
    /// The header's `alg`, if it is a string.
    pub(crate) alg: Option<String>,
    /// The header's `kid`, if it is a string.
    pub(crate) kid: Option<String>,
    /// The claims object.
    pub(crate) claims: Map<String, Value>,
}

/// Removes whitespace anywhere in the token, as Supabase's
/// `ChannelsAuthorization.clean_token/1` does (copy-pasted tokens often
/// carry a newline).
pub(crate) fn clean(token: &str) -> Cow<'_, str> {
    if token.bytes().any(|b| b.is_ascii_whitespace()) {
        Cow::Owned(token.chars().filter(|c| !c.is_whitespace()).collect())
    } else {
        Cow::Borrowed(token)
    }
}

/// Splits and decodes a token.
pub(crate) fn parse(token: &str) -> Result<Jwt<'_>, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let signing_input = token
        .get(..header.len() + 1 + claims.len())
        .ok_or(AuthError::Malformed)?;
    let header = object(header)?;
    let claims = object(claims)?;
    // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
    if header.contains_key("crit") {
        return Err(AuthError::Malformed);
    }
    let text = |key| header.get(key).and_then(Value::as_str).map(str::to_owned);
    Ok(Jwt {
        signing_input,
        signature,
        alg: text("alg"),
        kid: text("kid"),
        claims,
    })
}

fn object(part: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn splits_a_well_formed_token() {
        let token = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#),
            b64(r#"{"role":"anon"}"#)
        );
        let jwt = parse(&token).expect("test token is well formed");
        assert_eq!(jwt.alg.as_deref(), Some("HS256"));
        assert_eq!(jwt.kid.as_deref(), Some("k1"));
        assert_eq!(jwt.signature, "c2ln");
        assert_eq!(jwt.signing_input.len() + 5, token.len());
        assert_eq!(jwt.claims["role"], "anon");
    }

    #[test]
    fn refuses_anything_else() {
        let h = b64(r#"{"alg":"HS256"}"#);
        let c = b64("{}");
        let bad = [
            String::new(),
            "abc".to_owned(),
            format!("{h}.{c}"),
            format!("{h}.{c}.s.x"),
            format!("{h}==.{c}.s"),
            format!("{}.{c}.s", b64("[1]")),
            format!("{h}.{}.s", b64(r#""claims""#)),
            format!("{h}.{}.s", b64("{")),
            format!("{}.{c}.s", b64(r#"{"alg":"HS256","crit":["b64"]}"#)),
            format!("{h}.{c}.{}", "a".repeat(MAX_TOKEN_BYTES)),
            format!("{h}.!!.s"),
        ];
        for token in bad {
            assert_eq!(parse(&token).err(), Some(AuthError::Malformed), "{token}");
        }
    }

    #[test]
    fn non_string_alg_and_kid_are_absent() {
        let token = format!("{}.{}.s", b64(r#"{"alg":1,"kid":2}"#), b64("{}"));
        let jwt = parse(&token).expect("test token is well formed");
        assert_eq!((jwt.alg, jwt.kid), (None, None));
    }

    #[test]
    fn whitespace_is_removed() {
        assert_eq!(clean("a.b.c"), Cow::Borrowed("a.b.c"));
        assert_eq!(clean(" a.\nb .c\t"), "a.b.c");
    }
}
