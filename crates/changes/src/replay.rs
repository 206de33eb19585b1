//! The replay window: recent changes kept in memory, so that a client that
//! rejoins with the last position it saw gets exactly what it missed.
//!
//! ```text
//!  ChangeStream ──push_transaction(end_lsn, commit time, [(change, keys)])──▶ ReplayLog
//!                                                                              │ events: (seq, change) oldest first
//!                                                                              │ postings: key ─▶ [seq, …]
//!  rejoin(position, channel keys) ──since_many──────────────────────────────▶ │ merge the channel's lists
//!  slot ◀──confirm(floor())─────────────────────────────────────────────────── │ end LSN of the newest evicted transaction
//! ```
//!
//! A pure data structure: no I/O, no clock (callers pass `now`), no tasks.
//! The gateway keeps it in a `std::sync::Mutex` held briefly. To hand a
//! rejoining client over from replay to live delivery with no gap and no
//! duplicate, the caller reads what the client missed and makes the
//! subscription live while holding the same lock under which each
//! transaction is pushed before it is fanned out. A long replay is read in
//! bounded pieces ([`ReplayLog::since_many_limited`]), each under one short
//! hold of the lock, continuing after the last event the previous piece
//! read; only the piece that reaches the end hands over to live delivery.
//!
//! # Keys
//!
//! Every event is filed under the opaque 64-bit keys the caller computes
//! (a hash of the table, of table + column + value, …), and the log keeps a
//! posting list of sequence numbers per key, so [`ReplayLog::since`] costs
//! time in proportion to what that key missed, not to the window. The
//! caller must file each event under at least one key of every binding that
//! could match it: a table-level key for bindings it answers by scanning the
//! table's events, a value key for those it looks up by value. Every event
//! is also in the full list, read with [`ReplayLog::ALL`]. What `since`
//! returns are candidates: keys are hashes and may collide, so the caller
//! matches them against the channel's bindings as it does live events.
//!
//! A key the caller starts using later (a column that becomes worth
//! indexing) can be given to the events already kept with
//! [`ReplayLog::backfill`], so that it covers the whole window at once.
//! Every posting entry, pushed or backfilled, is listed in the log's
//! per-event key record that eviction trims by, so posting lists only ever
//! hold kept events.
//!
//! # Floor and the slot
//!
//! Eviction takes whole transactions (all events sharing an LSN), oldest
//! first, once they are older than [`ReplayLimits::max_age`] or the log
//! holds more than [`ReplayLimits::max_events`]. [`ReplayLog::floor`] is the
//! end LSN of the newest evicted transaction (or, while the log is empty,
//! the newest LSN it has heard of). The invariant:
//!
//! > every event in the window has an LSN above `floor()`, and every
//! > transaction at or below `floor()` has been evicted or carried nothing
//! > to keep.
//!
//! The binary confirms `floor()` to the replication slot, never more. After
//! a crash of the gateway the slot therefore sends again every transaction
//! that ends above the confirmed position: everything the window held. The
//! new process starts its log at the slot's confirmed position and re-reads
//! those transactions up to the server's WAL position at start, then calls
//! [`ReplayLog::set_ready`]; from then on it holds at least what the old
//! window held. A confirmation that lags (feedback interval, a server crash
//! that rewinds the slot) only makes the slot re-send more, never less.
//!
//! # When a resume is too old
//!
//! `since(after, …)` must never skip an event silently: either it returns
//! every event filed under the key after `after`, or it says
//! [`ResumeError::TooOld`]. The log tracks the newest event it may have
//! dropped: the last event of the newest evicted transaction, or, before
//! anything was evicted, an unknown event at the starting floor (the slot
//! never re-sends a transaction at or below it, and the previous process
//! may have delivered one). The rule:
//!
//! - `after.lsn` above that transaction's LSN: everything after `after` is
//!   still here (or not yet pushed, then it arrives live);
//! - `after.lsn` equal to it: only when the dropped transaction is known
//!   (it was evicted here, not the starting floor) and `after.index` is at
//!   or past its last event, since a client that saw part of a transaction
//!   may have missed the rest of it;
//! - anything lower: too old.
//!
//! A position of this epoch newer than anything in the log is fine and gets
//! nothing. Progress without events ([`ReplayLog::note_progress`]) moves the
//! floor while the log is empty, so the slot can advance on an idle
//! database, but does not make older positions too old: nothing was dropped.
//!
//! # Readiness
//!
//! Until [`ReplayLog::set_ready`], `since` answers [`ResumeError::NotReady`]:
//! after a restart, a client may hold positions the re-read has not reached
//! yet, and answering "nothing missed" would make the live path deliver
//! those events to it a second time.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::mem::size_of;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pgoutput::Lsn;

