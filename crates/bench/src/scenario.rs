//! One scenario: fill a backlog once, then drain identical copies of it
//! with both tools in alternating order.
//!
//! ```text
//!  slots walcast_bench_1..R, recvlogical_bench_1..R ─▶ fill ─▶ round 1: A B
//!                                                              round 2: B A   (ABBA: neither tool always
//!                                                              round 3: A B    goes first on a warm cache)
//! ```
//!
//! Each run drains its own slot, so every run decodes the same WAL from
//! the same starting point. After the runs, each `pg_recvlogical` slot must
//! have confirmed the last transaction walcast received, which shows it
//! drained the whole backlog too.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use replication::{ConnectionConfig, format_lsn};
use tokio_postgres::Client;

use crate::cpu::MachineTicks;
use crate::fixture::{self, Backlog, Workload};
use crate::recvlogical::drain_recvlogical;
use crate::run::{DrainRun, Tool};
use crate::walcast_drain::drain_walcast;

/// A pause between runs, so the previous walsender is gone and the load of
/// the last run has settled.
const SETTLE: Duration = Duration::from_secs(1);

/// What every scenario needs: the server and the baseline program.
pub struct BenchTarget {
    /// The database to fill and stream.
    pub connection: ConnectionConfig,
    /// A SQL session for setup and for the walsender probes.
    pub sql: Arc<Client>,
    /// The `pg_recvlogical` to compare with.
    pub recvlogical: PathBuf,
}

/// A scenario to run.
#[derive(Clone)]
pub struct ScenarioPlan {
    /// The backlog.
    pub workload: Workload,
    /// Runs per tool.
    pub rounds: u32,
    /// Which tool runs first in the odd rounds.
    pub first: Tool,
    /// Run only this tool (for profiling one side).
    pub only: Option<Tool>,
    /// The gateway walcast's side publishes into, with its subscriptions;
    /// `None`: walcast's side stops after decoding.
    pub gateway: Option<gateway::Gateway>,
    /// The least walcast / `pg_recvlogical` ratio that meets the goal.
    pub goal: f64,
}

/// A finished scenario.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    /// The backlog every run drained.
    pub backlog: Backlog,
    /// The runs, in the order they ran.
    pub runs: Vec<DrainRun>,
    /// The plan's goal ratio.
    pub goal: f64,
}

impl ScenarioPlan {
    /// The tools in run order: ABBA…
    pub fn order(&self) -> Vec<(u32, Tool)> {
        let second = match self.first {
            Tool::Walcast => Tool::PgRecvlogical,
            Tool::PgRecvlogical => Tool::Walcast,
        };
        (1..=self.rounds)
            .flat_map(|round| {
                let pair = if round % 2 == 1 {
                    [self.first, second]
                } else {
                    [second, self.first]
                };
                pair.map(|tool| (round, tool))
            })
            .filter(|&(_, tool)| self.only.is_none_or(|only| only == tool))
            .collect()
    }
}

/// The slot a tool drains in a round.
pub fn slot_name(tool: Tool, round: u32) -> String {
    match tool {
        Tool::Walcast => format!("walcast_bench_{round}"),
        Tool::PgRecvlogical => format!("recvlogical_bench_{round}"),
    }
}

/// Fills the backlog, runs every drain (calling `on_run` after each) and
/// drops the slots.
pub async fn run_scenario(
    target: &BenchTarget,
    plan: &ScenarioPlan,
    mut on_run: impl FnMut(&DrainRun),
    on_filled: impl FnOnce(&Backlog),
) -> anyhow::Result<ScenarioResult> {
    let order = plan.order();
    let slots: Vec<String> = order
        .iter()
        .map(|&(round, tool)| slot_name(tool, round))
        .collect();
    let backlog = fixture::fill(&target.sql, &plan.workload, &slots).await?;
    on_filled(&backlog);

    let mut runs = Vec::with_capacity(order.len());
    for (&(round, tool), slot) in order.iter().zip(&slots) {
        tokio::time::sleep(SETTLE).await;
        let machine_before = MachineTicks::read().ok();
        let mut run = match tool {
            Tool::Walcast => {
                drain_walcast(
                    &target.connection,
                    &target.sql,
                    slot,
                    &backlog,
                    plan.gateway.as_ref(),
                )
                .await?
            }
            Tool::PgRecvlogical => {
                drain_recvlogical(
                    &target.recvlogical,
                    &target.connection,
                    &target.sql,
                    slot,
                    &backlog,
                )
                .await?
            }
        };
        run.round = round;
        run.steal = machine_before
            .zip(MachineTicks::read().ok())
            .map(|(before, after)| after.steal_since(&before));
        on_run(&run);
        runs.push(run);
    }

    check_recvlogical_drained(target, &order, &runs).await?;
    fixture::drop_slots(&target.sql, &slots).await?;
    Ok(ScenarioResult {
        backlog,
        runs,
        goal: plan.goal,
    })
}

/// Each `pg_recvlogical` slot must have confirmed the last transaction
/// walcast saw: `pg_recvlogical` reports what it wrote as flushed when it
/// exits.
async fn check_recvlogical_drained(
    target: &BenchTarget,
    order: &[(u32, Tool)],
    runs: &[DrainRun],
) -> anyhow::Result<()> {
    let Some(last_commit_end) = runs.iter().find_map(|run| run.last_commit_end) else {
        return Ok(());
    };
    for &(round, tool) in order {
        if tool != Tool::PgRecvlogical {
            continue;
        }
        let slot = slot_name(tool, round);
        let confirmed = fixture::confirmed_flush(&target.sql, &slot).await?;
        if confirmed < last_commit_end {
            bail!(
                "pg_recvlogical on {slot} confirmed only {}, short of the last commit at {}",
                format_lsn(confirmed),
                format_lsn(last_commit_end)
            );
        }
    }
    Ok(())
}
