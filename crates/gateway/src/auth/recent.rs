//! Tokens whose signature and claims verified recently, with their claims.
//!
//! A realtime-js client connects with the project's API key in the URL,
//! and sends its user's token in every join; so the same few tokens are
//! verified again and again: the API key by every socket, a user's token
//! by each of its joins and reconnects. A full check (base64, JSON, an
//! HMAC or a signature) was 1.9 µs per token in B5's profile
//! (BENCHMARKS.md), twice per connect + join.
//!
//! Direct-mapped: a token's hash (keyed at random per process, so a client
//! cannot aim at a slot) picks one of [`SLOTS`]; a different token
//! replaces the one there. Only tokens that passed the full check are
//! kept, with their claims; what can change for them, the expiry, is
//! checked again on every use ([`super::Claims::revalidate`]). The keys
//! never change for an [`Authenticator`](super::Authenticator), and the
//! text is compared in full (in constant time), so a hit is exactly the
//! token that verified.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Mutex, PoisonError};

use super::Claims;

/// Tokens kept: the keys of a few projects and the users of many sockets
/// reconnecting at once.
const SLOTS: usize = 256;

/// Tokens longer than this are checked in full every time (and not
/// kept): a slot holds at most this much text.
const MAX_TOKEN_BYTES: usize = 4096;

pub(crate) struct RecentTokens {
    slots: Box<[Mutex<Option<Entry>>]>,
    hasher: RandomState,
}

struct Entry {
    token: Box<str>,
    claims: Claims,
}

impl Default for RecentTokens {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl RecentTokens {
    /// The claims `token` verified with, if it is kept.
    pub(crate) fn get(&self, token: &str) -> Option<Claims> {
        let slot = self.slot(token)?;
        let slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .filter(|entry| same_text(&entry.token, token))
            .map(|entry| entry.claims.clone())
    }

    /// Keeps `token`, which passed the full check with `claims`.
    pub(crate) fn put(&self, token: &str, claims: &Claims) {
        let Some(slot) = self.slot(token) else {
            return;
        };
        let entry = Entry {
            token: Box::from(token),
            claims: claims.clone(),
        };
        // The old entry is dropped after the lock is released.
        let old = slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(entry);
        drop(old);
    }

    fn slot(&self, token: &str) -> Option<&Mutex<Option<Entry>>> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let index = self.hasher.hash_one(token) as usize % SLOTS;
        self.slots.get(index)
    }
}

/// Equality that takes as long for every text of a length: how much of a
/// guess matches a kept token must not show in the time a check takes.
fn same_text(kept: &str, given: &str) -> bool {
    kept.len() == given.len()
        && kept
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |differ, (a, b)| differ | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_equality_is_exact() {
        assert!(same_text("eyJ.a.b", "eyJ.a.b"));
        assert!(!same_text("eyJ.a.b", "eyJ.a.c"));
        assert!(!same_text("eyJ.a.b", "eyJ.a.bb"));
        assert!(!same_text("", "x"));
    }
}
