//! Resumes over real sockets, fed with hand-made changes through
//! [`Hub::publish`](gateway::Hub::publish): a resume that missed far more
//! than the connection's queue holds is replayed at the speed the client
//! reads, exactly once and in order, with changes committed during the
//! replay, then live; and a replay the window outruns is told
//! `ResumeUnavailable` and goes live.
//!
//! No assertion depends on timing: loops are bounded by message counts and
//! waits only guard against hangs.

mod support;

use std::sync::Arc;
use std::time::Duration;

use changes::{Epoch, Position, Relation, ReplayLimits};
use gateway::{Hub, Limits};
use serde_json::{Value, json};
use support::{Socket, item_insert, items, join, next_json, start};

const EPOCH: Epoch = Epoch(0x5eed_0000_0000_0001);

/// The writer's side: transactions of two inserts, one into conversation
/// 1 (ids counting from 0) and one into conversation 2.
struct Writer {
    hub: Hub,
    relation: Arc<Relation>,
    next_id: i64,
    next_lsn: u64,
    body: Box<str>,
}

impl Writer {
    fn new(hub: &Hub, body_bytes: usize) -> Writer {
        Writer {
            hub: hub.clone(),
            relation: items(),
            next_id: 0,
            next_lsn: 1000,
            body: "x".repeat(body_bytes).into(),
        }
    }

    /// Commits `count` transactions; returns the position of the first
    /// conversation-1 row of each.
    fn commit(&mut self, count: usize) -> Vec<Position> {
        let mut positions = Vec::with_capacity(count);
        let mut events = Vec::new();
        for _ in 0..count {
            let lsn = self.next_lsn;
            self.next_lsn += 10;
            for (index, conv) in [(0, 1), (1, 2)] {
                let position = Position {
                    epoch: EPOCH,
                    lsn,
                    index,
                };
                if conv == 1 {
                    positions.push(position);
                }
                let id = if conv == 1 { self.next_id } else { -1 };
                events.push(item_insert(&self.relation, position, id, conv, &self.body));
            }
            self.next_id += 1;
        }
        self.hub.publish(&mut events);
        positions
    }
}

/// A replay window that answers resumes at once.
fn ready_window(hub: &Hub, limits: ReplayLimits) {
    hub.start_replay(EPOCH, limits, 1);
    hub.set_replay_ready();
}

/// Joins conversation 1's inserts, resuming from `position`; returns once
/// the reply and the "subscribed" system message are read.
async fn resume(socket: &mut Socket, position: &Position) {
    let config = json!({
        "postgres_changes": [{"event": "INSERT", "schema": "public", "table": "items", "filter": "conv=eq.1"}],
        "presence": {"enabled": false},
        "resume": {"position": position.to_string()},
    });
    join(socket, "1", "realtime:items", config).await;
    let subscribed = next_json(socket).await;
    assert_eq!(subscribed[3], "system", "{subscribed}");
    assert_eq!(subscribed[4]["status"], "ok", "{subscribed}");
}

/// What the next frame of the channel is.
enum Got {
    Row(i64),
    Unavailable(String),
}

async fn next_event(socket: &mut Socket) -> Got {
    let frame: Value = next_json(socket).await;
    match frame[3].as_str() {
        Some("postgres_changes") => {
            Got::Row(frame[4]["data"]["record"]["id"].as_i64().expect("an id"))
        }
        Some("system") => Got::Unavailable(frame[4]["message"].as_str().unwrap_or("").to_owned()),
        _ => panic!("unexpected frame {frame}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_longer_than_the_queue_is_paced_and_exactly_once() {
    let limits = Limits {
        queue_frames: 32,
        ..Limits::default()
    };
    let server = start(limits).await;
    let hub = server.gateway.hub().clone();
    ready_window(&hub, ReplayLimits::default());
    let mut writer = Writer::new(&hub, 10);
    let positions = writer.commit(300);

    // Resume after row 0: rows 1 to 299 are missed, nine times the queue.
    let mut socket = server.connect(Some("2.0.0")).await;
    resume(&mut socket, &positions[0]).await;

    // More rows are committed while the replay flows; the client reads
    // slowly, so the replay waits for it several times.
    let committer = tokio::spawn(async move {
        for _ in 0..100 {
            writer.commit(1);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        writer
    });
    let mut ids = Vec::new();
    while ids.len() < 399 {
        match next_event(&mut socket).await {
            Got::Row(id) => ids.push(id),
            Got::Unavailable(message) => panic!("told {message}"),
        }
        if ids.len() % 8 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    assert_eq!(
        ids,
        (1..400).collect::<Vec<_>>(),
        "every row once, in order"
    );

    // Live now: the next row comes straight away.
    let mut writer = committer.await.expect("committer");
    writer.commit(1);
    assert!(matches!(next_event(&mut socket).await, Got::Row(400)));
    assert_eq!(hub.stats().channels, 1, "never evicted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_the_window_outruns_is_told_and_goes_live() {
    // 100 kB rows and a 256 kB queue: a chunk is about one row, and the
    // socket's buffers hold a few dozen at most.
    let limits = Limits {
        queue_bytes: 256 * 1024,
        ..Limits::default()
    };
    let server = start(limits).await;
    let hub = server.gateway.hub().clone();
    ready_window(
        &hub,
        ReplayLimits {
            max_events: 500,
            ..ReplayLimits::default()
        },
    );
    let mut writer = Writer::new(&hub, 100_000);
    let positions = writer.commit(220);

    let mut socket = server.connect(Some("2.0.0")).await;
    resume(&mut socket, &positions[0]).await;
    // While the client reads nothing, the window turns over.
    writer.commit(300);

    let mut last = 0;
    let told = loop {
        match next_event(&mut socket).await {
            Got::Row(id) => {
                assert!(
                    id > last && id < 220,
                    "a replayed row, in order: {id} after {last}"
                );
                last = id;
            }
            Got::Unavailable(message) => break message,
        }
    };
    assert_eq!(
        told,
        "ResumeUnavailable: the position is older than the replay window"
    );
    // The first chunk went out under the join's lock, before the window
    // turned over: two rows fill half the queue.
    assert!(
        (2..219).contains(&last),
        "a part was replayed, then the window evicted rows not yet replayed: {last}"
    );

    // The channel is live.
    writer.commit(1);
    assert!(matches!(next_event(&mut socket).await, Got::Row(520)));
}
