//! The backlog both tools drain: a chat-style `messages` table, a
//! publication, slots created before the table is filled, and an end
//! marker.
//!
//! ```text
//!  prepare: schema walcast_bench, table messages, procedure fill, publication walcast_bench
//!  fill:    TRUNCATE ─▶ create every slot ─▶ CALL fill(txns, rows) ─▶ end LSN ─▶ end marker ─▶ CHECKPOINT
//!                          │                   (one COMMIT per txn)
//!                          └── every slot starts here, so every drain reads the same WAL
//! ```
//!
//! The end marker is a non-transactional logical message written after the
//! last transaction. `pg_recvlogical --endpos=<end LSN>` exits when a record
//! past the end LSN arrives (the marker), and the walcast drain stops when it
//! receives the marker, so both tools stop at the same point of the WAL.
//!
//! Everything lives in schema `walcast_bench`, so that `--database-url` may
//! point at a database that has a real `messages` table.

use std::time::{Duration, Instant};

use anyhow::Context;
use pgoutput::Lsn;
use replication::parse_lsn;
use tokio_postgres::Client;

/// The publication both tools stream.
pub const PUBLICATION: &str = "walcast_bench";

/// The prefix of the logical message that ends the backlog.
pub const END_MARKER_PREFIX: &str = "walcast_bench_end";

/// Creates the schema, the table, the fill procedure and the publication,
/// replacing what an earlier run left.
const PREPARE_SQL: &str = r#"
DROP PUBLICATION IF EXISTS walcast_bench;
DROP SCHEMA IF EXISTS walcast_bench CASCADE;
CREATE SCHEMA walcast_bench;

-- Shaped like the chat messages table. Autovacuum is off so that it does
-- not wake up on 400k fresh rows and steal a core from the drains.
CREATE TABLE walcast_bench.messages (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    sender_type text NOT NULL,
    body text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
) WITH (autovacuum_enabled = false);

-- One COMMIT per transaction of `rows_per_transaction` rows; each body is
-- 120 bytes.
CREATE PROCEDURE walcast_bench.fill(transactions int, rows_per_transaction int)
LANGUAGE plpgsql AS $$
DECLARE
    tenant uuid := gen_random_uuid();
    conversations uuid[] := ARRAY(SELECT md5('walcast-bench-conversation-' || i)::uuid
                                  FROM generate_series(1, 100) AS i);
BEGIN
    FOR t IN 1..transactions LOOP
        INSERT INTO walcast_bench.messages (conversation_id, tenant_id, sender_type, body, metadata)
        SELECT conversations[1 + (t * rows_per_transaction + r) % 100],
               tenant,
               CASE WHEN r % 2 = 0 THEN 'user' ELSE 'agent' END,
               left(format('message %s.%s: %s', t, r,
                           repeat('the quick brown fox jumps over the lazy dog ', 3)), 120),
               jsonb_build_object('client', 'bench', 'seq', t, 'row', r)
        FROM generate_series(1, rows_per_transaction) AS r;
        COMMIT;
    END LOOP;
END
$$;

CREATE PUBLICATION walcast_bench FOR TABLE walcast_bench.messages;
"#;

/// The conversations the fill writes to, round robin: the same ids in
/// every run, so subscriptions can watch them before the fill.
pub async fn conversation_ids(client: &Client) -> anyhow::Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT (md5('walcast-bench-conversation-' || i)::uuid)::text FROM generate_series(1, 100) AS i",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// One shape of backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Short name for the report.
    pub name: String,
    /// Committed transactions.
    pub transactions: u64,
    /// Rows inserted by each transaction.
    pub rows_per_transaction: u64,
}

impl Workload {
    /// Rows in the whole backlog.
    pub fn rows(&self) -> u64 {
        self.transactions * self.rows_per_transaction
    }
}

/// A filled backlog, waiting in its slots.
#[derive(Debug, Clone)]
pub struct Backlog {
    /// What was written.
    pub workload: Workload,
    /// Where the slots start.
    pub start_lsn: Lsn,
    /// The insert position after the last transaction; the end marker
    /// lies past it.
    pub end_lsn: Lsn,
    /// How long the fill took.
    pub fill_time: Duration,
}

impl Backlog {
    /// Bytes of WAL between the slots' start and the end.
    pub fn wal_bytes(&self) -> u64 {
        self.end_lsn.saturating_sub(self.start_lsn)
    }
}

/// Creates the schema, table, procedure and publication.
pub async fn prepare(client: &Client) -> anyhow::Result<()> {
    client
        .batch_execute(PREPARE_SQL)
        .await
        .context("cannot create the benchmark schema")
}

/// Empties the table, creates `slots` (dropping leftovers of the same
/// name), fills the table and writes the end marker.
pub async fn fill(
    client: &Client,
    workload: &Workload,
    slots: &[String],
) -> anyhow::Result<Backlog> {
    client
        .batch_execute("TRUNCATE walcast_bench.messages")
        .await?;
    drop_slots(client, slots).await?;
    for slot in slots {
        client
            .execute(
                "SELECT pg_create_logical_replication_slot($1, 'pgoutput')",
                &[slot],
            )
            .await
            .with_context(|| format!("cannot create slot {slot}"))?;
    }
    let start_lsn = insert_lsn(client).await?;

    let started = Instant::now();
    // CALL with COMMIT inside must be the only statement of its query.
    client
        .batch_execute(&format!(
            "CALL walcast_bench.fill({}, {})",
            workload.transactions, workload.rows_per_transaction
        ))
        .await
        .context("cannot fill the table")?;
    let fill_time = started.elapsed();

    // The insert position, not pg_current_wal_lsn(): with
    // synchronous_commit=off the write position may still lag the last
    // commits.
    let end_lsn = insert_lsn(client).await?;
    client
        .execute(
            "SELECT pg_logical_emit_message(false, $1, '')",
            &[&END_MARKER_PREFIX],
        )
        .await?;
    // Flushes the WAL and writes dirty buffers now rather than during a drain.
    client.batch_execute("CHECKPOINT").await?;
    Ok(Backlog {
        workload: workload.clone(),
        start_lsn,
        end_lsn,
        fill_time,
    })
}

/// Drops the slots that exist among `slots`.
pub async fn drop_slots(client: &Client, slots: &[String]) -> anyhow::Result<()> {
    for slot in slots {
        client
            .execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                &[slot],
            )
            .await
            .with_context(|| format!("cannot drop slot {slot}"))?;
    }
    Ok(())
}

/// The slot's `confirmed_flush_lsn`.
pub async fn confirmed_flush(client: &Client, slot: &str) -> anyhow::Result<Lsn> {
    let text: Option<String> = client
        .query_one(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1",
            &[&slot],
        )
        .await
        .with_context(|| format!("no slot {slot}"))?
        .get(0);
    text.as_deref()
        .and_then(parse_lsn)
        .with_context(|| format!("slot {slot} has no confirmed_flush_lsn"))
}

async fn insert_lsn(client: &Client) -> anyhow::Result<Lsn> {
    let text: String = client
        .query_one("SELECT pg_current_wal_insert_lsn()::text", &[])
        .await?
        .get(0);
    parse_lsn(&text).with_context(|| format!("bad lsn {text:?}"))
}
