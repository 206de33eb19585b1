//! What one drain measured, whichever tool did it.

use std::fmt;
use std::time::Duration;

use pgoutput::Lsn;

/// The program that drained a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// walcast's replication stream and change decoder.
    Walcast,
    /// PostgreSQL's `pg_recvlogical`, output discarded.
    PgRecvlogical,
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tool::Walcast => "walcast",
            Tool::PgRecvlogical => "pg_recvlogical",
        })
    }
}

/// One drain of one slot.
#[derive(Debug, Clone)]
pub struct DrainRun {
    /// Who drained it.
    pub tool: Tool,
    /// The scenario round it ran in (from 1); 0 until the scenario sets it.
    pub round: u32,
    /// From connect (or process spawn) to the end of the backlog.
    pub wall: Duration,
    /// Transactions drained.
    pub transactions: u64,
    /// Rows drained.
    pub rows: u64,
    /// CPU seconds of the walsender serving the drain, when it runs on
    /// this machine.
    pub walsender_cpu: Option<f64>,
    /// CPU seconds of the client: this process for walcast, the child
    /// process for `pg_recvlogical`.
    pub client_cpu: Option<f64>,
    /// Share of the machine's CPU time the hypervisor stole during the run:
    /// a noise indicator on a shared host.
    pub steal: Option<f64>,
    /// `end_lsn` of the last transaction received (walcast only).
    pub last_commit_end: Option<Lsn>,
}

impl DrainRun {
    /// Transactions per second of wall time.
    pub fn transactions_per_second(&self) -> f64 {
        self.transactions as f64 / self.wall.as_secs_f64()
    }

    /// Rows per second of wall time.
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.wall.as_secs_f64()
    }
}
