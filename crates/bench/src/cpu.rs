//! CPU seconds of processes, from `/proc/<pid>/stat` (Linux only).
//!
//! Three figures per drain, because on a 2-core box the walsender, the
//! client and the benchmark itself compete for the same cores:
//!
//! * the client's own CPU: this process's `utime + stime` around a walcast
//!   drain;
//! * `pg_recvlogical`'s CPU: this process's `cutime + cstime` (CPU of
//!   children it has reaped) around one `pg_recvlogical` run, so nothing
//!   else may be reaped meanwhile (the benchmark runs SQL over tokio-postgres,
//!   never `psql`, for that reason);
//! * the walsender's CPU, sampled by [`WalsenderProbe`] while the drain runs.
//!
//! `/proc` counts in `USER_HZ` ticks, 100 per second on every Linux ABI, so
//! figures have 10 ms resolution. Reading `sysconf(_SC_CLK_TCK)` would need
//! `unsafe`, which the workspace forbids.

use std::fs;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

/// `USER_HZ`: the unit of the times in `/proc/<pid>/stat`.
const TICKS_PER_SECOND: f64 = 100.0;

/// How often [`WalsenderProbe`] looks for the walsender, then samples it.
const LOOKUP_INTERVAL: Duration = Duration::from_millis(2);
const SAMPLE_INTERVAL: Duration = Duration::from_millis(5);

/// How long [`WalsenderProbe`] waits for the slot to become active.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Marks "no sample yet" in [`WalsenderProbe`]'s tick counter.
const NO_SAMPLE: u64 = u64::MAX;

/// A process's CPU times in ticks: its own, and its reaped children's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// `utime + stime`: every thread of the process.
    pub own: u64,
    /// `cutime + cstime`: children the process has waited for.
    pub children: u64,
}

impl CpuTicks {
    /// The CPU times of process `pid` (`"self"` for this one).
    pub fn of(pid: &str) -> io::Result<Self> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        parse_stat(&stat).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected /proc/{pid}/stat"),
            )
        })
    }

    /// This process's CPU times.
    pub fn of_self() -> io::Result<Self> {
        Self::of("self")
    }
}

/// The machine's CPU time by kind, summed over all cores, in ticks: the
/// `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MachineTicks {
    /// Every kind together.
    pub total: u64,
    /// Time the hypervisor ran something else while a vCPU wanted to run.
    pub steal: u64,
}

impl MachineTicks {
    /// Reads `/proc/stat`.
    pub fn read() -> io::Result<Self> {
        let stat = fs::read_to_string("/proc/stat")?;
        stat.lines()
            .next()
            .and_then(parse_machine_line)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc/stat"))
    }

    /// The share of CPU time stolen by the hypervisor since `earlier`.
    pub fn steal_since(&self, earlier: &MachineTicks) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        let steal = self.steal.saturating_sub(earlier.steal);
        if total == 0 {
            0.0
        } else {
            steal as f64 / total as f64
        }
    }
}

/// `cpu  user nice system idle iowait irq softirq steal guest guest_nice`;
/// guest time is already counted in user and nice.
fn parse_machine_line(line: &str) -> Option<MachineTicks> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let values: Vec<u64> = fields
        .take(8)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    Some(MachineTicks {
        total: values.iter().sum(),
        steal: *values.get(7)?,
    })
}

/// Converts ticks to seconds.
pub fn seconds(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_SECOND
}

/// Reads fields 14–17 (`utime stime cutime cstime`) of a `stat` line. The
/// command name (field 2) may hold spaces and parentheses, so fields are
/// counted from the last `)`.
fn parse_stat(stat: &str) -> Option<CpuTicks> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first one after the name.
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    match fields[..] {
        [utime, stime, cutime, cstime] => Some(CpuTicks {
            own: utime + stime,
            children: cutime + cstime,
        }),
        _ => None,
    }
}

