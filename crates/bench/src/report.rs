//! The printed report: one line per run as it finishes, then a summary
//! per scenario comparing the best run of each tool against the goal.

use std::fmt::Write;

use crate::fixture::Backlog;
use crate::run::{DrainRun, Tool};
use crate::scenario::ScenarioResult;

/// walcast must drain at least this fraction of `pg_recvlogical`'s rate
/// (with up to 10k subscriptions; [`GOAL_RATIO_MANY`] beyond).
pub const GOAL_RATIO: f64 = 0.95;

/// The goal with more than 10k subscriptions (B2: 100k).
pub const GOAL_RATIO_MANY: f64 = 0.90;

/// The column headings of [`run_line`].
pub fn run_header() -> String {
    format!(
        "{:<16} {:>5}  {:<15} {:>8} {:>10} {:>10} {:>12} {:>10} {:>8}",
        "scenario",
        "round",
        "tool",
        "wall s",
        "txns/s",
        "rows/s",
        "walsender s",
        "client s",
        "steal %"
    )
}

/// One run, under [`run_header`].
pub fn run_line(scenario: &str, run: &DrainRun) -> String {
    format!(
        "{:<16} {:>5}  {:<15} {:>8.3} {:>10} {:>10} {:>12} {:>10} {:>8}",
        scenario,
        run.round,
        run.tool.to_string(),
        run.wall.as_secs_f64(),
        thousands(run.transactions_per_second()),
        thousands(run.rows_per_second()),
        cpu(run.walsender_cpu),
        cpu(run.client_cpu),
        run.steal
            .map_or_else(|| "n/a".to_owned(), |s| format!("{:.1}", s * 100.0)),
    )
}

/// What was filled, and how fast.
pub fn backlog_line(backlog: &Backlog) -> String {
    let workload = &backlog.workload;
    format!(
        "{}: {} transactions x {} rows = {} rows, {:.1} MiB of WAL, filled in {:.1} s ({} txns/s)",
        workload.name,
        thousands(workload.transactions as f64),
        workload.rows_per_transaction,
        thousands(workload.rows() as f64),
        backlog.wal_bytes() as f64 / (1024.0 * 1024.0),
        backlog.fill_time.as_secs_f64(),
        thousands(workload.transactions as f64 / backlog.fill_time.as_secs_f64()),
    )
}

/// The summary table: per scenario, each tool's best run, then the ratio
/// walcast / `pg_recvlogical` three ways: of the best runs, of the median
/// runs, and the median of the per-round ratios. The last is the verdict:
/// the two runs of a round are back to back, so a host whose speed drifts
/// over minutes (shared vCPUs) moves both alike.
pub fn summary(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16} {:<15} {:>8} {:>10} {:>10} {:>12} {:>10}  {:>22}",
        "scenario",
        "tool",
        "best s",
        "txns/s",
        "rows/s",
        "walsender s",
        "client s",
        "ratio best/med/paired"
    );
    for result in results {
        let name = &result.backlog.workload.name;
        let runs = &result.runs;
        for tool in [Tool::PgRecvlogical, Tool::Walcast] {
            let Some(best) = runs
                .iter()
                .filter(|run| run.tool == tool)
                .min_by(|a, b| a.wall.cmp(&b.wall))
            else {
                continue;
            };
            let ratio = match tool {
                Tool::Walcast => ratios(runs).map_or_else(String::new, |r| {
                    let verdict = if r.paired >= result.goal {
                        "ok"
                    } else {
                        "BELOW"
                    };
                    format!(
                        "{:.3}/{:.3}/{:.3} {verdict} (goal {})",
                        r.best, r.median, r.paired, result.goal
                    )
                }),
                Tool::PgRecvlogical => String::new(),
            };
            let _ = writeln!(
                out,
                "{:<16} {:<15} {:>8.3} {:>10} {:>10} {:>12} {:>10}  {:>22}",
                name,
                tool.to_string(),
                best.wall.as_secs_f64(),
                thousands(best.transactions_per_second()),
                thousands(best.rows_per_second()),
                cpu(best.walsender_cpu),
                cpu(best.client_cpu),
                ratio
            );
        }
    }
    let _ = writeln!(
        out,
        "ratio = walcast rate / pg_recvlogical rate (= pg_recvlogical wall / walcast wall): of the best runs, \
         of the median runs, and the median over rounds of each round's ratio; verdict on the last"
    );
    out
}

/// walcast / `pg_recvlogical` rate ratios of one scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ratios {
    best: f64,
    median: f64,
    paired: f64,
}

fn ratios(runs: &[DrainRun]) -> Option<Ratios> {
    let walls = |tool| -> Vec<f64> {
        runs.iter()
            .filter(|run| run.tool == tool)
            .map(|run| run.wall.as_secs_f64())
            .collect()
    };
    let (walcast, baseline) = (walls(Tool::Walcast), walls(Tool::PgRecvlogical));
    let best = |walls: &[f64]| walls.iter().copied().reduce(f64::min);
    let paired: Vec<f64> = runs
        .iter()
        .filter(|run| run.tool == Tool::Walcast)
        .filter_map(|ours| {
            let theirs = runs
                .iter()
                .find(|run| run.tool == Tool::PgRecvlogical && run.round == ours.round)?;
            Some(theirs.wall.as_secs_f64() / ours.wall.as_secs_f64())
        })
        .collect();
    Some(Ratios {
        best: best(&baseline)? / best(&walcast)?,
        median: median(baseline)? / median(walcast)?,
        paired: median(paired)?,
    })
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 0 => Some((values[mid - 1] + values[mid]) / 2.0),
        _ => Some(values[mid]),
    }
}

fn cpu(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.2}"))
}

/// `1234567.8` → `"1,234,568"`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tool: Tool, round: u32, wall_ms: u64) -> DrainRun {
        DrainRun {
            tool,
            round,
            wall: std::time::Duration::from_millis(wall_ms),
            transactions: 10,
            rows: 10,
            walsender_cpu: None,
            client_cpu: None,
            steal: None,
            last_commit_end: None,
        }
    }

    #[test]
    fn ratios_best_median_and_paired() {
        let runs = [
            run(Tool::PgRecvlogical, 1, 1000),
            run(Tool::Walcast, 1, 1000),
            run(Tool::Walcast, 2, 2000),
            run(Tool::PgRecvlogical, 2, 1800),
            run(Tool::PgRecvlogical, 3, 1200),
            run(Tool::Walcast, 3, 1000),
        ];
        let r = ratios(&runs).expect("both tools ran");
        assert!((r.best - 1.0).abs() < 1e-9);
        assert!((r.median - 1.2).abs() < 1e-9);
        assert!((r.paired - 1.0).abs() < 1e-9);
        assert_eq!(ratios(&runs[1..3]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }
}
