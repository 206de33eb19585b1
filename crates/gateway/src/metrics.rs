//! Counters for `/metrics` (Prometheus text) and `/health`: plain atomics
//! bumped on the paths that do the work, read when scraped. Nothing here
//! allocates per event; join errors are counted by their code (the text
//! before `:` in the reason), a small fixed set.
//!
//! The replication side (slot lag, decode time, last commit) is fed by the
//! binary through [`Metrics::set_replication`] and
//! [`Metrics::observe_decode`]: this crate knows nothing of Postgres.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;

/// Upper bounds (seconds) of the latency histograms' buckets.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A fixed-bucket histogram of durations.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_micros: AtomicU64,
}

impl Histogram {
    pub(crate) fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(value.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// What the binary reports about replication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplicationHealth {
    /// A walsender session is streaming.
    pub connected: bool,
    /// WAL the slot holds back, in bytes (`None`: unknown yet).
    pub slot_lag_bytes: Option<i64>,
}

/// Gateway-wide counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) connections_total: AtomicU64,
    pub(crate) joins_total: AtomicU64,
    join_errors: DashMap<String, AtomicU64>,
    pub(crate) changes_in: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) slow_consumer_closes: AtomicU64,
    pub(crate) resumes: AtomicU64,
    pub(crate) resumes_unavailable: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) commit_to_queue: Histogram,
    decode: Histogram,
    replication_connected: AtomicBool,
    /// `i64::MIN`: unknown.
    slot_lag_bytes: AtomicI64,
    /// Commit time of the newest change seen, in microseconds since the epoch.
    last_commit_micros: AtomicU64,
    /// When the binary last reported (seconds since the epoch), 0 = never.
    replication_reported: AtomicU64,
}

