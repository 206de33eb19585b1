//! A bearer credential as it arrives from a client.
//!
//! Tokens travel in the connect URL, in join payloads and in `access_token`
//! pushes. Anyone holding one can act as its subject, so the type keeps it
//! out of `Debug` output and therefore out of logs and panics.

use std::fmt;

/// A JWT or opaque API key sent by a client; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token text, for verification.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is one of Supabase's opaque keys (`sb_publishable_…`,
    /// `sb_secret_…`) rather than a JWT. Supabase ignores such tokens in
    /// joins and `access_token` pushes and keeps the connect-time token.
    pub fn is_opaque_api_key(&self) -> bool {
        self.0.starts_with("sb_")
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken(<redacted, {} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_token() {
        let token = BearerToken::new("eyJhbGciOiJIUzI1NiJ9.e30.c2VjcmV0");
        let shown = format!("{token:?}");
        assert!(!shown.contains("eyJ"), "{shown}");
        assert_eq!(shown, "BearerToken(<redacted, 33 bytes>)");
    }

    #[test]
    fn opaque_keys_are_recognised() {
        assert!(BearerToken::new("sb_publishable_abc").is_opaque_api_key());
        assert!(!BearerToken::new("eyJ.x.y").is_opaque_api_key());
    }
}
