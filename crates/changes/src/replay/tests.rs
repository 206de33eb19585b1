//! The replay window against hand-made logs and, for many random logs,
//! against a naive scan of everything ever pushed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgoutput::{Lsn, ReplicaIdentity};

use super::{ReadEnd, ReplayLimits, ReplayLog, ResumeError};
use crate::change::{Change, ChangeKind, Epoch, Position, Relation};

const EPOCH: Epoch = Epoch(0xfeed_f00d);

fn relation() -> Arc<Relation> {
    Arc::new(Relation {
        oid: 16384,
        schema: "public".into(),
        table: "items".into(),
        identity: ReplicaIdentity::Default,
        columns: Vec::new(),
    })
}

fn at(lsn: Lsn, index: u32) -> Position {
    Position {
        epoch: EPOCH,
        lsn,
        index,
    }
}

fn change(relation: &Arc<Relation>, position: Position) -> Arc<Change> {
    Arc::new(Change {
        position,
        xid: 7,
        kind: ChangeKind::Insert,
        relation: Arc::clone(relation),
        commit_ts: 0,
        record: None,
        old_record: None,
    })
}

/// `secs` seconds into the test's day.
fn time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn limits(max_events: usize, max_age_secs: u64) -> ReplayLimits {
    ReplayLimits {
        max_age: Duration::from_secs(max_age_secs),
        max_events,
    }
}

/// A ready log.
fn ready(limits: ReplayLimits, floor: Lsn) -> ReplayLog {
    let mut log = ReplayLog::new(EPOCH, limits, floor);
    log.set_ready();
    log
}

/// Pushes a transaction at `lsn` whose event `i` is filed under `keys[i]`.
fn push(log: &mut ReplayLog, lsn: Lsn, secs: u64, keys: &[&[u64]]) {
    let relation = relation();
    let events = keys.iter().enumerate().map(|(index, keys)| {
        let index = u32::try_from(index).expect("small");
        (change(&relation, at(lsn, index)), keys.iter().copied())
    });
    log.push_transaction(lsn, time(secs), events);
}

fn since(log: &ReplayLog, after: Position, keys: &[u64]) -> Result<Vec<Position>, ResumeError> {
    let mut out = Vec::new();
    log.since_many(&after, keys, &mut out)?;
    Ok(out.iter().map(|change| change.position).collect())
}

fn too_old(log: &ReplayLog) -> Result<Vec<Position>, ResumeError> {
    Err(ResumeError::TooOld {
        oldest_available: log.oldest(),
    })
}

#[test]
fn evicts_whole_transactions_by_count() {
    let mut log = ready(limits(5, 3600), 100);
    push(&mut log, 200, 0, &[&[1], &[1]]);
    push(&mut log, 300, 0, &[&[1], &[1]]);
    assert_eq!((log.len(), log.transactions(), log.floor()), (4, 2, 100));
    push(&mut log, 400, 0, &[&[1], &[1]]);
    assert_eq!((log.len(), log.transactions(), log.floor()), (4, 2, 200));
    assert_eq!(log.oldest(), Some(at(300, 0)));
    // Three single-event transactions push out the one at 300 (two events).
    for lsn in [500, 600, 700] {
        push(&mut log, lsn, 0, &[&[2]]);
    }
    assert_eq!((log.len(), log.floor()), (5, 300));
    assert_eq!(
        since(&log, at(300, 1), &[1, 2]),
        Ok(vec![
            at(400, 0),
            at(400, 1),
            at(500, 0),
            at(600, 0),
            at(700, 0)
        ])
    );
}

#[test]
fn a_transaction_larger_than_the_window_is_evicted_at_once() {
    let mut log = ready(limits(3, 3600), 100);
    push(&mut log, 200, 0, &[&[1]]);
    push(&mut log, 300, 0, &[&[1], &[1], &[1], &[1]]);
    assert!(log.is_empty());
    assert_eq!(log.floor(), 300);
    // Whoever saw all of it missed nothing; whoever saw part of it did.
    assert_eq!(since(&log, at(300, 3), &[1]), Ok(vec![]));
    assert_eq!(since(&log, at(300, 2), &[1]), too_old(&log));
    assert_eq!(
        log.postings.len(),
        0,
        "posting lists of evicted events go too"
    );
}