use crate::change::{Change, Epoch, Position};

#[cfg(test)]
mod tests;

/// How much the window keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayLimits {
    /// Transactions committed longer ago than this are evicted.
    pub max_age: Duration,
    /// At most this many events are kept; the oldest transactions go first.
    /// A transaction larger than this is evicted as soon as it is pushed.
    pub max_events: usize,
}

impl Default for ReplayLimits {
    /// Five minutes, 200 000 events.
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(5 * 60),
            max_events: 200_000,
        }
    }
}

/// Why a rejoining client cannot be given what it missed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    /// The position comes from another database or slot incarnation: the
    /// client must refetch.
    #[error("position is from another stream")]
    OtherEpoch,
    /// Events after the position may have been evicted: the client must
    /// refetch.
    #[error("position is older than the replay window")]
    TooOld {
        /// The oldest event still in the window, if any.
        oldest_available: Option<Position>,
    },
    /// The window is still being rebuilt after a restart: try again once
    /// it is ready.
    #[error("replay window is not ready yet")]
    NotReady,
}

/// Where a bounded read ([`ReplayLog::since_many_limited`]) stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// Every kept event after the position under the keys was read.
    Complete,
    /// The limit was reached at the event at this position (the last one
    /// read); a read after it continues where this one stopped.
    Limited(Position),
}

/// One kept event. Its sequence number is implied by its place in
/// [`ReplayLog::events`].
struct KeptEvent {
    lsn: Lsn,
    index: u32,
    /// How many entries of [`ReplayLog::filed`] belong to this event.
    keys: u32,
    change: Arc<Change>,
}

impl KeptEvent {
    fn is_after(&self, after: &Position) -> bool {
        (self.lsn, self.index) > (after.lsn, after.index)
    }
}

/// One kept transaction: the unit of eviction.
struct KeptTransaction {
    lsn: Lsn,
    commit_time: SystemTime,
    events: usize,
}

/// Recent changes, by position and by key. See the [module docs](crate::replay)
/// for the floor, the too-old rule and readiness.
pub struct ReplayLog {
    epoch: Epoch,
    limits: ReplayLimits,
    ready: bool,
    /// Kept events, oldest first.
    events: VecDeque<KeptEvent>,
    /// Sequence number of `events[0]`.
    first_seq: u64,
    /// The keys each kept event is filed under, in event order (each
    /// event's share counted by [`KeptEvent::keys`]); eviction pops them to find
    /// the posting lists to trim. Every posting entry is listed here exactly
    /// once, backfilled ones included.
    filed: VecDeque<u64>,
    /// Sequence numbers per key, ascending; empty lists are removed.
    postings: HashMap<u64, VecDeque<u64>>,
    /// Kept transactions, oldest first.
    transactions: VecDeque<KeptTransaction>,
    /// See [`ReplayLog::floor`].
    floor: Lsn,
    /// The newest LSN pushed or noted.
    newest_lsn: Lsn,
    /// Events at or below this LSN may have been dropped: the newest
    /// evicted transaction, or the starting floor.
    lost_through: Lsn,
    /// The last index of the transaction at `lost_through`, when it was
    /// evicted here (unknown for the starting floor).
    lost_last_index: Option<u32>,
    /// The latest commit time pushed: "now" for eviction on push.
    latest_commit: Option<SystemTime>,
}

impl ReplayLog {
    /// The key every event is filed under: [`since`](Self::since) with it
    /// reads the whole window. Callers' own keys equal to it are ignored
    /// when pushing (the event is in the full list anyway).
    pub const ALL: u64 = u64::MAX;

    /// An empty, not yet ready log for the stream of `epoch` that starts
    /// after `floor`, the slot position replication resumes from.
    pub fn new(epoch: Epoch, limits: ReplayLimits, floor: Lsn) -> Self {
        Self {
            epoch,
            limits,
            ready: false,
            events: VecDeque::new(),
            first_seq: 0,
            filed: VecDeque::new(),
            postings: HashMap::new(),
            transactions: VecDeque::new(),
            floor,
            newest_lsn: floor,
            lost_through: floor,
            lost_last_index: None,
            latest_commit: None,
        }
    }

