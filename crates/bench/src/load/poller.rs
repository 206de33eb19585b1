//! B1's second baseline: how Supabase Realtime reads changes for
//! `postgres_changes`. Its `ReplicationPoller` calls
//! `realtime.list_changes(…, max_changes = 100, …)`, i.e.
//! `pg_logical_slot_get_changes` on a wal2json (format 2) slot, and polls
//! again at once when it got rows, else after 100 ms
//! (`lib/extensions/postgres_cdc_rls/replication_poller.ex`). This poller
//! does the same SQL call without Supabase's per-subscriber RLS step
//! (`apply_rls`) and delivers to nobody: each row is timed when its poll
//! returns, receive time − `created_at`. It is therefore a lower bound of
//! Supabase's own latency on this box.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use crate::load::latency::Windowed;
use crate::load::protocol::{parse_timestamp, unix_micros_now};

/// Supabase's `poll_interval_ms`.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Supabase's `poll_max_changes`.
pub const MAX_CHANGES: i32 = 100;

/// The options `realtime.list_changes` passes to wal2json.
const GET_CHANGES: &str = "SELECT data FROM pg_logical_slot_get_changes($1, NULL, $2, \
     'include-pk', 'true', 'include-transaction', 'false', 'include-timestamp', 'true', \
     'include-type-oids', 'true', 'format-version', '2', 'actions', 'insert,update,delete')";

/// Polls `slot` until `shutdown`, timing rows of `table` into `tally`;
/// while `enabled` is false it only waits (the slot keeps what arrives).
/// Returns the number of polls made.
pub async fn run(
    client: &Client,
    slot: &str,
    table: &str,
    tally: Arc<Mutex<Windowed>>,
    enabled: Arc<AtomicBool>,
    shutdown: CancellationToken,
) -> anyhow::Result<u64> {
    let statement = client.prepare(GET_CHANGES).await?;
    let mut polls = 0u64;
    while !shutdown.is_cancelled() {
        if !enabled.load(Ordering::Relaxed) {
            tokio::time::sleep(POLL_INTERVAL).await;
            continue;
        }
        let rows = client
            .query(&statement, &[&slot, &MAX_CHANGES])
            .await
            .context("pg_logical_slot_get_changes failed")?;
        polls += 1;
        let received = unix_micros_now();
        {
            let mut tally = tally
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for row in &rows {
                let data: String = row.get(0);
                if let Some(created) = created_at(&data, table) {
                    tally.record(received, created);
                }
            }
        }
        if rows.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }
    Ok(polls)
}

/// `Some(created_at)` for a wal2json v2 row of `table`, `None` for rows of
/// other tables.
fn created_at(data: &str, table: &str) -> Option<Option<i64>> {
    let change: Value = serde_json::from_str(data).ok()?;
    if change["table"] != table {
        return None;
    }
    let columns = change["columns"].as_array();
    Some(
        columns
            .into_iter()
            .flatten()
            .find(|column| column["name"] == "created_at")
            .and_then(|column| column["value"].as_str())
            .and_then(parse_timestamp),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_wal2json_row() {
        let data = r#"{"action":"I","schema":"public","table":"messages","columns":[{"name":"id","type":"uuid","value":"x"},{"name":"created_at","type":"timestamp with time zone","value":"1970-01-01 00:00:02.25+00"}],"pk":[]}"#;
        assert_eq!(created_at(data, "messages"), Some(Some(2_250_000)));
        assert_eq!(created_at(data, "tenants"), None);
    }
}