impl Metrics {
    /// Counts a refused join under the code of its reason.
    pub(crate) fn join_error(&self, reason: &str) {
        let code = reason
            .split_once(':')
            .map_or(reason, |(code, _)| code)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(48)
            .collect::<String>();
        if let Some(counter) = self.join_errors.get(&code) {
            counter.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // The codes are a small fixed set; cap the map anyway.
        if self.join_errors.len() < 64 {
            self.join_errors
                .entry(code)
                .or_default()
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes a change's commit time, for the age of the last commit seen.
    pub(crate) fn saw_commit(&self, commit: SystemTime) {
        let micros = commit
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        self.last_commit_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// Replication state, reported by the binary (about once a second).
    pub fn set_replication(&self, health: ReplicationHealth) {
        self.replication_connected
            .store(health.connected, Ordering::Relaxed);
        self.slot_lag_bytes
            .store(health.slot_lag_bytes.unwrap_or(i64::MIN), Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.replication_reported.store(now, Ordering::Relaxed);
    }

    /// Connections closed as slow consumers so far.
    pub fn slow_consumer_closes(&self) -> u64 {
        self.slow_consumer_closes.load(Ordering::Relaxed)
    }

    /// Time spent decoding one batch of transactions.
    pub fn observe_decode(&self, took: Duration) {
        self.decode.observe(took);
    }

    /// The last reported replication state; `None` when never reported
    /// (a gateway without a replication stream, as in tests).
    pub fn replication(&self) -> Option<ReplicationHealth> {
        if self.replication_reported.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let lag = self.slot_lag_bytes.load(Ordering::Relaxed);
        Some(ReplicationHealth {
            connected: self.replication_connected.load(Ordering::Relaxed),
            slot_lag_bytes: (lag != i64::MIN).then_some(lag),
        })
    }

    /// Seconds since the newest commit seen, `None` before the first.
    pub fn last_commit_age(&self) -> Option<f64> {
        let micros = self.last_commit_micros.load(Ordering::Relaxed);
        (micros > 0).then(|| {
            let commit = UNIX_EPOCH + Duration::from_micros(micros);
            SystemTime::now()
                .duration_since(commit)
                .unwrap_or_default()
                .as_secs_f64()
        })
    }

    /// The Prometheus text exposition; `gauges` are point-in-time values
    /// the caller reads from the hub and the server.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let mut gauge = |name: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            "walcast_connections",
            "Open WebSocket connections.",
            gauges.connections as f64,
        );
        gauge(
            "walcast_channels",
            "Joined channels.",
            gauges.channels as f64,
        );
        gauge(
            "walcast_postgres_bindings",
            "postgres_changes bindings in the subscription index.",
            gauges.bindings as f64,
        );
        gauge(
            "walcast_queued_bytes",
            "Bytes queued to connections and not yet written.",
            gauges.queued_bytes as f64,
        );
        gauge(
            "walcast_replay_window_changes",
            "Changes held in the replay window.",
            gauges.replay_events as f64,
        );
        gauge(
            "walcast_resident_memory_bytes",
            "Resident set size of the process.",
            gauges.resident_bytes.unwrap_or(0) as f64,
        );
        if let Some(replication) = self.replication() {
            gauge(
                "walcast_replication_connected",
                "1 while the replication stream is connected.",
                f64::from(u8::from(replication.connected)),
            );
            if let Some(lag) = replication.slot_lag_bytes {
                gauge(
                    "walcast_slot_lag_bytes",
                    "WAL the replication slot holds back.",
                    lag as f64,
                );
            }
        }
        if let Some(age) = self.last_commit_age() {
            gauge(
                "walcast_last_commit_age_seconds",
                "Seconds since the commit time of the newest change seen.",
                age,
            );
        }
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        counter(
            "walcast_connections_total",
            "WebSocket connections accepted.",
            load(&self.connections_total),
        );
        counter(
            "walcast_joins_total",
            "Channel joins answered ok.",
            load(&self.joins_total),
        );
        counter(
            "walcast_changes_total",
            "Row changes received from the replication stream.",
            load(&self.changes_in),
        );
        counter(
            "walcast_messages_total",
            "Logical messages received from the replication stream.",
            load(&self.messages_in),
        );
        counter(
            "walcast_deliveries_total",
            "Frames queued to connections by the fan-out.",
            gauges.deliveries,
        );
        counter(
            "walcast_slow_consumer_closes_total",
            "Connections closed because their outbound queue overflowed (queue drops).",
            load(&self.slow_consumer_closes),
        );
        counter(
            "walcast_resumes_total",
            "Joins that resumed from a position.",
            load(&self.resumes),
        );
        counter(
            "walcast_resumes_unavailable_total",
            "Resumes answered ResumeUnavailable.",
            load(&self.resumes_unavailable),
        );
        counter(
            "walcast_replayed_total",
            "Events replayed to resuming channels.",
            load(&self.replayed),
        );
        let _ = writeln!(
            out,
            "# HELP walcast_join_errors_total Refused joins by error code.\n# TYPE walcast_join_errors_total counter"
        );
        let mut codes: Vec<(String, u64)> = self
            .join_errors
            .iter()
            .map(|entry| (entry.key().clone(), entry.value().load(Ordering::Relaxed)))
            .collect();
        codes.sort();
        for (code, count) in codes {
            let _ = writeln!(out, "walcast_join_errors_total{{code=\"{code}\"}} {count}");
        }
        self.commit_to_queue.render(
            &mut out,
            "walcast_commit_to_send_seconds",
            "From a change's commit timestamp to its frame being queued to a subscriber.",
        );
        self.decode.render(
            &mut out,
            "walcast_decode_seconds",
            "Decoding time per batch of transactions.",
        );
        out
    }
}

/// Point-in-time values for [`Metrics::render`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gauges {
    pub(crate) connections: u64,
    pub(crate) channels: usize,
    pub(crate) bindings: usize,
    pub(crate) queued_bytes: usize,
    pub(crate) replay_events: usize,
    pub(crate) deliveries: u64,
    pub(crate) resident_bytes: Option<u64>,
}

/// The process's resident set size, from `/proc/self/status` (Linux).
pub(crate) fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_join_error_codes() {
        let metrics = Metrics::default();
        metrics.join_error("Unauthorized: role visitor may not join x");
        metrics.join_error("Unauthorized: again");
        metrics.join_error("InvalidJWTToken: Token has expired 3 seconds ago");
        metrics.commit_to_queue.observe(Duration::from_micros(700));
        metrics.commit_to_queue.observe(Duration::from_millis(30));
        let text = metrics.render(&Gauges {
            connections: 3,
            ..Gauges::default()
        });
        assert!(text.contains("walcast_connections 3\n"), "{text}");
        assert!(text.contains("walcast_join_errors_total{code=\"Unauthorized\"} 2\n"));
        assert!(text.contains("walcast_join_errors_total{code=\"InvalidJWTToken\"} 1\n"));
        assert!(text.contains("walcast_commit_to_send_seconds_bucket{le=\"0.001\"} 1\n"));
        assert!(text.contains("walcast_commit_to_send_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("walcast_commit_to_send_seconds_count 2\n"));
        assert!(
            !text.contains("walcast_replication_connected"),
            "not reported yet"
        );
        metrics.set_replication(ReplicationHealth {
            connected: true,
            slot_lag_bytes: Some(42),
        });
        let text = metrics.render(&Gauges::default());
        assert!(text.contains("walcast_replication_connected 1\n"));
        assert!(text.contains("walcast_slot_lag_bytes 42\n"));
    }
}