    /// Adds one committed transaction: its events in order, each with the
    /// keys to file it under, all with `position.lsn == end_lsn` and this
    /// log's epoch. Then evicts what the limits say, taking the newest
    /// commit time pushed so far as "now".
    ///
    /// A transaction at or below the newest LSN already pushed or noted is a
    /// re-send and is ignored. One without events is
    /// [`note_progress`](Self::note_progress).
    pub fn push_transaction<E, K>(&mut self, end_lsn: Lsn, commit_time: SystemTime, events: E)
    where
        E: IntoIterator<Item = (Arc<Change>, K)>,
        K: IntoIterator<Item = u64>,
    {
        if end_lsn <= self.newest_lsn {
            return;
        }
        self.newest_lsn = end_lsn;
        let before = self.events.len();
        for (change, keys) in events {
            debug_assert_eq!(change.position.epoch, self.epoch, "event of another epoch");
            debug_assert_eq!(change.position.lsn, end_lsn, "event of another transaction");
            debug_assert!(
                self.events.len() == before
                    || self
                        .events
                        .back()
                        .is_some_and(|e| e.index < change.position.index),
                "events out of order"
            );
            let seq = self.first_seq + self.events.len() as u64;
            let mut filed = 0;
            for key in keys {
                if key == Self::ALL {
                    continue;
                }
                let list = self.postings.entry(key).or_default();
                // The same key twice for one event files it once.
                if list.back() == Some(&seq) {
                    continue;
                }
                list.push_back(seq);
                self.filed.push_back(key);
                filed += 1;
            }
            self.events.push_back(KeptEvent {
                lsn: end_lsn,
                index: change.position.index,
                keys: filed,
                change,
            });
        }
        let count = self.events.len() - before;
        if count > 0 {
            self.transactions.push_back(KeptTransaction {
                lsn: end_lsn,
                commit_time,
                events: count,
            });
        }
        let now = self
            .latest_commit
            .map_or(commit_time, |t| t.max(commit_time));
        self.latest_commit = Some(now);
        self.evict_expired(now);
        while self.events.len() > self.limits.max_events {
            self.evict_oldest();
        }
        self.settle_floor();
    }

    /// Records that the stream got to `lsn` with nothing to keep (a
    /// transaction or message with no windowed events, a keepalive). Moves
    /// the floor when the log is empty.
    pub fn note_progress(&mut self, lsn: Lsn) {
        if lsn > self.newest_lsn {
            self.newest_lsn = lsn;
            self.settle_floor();
        }
    }

    /// Evicts the transactions committed more than
    /// [`ReplayLimits::max_age`] before `now`, oldest first, stopping at the
    /// first younger one. Commit times come from the server, so clock skew
    /// between it and `now` shifts the window by that much.
    pub fn evict_expired(&mut self, now: SystemTime) {
        while let Some(oldest) = self.transactions.front() {
            let expired = now
                .duration_since(oldest.commit_time)
                .is_ok_and(|age| age > self.limits.max_age);
            if !expired {
                break;
            }
            self.evict_oldest();
        }
        self.settle_floor();
    }

    /// Marks the window complete: every transaction the previous process
    /// may have delivered has been re-read. The binary decides when.
    pub fn set_ready(&mut self) {
        self.ready = true;
    }

    /// Whether [`since`](Self::since) answers yet.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Appends to `out` every kept event filed under `key` whose position is
    /// after `after`, in stream order. The
    /// [module docs](crate::replay#when-a-resume-is-too-old) say when a
    /// position is too old.
    pub fn since(
        &self,
        after: &Position,
        key: u64,
        out: &mut Vec<Arc<Change>>,
    ) -> Result<(), ResumeError> {
        self.collect(after, &[key], usize::MAX, out, &mut 0)
            .map(|_| ())
    }

    /// [`since`](Self::since) for several keys at once (a channel's
    /// bindings): the events filed under any of them, in stream order, each
    /// once. Merging costs one comparison per key for each event returned.
    pub fn since_many(
        &self,
        after: &Position,
        keys: &[u64],
        out: &mut Vec<Arc<Change>>,
    ) -> Result<(), ResumeError> {
        self.collect(after, keys, usize::MAX, out, &mut 0)
            .map(|_| ())
    }

    /// [`since_many`](Self::since_many) reading at most `limit` events (at
    /// least one): each event read costs one step, so a caller holding a
    /// lock bounds how long it holds it. Says whether it reached the end
    /// or where it stopped; reading again after that position continues
    /// with nothing skipped, or says [`ResumeError::TooOld`] if the window
    /// has evicted past it meanwhile.
    pub fn since_many_limited(
        &self,
        after: &Position,
        keys: &[u64],
        limit: usize,
        out: &mut Vec<Arc<Change>>,
    ) -> Result<ReadEnd, ResumeError> {
        self.collect(after, keys, limit.max(1), out, &mut 0)
    }

