//! Runs the external PostgreSQL programs (`initdb`, `pg_ctl`, `psql`) to
//! completion and turns their failures into [`ClusterError`]s that carry
//! what the program printed, so a failed step explains itself.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::thread;

use crate::ClusterError;

/// Runs `command` with no input and returns its output, whatever the exit
/// status. `program` names it in errors, e.g. `pg_ctl status`.
pub(crate) fn output(mut command: Command, program: &str) -> Result<Output, ClusterError> {
    tracing::debug!(program, "running");
    command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ClusterError::Spawn {
            program: program.to_owned(),
            source,
        })
}

/// Runs `command` with no input and returns its stdout, or
/// [`ClusterError::CommandFailed`] when it exits unsuccessfully.
pub(crate) fn run(command: Command, program: &str) -> Result<String, ClusterError> {
    checked(output(command, program)?, program)
}

/// Runs `command` with `input` on its stdin and returns its stdout, or
/// [`ClusterError::CommandFailed`] when it exits unsuccessfully.
pub(crate) fn run_with_input(
    mut command: Command,
    program: &str,
    input: &str,
) -> Result<String, ClusterError> {
    tracing::debug!(program, "running");
    let spawn_error = |source| ClusterError::Spawn {
        program: program.to_owned(),
        source,
    };
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    let stdin = child.stdin.take();
    // Feed stdin from another thread: a program that answers while it reads
    // could otherwise fill its stdout pipe while we are still writing.
    let output = thread::scope(|scope| {
        scope.spawn(move || {
            if let Some(mut stdin) = stdin {
                // A program that exits early closes the pipe; its exit
                // status then tells what went wrong.
                let _ = stdin.write_all(input.as_bytes());
            }
        });
        child.wait_with_output()
    })
    .map_err(spawn_error)?;
    checked(output, program)
}

/// Everything a program printed, for error messages: stdout and stderr,
/// trimmed.
pub(crate) fn printed(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    [stdout.trim(), stderr.trim()]
        .into_iter()
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn checked(output: Output, program: &str) -> Result<String, ClusterError> {
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    Err(ClusterError::CommandFailed {
        program: program.to_owned(),
        status: output.status,
        stderr: if stderr.is_empty() {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        } else {
            stderr
        },
    })
}