#[test]
fn evicts_by_age_on_push_and_on_demand() {
    let mut log = ready(limits(100, 60), 100);
    push(&mut log, 200, 0, &[&[1]]);
    push(&mut log, 300, 30, &[&[1]]);
    push(&mut log, 400, 60, &[&[1]]);
    assert_eq!(log.len(), 3, "exactly max_age old is kept");
    push(&mut log, 500, 61, &[&[1]]);
    assert_eq!((log.oldest(), log.floor()), (Some(at(300, 0)), 200));

    log.evict_expired(time(80));
    assert_eq!(log.len(), 3, "nothing older than a minute at 80 s");
    log.evict_expired(time(0));
    assert_eq!(log.len(), 3, "a clock behind the commits evicts nothing");
    log.evict_expired(time(121));
    assert_eq!((log.oldest(), log.floor()), (Some(at(500, 0)), 400));
    log.evict_expired(time(10_000));
    assert!(log.is_empty());
    assert_eq!(log.floor(), 500);
}

#[test]
fn age_eviction_stops_at_the_first_young_transaction() {
    // Commit timestamps may step back a little; eviction stays a prefix.
    let mut log = ready(limits(100, 60), 100);
    push(&mut log, 200, 50, &[&[1]]);
    push(&mut log, 300, 10, &[&[1]]);
    log.evict_expired(time(100));
    assert_eq!(log.oldest(), Some(at(200, 0)));
    log.evict_expired(time(111));
    assert!(log.is_empty());
}

#[test]
fn floor_follows_evictions_and_idle_progress() {
    let mut log = ready(limits(2, 3600), 100);
    assert_eq!((log.floor(), log.newest_lsn()), (100, 100));
    log.note_progress(150);
    assert_eq!(log.floor(), 150, "an empty log lets the slot move on");
    push(&mut log, 180, 0, &[]);
    assert_eq!((log.floor(), log.newest_lsn()), (180, 180));
    push(&mut log, 200, 0, &[&[1]]);
    log.note_progress(250);
    assert_eq!((log.floor(), log.newest_lsn()), (180, 250));
    log.note_progress(240);
    assert_eq!(log.newest_lsn(), 250, "progress never goes back");
    push(&mut log, 300, 0, &[&[1], &[1]]);
    assert_eq!(log.floor(), 200, "the evicted transaction's end");
    log.evict_expired(time(1_000_000));
    assert_eq!(log.floor(), 300, "empty again: everything seen");

    // Idle progress after the last eviction does not make positions of
    // transactions never windowed too old.
    log.note_progress(400);
    assert_eq!(log.floor(), 400);
    assert_eq!(since(&log, at(350, 0), &[1]), Ok(vec![]));
    assert_eq!(since(&log, at(300, 1), &[1]), Ok(vec![]));
    assert_eq!(since(&log, at(300, 0), &[1]), too_old(&log));
}

#[test]
fn re_sent_transactions_are_ignored() {
    let mut log = ready(limits(10, 3600), 100);
    push(&mut log, 90, 0, &[&[1]]);
    push(&mut log, 100, 0, &[&[1]]);
    assert!(log.is_empty(), "at or below the floor");
    push(&mut log, 200, 0, &[&[1]]);
    push(&mut log, 200, 0, &[&[1]]);
    log.note_progress(300);
    push(&mut log, 250, 0, &[&[1]]);
    assert_eq!(since(&log, at(150, 0), &[1]), Ok(vec![at(200, 0)]));
}

