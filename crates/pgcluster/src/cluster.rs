//! A running PostgreSQL cluster: create the data directory if needed, start
//! the postmaster on 127.0.0.1, talk to it with `psql`, stop or restart it,
//! and clean up through the [`Watchdog`].
//!
//! ```text
//!  Cluster::start ──▶ initdb (data directory empty) ──▶ write walcast.conf ──▶ pg_ctl start
//!        │                                                                       │ port taken?
//!        └── Watchdog spawned first: cleans up even if a later step fails ◀──────┘ retry, new port
//! ```

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::binaries::ServerBinaries;
use crate::config::{SETTINGS_FILE, ServerSettings, TLS_CERT_FILE, TLS_KEY_FILE, prepend_hba_line};
use crate::data_dir::{
    LOG_DIR, LOG_FILE, SUPERUSER, create_throwaway_root, init_data_dir, read_password,
};
use crate::server_user::ServerUser;
use crate::watchdog::Watchdog;
use crate::{ClusterError, ClusterOptions, StopMode, command};

/// The address every cluster listens on.
const HOST: &str = "127.0.0.1";

/// How many server log lines a start failure carries.
const LOG_TAIL_LINES: usize = 30;

/// How many free ports to try before giving up on a start.
const PORT_ATTEMPTS: u32 = 5;

/// Seconds `pg_ctl` waits for a start or stop.
const PG_CTL_TIMEOUT_SECS: &str = "60";

/// How long [`Cluster::reload`] waits for new connections to see the reload.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest socket directory that leaves room for `/.s.PGSQL.65535` in a
/// Unix socket path (107 bytes on Linux).
const MAX_SOCKET_DIR_LEN: usize = 92;

/// A PostgreSQL server on 127.0.0.1 with superuser `postgres`.
///
/// Dropping it stops the server (a throwaway cluster with `immediate` and
/// its directory removed, a persistent one with `fast` and its data kept).
/// The same happens if the process ends without dropping it (abort, kill, a
/// `static`): a watchdog process started with the cluster does the cleanup
/// once this process's end of a pipe to it closes.
pub struct Cluster {
    binaries: ServerBinaries,
    user: ServerUser,
    data_dir: PathBuf,
    /// The Unix socket directory, unless its path would be too long.
    socket_dir: Option<PathBuf>,
    port: u16,
    password: String,
    /// Stops the server (and removes a throwaway cluster) when dropped or
    /// when this process ends.
    _watchdog: Watchdog,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("data_dir", &self.data_dir)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Creates the data directory if it is missing or empty, then starts the
    /// server and waits until it accepts connections.
    ///
    /// Fails with [`ClusterError::AlreadyRunning`] when another postmaster
    /// runs on a persistent data directory, and with
    /// [`ClusterError::StartFailed`] (carrying the server log tail) when the
    /// server does not come up.
    pub fn start(options: ClusterOptions) -> Result<Cluster, ClusterError> {
        let started = Instant::now();
        let binaries = ServerBinaries::locate()?;
        let user = ServerUser::detect()?;

        // The watchdog comes first so that a failure below cleans up too.
        let (data_dir, watchdog) = match &options.data_dir {
            None => {
                let root = create_throwaway_root(user)?;
                let data_dir = root.join("data");
                let watchdog = Watchdog::spawn(
                    user,
                    &binaries.pg_ctl,
                    &data_dir,
                    StopMode::Immediate,
                    Some(&root),
                )?;
                (data_dir, watchdog)
            }
            Some(data_dir) => {
                let data_dir =
                    std::path::absolute(data_dir).map_err(ClusterError::io("resolve", data_dir))?;
                if is_running(&binaries, user, &data_dir)? {
                    return Err(ClusterError::AlreadyRunning { data_dir });
                }
                let watchdog =
                    Watchdog::spawn(user, &binaries.pg_ctl, &data_dir, StopMode::Fast, None)?;
                (data_dir, watchdog)
            }
        };

        let password = if data_dir.join("PG_VERSION").is_file() {
            read_password(&data_dir)?
        } else {
            init_data_dir(&binaries, user, &data_dir, options.throwaway_speedups)?
        };
        user.create_private_dir(&data_dir.join(LOG_DIR))?;
        if let Some(tls) = &options.tls {
            user.write_private_file(&data_dir.join(TLS_CERT_FILE), &tls.cert_pem)?;
            user.write_private_file(&data_dir.join(TLS_KEY_FILE), &tls.key_pem)?;
        }
        let socket_dir =
            (data_dir.as_os_str().len() <= MAX_SOCKET_DIR_LEN).then(|| data_dir.clone());
        if socket_dir.is_none() {
            tracing::debug!(data_dir = %data_dir.display(), "data directory path too long for a unix socket; tcp only");
        }

        let mut cluster = Cluster {
            binaries,
            user,
            data_dir,
            socket_dir,
            port: 0,
            password,
            _watchdog: watchdog,
        };
        cluster.port = cluster.start_on_port(&options)?;
        tracing::info!(
            port = cluster.port,
            data_dir = %cluster.data_dir.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "postgres started"
        );
        Ok(cluster)
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on, `127.0.0.1`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The superuser name, `postgres`.
    pub fn user(&self) -> &str {
        SUPERUSER
    }

    /// The superuser's password.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log file.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join(LOG_DIR).join(LOG_FILE)
    }

