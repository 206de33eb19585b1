//! Rate limits in one-second windows: client pushes per socket, and HTTP
//! broadcasts per token and overall.
//!
//! ```text
//!  session: broadcast / presence push ──EventWindow::try_add──▶ over? system "Too many messages per second" + phx_close
//!  POST /api/broadcast (n messages)   ──BroadcastRate::admit──▶ over? 429 {"error": …}
//! ```
//!
//! Supabase counts a tenant's events with a moving average
//! (`RateCounter`); walcast counts in fixed one-second windows, which is
//! simpler and never lets more than twice the limit through in any second.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(1);

/// Events counted in the current one-second window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventWindow {
    start: Instant,
    count: u32,
}

impl EventWindow {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            start: now,
            count: 0,
        }
    }

    /// Events counted so far in the window that holds `now`.
    fn current(&mut self, now: Instant) -> u32 {
        if now.duration_since(self.start) >= WINDOW {
            *self = Self::new(now);
        }
        self.count
    }

    /// Counts `n` events at `now`; false (counting nothing) when that would
    /// take the window past `limit`.
    pub(crate) fn try_add(&mut self, now: Instant, n: u32, limit: u32) -> bool {
        let count = self.current(now);
        match count.checked_add(n) {
            Some(total) if total <= limit => {
                self.count = total;
                true
            }
            _ => false,
        }
    }
}

/// Why an HTTP broadcast was refused (both are 429 in Supabase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The window is already full.
    Exceeded,
    /// The batch does not fit in what is left of the window.
    BatchTooLarge,
}

impl Refusal {
    /// Supabase's body text (`batch_broadcast.ex` `check_rate_limit`).
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::Exceeded => "You have exceeded your rate limit",
            Self::BatchTooLarge => "Too many messages to broadcast, please reduce the batch size",
        }
    }
}

/// Messages broadcast over HTTP in the current window, overall and per
/// token. The per-token table only holds tokens seen in this window.
#[derive(Debug)]
pub(crate) struct BroadcastRate {
    hasher: RandomState,
    windows: Mutex<BroadcastWindows>,
}

#[derive(Debug)]
struct BroadcastWindows {
    global: EventWindow,
    /// Keyed by a hash of the token: the token itself is a secret.
    per_token: HashMap<u64, u32>,
}

impl BroadcastRate {
    pub(crate) fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            windows: Mutex::new(BroadcastWindows {
                global: EventWindow::new(Instant::now()),
                per_token: HashMap::new(),
            }),
        }
    }

    /// Admits `messages` from `token`, or says which limit refuses them, the
    /// way Supabase does: a full window is [`Refusal::Exceeded`], a batch
    /// that does not fit is [`Refusal::BatchTooLarge`]. Nothing is counted
    /// on refusal.
    pub(crate) fn admit(
        &self,
        now: Instant,
        token: &str,
        messages: u32,
        per_token_limit: u32,
        global_limit: u32,
    ) -> Result<(), Refusal> {
        let key = self.hasher.hash_one(token);
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let window_start = windows.global.start;
        let global = windows.global.current(now);
        if windows.global.start != window_start {
            windows.per_token.clear();
        }
        let token_count = windows.per_token.get(&key).copied().unwrap_or(0);
        for (count, limit) in [(global, global_limit), (token_count, per_token_limit)] {
            if count >= limit {
                return Err(Refusal::Exceeded);
            }
        }
        for (count, limit) in [(global, global_limit), (token_count, per_token_limit)] {
            if count.saturating_add(messages) > limit {
                return Err(Refusal::BatchTooLarge);
            }
        }
        windows.global.count = global + messages;
        windows.per_token.insert(key, token_count + messages);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_up_to_its_limit_then_resets() {
        let start = Instant::now();
        let mut window = EventWindow::new(start);
        assert!(window.try_add(start, 2, 3));
        assert!(window.try_add(start, 1, 3));
        assert!(!window.try_add(start, 1, 3));
        assert!(window.try_add(start + WINDOW, 3, 3));
        assert!(!window.try_add(start + WINDOW, 1, 3));
    }

    #[test]
    fn broadcasts_are_refused_like_supabase() {
        let rate = BroadcastRate::new();
        let now = Instant::now();
        assert_eq!(rate.admit(now, "a", 6, 5, 100), Err(Refusal::BatchTooLarge));
        assert_eq!(rate.admit(now, "a", 5, 5, 100), Ok(()));
        assert_eq!(rate.admit(now, "a", 1, 5, 100), Err(Refusal::Exceeded));
        // Another token has its own budget, within the global one.
        assert_eq!(rate.admit(now, "b", 4, 5, 7), Err(Refusal::BatchTooLarge));
        assert_eq!(rate.admit(now, "b", 2, 5, 7), Ok(()));
        assert_eq!(rate.admit(now, "c", 1, 5, 7), Err(Refusal::Exceeded));
        // A new window forgets every count.
        let later = now + WINDOW;
        assert_eq!(rate.admit(later, "a", 5, 5, 100), Ok(()));
    }
}
