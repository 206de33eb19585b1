//! Stops a cluster, and removes a throwaway one, when the process that
//! started it goes away — however it goes.
//!
//! A `Drop` impl does not run when a test process aborts, is killed, or
//! holds the cluster in a `static` that is never dropped. So each cluster
//! gets a small shell process, spawned before `initdb`:
//!
//! ```text
//!  our process ──pipe (we hold the only write end)──▶ sh: cat >/dev/null   (blocks)
//!                                                         pg_ctl stop -m <mode>
//!                                                         rm -rf <throwaway root>
//! ```
//!
//! `cat` returns when the pipe reaches end of file, which happens when we
//! drop the write end ([`Watchdog`]'s `Drop`) or when the kernel closes it
//! because our process ended. Pipes from `std` are close-on-exec, so no
//! other child (not even the postmaster) inherits the write end. The
//! watchdog runs in its own process group so a Ctrl-C aimed at the test run
//! does not kill it before it has cleaned up, and its output goes to
//! `/dev/null` so it does not hold `cargo test`'s pipes open.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};

use crate::server_user::ServerUser;
use crate::{ClusterError, StopMode};

/// `$1` = pg_ctl, `$2` = data directory, `$3` = stop mode, `$4` = directory
/// to remove afterwards, or empty.
const SCRIPT: &str = r#"cat >/dev/null
"$1" stop -D "$2" -m "$3" -w -t 60
if [ -n "$4" ]; then rm -rf -- "$4"; fi
"#;

/// The cleanup process of one cluster; dropping this runs the cleanup and
/// waits for it to finish.
#[derive(Debug)]
pub(crate) struct Watchdog {
    process: Child,
    /// The write end of the watchdog's stdin; closing it starts the cleanup.
    trigger: Option<ChildStdin>,
}

impl Watchdog {
    /// Spawns the watchdog as `user`, so it may stop the server and delete
    /// its files. On cleanup it stops the server on `data_dir` with
    /// `stop_mode` and then removes `remove` (recursively), if given.
    pub(crate) fn spawn(
        user: ServerUser,
        pg_ctl: &Path,
        data_dir: &Path,
        stop_mode: StopMode,
        remove: Option<&Path>,
    ) -> Result<Self, ClusterError> {
        let mut command = user.command(Path::new("sh"));
        command
            .arg("-c")
            .arg(SCRIPT)
            .arg("walcast-pgcluster-watchdog")
            .arg(pg_ctl)
            .arg(data_dir)
            .arg(stop_mode.as_pg_ctl_arg())
            .arg(remove.map(Path::as_os_str).unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let mut process = command.spawn().map_err(|source| ClusterError::Spawn {
            program: "sh (cluster watchdog)".to_owned(),
            source,
        })?;
        let trigger = process.stdin.take();
        Ok(Watchdog { process, trigger })
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.trigger.take());
        match self.process.wait() {
            Ok(status) if !status.success() => {
                tracing::warn!(%status, "postgres cluster cleanup failed");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "could not wait for postgres cluster cleanup"),
        }
    }
}