#[test]
fn since_returns_what_a_key_missed_in_order() {
    let mut log = ready(limits(100, 3600), 100);
    push(&mut log, 200, 0, &[&[1], &[2], &[1, 3]]);
    push(&mut log, 300, 0, &[&[2], &[1]]);
    let mut out = Vec::new();
    log.since(&at(150, 0), 1, &mut out).expect("in the window");
    let positions: Vec<_> = out.iter().map(|c| c.position).collect();
    assert_eq!(positions, [at(200, 0), at(200, 2), at(300, 1)]);
    assert!(Arc::ptr_eq(&out[0], &out[0]), "shared, not copied");

    assert_eq!(
        since(&log, at(200, 0), &[1]),
        Ok(vec![at(200, 2), at(300, 1)])
    );
    assert_eq!(since(&log, at(200, 2), &[1]), Ok(vec![at(300, 1)]));
    assert_eq!(since(&log, at(300, 1), &[1]), Ok(vec![]));
    assert_eq!(since(&log, at(250, 0), &[3]), Ok(vec![]));
    assert_eq!(since(&log, at(150, 0), &[9]), Ok(vec![]), "unknown key");
    assert_eq!(since(&log, at(999, 0), &[1]), Ok(vec![]), "newer than all");
    assert_eq!(
        since(&log, at(200, 1), &[ReplayLog::ALL]),
        Ok(vec![at(200, 2), at(300, 0), at(300, 1)])
    );
}

#[test]
fn since_many_merges_without_duplicates() {
    let mut log = ready(limits(100, 3600), 100);
    push(&mut log, 200, 0, &[&[1, 2], &[2], &[3], &[1, 1]]);
    push(&mut log, 300, 0, &[&[3, 2, 1], &[ReplayLog::ALL]]);
    let after = at(150, 0);
    assert_eq!(
        since(&log, after, &[1, 2]),
        Ok(vec![at(200, 0), at(200, 1), at(200, 3), at(300, 0)])
    );
    assert_eq!(
        since(&log, after, &[2, 1, 2, 9]),
        since(&log, after, &[1, 2]),
        "order and repeats of keys do not matter"
    );
    assert_eq!(since(&log, after, &[]), Ok(vec![]));
    assert_eq!(
        since(&log, after, &[3, ReplayLog::ALL]),
        since(&log, after, &[ReplayLog::ALL])
    );
    assert_eq!(
        since(&log, after, &[ReplayLog::ALL]).map(|p| p.len()),
        Ok(6)
    );
}

/// Reads everything after `after` in pieces of `limit`, continuing after
/// where each piece stopped; returns the pieces.
fn in_pieces(
    log: &ReplayLog,
    after: Position,
    keys: &[u64],
    limit: usize,
) -> Result<Vec<Vec<Position>>, ResumeError> {
    let mut pieces = Vec::new();
    let mut cursor = after;
    loop {
        let mut out = Vec::new();
        let end = log.since_many_limited(&cursor, keys, limit, &mut out)?;
        let piece: Vec<Position> = out.iter().map(|change| change.position).collect();
        assert!(piece.len() <= limit.max(1), "at most the limit");
        pieces.push(piece);
        match end {
            ReadEnd::Complete => return Ok(pieces),
            ReadEnd::Limited(at) => {
                assert_eq!(Some(&at), pieces.last().and_then(|p| p.last()));
                cursor = at;
            }
        }
    }
}

#[test]
fn limited_reads_in_pieces_add_up_to_one_read() {
    let mut log = ready(limits(100, 3600), 100);
    push(&mut log, 200, 0, &[&[1], &[2], &[1, 2], &[3]]);
    push(&mut log, 300, 0, &[&[2], &[1]]);
    push(&mut log, 400, 0, &[&[1]]);
    for keys in [&[1][..], &[1, 2], &[3], &[ReplayLog::ALL], &[9]] {
        let whole = since(&log, at(150, 0), keys).expect("in the window");
        for limit in [0, 1, 2, 3, 100] {
            let pieces = in_pieces(&log, at(150, 0), keys, limit).expect("in the window");
            assert_eq!(pieces.concat(), whole, "{keys:?} by {limit}");
            if limit > 0 && whole.len() > limit {
                assert!(pieces.len() > 1);
            }
        }
    }
    // A piece that ends exactly at the last event says so: nothing is left.
    let mut out = Vec::new();
    assert_eq!(
        log.since_many_limited(&at(300, 0), &[1], 2, &mut out),
        Ok(ReadEnd::Complete)
    );
    assert_eq!(out.len(), 2);
    assert_eq!(
        log.since_many_limited(&at(150, 0), &[1], 2, &mut Vec::new()),
        Ok(ReadEnd::Limited(at(200, 2)))
    );
    // The window evicts past where a piece stopped: the next piece says so.
    log.since_many_limited(&at(150, 0), &[1], 1, &mut out)
        .expect("in the window");
    for lsn in [500, 600, 700, 800] {
        push(&mut log, lsn, 0, &vec![&[1u64][..]; 30]);
    }
    assert_eq!(
        log.since_many_limited(&at(200, 0), &[1], 1, &mut out),
        too_old(&log).map(|_| ReadEnd::Complete)
    );
}