    /// Files every kept event filed under `under` also under the key
    /// `key_of` gives it (none: not filed; [`ALL`](Self::ALL) is ignored),
    /// as if the event had been pushed with it. Returns how many entries
    /// were added. Costs one call of `key_of` per event under `under`, plus
    /// a pass over the log's key record.
    pub fn backfill(
        &mut self,
        under: u64,
        mut key_of: impl FnMut(&Change) -> Option<u64>,
    ) -> usize {
        let mut added: Vec<(u64, u64)> = Vec::new();
        let mut consider = |seq: u64, event: &KeptEvent| {
            if let Some(key) = key_of(&event.change).filter(|&key| key != Self::ALL) {
                added.push((key, seq));
            }
        };
        if under == Self::ALL {
            for (seq, event) in (self.first_seq..).zip(&self.events) {
                consider(seq, event);
            }
        } else if let Some(list) = self.postings.get(&under) {
            for &seq in list {
                consider(seq, self.event(seq));
            }
        }
        // Merge into the posting lists, key by key; an event already filed
        // under a key is not filed twice.
        added.sort_unstable();
        added.dedup();
        let mut start = 0;
        let mut kept = Vec::with_capacity(added.len());
        while start < added.len() {
            let key = added[start].0;
            let end = start + added[start..].partition_point(|&(k, _)| k == key);
            let seqs = added[start..end].iter().map(|&(_, seq)| seq);
            let list = self.postings.entry(key).or_default();
            merge_sorted(list, seqs, |seq| kept.push((seq, key)));
            start = end;
        }
        if kept.is_empty() {
            return 0;
        }
        // Rebuild the key record with the new entries in event order, so
        // that eviction trims them like pushed ones.
        kept.sort_unstable();
        let mut filed = VecDeque::with_capacity(self.filed.len() + kept.len());
        let mut old = std::mem::take(&mut self.filed).into_iter();
        let mut new = kept.iter().peekable();
        for (seq, event) in (self.first_seq..).zip(self.events.iter_mut()) {
            filed.extend(old.by_ref().take(event.keys as usize));
            while let Some((_, key)) = new.next_if(|&&(s, _)| s == seq) {
                filed.push_back(*key);
                event.keys += 1;
            }
        }
        self.filed = filed;
        kept.len()
    }

    /// The slot position that is safe to confirm: see the
    /// [module docs](crate::replay#floor-and-the-slot).
    pub fn floor(&self) -> Lsn {
        self.floor
    }

    /// The newest LSN pushed or noted.
    pub fn newest_lsn(&self) -> Lsn {
        self.newest_lsn
    }

    /// The position of the oldest kept event.
    pub fn oldest(&self) -> Option<Position> {
        self.events.front().map(|event| event.change.position)
    }

    /// The epoch of the positions this log answers for.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The limits it evicts by.
    pub fn limits(&self) -> ReplayLimits {
        self.limits
    }

    /// Events kept.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when no event is kept.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Transactions kept.
    pub fn transactions(&self) -> usize {
        self.transactions.len()
    }

    /// Approximate memory of the log's own structures: event slots, key
    /// postings and their map, transactions. The changes themselves are
    /// shared with the live path and not counted.
    pub fn approx_bytes(&self) -> usize {
        // Each filed key is one `filed` entry and one posting entry.
        self.events.capacity() * size_of::<KeptEvent>()
            + self.filed.capacity() * size_of::<u64>()
            + self.filed.len() * size_of::<u64>()
            + self.postings.capacity() * (size_of::<(u64, VecDeque<u64>)>() + 1)
            + self.transactions.capacity() * size_of::<KeptTransaction>()
    }

