//! Latency distributions: an HdrHistogram of microseconds per measured
//! path, sent from a load process to the coordinator as `(value, count)`
//! pairs in a JSON line, merged there, and summarised as
//! p50 / p99 / p99.9 / max.

use hdrhistogram::Histogram;

/// The largest latency recorded: anything slower is recorded as this.
const MAX_MICROS: u64 = 600_000_000;

/// Three significant digits: 1 µs resolution below 1 ms, 1 ms near 1 s.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Latencies in microseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    histogram: Histogram<u64>,
    /// Samples below zero (a clock step); recorded as 0.
    negative: u64,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    /// An empty distribution.
    pub fn new() -> Self {
        let histogram = Histogram::new_with_bounds(1, MAX_MICROS, SIGNIFICANT_DIGITS)
            .expect("constant bounds are valid");
        Self {
            histogram,
            negative: 0,
        }
    }

    /// Records one sample.
    pub fn record(&mut self, micros: i64) {
        if micros < 0 {
            self.negative += 1;
        }
        let value = u64::try_from(micros).unwrap_or(0);
        self.histogram.saturating_record(value.min(MAX_MICROS));
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
        self.negative += other.negative;
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.histogram.reset();
        self.negative = 0;
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The distribution as `(value, count)` pairs, for a report line.
    pub fn to_pairs(&self) -> Vec<(u64, u64)> {
        self.histogram
            .iter_recorded()
            .map(|step| (step.value_iterated_to(), step.count_at_value()))
            .collect()
    }

    /// Rebuilds a distribution from [`to_pairs`](Self::to_pairs).
    pub fn from_pairs(pairs: &[(u64, u64)]) -> Self {
        let mut latencies = Self::new();
        for &(value, count) in pairs {
            let _ = latencies.histogram.record_n(value.min(MAX_MICROS), count);
        }
        latencies
    }

    /// The percentiles a report shows.
    pub fn summary(&self) -> Summary {
        let at = |quantile| self.histogram.value_at_quantile(quantile);
        Summary {
            count: self.count(),
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: self.histogram.max(),
            negative: self.negative,
        }
    }
}

/// Percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
    /// Samples below zero, recorded as 0.
    pub negative: u64,
}

impl Summary {
    /// `p50 p99 p99.9 max` in milliseconds, for a table cell each.
    pub fn cells(&self) -> [String; 4] {
        [self.p50, self.p99, self.p999, self.max].map(format_ms)
    }
}

/// Latencies of rows created inside a window: what the coordinator's own
/// readers (the raw slot reader, the poller) keep.
#[derive(Debug, Default)]
pub struct Windowed {
    window: Option<(i64, i64)>,
    latencies: Latencies,
    /// Rows created outside the window.
    outside: u64,
    /// Rows without a readable `created_at`.
    unreadable: u64,
}

impl Windowed {
    /// Starts counting rows created in `[start, end)`; forgets earlier ones.
    pub fn set_window(&mut self, start: i64, end: i64) {
        *self = Self {
            window: Some((start, end)),
            ..Self::default()
        };
    }

    /// One row received at `received` (µs) that was created at `created`.
    pub fn record(&mut self, received: i64, created: Option<i64>) {
        match (created, self.window) {
            (Some(created), Some((start, end))) if (start..end).contains(&created) => {
                self.latencies.record(received - created);
            }
            (Some(_), _) => self.outside += 1,
            (None, _) => self.unreadable += 1,
        }
    }

    /// The latencies of the window's rows.
    pub fn latencies(&self) -> &Latencies {
        &self.latencies
    }

    /// Rows without a readable `created_at` since the window was set.
    pub fn unreadable(&self) -> u64 {
        self.unreadable
    }
}

/// Microseconds as milliseconds with two decimals.
pub fn format_ms(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_and_merge() {
        let mut a = Latencies::new();
        for micros in 1..=1000 {
            a.record(micros);
        }
        a.record(-5);
        let copy = Latencies::from_pairs(&a.to_pairs());
        assert_eq!(copy.count(), 1001);
        assert_eq!(copy.summary().p50, a.summary().p50);
        let mut merged = Latencies::new();
        merged.merge(&a);
        merged.merge(&copy);
        assert_eq!(merged.count(), 2002);
        assert_eq!(a.summary().negative, 1);
        let summary = a.summary();
        assert!((499..=501).contains(&summary.p50), "{summary:?}");
        assert!((989..=991).contains(&summary.p99), "{summary:?}");
        assert_eq!(summary.max, 1000);
        assert_eq!(format_ms(1500), "1.50");
    }
}