/// Events pushed under a table key only, then given value keys by
/// `backfill`: the value keys read like pushed ones, and eviction trims
/// backfilled entries like pushed ones.
#[test]
fn backfilled_keys_read_and_evict_like_pushed_ones() {
    const TABLE: u64 = 1;
    const OTHER_TABLE: u64 = 2;
    // The value key of an event, from its position (a stand-in for a column value).
    let value_key = |change: &Change| Some(10 + u64::from(change.position.index % 2));
    let mut log = ready(limits(6, 3600), 100);
    push(&mut log, 200, 0, &[&[TABLE], &[TABLE], &[OTHER_TABLE]]);
    push(&mut log, 300, 0, &[&[TABLE], &[TABLE, 11]]);
    assert_eq!(since(&log, at(150, 0), &[10]), Ok(vec![]));

    // Event (300, 1) is under key 11 already: not filed twice.
    assert_eq!(log.backfill(TABLE, value_key), 3);
    assert_eq!(
        log.backfill(TABLE, value_key),
        0,
        "nothing new the second time"
    );
    assert_eq!(
        since(&log, at(150, 0), &[10]),
        Ok(vec![at(200, 0), at(300, 0)])
    );
    assert_eq!(
        since(&log, at(150, 0), &[11]),
        Ok(vec![at(200, 1), at(300, 1)])
    );
    assert_eq!(
        since(&log, at(200, 1), &[11, 10]),
        Ok(vec![at(300, 0), at(300, 1)])
    );
    let postings: usize = log.postings.values().map(|list| list.len()).sum();
    assert_eq!(
        postings,
        log.filed.len(),
        "backfilled entries are on record"
    );

    // Pushed from now on under the value keys too; eviction (of 200, then
    // 300) trims both kinds.
    push(&mut log, 400, 0, &[&[TABLE, 11], &[TABLE, 10]]);
    push(&mut log, 500, 0, &[&[TABLE, 10], &[TABLE, 11]]);
    assert_eq!(log.oldest(), Some(at(300, 0)));
    assert_eq!(
        since(&log, at(200, 2), &[11]),
        Ok(vec![at(300, 1), at(400, 0), at(500, 1)])
    );
    push(&mut log, 600, 0, &[&[TABLE, 10]]);
    assert_eq!(log.oldest(), Some(at(400, 0)));
    assert_eq!(
        since(&log, at(300, 1), &[10]),
        Ok(vec![at(400, 1), at(500, 0), at(600, 0)])
    );
    let postings: usize = log.postings.values().map(|list| list.len()).sum();
    assert_eq!(postings, log.filed.len());
    log.evict_expired(time(1_000_000));
    assert!(log.postings.is_empty() && log.filed.is_empty());

    // Backfilling under the full list, or a key nobody used, is fine too.
    push(&mut log, 700, 0, &[&[], &[OTHER_TABLE]]);
    assert_eq!(log.backfill(99, value_key), 0);
    assert_eq!(log.backfill(ReplayLog::ALL, value_key), 2);
    assert_eq!(since(&log, at(650, 0), &[11]), Ok(vec![at(700, 1)]));
}

