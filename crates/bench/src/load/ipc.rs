//! How the coordinator and its load processes talk: one line per message.
//!
//! ```text
//!  coordinator ──stdin──▶ load process:  `window <label> <start µs> <end µs>` | `report <label>` | EOF = stop
//!  coordinator ◀─stdout── load process:  one JSON object per line (`Ready`, then one `WorkerReport` per `report`)
//! ```
//!
//! Times are microseconds since the Unix epoch; a sample counts when the
//! row it measures was created inside the window (subscribers), or when it
//! was scheduled inside it (churn).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::load::latency::Latencies;
use crate::load::process::Child;

/// How long a worker may take to answer `report`.
const REPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Asks every worker for its report of window `label`, and merges them.
pub async fn collect_reports(workers: &mut [Child], label: &str) -> anyhow::Result<WorkerReport> {
    let command = Command::Report {
        label: label.to_owned(),
    }
    .line();
    let mut merged = WorkerReport::default();
    for worker in workers {
        worker.send(&command).await?;
        let report: WorkerReport = worker.read_json(REPORT_TIMEOUT).await?;
        merged.merge(&report);
    }
    Ok(merged)
}

/// A line from the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start counting samples inside `[start, end)`; forget earlier ones.
    Window {
        /// Names the phase in the report.
        label: String,
        /// First microsecond counted.
        start: i64,
        /// First microsecond no longer counted.
        end: i64,
    },
    /// Print a [`WorkerReport`] of the current window.
    Report {
        /// Echoed in the report.
        label: String,
    },
}

impl Command {
    /// Parses one line; `None` for anything else.
    pub fn parse(line: &str) -> Option<Self> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["window", label, start, end] => Some(Self::Window {
                label: label.to_owned(),
                start: start.parse().ok()?,
                end: end.parse().ok()?,
            }),
            ["report", label] => Some(Self::Report {
                label: label.to_owned(),
            }),
            _ => None,
        }
    }

    /// The line that [`parse`](Self::parse) reads back.
    pub fn line(&self) -> String {
        match self {
            Self::Window { label, start, end } => format!("window {label} {start} {end}\n"),
            Self::Report { label } => format!("report {label}\n"),
        }
    }
}

/// The first line of a load process: its sockets are open (and joined).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Ready {
    /// Sockets ready.
    pub ready: u64,
    /// Sockets that failed to open or join.
    pub failed: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
}

/// What a load process measured in one window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WorkerReport {
    /// The window's label.
    pub label: String,
    /// Named counters (deliveries, errors by kind, …).
    pub counters: BTreeMap<String, u64>,
    /// Named latency distributions as `(µs, count)` pairs.
    pub histograms: BTreeMap<String, Vec<(u64, u64)>>,
    /// The first error of the window, if any.
    pub first_error: Option<String>,
}

impl WorkerReport {
    /// Adds `latencies` under `name`.
    pub fn with_histogram(mut self, name: &str, latencies: &Latencies) -> Self {
        self.histograms
            .insert(name.to_owned(), latencies.to_pairs());
        self
    }

    /// Adds every counter and histogram of `other` into this one.
    pub fn merge(&mut self, other: &WorkerReport) {
        for (name, value) in &other.counters {
            *self.counters.entry(name.clone()).or_default() += value;
        }
        for (name, pairs) in &other.histograms {
            let mut merged = self.histogram(name);
            merged.merge(&Latencies::from_pairs(pairs));
            self.histograms.insert(name.clone(), merged.to_pairs());
        }
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// The distribution named `name` (empty when absent).
    pub fn histogram(&self, name: &str) -> Latencies {
        self.histograms
            .get(name)
            .map(|pairs| Latencies::from_pairs(pairs))
            .unwrap_or_default()
    }

    /// The counter named `name` (0 when absent).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip() {
        let window = Command::Window {
            label: "1000/s".to_owned(),
            start: 5,
            end: 9,
        };
        assert_eq!(Command::parse(&window.line()), Some(window));
        let report = Command::Report {
            label: "x".to_owned(),
        };
        assert_eq!(Command::parse(&report.line()), Some(report));
        assert_eq!(Command::parse("window x 1"), None);
    }

    #[test]
    fn reports_merge() {
        let mut latencies = Latencies::new();
        latencies.record(100);
        let mut a = WorkerReport::default().with_histogram("h", &latencies);
        a.counters.insert("n".to_owned(), 2);
        let b = a.clone();
        a.merge(&b);
        assert_eq!(a.counter("n"), 4);
        assert_eq!(a.histogram("h").count(), 2);
        let line = serde_json::to_string(&a).expect("serializes");
        let back: WorkerReport = serde_json::from_str(&line).expect("parses");
        assert_eq!(back.histogram("h").count(), 2);
    }
}
