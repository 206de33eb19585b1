//! Who runs the server programs.
//!
//! PostgreSQL refuses to run as root. When we are root (as in CI and
//! containers), `initdb`, `pg_ctl` and the postmaster run as the `postgres`
//! user instead, and every file or directory we prepare for them is handed to
//! that user. Otherwise everything runs as ourselves.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::ClusterError;
use crate::command;

/// The account the server programs run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerUser {
    /// We are not root: run the programs as ourselves.
    Current,
    /// We are root: switch to the `postgres` user's ids.
    Postgres {
        /// Its user id.
        uid: u32,
        /// Its primary group id.
        gid: u32,
    },
}

impl ServerUser {
    /// Finds out whether we are root and, if so, the `postgres` user's ids.
    pub(crate) fn detect() -> Result<Self, ClusterError> {
        if id(&["-u"])? != 0 {
            return Ok(ServerUser::Current);
        }
        let uid = id(&["-u", "postgres"]).map_err(|_| ClusterError::ServerUserNotFound)?;
        let gid = id(&["-g", "postgres"]).map_err(|_| ClusterError::ServerUserNotFound)?;
        Ok(ServerUser::Postgres { uid, gid })
    }

    /// A command that runs `program` as this user. It starts in `/`, because
    /// the server user may not be allowed into our working directory, so
    /// every path handed to it must be absolute.
    pub(crate) fn command(self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.current_dir("/");
        if let ServerUser::Postgres { uid, gid } = self {
            // std drops root's supplementary groups before switching ids.
            command.uid(uid).gid(gid);
        }
        command
    }

    /// Makes this user the owner of `path` (nothing to do when we are it).
    pub(crate) fn take_ownership(self, path: &Path) -> Result<(), ClusterError> {
        match self {
            ServerUser::Current => Ok(()),
            ServerUser::Postgres { uid, gid } => {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .map_err(ClusterError::io("change the owner of", path))
            }
        }
    }

    /// Creates `path` (and missing parents) as a directory only this user
    /// may enter, as PostgreSQL requires of a data directory.
    pub(crate) fn create_private_dir(self, path: &Path) -> Result<(), ClusterError> {
        fs::create_dir_all(path).map_err(ClusterError::io("create directory", path))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(ClusterError::io("set permissions of", path))?;
        self.take_ownership(path)
    }

    /// Writes `contents` to a file only this user may read (mode 0600), as
    /// PostgreSQL requires of a TLS key.
    pub(crate) fn write_private_file(
        self,
        path: &Path,
        contents: &[u8],
    ) -> Result<(), ClusterError> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(ClusterError::io("create", path))?;
        file.write_all(contents)
            .map_err(ClusterError::io("write", path))?;
        // `mode` only applies to new files; an old one may be laxer.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(ClusterError::io("set permissions of", path))?;
        self.take_ownership(path)
    }
}

/// Runs `id` with `args` and parses the number it prints.
fn id(args: &[&str]) -> Result<u32, ClusterError> {
    let mut id = Command::new("id");
    id.args(args);
    let program = format!("id {}", args.join(" "));
    let printed = command::run(id, &program)?;
    printed
        .trim()
        .parse()
        .map_err(|_| ClusterError::UnexpectedOutput { program, printed })
}