/// Samples the CPU time of the walsender serving one slot while a drain
/// runs, so the figure survives the walsender's exit at the end.
///
/// ```text
///  start ──▶ poll pg_replication_slots.active_pid ──▶ /proc/<pid>/cmdline says "walsender"?
///                                                         │ yes: sample /proc/<pid>/stat every 5 ms
///  finish ──▶ one last sample (if still alive) ──▶ last value seen, in seconds
/// ```
///
/// Works only when the server runs on this machine in this PID namespace;
/// otherwise the pid names no walsender and the figure is `None`. The last
/// sample may miss up to [`SAMPLE_INTERVAL`] of CPU of a walsender that
/// exits on its own (the `pg_recvlogical` case).
pub struct WalsenderProbe {
    pid: Arc<AtomicU32>,
    ticks: Arc<AtomicU64>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl WalsenderProbe {
    /// Starts looking for the walsender that will hold `slot`.
    pub fn start(client: Arc<Client>, slot: &str) -> Self {
        let pid = Arc::new(AtomicU32::new(0));
        let ticks = Arc::new(AtomicU64::new(NO_SAMPLE));
        let stop = CancellationToken::new();
        let task = tokio::spawn(sample(
            client,
            slot.to_owned(),
            Arc::clone(&pid),
            Arc::clone(&ticks),
            stop.clone(),
        ));
        Self {
            pid,
            ticks,
            stop,
            task,
        }
    }

    /// Stops sampling and returns the walsender's CPU seconds, taking one
    /// last sample when it is still running.
    pub async fn finish(self) -> Option<f64> {
        self.stop.cancel();
        let _ = self.task.await;
        let pid = self.pid.load(Ordering::Acquire);
        if pid != 0
            && let Ok(now) = CpuTicks::of(&pid.to_string())
        {
            // The sampling task has ended: nothing else writes `ticks`.
            let sampled = self.ticks.load(Ordering::Acquire);
            if sampled == NO_SAMPLE || sampled < now.own {
                self.ticks.store(now.own, Ordering::Release);
            }
        }
        match self.ticks.load(Ordering::Acquire) {
            NO_SAMPLE => None,
            ticks => Some(seconds(ticks)),
        }
    }
}

async fn sample(
    client: Arc<Client>,
    slot: String,
    pid_out: Arc<AtomicU32>,
    ticks: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    let Some(pid) = find_walsender(&client, &slot, &stop).await else {
        return;
    };
    pid_out.store(pid, Ordering::Release);
    let pid = pid.to_string();
    let mut interval = tokio::time::interval(SAMPLE_INTERVAL);
    loop {
        match CpuTicks::of(&pid) {
            Ok(now) => ticks.store(now.own, Ordering::Release),
            // The walsender has exited: the last sample stands.
            Err(_) => return,
        }
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            _ = interval.tick() => {}
        }
    }
}

/// The pid of the walsender holding `slot`, if it is a local walsender.
async fn find_walsender(client: &Client, slot: &str, stop: &CancellationToken) -> Option<u32> {
    let deadline = tokio::time::Instant::now() + LOOKUP_TIMEOUT;
    while !stop.is_cancelled() && tokio::time::Instant::now() < deadline {
        let row = client
            .query_opt(
                "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1 AND active",
                &[&slot],
            )
            .await
            .ok()?;
        if let Some(pid) = row.and_then(|row| row.get::<_, Option<i32>>(0)) {
            let pid = u32::try_from(pid).ok()?;
            // A remote server's pid means nothing here.
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let is_walsender = String::from_utf8_lossy(&cmdline).contains("walsender");
            return is_walsender.then_some(pid);
        }
        tokio::time::sleep(LOOKUP_INTERVAL).await;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_fields_after_an_awkward_name() {
        let stat = "4242 (postgres: a) b) S 1 2 3 4 5 6 7 8 9 10 150 25 7 3 20 0 1 0";
        assert_eq!(
            parse_stat(stat),
            Some(CpuTicks {
                own: 175,
                children: 10
            })
        );
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
    }

    #[test]
    fn reads_the_machine_line() {
        let line = "cpu  100 0 50 800 0 0 0 50 0 0";
        assert_eq!(
            parse_machine_line(line),
            Some(MachineTicks {
                total: 1000,
                steal: 50
            })
        );
        let later = MachineTicks {
            total: 1100,
            steal: 60,
        };
        let earlier = parse_machine_line(line).expect("parses");
        assert!((later.steal_since(&earlier) - 0.1).abs() < 1e-9);
        assert_eq!(parse_machine_line("intr 1 2 3"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(CpuTicks::of_self().is_ok());
    }
}
