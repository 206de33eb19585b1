//! The fan-out over real sockets. A change that reaches at most
//! [`DIRECT_WRITES`] connections is written into their sockets by the
//! publisher, even past tokio's cooperative budget (128 polls per turn of
//! a task); one that reaches more is queued for the connections' writers.
//! Either way every member reads it once.

mod support;

use changes::{Epoch, Position, ReplayLimits};
use gateway::Limits;
use gateway::connection::DIRECT_WRITES;
use serde_json::{Value, json};
use support::{Server, Socket, item_insert, items, join, next_json, start};

/// Joins `count` sockets to conversation `conv`'s inserts.
async fn members(server: &Server, conv: i64, count: usize) -> Vec<Socket> {
    let config = json!({
        "postgres_changes": [{"event": "INSERT", "schema": "public", "table": "items", "filter": format!("conv=eq.{conv}")}],
        "presence": {"enabled": false},
    });
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let mut socket = server.connect(Some("2.0.0")).await;
        join(
            &mut socket,
            "1",
            &format!("realtime:conv-{conv}"),
            config.clone(),
        )
        .await;
        let subscribed = next_json(&mut socket).await;
        assert_eq!(subscribed[3], "system", "{subscribed}");
        members.push(socket);
    }
    members
}

/// Publishes an insert into conversation `conv`; returns the bytes queued
/// right after, and the size of the frame every member then reads.
async fn publish(server: &Server, members: &mut [Socket], conv: i64, lsn: u64) -> (usize, usize) {
    let position = Position {
        epoch: Epoch(1),
        lsn,
        index: 0,
    };
    let mut events = vec![item_insert(&items(), position, 7, conv, "hello")];
    // One thread: no writer task runs until the publish returns, so a
    // frame not written directly is still in its queue.
    server.gateway.publish(&mut events).await;
    let queued = server.gateway.queued_bytes();
    let mut frame_bytes = 0;
    for socket in members {
        let frame: Value = next_json(socket).await;
        assert_eq!(frame[3], "postgres_changes", "{frame}");
        assert_eq!(frame[4]["data"]["record"]["conv"], conv, "{frame}");
        frame_bytes = frame.to_string().len();
    }
    (queued, frame_bytes)
}

#[tokio::test(flavor = "current_thread")]
async fn small_fan_outs_are_written_directly_and_large_ones_by_the_writers() {
    let server = start(Limits::default()).await;
    let hub = server.gateway.hub();
    hub.start_replay(Epoch(1), ReplayLimits::default(), 1);
    hub.set_replay_ready();
    let mut small = members(&server, 1, 300).await;
    let mut large = members(&server, 2, DIRECT_WRITES + 1).await;
    // Every reply was read: no socket has anything waiting.
    assert_eq!(server.gateway.queued_bytes(), 0);

    let (queued, _) = publish(&server, &mut small, 1, 100).await;
    assert_eq!(queued, 0, "300 frames went straight into their sockets");

    let (queued, frame_bytes) = publish(&server, &mut large, 2, 200).await;
    assert_eq!(
        queued,
        large.len() * frame_bytes,
        "a fan-out to more than {DIRECT_WRITES} is left to the writers"
    );
    assert_eq!(server.gateway.queued_bytes(), 0, "and they wrote it");
}