#[test]
fn too_old_boundaries() {
    let mut log = ready(limits(5, 3600), 100);
    push(&mut log, 200, 0, &[&[1], &[1], &[1]]);
    push(&mut log, 300, 0, &[&[1], &[2]]);

    // Nothing evicted yet: the starting floor is the line.
    assert_eq!(since(&log, at(99, 0), &[1]), too_old(&log));
    assert_eq!(since(&log, at(100, 0), &[1]), too_old(&log));
    assert_eq!(since(&log, at(100, u32::MAX), &[1]), too_old(&log));
    assert_eq!(since(&log, at(101, 0), &[1]).map(|p| p.len()), Ok(4));
    assert_eq!(
        since(&log, at(200, 1), &[1]),
        Ok(vec![at(200, 2), at(300, 0)])
    );

    push(&mut log, 400, 0, &[&[1]]);
    assert_eq!(log.oldest(), Some(at(300, 0)));
    let oldest_available = Some(at(300, 0));
    for after in [at(100, 0), at(199, 0), at(200, 0), at(200, 1)] {
        assert_eq!(
            since(&log, after, &[2]),
            Err(ResumeError::TooOld { oldest_available }),
            "{after}: may have missed the rest of 200 (its key does not matter)"
        );
    }
    assert_eq!(
        since(&log, at(200, 2), &[1]),
        Ok(vec![at(300, 0), at(400, 0)])
    );
    assert_eq!(
        since(&log, at(200, 9), &[1]),
        Ok(vec![at(300, 0), at(400, 0)])
    );
    assert_eq!(since(&log, at(201, 0), &[2]), Ok(vec![at(300, 1)]));
}

#[test]
fn the_starting_floor_is_too_old_even_before_anything_is_evicted() {
    // After a restart the floor is the slot's confirmed position: the
    // previous process may have delivered events at or below it.
    let mut log = ready(limits(100, 3600), 500);
    assert_eq!(
        since(&log, at(500, 0), &[1]),
        Err(ResumeError::TooOld {
            oldest_available: None
        })
    );
    push(&mut log, 600, 0, &[&[1]]);
    assert_eq!(since(&log, at(500, 7), &[1]), too_old(&log));
    assert_eq!(since(&log, at(501, 0), &[1]), Ok(vec![at(600, 0)]));
}

#[test]
fn other_epochs_and_unready_logs_answer_nothing() {
    let mut log = ReplayLog::new(EPOCH, limits(100, 3600), 100);
    push(&mut log, 200, 0, &[&[1]]);
    let foreign = Position {
        epoch: Epoch(1),
        ..at(150, 0)
    };
    assert_eq!(since(&log, foreign, &[1]), Err(ResumeError::OtherEpoch));
    assert!(!log.is_ready());
    assert_eq!(since(&log, at(150, 0), &[1]), Err(ResumeError::NotReady));
    assert_eq!(since(&log, at(999, 0), &[1]), Err(ResumeError::NotReady));
    log.set_ready();
    assert!(log.is_ready());
    assert_eq!(since(&log, at(150, 0), &[1]), Ok(vec![at(200, 0)]));
    assert_eq!(since(&log, foreign, &[1]), Err(ResumeError::OtherEpoch));
}

#[test]
fn counts_and_bytes_follow_the_content() {
    let mut log = ready(limits(100, 60), 100);
    let empty = log.approx_bytes();
    push(&mut log, 200, 0, &[&[1, 2], &[3]]);
    assert_eq!((log.len(), log.transactions()), (2, 1));
    assert!(log.approx_bytes() > empty);
    assert_eq!(log.filed.len(), 3);
    log.evict_expired(time(1000));
    assert_eq!((log.len(), log.transactions(), log.filed.len()), (0, 0, 0));
    assert!(log.postings.is_empty());
}

#[test]
fn the_log_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<std::sync::Mutex<ReplayLog>>();
    shared::<ReplayLog>();
}