    /// A connection URL for the superuser and `database`:
    /// `postgres://postgres:<password>@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@{HOST}:{}/{database}",
            self.password, self.port
        )
    }

    /// Runs `sql` (one or more statements, each in its own transaction) as
    /// the superuser in `database` and returns what it printed: one line per
    /// row, columns separated by `|`, no headers or command tags. Stops at
    /// the first error, which carries psql's stderr.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, ClusterError> {
        let host = match &self.socket_dir {
            Some(dir) => dir.as_os_str(),
            None => HOST.as_ref(),
        };
        let mut psql = std::process::Command::new(&self.binaries.psql);
        psql.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"])
            .arg("-h")
            .arg(host)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                database,
            ])
            .env("PGPASSWORD", &self.password)
            .env("PGCONNECT_TIMEOUT", "10");
        let printed = command::run_with_input(psql, "psql", sql)?;
        Ok(printed.trim_end_matches('\n').to_owned())
    }

    /// Creates database `name`, owned by the superuser.
    pub fn create_database(&self, name: &str) -> Result<(), ClusterError> {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE {}", quote_identifier(name)),
        )
        .map(drop)
    }

    /// Stops the server and waits until it is gone.
    pub fn stop(&self, mode: StopMode) -> Result<(), ClusterError> {
        let mut pg_ctl = self.pg_ctl("stop");
        pg_ctl.args(["-m", mode.as_pg_ctl_arg(), "-t", PG_CTL_TIMEOUT_SECS]);
        command::run(pg_ctl, "pg_ctl stop").map(drop)
    }

    /// Starts the stopped server again on the same port and waits until it
    /// accepts connections.
    pub fn start_again(&self) -> Result<(), ClusterError> {
        self.pg_ctl_start(self.port)
    }

    /// Stops the server with `mode`, then starts it again on the same port.
    pub fn restart(&self, mode: StopMode) -> Result<(), ClusterError> {
        self.stop(mode)?;
        self.start_again()
    }

    /// Whether a postmaster runs on the data directory.
    pub fn is_running(&self) -> Result<bool, ClusterError> {
        is_running(&self.binaries, self.user, &self.data_dir)
    }

    /// Makes `line` the first line of `pg_hba.conf`, so it wins over the
    /// defaults, then [reloads](Cluster::reload). Example:
    /// `host all md5user 127.0.0.1/32 md5`.
    pub fn prepend_hba(&self, line: &str) -> Result<(), ClusterError> {
        let path = self.data_dir.join("pg_hba.conf");
        let hba = fs::read_to_string(&path).map_err(ClusterError::io("read", &path))?;
        fs::write(&path, prepend_hba_line(&hba, line)).map_err(ClusterError::io("write", &path))?;
        self.reload()
    }

    /// Makes the server re-read its configuration files and waits until new
    /// connections see the result (the postmaster applies a reload
    /// asynchronously, so a connection right after `pg_ctl reload` could
    /// still get the old `pg_hba.conf`).
    pub fn reload(&self) -> Result<(), ClusterError> {
        const LOAD_TIME: &str = "SELECT pg_conf_load_time()";
        let before = self.psql("postgres", LOAD_TIME)?;
        command::run(self.pg_ctl("reload"), "pg_ctl reload")?;
        let deadline = Instant::now() + RELOAD_TIMEOUT;
        // Each psql is a new backend, forked with the postmaster's state.
        while self.psql("postgres", LOAD_TIME)? == before {
            if Instant::now() > deadline {
                return Err(ClusterError::ReloadTimedOut {
                    seconds: RELOAD_TIMEOUT.as_secs(),
                });
            }
            #[expect(
                clippy::disallowed_methods,
                reason = "pgcluster is blocking by design; async callers use spawn_blocking"
            )]
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// A `pg_ctl <action>` command on this data directory, run as the server
    /// user and waiting for the action to complete.
    fn pg_ctl(&self, action: &str) -> std::process::Command {
        let mut pg_ctl = self.user.command(&self.binaries.pg_ctl);
        pg_ctl.arg(action).arg("-D").arg(&self.data_dir).arg("-w");
        pg_ctl
    }

    /// Writes the settings and starts the server, on the requested port or
    /// on a free one (retrying when another process grabs it first).
    fn start_on_port(&self, options: &ClusterOptions) -> Result<u16, ClusterError> {
        let mut attempt = 1;
        loop {
            let port = match options.port {
                Some(port) => port,
                None => free_port()?,
            };
            let settings = ServerSettings {
                port,
                socket_dir: self.socket_dir.as_deref(),
                throwaway_speedups: options.throwaway_speedups,
                tls: options.tls.is_some(),
                extra: &options.settings,
            };
            self.user.write_private_file(
                &self.data_dir.join(SETTINGS_FILE),
                settings.render().as_bytes(),
            )?;
            match self.pg_ctl_start(port) {
                Err(ClusterError::StartFailed { log_tail, .. })
                    if options.port.is_none()
                        && attempt < PORT_ATTEMPTS
                        && log_tail.contains("Address already in use") =>
                {
                    tracing::debug!(port, "port taken meanwhile; trying another");
                    attempt += 1;
                }
                result => return result.map(|()| port),
            }
        }
    }

    /// `pg_ctl start`, which waits until the server accepts connections or
    /// has exited. On failure the error carries this attempt's log lines.
    fn pg_ctl_start(&self, port: u16) -> Result<(), ClusterError> {
        let log_file = self.log_file();
        let log_offset = fs::metadata(&log_file).map_or(0, |meta| meta.len());
        let mut pg_ctl = self.pg_ctl("start");
        pg_ctl
            .arg("-l")
            .arg(&log_file)
            .args(["-t", PG_CTL_TIMEOUT_SECS]);
        let output = command::output(pg_ctl, "pg_ctl start")?;
        if output.status.success() {
            return Ok(());
        }
        Err(ClusterError::StartFailed {
            port,
            pg_ctl_output: command::printed(&output),
            log_tail: log_tail(&log_file, log_offset),
        })
    }
}

