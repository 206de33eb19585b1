//! A bearer credential as it arrives from a client.
//!
//! Tokens travel in the connect URL, in join payloads and in `access_token`
//! pushes. Anyone holding one can act as its subject, so the type keeps it
//! out of `Debug` output and therefore out of logs and panics.

use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};

/// A JWT or opaque API key sent by a client; `Debug` never shows it.
/// Cloning shares the text; sockets that connect with the same token share
/// one copy of it (`SharedTokens`).
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(Arc<str>);

impl BearerToken {
    /// Wraps a token.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
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

/// Slots of [`SharedTokens`]: room for the keys of a few projects at once.
const SHARED_TOKEN_SLOTS: usize = 16;

/// Connect tokens seen recently, so that sockets connecting with the same
/// token share one copy of it.
///
/// realtime-js puts the project's API key (anon or publishable) in the
/// socket URL of every client and sends each user's JWT in the joins, so
/// nearly every socket connects with the same token; each session keeps
/// it for the joins that fall back to it (Supabase's
/// `assign_access_token`). A copy per socket was 135 bytes of every idle
/// connection (BENCHMARKS.md, B4).
///
/// Direct-mapped: a token's hash picks its slot, and a different token
/// replaces the one there, so it holds at most [`SHARED_TOKEN_SLOTS`]
/// tokens beyond those sessions hold. Only verified tokens are offered.
pub(crate) struct SharedTokens {
    slots: Mutex<[Option<BearerToken>; SHARED_TOKEN_SLOTS]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for SharedTokens {
    fn default() -> Self {
        Self {
            slots: Mutex::new(std::array::from_fn(|_| None)),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl SharedTokens {
    /// `token`, or an equal token already held, whose text it then shares.
    pub(crate) fn share(&self, token: BearerToken) -> BearerToken {
        let index = self.hasher.hash_one(token.as_str()) as usize % SHARED_TOKEN_SLOTS;
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        match slots.get_mut(index) {
            Some(Some(shared)) if *shared == token => shared.clone(),
            Some(slot) => {
                *slot = Some(token.clone());
                token
            }
            None => token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_connect_tokens_share_their_text() {
        let shared = SharedTokens::default();
        let first = shared.share(BearerToken::new("eyJ.anon.key"));
        let second = shared.share(BearerToken::new(String::from("eyJ.anon.key")));
        assert_eq!(first, second);
        assert!(Arc::ptr_eq(&first.0, &second.0));
        let other = shared.share(BearerToken::new("eyJ.user.jwt"));
        assert_eq!(other.as_str(), "eyJ.user.jwt");
        assert!(!Arc::ptr_eq(&first.0, &other.0));
    }

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