/// A rare key among 200 000 events: `since` reads that key's entries (and
/// a binary search over them), not the window.
#[test]
fn a_rare_key_costs_its_own_entries() {
    const TABLE: u64 = 1;
    const RARE: u64 = 2;
    const OTHER_RARE: u64 = 3;
    let mut log = ready(ReplayLimits::default(), 0);
    let relation = relation();
    for tx in 0..50_000u64 {
        let lsn = 1000 + tx * 100;
        let events = (0..4u32).map(|index| {
            let n = tx * 4 + u64::from(index);
            let mut keys = vec![TABLE, 1000 + n % 5000];
            if n % 20_000 == 7 {
                keys.push(RARE);
            }
            if n % 50_000 == 9 {
                keys.push(OTHER_RARE);
            }
            (change(&relation, at(lsn, index)), keys)
        });
        log.push_transaction(lsn, time(0), events);
    }
    assert_eq!(log.len(), 200_000);

    fn visit(log: &ReplayLog, after: Position, keys: &[u64]) -> (usize, usize) {
        let (mut out, mut visited) = (Vec::new(), 0);
        log.collect(&after, keys, usize::MAX, &mut out, &mut visited)
            .expect("in the window");
        (out.len(), visited)
    }
    let (found, visited) = visit(&log, at(1, 0), &[RARE]);
    assert_eq!(found, 10);
    assert!(visited <= found + 5, "visited {visited} for {found}");

    // After the fifth: event 80 007 is the last of transaction 20 001.
    let (found, visited) = visit(&log, at(1000 + 20_001 * 100, 3), &[RARE]);
    assert_eq!(found, 5);
    assert!(visited <= found + 5, "visited {visited} for {found}");

    let (found, visited) = visit(&log, at(1, 0), &[RARE, OTHER_RARE]);
    assert_eq!(found, 14);
    assert!(visited <= found + 10, "visited {visited} for {found}");

    let (found, visited) = visit(&log, at(1, 0), &[ReplayLog::ALL]);
    assert_eq!(found, 200_000);
    assert!(visited >= 200_000, "the full list is the window");

    // Eviction at the limit stays per transaction and keeps the lists right.
    push(&mut log, 10_000_000, 0, &[&[RARE]]);
    assert_eq!((log.len(), log.floor()), (199_997, 1000));
    assert_eq!(visit(&log, at(1001, 0), &[RARE]).0, 11);
}

/// splitmix64: a small deterministic generator for the random logs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// An event as pushed, kept forever by the random test.
struct Pushed {
    position: Position,
    keys: Vec<u64>,
}

/// The answer `since` must give, from everything ever pushed: `Ok` with
/// every event after `after` filed under a key when no event the log may
/// have dropped (at or below the starting floor, or evicted) is after
/// `after`; `TooOld` otherwise.
fn naive_since(
    history: &[Pushed],
    evicted: usize,
    start_floor: Lsn,
    after: Position,
    keys: &[u64],
) -> Result<Vec<Position>, ()> {
    let is_after = |p: &Position| (p.lsn, p.index) > (after.lsn, after.index);
    if after.lsn <= start_floor || history[..evicted].iter().any(|e| is_after(&e.position)) {
        return Err(());
    }
    let filed =
        |e: &Pushed| keys.contains(&ReplayLog::ALL) || e.keys.iter().any(|key| keys.contains(key));
    Ok(history
        .iter()
        .filter(|e| is_after(&e.position) && filed(e))
        .map(|e| e.position)
        .collect())
}