/// Deletes a persistent data directory, as `walcast dev --fresh` does.
/// Refuses while a server runs on it. A missing directory is fine.
pub fn wipe(data_dir: &Path) -> Result<(), ClusterError> {
    if !data_dir.exists() {
        return Ok(());
    }
    if data_dir.join("postmaster.pid").exists() {
        let data_dir =
            std::path::absolute(data_dir).map_err(ClusterError::io("resolve", data_dir))?;
        if is_running(&ServerBinaries::locate()?, ServerUser::detect()?, &data_dir)? {
            return Err(ClusterError::AlreadyRunning { data_dir });
        }
    }
    fs::remove_dir_all(data_dir).map_err(ClusterError::io("remove", data_dir))
}

/// Whether `pg_ctl status` finds a live postmaster on `data_dir`.
fn is_running(
    binaries: &ServerBinaries,
    user: ServerUser,
    data_dir: &Path,
) -> Result<bool, ClusterError> {
    if !data_dir.join("postmaster.pid").exists() {
        return Ok(false);
    }
    let mut pg_ctl = user.command(&binaries.pg_ctl);
    pg_ctl.arg("status").arg("-D").arg(data_dir);
    // Exit status 0: running; 3: not running; 4: no usable data directory.
    Ok(command::output(pg_ctl, "pg_ctl status")?.status.success())
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, ClusterError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(ClusterError::NoFreePort)
}

/// The last [`LOG_TAIL_LINES`] lines written to `log_file` after `offset`.
fn log_tail(log_file: &Path, offset: u64) -> String {
    let Ok(log) = fs::read(log_file) else {
        return format!("(no server log at {})", log_file.display());
    };
    let start = usize::try_from(offset).unwrap_or(0).min(log.len());
    let text = String::from_utf8_lossy(&log[start..]);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// `name` as a double-quoted SQL identifier.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
