//! Drains a slot through walcast's own pipeline, exactly as the gateway
//! reads it: replication stream (socket, envelope, pgoutput decoder,
//! transaction assembler) ─▶ bounded channel ─▶ `ChangeStream` (relation
//! cache, typed `to_jsonb`-style values) ─▶ confirm. With a gateway, each
//! batch is then published as `walcast serve` publishes it: into a fresh
//! replay window, matched against the subscription index and queued to the
//! sockets of the matching channels.
//!
//! The clock starts before the walsender connection is opened and stops
//! when the end marker arrives; the typed events are counted and dropped.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use changes::{ChangeStream, Epoch, Event, ReplayLimits};
use gateway::Gateway;
use pgoutput::Lsn;
use replication::{ConnectionConfig, ReplicationConfig};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::cpu::{CpuTicks, WalsenderProbe, seconds};
use crate::fixture::{Backlog, END_MARKER_PREFIX, PUBLICATION};
use crate::run::{DrainRun, Tool};

/// The `application_name` of the walcast drain's walsender.
const APPLICATION_NAME: &str = "walcast_bench";

/// Drains `slot` to the end marker and checks every row and transaction of
/// `backlog` arrived.
pub async fn drain_walcast(
    connection: &ConnectionConfig,
    sql: &Arc<Client>,
    slot: &str,
    backlog: &Backlog,
    gateway: Option<&Gateway>,
) -> anyhow::Result<DrainRun> {
    if let Some(gateway) = gateway {
        // A window of its own for every run (dropping the last one's
        // happens here, before the clock starts).
        let epoch = Epoch::derive("walcast-bench", slot, "");
        gateway
            .hub()
            .start_replay(epoch, ReplayLimits::default(), backlog.start_lsn);
        gateway.hub().set_replay_ready();
    }
    let gateway = gateway.cloned();
    let mut connection = connection.clone();
    connection.application_name = APPLICATION_NAME.to_owned();
    let config = ReplicationConfig::new(connection, slot, PUBLICATION);
    let shutdown = CancellationToken::new();

    let cpu_before = CpuTicks::of_self()?;
    let started = Instant::now();
    let probe = WalsenderProbe::start(Arc::clone(sql), slot);
    let replication = replication::start(config, shutdown.clone())
        .await
        .context("cannot start replication")?;
    let (mut stream, task) = ChangeStream::from_replication(replication);

    // The consumer runs as a task, as it would in the gateway: a task woken
    // by the replication task runs next on the same worker, where a future
    // in `block_on` would be woken across threads for every transaction.
    let consumer = tokio::spawn(async move {
        let mut counts = Counts::default();
        let mut events = Vec::with_capacity(4096);
        while !counts.saw_end {
            let Some(batch) = stream.next_batch(&mut events).await else {
                bail!("replication ended before the end marker");
            };
            let ack = batch.context("cannot decode a transaction")?;
            counts.add(&events);
            match &gateway {
                Some(gateway) => gateway.publish(&mut events).await,
                None => events.clear(),
            }
            stream.confirm(ack);
        }
        anyhow::Ok((counts, Instant::now()))
    });
    let consumed = consumer.await.context("consumer panicked")?;
    let (counts, finished) = match consumed {
        Ok(done) => done,
        Err(err) => {
            let ended = task.await;
            return Err(err.context(format!("replication task: {ended:?}")));
        }
    };
    let wall = finished - started;
    let cpu_after = CpuTicks::of_self()?;
    let walsender_cpu = probe.finish().await;

    shutdown.cancel();
    task.await
        .context("replication task panicked")?
        .context("replication failed")?;

    let workload = &backlog.workload;
    if counts.rows != workload.rows() || counts.transactions != workload.transactions {
        bail!(
            "walcast delivered {} transactions and {} rows, expected {} and {}",
            counts.transactions,
            counts.rows,
            workload.transactions,
            workload.rows()
        );
    }
    Ok(DrainRun {
        tool: Tool::Walcast,
        round: 0,
        wall,
        transactions: counts.transactions,
        rows: counts.rows,
        walsender_cpu,
        client_cpu: Some(seconds(cpu_after.own.saturating_sub(cpu_before.own))),
        steal: None,
        last_commit_end: Some(counts.last_commit_end),
    })
}

/// What the drain has seen so far.
#[derive(Debug, Default)]
struct Counts {
    transactions: u64,
    rows: u64,
    last_commit_end: Lsn,
    saw_end: bool,
}

impl Counts {
    fn add(&mut self, events: &[Event]) {
        for event in events {
            match event {
                Event::Change(change) => {
                    self.rows += 1;
                    // Index 0 is a transaction's first change.
                    if change.position.index == 0 {
                        self.transactions += 1;
                    }
                    self.last_commit_end = change.position.lsn;
                }
                Event::Message(message) => {
                    self.saw_end |= !message.transactional && message.prefix == END_MARKER_PREFIX;
                }
            }
        }
    }
}
