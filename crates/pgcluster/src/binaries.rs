//! Finds the installed PostgreSQL programs.
//!
//! Search order, first hit wins:
//! 1. `pg_config --bindir`, when that directory holds the server programs
//!    (on Debian `/usr/bin/pg_config` answers `/usr/lib/postgresql/<v>/bin`);
//! 2. the newest `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu keep
//!    the server programs there, off `PATH`);
//! 3. `initdb` and `pg_ctl` on `PATH`.
//!
//! `pg_ctl` finds `postgres` beside itself, so only `initdb`, `pg_ctl` and
//! the client `psql` are kept.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ClusterError;

/// Where Debian and Ubuntu install one directory per server version.
const DEBIAN_SERVER_ROOT: &str = "/usr/lib/postgresql";

/// Paths of the PostgreSQL programs a cluster needs.
#[derive(Debug, Clone)]
pub(crate) struct ServerBinaries {
    /// Creates a data directory.
    pub(crate) initdb: PathBuf,
    /// Starts, stops and signals the postmaster.
    pub(crate) pg_ctl: PathBuf,
    /// Runs SQL for setup and tests.
    pub(crate) psql: PathBuf,
}

impl ServerBinaries {
    /// Finds the programs, or says how to install them.
    pub(crate) fn locate() -> Result<Self, ClusterError> {
        let server = pg_config_bindir()
            .filter(|dir| holds_server(dir))
            .or_else(newest_debian_bindir)
            .map(|dir| (dir.join("initdb"), dir.join("pg_ctl"), Some(dir)))
            .or_else(|| Some((find_on_path("initdb")?, find_on_path("pg_ctl")?, None)));
        let Some((initdb, pg_ctl, bindir)) = server else {
            return Err(ClusterError::BinariesNotFound);
        };
        let psql = bindir
            .map(|dir| dir.join("psql"))
            .filter(|psql| psql.is_file())
            .or_else(|| find_on_path("psql"))
            .ok_or(ClusterError::PsqlNotFound)?;
        tracing::debug!(initdb = %initdb.display(), pg_ctl = %pg_ctl.display(), psql = %psql.display(), "found postgresql programs");
        Ok(ServerBinaries {
            initdb,
            pg_ctl,
            psql,
        })
    }
}

/// What `pg_config --bindir` prints, if `pg_config` runs.
fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let printed = String::from_utf8(output.stdout).ok()?;
    let dir = printed.trim();
    (output.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// The `bin` directory of the newest server under [`DEBIAN_SERVER_ROOT`].
fn newest_debian_bindir() -> Option<PathBuf> {
    fs::read_dir(DEBIAN_SERVER_ROOT)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = parse_version(entry.file_name().to_str()?)?;
            let bindir = entry.path().join("bin");
            holds_server(&bindir).then_some((version, bindir))
        })
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, bindir)| bindir)
}

/// `"15"` → `[15]`, `"9.6"` → `[9, 6]`, so versions sort numerically.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

fn holds_server(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|program| dir.join(program).is_file())
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        // Server programs start in `/`, so a relative PATH entry must not leak.
        .and_then(|found| std::path::absolute(found).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_numerically() {
        assert!(parse_version("15") > parse_version("9.6"));
        assert!(parse_version("10") > parse_version("9"));
        assert_eq!(parse_version("main"), None);
    }
}
