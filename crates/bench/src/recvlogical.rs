//! The baseline: `pg_recvlogical` draining an identical slot with the
//! options walcast uses (`proto_version 2`, `streaming on`, `messages true`),
//! so the walsender does the same work for both, and its output thrown away.
//!
//! The clock starts before the process is spawned and stops when it exits
//! (it exits at `--endpos`, on the end marker). Its CPU comes from this
//! process's reaped-children counters.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use replication::{ConnectionConfig, SslMode, format_lsn};
use tokio_postgres::Client;

use crate::cpu::{CpuTicks, WalsenderProbe, seconds};
use crate::fixture::{Backlog, PUBLICATION};
use crate::run::{DrainRun, Tool};

/// Where Debian keeps one directory of programs per PostgreSQL version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// Finds `pg_recvlogical`: the one of the server's major version under
/// `/usr/lib/postgresql` (Debian's `/usr/bin` one is a Perl wrapper that
/// would add its start-up to every run), else the first on `PATH`.
pub fn locate(server_version_num: u32) -> anyhow::Result<PathBuf> {
    let major = server_version_num / 10_000;
    let debian = Path::new(DEBIAN_ROOT)
        .join(major.to_string())
        .join("bin/pg_recvlogical");
    if debian.is_file() {
        return Ok(debian);
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("pg_recvlogical"))
                .find(|candidate| candidate.is_file())
        })
        .context("pg_recvlogical not found (install postgresql-client, or pass --pg-recvlogical)")
}

/// The arguments of one run, without the program.
pub fn arguments(connection: &ConnectionConfig, slot: &str, backlog: &Backlog) -> Vec<String> {
    [
        "-d",
        &connection.dbname,
        "-h",
        &connection.host,
        "-p",
        &connection.port.to_string(),
        "-U",
        &connection.user,
        "--slot",
        slot,
        "--start",
        "--no-loop",
        "-o",
        "proto_version=2",
        "-o",
        "streaming=on",
        "-o",
        &format!("publication_names={PUBLICATION}"),
        "-o",
        "messages=true",
        &format!("--endpos={}", format_lsn(backlog.end_lsn)),
        "-f",
        "/dev/null",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Runs `program` on `slot` until it exits at the end of `backlog`.
pub async fn drain_recvlogical(
    program: &Path,
    connection: &ConnectionConfig,
    sql: &Arc<Client>,
    slot: &str,
    backlog: &Backlog,
) -> anyhow::Result<DrainRun> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(arguments(connection, slot, backlog))
        .env("PGSSLMODE", ssl_mode(connection.ssl_mode))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(password) = &connection.password {
        command.env("PGPASSWORD", password);
    }
    if let Some(root) = &connection.ssl_root_cert {
        command.env("PGSSLROOTCERT", root);
    }

    let cpu_before = CpuTicks::of_self()?;
    let started = Instant::now();
    let probe = WalsenderProbe::start(Arc::clone(sql), slot);
    let child = command
        .spawn()
        .with_context(|| format!("cannot run {}", program.display()))?;
    let output = child.wait_with_output().await?;
    let wall = started.elapsed();
    let cpu_after = CpuTicks::of_self()?;
    let walsender_cpu = probe.finish().await;

    if !output.status.success() {
        bail!(
            "pg_recvlogical failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(DrainRun {
        tool: Tool::PgRecvlogical,
        round: 0,
        wall,
        // Not counted (the output goes to /dev/null): the slot holds the
        // same backlog the walcast drain counts.
        transactions: backlog.workload.transactions,
        rows: backlog.workload.rows(),
        walsender_cpu,
        client_cpu: Some(seconds(
            cpu_after.children.saturating_sub(cpu_before.children),
        )),
        steal: None,
        last_commit_end: None,
    })
}

fn ssl_mode(mode: SslMode) -> &'static str {
    match mode {
        SslMode::Disable => "disable",
        SslMode::Prefer => "prefer",
        SslMode::Require => "require",
        SslMode::VerifyFull => "verify-full",
    }
}
