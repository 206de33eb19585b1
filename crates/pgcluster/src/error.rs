//! Why a local cluster could not be set up, started or queried.
//!
//! Every variant names what the operator (or the test author) can act on:
//! install something, free a data directory, or read the server log tail
//! carried in the error.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// What went wrong while running a local PostgreSQL cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Neither `pg_config --bindir`, `/usr/lib/postgresql/*/bin` nor `PATH`
    /// holds `initdb` and `pg_ctl`.
    #[error(
        "PostgreSQL server binaries not found (initdb, pg_ctl); install them with: \
         sudo apt-get install -y postgresql (or a versioned package such as postgresql-15)"
    )]
    BinariesNotFound,

    /// `psql` is neither beside the server binaries nor on `PATH`.
    #[error("psql not found; install it with: sudo apt-get install -y postgresql-client")]
    PsqlNotFound,

    /// We run as root, which PostgreSQL refuses, and there is no `postgres`
    /// user to run the server as instead.
    #[error(
        "running as root but there is no `postgres` user to run the server as; \
         create it (installing the postgresql package does) or run as an unprivileged user"
    )]
    ServerUserNotFound,

    /// A file system operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What we tried, e.g. "create directory".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },

    /// An external program could not be started at all.
    #[error("could not run {program}")]
    Spawn {
        /// The program, e.g. `pg_ctl`.
        program: String,
        /// The underlying failure.
        #[source]
        source: io::Error,
    },

    /// An external program ran and reported failure.
    #[error("{program} failed ({status}): {stderr}")]
    CommandFailed {
        /// The program and subcommand, e.g. `pg_ctl stop`.
        program: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on stderr (stdout when stderr was empty).
        stderr: String,
    },

    /// An external program printed something we cannot interpret.
    #[error("{program} printed unexpected output {printed:?}")]
    UnexpectedOutput {
        /// The program, e.g. `id -u`.
        program: String,
        /// What it printed.
        printed: String,
    },

    /// The postmaster did not come up.
    #[error("postgres did not start on port {port}: {pg_ctl_output}\nserver log tail:\n{log_tail}")]
    StartFailed {
        /// The port it was told to listen on.
        port: u16,
        /// What `pg_ctl start` printed.
        pg_ctl_output: String,
        /// The last lines the server wrote to its log during this attempt.
        log_tail: String,
    },

    /// Another postmaster already runs on the data directory.
    #[error(
        "a server is already running on data directory {}; stop it with: pg_ctl stop -D {}",
        data_dir.display(),
        data_dir.display()
    )]
    AlreadyRunning {
        /// The data directory in use.
        data_dir: PathBuf,
    },

    /// The data directory is not empty but was not created by walcast (no
    /// cluster, or one whose superuser password we do not know).
    #[error(
        "{} is not a data directory created by walcast; wipe it or choose another",
        data_dir.display()
    )]
    ForeignDataDir {
        /// The data directory.
        data_dir: PathBuf,
    },

    /// No free TCP port could be reserved on 127.0.0.1.
    #[error("could not find a free port on 127.0.0.1")]
    NoFreePort(#[source] io::Error),

    /// `pg_ctl reload` was sent but new connections still saw the old
    /// configuration.
    #[error("the server did not reload its configuration within {seconds} s")]
    ReloadTimedOut {
        /// How long we waited.
        seconds: u64,
    },
}

impl ClusterError {
    /// Wraps an [`io::Error`] with what we were doing and where.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| ClusterError::Io {
            action,
            path,
            source,
        }
    }
}