#[test]
fn random_logs_agree_with_a_naive_scan() {
    const KEYS: [u64; 6] = [0, 1, 2, 3, 4, ReplayLog::ALL];
    let relation = relation();
    let mut queries = [0usize; 4];
    for case in 0..400 {
        let mut rng = Rng(case);
        let limits = limits(rng.below(30) as usize, rng.below(40) + 1);
        let start_floor = 100 + rng.below(50);
        let mut log = ReplayLog::new(EPOCH, limits, start_floor);
        let mut history: Vec<Pushed> = Vec::new();
        let (mut lsn, mut secs) = (start_floor, 0);
        let steps = 80;
        let ready_at = rng.below(steps / 2);
        let mut last_floor = log.floor();
        for step in 0..steps {
            if step == ready_at {
                log.set_ready();
            }
            match rng.below(10) {
                0 => {
                    lsn += rng.below(20) + 1;
                    log.note_progress(lsn);
                }
                1 if rng.below(2) == 0 => log.evict_expired(time(secs + rng.below(60))),
                1 => {
                    // A key the caller starts using: derived from the
                    // position, as a column value would be from the row.
                    let under = rng.pick(&KEYS);
                    let salt = rng.below(3);
                    let derived = |p: &Position| (p.lsn + u64::from(p.index) + salt) % 5;
                    log.backfill(under, |change| Some(derived(&change.position)));
                    let evicted = history.len() - log.len();
                    for event in &mut history[evicted..] {
                        if under == ReplayLog::ALL || event.keys.contains(&under) {
                            event.keys.push(derived(&event.position));
                        }
                    }
                }
                2 => {
                    // A re-send: ignored.
                    let old = lsn - rng.below(lsn - start_floor + 1);
                    let events = [(change(&relation, at(old, 0)), [1])];
                    log.push_transaction(old, time(secs), events);
                }
                _ => {
                    lsn += rng.below(20) + 1;
                    secs += rng.below(15);
                    let mut index = 0;
                    let mut events = Vec::new();
                    for _ in 0..rng.below(5) {
                        index += rng.below(2) as u32;
                        let keys: Vec<u64> = (0..rng.below(4)).map(|_| rng.pick(&KEYS)).collect();
                        history.push(Pushed {
                            position: at(lsn, index),
                            keys: keys.clone(),
                        });
                        events.push((change(&relation, at(lsn, index)), keys));
                        index += 1;
                    }
                    log.push_transaction(lsn, time(secs), events);
                }
            }

            // The log is a suffix of whole transactions, above the floor.
            let evicted = history.len() - log.len();
            let kept: Vec<Position> = log.events.iter().map(|e| e.change.position).collect();
            let expected: Vec<Position> = history[evicted..].iter().map(|e| e.position).collect();
            assert_eq!(kept, expected, "case {case} step {step}");
            assert!(log.len() <= limits.max_events);
            if evicted > 0 && evicted < history.len() {
                assert_ne!(history[evicted - 1].position.lsn, kept[0].lsn);
            }
            assert!(log.floor() >= last_floor, "the floor never goes back");
            last_floor = log.floor();
            assert!(kept.iter().all(|p| p.lsn > log.floor()));
            assert!(
                history[..evicted]
                    .iter()
                    .all(|e| e.position.lsn <= log.floor())
            );
            if log.is_empty() {
                assert_eq!(log.floor(), log.newest_lsn());
            }
            let postings: usize = log.postings.values().map(|list| list.len()).sum();
            assert_eq!(postings, log.filed.len());
            assert!(log.postings.values().all(|list| !list.is_empty()));

            for _ in 0..6 {
                let after = match rng.below(3) {
                    0 if !history.is_empty() => {
                        let e = &history[rng.below(history.len() as u64) as usize];
                        let index = e.position.index + rng.below(3) as u32;
                        at(e.position.lsn, index.saturating_sub(1))
                    }
                    _ => at(start_floor - 5 + rng.below(lsn - start_floor + 15), 0),
                };
                let mut keys: Vec<u64> = (0..=rng.below(3)).map(|_| rng.pick(&KEYS)).collect();
                if rng.below(8) == 0 {
                    keys.push(77);
                }
                let answer = since(&log, after, &keys);
                if !log.is_ready() {
                    assert_eq!(answer, Err(ResumeError::NotReady));
                    queries[0] += 1;
                    continue;
                }
                match naive_since(&history, evicted, start_floor, after, &keys) {
                    Ok(events) => {
                        queries[if events.is_empty() { 1 } else { 2 }] += 1;
                        let limit = rng.below(4) as usize;
                        let pieces = in_pieces(&log, after, &keys, limit).map(|p| p.concat());
                        assert_eq!(pieces.as_ref(), Ok(&events), "by {limit}");
                        assert_eq!(
                            answer,
                            Ok(events),
                            "case {case} step {step} {after} {keys:?}"
                        );
                    }
                    Err(()) => {
                        queries[3] += 1;
                        assert_eq!(answer, too_old(&log), "case {case} step {step} {after}");
                    }
                }
                let foreign = Position {
                    epoch: Epoch(case + 1),
                    ..after
                };
                assert_eq!(since(&log, foreign, &keys), Err(ResumeError::OtherEpoch));
            }
        }
    }
    // Every kind of answer came up often.
    assert!(queries.iter().all(|&n| n > 5_000), "{queries:?}");
}