    /// [`since_many_limited`](Self::since_many_limited), counting in
    /// `visited` every event and posting entry it reads (the tests' measure
    /// of cost).
    fn collect(
        &self,
        after: &Position,
        keys: &[u64],
        limit: usize,
        out: &mut Vec<Arc<Change>>,
        visited: &mut usize,
    ) -> Result<ReadEnd, ResumeError> {
        self.check_resume(after)?;
        if keys.contains(&Self::ALL) {
            let start = self.events.partition_point(|event| {
                *visited += 1;
                !event.is_after(after)
            });
            let mut read = self.events.range(start..);
            for event in read.by_ref().take(limit) {
                *visited += 1;
                out.push(Arc::clone(&event.change));
            }
            return Ok(match (read.next(), out.last()) {
                (Some(_), Some(last)) => ReadEnd::Limited(last.position),
                _ => ReadEnd::Complete,
            });
        }
        let mut cursors: Vec<_> = keys
            .iter()
            .filter_map(|key| self.postings.get(key))
            .map(|list| {
                let start = list.partition_point(|&seq| {
                    *visited += 1;
                    !self.event(seq).is_after(after)
                });
                list.range(start..).copied().peekable()
            })
            .collect();
        let mut last = None;
        for _ in 0..limit {
            let Some(seq) = cursors.iter_mut().filter_map(|c| c.peek().copied()).min() else {
                return Ok(ReadEnd::Complete);
            };
            for cursor in &mut cursors {
                if cursor.next_if_eq(&seq).is_some() {
                    *visited += 1;
                }
            }
            let change = &self.event(seq).change;
            last = Some(change.position);
            out.push(Arc::clone(change));
        }
        let more = cursors.iter_mut().any(|c| c.peek().is_some());
        Ok(match last {
            Some(last) if more => ReadEnd::Limited(last),
            _ => ReadEnd::Complete,
        })
    }

    /// Whether a client at `after` can be given what it missed.
    fn check_resume(&self, after: &Position) -> Result<(), ResumeError> {
        if after.epoch != self.epoch {
            return Err(ResumeError::OtherEpoch);
        }
        if !self.ready {
            return Err(ResumeError::NotReady);
        }
        let saw_all_dropped = after.lsn > self.lost_through
            || (after.lsn == self.lost_through
                && self.lost_last_index.is_some_and(|last| after.index >= last));
        if saw_all_dropped {
            Ok(())
        } else {
            Err(ResumeError::TooOld {
                oldest_available: self.oldest(),
            })
        }
    }

    /// The kept event with sequence number `seq`.
    fn event(&self, seq: u64) -> &KeptEvent {
        &self.events[(seq - self.first_seq) as usize]
    }

    /// Drops the oldest transaction and its postings.
    fn evict_oldest(&mut self) {
        let Some(transaction) = self.transactions.pop_front() else {
            return;
        };
        for _ in 0..transaction.events {
            let Some(event) = self.events.pop_front() else {
                break;
            };
            let seq = self.first_seq;
            self.first_seq += 1;
            for _ in 0..event.keys {
                let Some(key) = self.filed.pop_front() else {
                    break;
                };
                if let MapEntry::Occupied(mut list) = self.postings.entry(key) {
                    debug_assert_eq!(list.get().front(), Some(&seq));
                    list.get_mut().pop_front();
                    if list.get().is_empty() {
                        list.remove();
                    }
                }
            }
            self.lost_last_index = Some(event.index);
        }
        self.lost_through = transaction.lsn;
        self.floor = transaction.lsn;
    }

    /// With nothing kept, everything up to the newest LSN may be confirmed.
    fn settle_floor(&mut self) {
        if self.events.is_empty() {
            self.floor = self.newest_lsn;
        }
    }
}

/// Merges the ascending `seqs` into the ascending `list`, skipping those it
/// holds already; `added` sees each one inserted.
fn merge_sorted(
    list: &mut VecDeque<u64>,
    seqs: impl Iterator<Item = u64>,
    mut added: impl FnMut(u64),
) {
    let mut seqs = seqs.peekable();
    if list
        .back()
        .is_none_or(|&last| seqs.peek().is_some_and(|&first| first > last))
    {
        for seq in seqs {
            added(seq);
            list.push_back(seq);
        }
        return;
    }
    let old = std::mem::take(list);
    let mut old = old.into_iter().peekable();
    loop {
        match (old.peek().copied(), seqs.peek().copied()) {
            (Some(a), Some(b)) if a < b => list.extend(old.next()),
            (Some(a), Some(b)) if a == b => {
                list.extend(old.next());
                seqs.next();
            }
            (_, Some(b)) => {
                added(b);
                list.push_back(b);
                seqs.next();
            }
            (Some(_), None) => list.extend(old.next()),
            (None, None) => break,
        }
    }
}

impl fmt::Debug for ReplayLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayLog")
            .field("epoch", &self.epoch)
            .field("ready", &self.ready)
            .field("events", &self.events.len())
            .field("transactions", &self.transactions.len())
            .field("keys", &self.postings.len())
            .field("floor", &self.floor)
            .field("newest_lsn", &self.newest_lsn)
            .finish_non_exhaustive()
    }
}
