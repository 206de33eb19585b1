//! The printed report: one line per run as it finishes, then a summary
//! per scenario comparing the best run of each tool against the goal.

use std::fmt::Write;

use crate::fixture::Backlog;
use crate::run::{DrainRun, Tool};
use crate::scenario::ScenarioResult;

/// walcast must drain at least this fraction of `pg_recvlogical`'s rate.
pub const GOAL_RATIO: f64 = 0.95;

/// The column headings of [`run_line`].
pub fn run_header() -> String {
    format!(
        "{:<10} {:>5}  {:<15} {:>8} {:>10} {:>10} {:>12} {:>10} {:>8}",
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
pub fn run_line(scenario: &str, round: u32, run: &DrainRun) -> String {
    format!(
        "{:<10} {:>5}  {:<15} {:>8.3} {:>10} {:>10} {:>12} {:>10} {:>8}",
        scenario,
        round,
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

/// The summary table: per scenario, each tool's best and median run and
/// the ratio walcast / `pg_recvlogical` of both.
pub fn summary(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<15} {:>10} {:>10} {:>10} {:>12} {:>10}  {:>15}",
        "scenario",
        "tool",
        "best s",
        "txns/s",
        "rows/s",
        "walsender s",
        "client s",
        "ratio best/med"
    );
    for result in results {
        let name = result.backlog.workload.name;
        let walcast = Stats::of(&result.runs, Tool::Walcast);
        let baseline = Stats::of(&result.runs, Tool::PgRecvlogical);
        for (tool, stats) in [(Tool::PgRecvlogical, &baseline), (Tool::Walcast, &walcast)] {
            let Some(stats) = stats else { continue };
            let ratio = match (tool, &baseline, &walcast) {
                (Tool::Walcast, Some(baseline), Some(walcast)) => {
                    let best = baseline.best.wall.as_secs_f64() / walcast.best.wall.as_secs_f64();
                    let median = baseline.median_wall / walcast.median_wall;
                    let verdict = if best >= GOAL_RATIO { "ok" } else { "BELOW" };
                    format!("{best:.3}/{median:.3} {verdict}")
                }
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "{:<10} {:<15} {:>10.3} {:>10} {:>10} {:>12} {:>10}  {:>15}",
                name,
                tool.to_string(),
                stats.best.wall.as_secs_f64(),
                thousands(stats.best.transactions_per_second()),
                thousands(stats.best.rows_per_second()),
                cpu(stats.best.walsender_cpu),
                cpu(stats.best.client_cpu),
                ratio
            );
        }
    }
    let _ = writeln!(
        out,
        "ratio = pg_recvlogical wall / walcast wall (= walcast rate / pg_recvlogical rate), best run and median run; goal >= {GOAL_RATIO}"
    );
    out
}

/// The best (shortest) run of a tool and its median wall time.
struct Stats<'a> {
    best: &'a DrainRun,
    median_wall: f64,
}

impl<'a> Stats<'a> {
    fn of(runs: &'a [DrainRun], tool: Tool) -> Option<Self> {
        let mut mine: Vec<&DrainRun> = runs.iter().filter(|run| run.tool == tool).collect();
        mine.sort_by_key(|a| a.wall);
        let best = *mine.first()?;
        let walls: Vec<f64> = mine.iter().map(|run| run.wall.as_secs_f64()).collect();
        let mid = walls.len() / 2;
        let median_wall = if walls.len() % 2 == 0 {
            (walls[mid - 1] + walls[mid]) / 2.0
        } else {
            walls[mid]
        };
        Some(Self { best, median_wall })
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

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }
}
