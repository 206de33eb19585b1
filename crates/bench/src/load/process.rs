//! Child processes of the coordinator (load processes of this binary,
//! `walcast serve`, the ack server) and what procfs says about them: CPU
//! seconds and resident memory.
//!
//! A child is killed when its handle drops, so nothing outlives a failed
//! run; load processes also stop on their own when their stdin closes.

use std::fs;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout, Command};

use crate::cpu::{CpuTicks, MachineTicks, seconds};

/// How long a child gets to stop after its stdin closes.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A child that reads commands on stdin and answers in lines on stdout.
pub struct Child {
    name: String,
    child: tokio::process::Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Child {
    /// Spawns `command` with piped stdin and stdout; stderr is inherited
    /// unless the command already redirects it.
    pub fn spawn(name: impl Into<String>, mut command: Command) -> anyhow::Result<Self> {
        let name = name.into();
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot spawn {name}"))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().context("child stdout")?).lines();
        Ok(Self {
            name,
            child,
            stdin,
            stdout,
        })
    }

    /// Its name in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its pid (0 once reaped).
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Sends one line (with its newline).
    pub async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin closed")?;
        stdin.write_all(line.as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    /// The next line of stdout.
    pub async fn read_line(&mut self) -> anyhow::Result<String> {
        match self.stdout.next_line().await? {
            Some(line) => Ok(line),
            None => bail!("{} ended early", self.name),
        }
    }

    /// The next stdout line as JSON, within `timeout`.
    pub async fn read_json<T: DeserializeOwned>(&mut self, timeout: Duration) -> anyhow::Result<T> {
        let line = tokio::time::timeout(timeout, self.read_line())
            .await
            .with_context(|| format!("{} did not answer within {timeout:?}", self.name))??;
        serde_json::from_str(&line).with_context(|| format!("{} said {line:?}", self.name))
    }

    /// Closes stdin and waits for the exit, killing it after a grace period.
    pub async fn stop(mut self) {
        drop(self.stdin.take());
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

impl Child {
    /// Kills it at once (SIGKILL) and reaps it: for servers whose state
    /// the run throws away.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// CPU readings of a benchmark's processes at one moment; a step's figures
/// are the differences between two of them.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSnapshot {
    /// The server under test.
    pub server: u64,
    /// Nanoseconds the server's threads have waited for a CPU.
    pub server_delay: u64,
    /// PostgreSQL ([`server_cpu_ticks`]); 0 without a database.
    pub postgres: u64,
    /// PostgreSQL's live walsenders.
    pub walsenders: u64,
    /// The load processes.
    pub load: u64,
    /// This process (the coordinator).
    pub coordinator: u64,
    /// This process's reaped children (pgbench).
    pub children: u64,
    /// The whole machine (for the window's length and steal).
    pub machine: MachineTicks,
}

impl CpuSnapshot {
    /// Reads the server `server`, the PostgreSQL of `postmaster` if any,
    /// the load processes `workers`, this process and the machine.
    pub fn read(server: u32, postmaster: Option<u32>, workers: &[Child]) -> anyhow::Result<Self> {
        let me = CpuTicks::of_self()?;
        Ok(Self {
            server: cpu_ticks(server),
            server_delay: run_delay_ns(server),
            postgres: postmaster.map_or(0, server_cpu_ticks),
            walsenders: postmaster.map_or(0, walsender_cpu_ticks),
            load: workers.iter().map(|worker| cpu_ticks(worker.pid())).sum(),
            coordinator: me.own,
            children: me.children,
            machine: MachineTicks::read()?,
        })
    }

    /// CPU seconds of `field` from `earlier` to this reading.
    pub fn seconds_since(&self, earlier: &Self, field: impl Fn(&Self) -> u64) -> f64 {
        seconds(field(self).saturating_sub(field(earlier)))
    }

    /// Seconds the server waited for a CPU since `earlier`.
    pub fn server_waited_since(&self, earlier: &Self) -> f64 {
        self.server_delay.saturating_sub(earlier.server_delay) as f64 / 1e9
    }
}

/// CPU ticks of `pid` (0 when it is gone).
pub fn cpu_ticks(pid: u32) -> u64 {
    CpuTicks::of(&pid.to_string()).map_or(0, |ticks| ticks.own)
}

/// Nanoseconds the threads of `pid` have spent runnable but waiting for a
/// CPU (field 2 of each `/proc/<pid>/task/<tid>/schedstat`): how much a
/// process was starved by whatever else ran on the box.
pub fn run_delay_ns(pid: u32) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// `VmRSS` of `pid` in bytes (0 when it is gone).
pub fn rss_bytes(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

/// CPU ticks of a whole PostgreSQL server: the postmaster, the backends it
/// has reaped (`cutime + cstime`) and the live ones. Backends that come and
/// go between two readings are counted once they are reaped.
pub fn server_cpu_ticks(postmaster: u32) -> u64 {
    let Ok(own) = CpuTicks::of(&postmaster.to_string()) else {
        return 0;
    };
    let live: u64 = children_of(postmaster).into_iter().map(cpu_ticks).sum();
    own.own + own.children + live
}

/// CPU ticks of the live walsenders among `postmaster`'s children.
pub fn walsender_cpu_ticks(postmaster: u32) -> u64 {
    children_of(postmaster)
        .into_iter()
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("walsender"))
        })
        .map(cpu_ticks)
        .sum()
}

/// The pids whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent_of(pid) == Some(parent))
        .collect()
}

/// Field 4 of `/proc/<pid>/stat`, counted after the name's last `)`.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The first three fields of `/proc/loadavg`.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "n/a".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(rss_bytes(me) > 0);
        let _ = run_delay_ns(me);
        assert_eq!(parent_of(me), Some(std::os::unix::process::parent_id()));
        assert!(!load_average().is_empty());
    }
}
