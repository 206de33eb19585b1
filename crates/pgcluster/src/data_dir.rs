//! Creating and reading the data directories walcast runs clusters in.
//!
//! Layout of a throwaway cluster, under the system temp directory:
//!
//! ```text
//!  walcast-pg-<pid>-<n>/           owned by the server user, removed on drop
//!  ├── data.initdb-password        exists only while initdb runs
//!  └── data/                       the data directory
//!      ├── walcast.conf            our settings, rewritten before every start
//!      ├── walcast-password        the superuser password (0600)
//!      ├── log/postgres.log        the server log (pg_ctl -l)
//!      └── .s.PGSQL.<port>         the Unix socket the harness's psql uses
//! ```
//!
//! A persistent (dev) data directory has the same inside; the only file
//! outside it, `<name>.initdb-password`, exists only while `initdb` runs.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::ClusterError;
use crate::binaries::ServerBinaries;
use crate::command;
use crate::config::{DEFAULT_HBA, INCLUDE_SETTINGS};
use crate::server_user::ServerUser;

/// The superuser `initdb` creates.
pub(crate) const SUPERUSER: &str = "postgres";

/// The password file inside the data directory, kept so a reused data
/// directory can be connected to again.
const PASSWORD_FILE: &str = "walcast-password";

/// The server log directory, relative to the data directory.
pub(crate) const LOG_DIR: &str = "log";

/// The server log file, in [`LOG_DIR`].
pub(crate) const LOG_FILE: &str = "postgres.log";

/// Runs `initdb` on `data_dir` (missing or empty) with a new superuser password, then writes
/// walcast's `pg_hba.conf`, settings include, log directory and password
/// file. Returns the password.
pub(crate) fn init_data_dir(
    binaries: &ServerBinaries,
    user: ServerUser,
    data_dir: &Path,
    throwaway_speedups: bool,
) -> Result<String, ClusterError> {
    // Refuse before `create_private_dir` tightens someone else's directory.
    if fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ClusterError::ForeignDataDir {
            data_dir: data_dir.to_owned(),
        });
    }
    let password = generate_password()?;
    user.create_private_dir(data_dir)?;
    // initdb reads the password from a file the server user can read; it
    // cannot live in the data directory, which must be empty.
    let password_file = data_dir.with_file_name(format!(
        "{}.initdb-password",
        data_dir.file_name().unwrap_or_default().to_string_lossy()
    ));
    user.write_private_file(&password_file, password.as_bytes())?;
    let mut initdb = user.command(&binaries.initdb);
    initdb
        .arg("-D")
        .arg(data_dir)
        .args(["-U", SUPERUSER, "-E", "UTF8", "--no-locale"])
        .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
        .arg(format!("--pwfile={}", password_file.display()));
    if throwaway_speedups {
        initdb.arg("--no-sync");
    }
    let initialized = command::run(initdb, "initdb");
    let _ = fs::remove_file(&password_file);
    initialized?;

    user.write_private_file(&data_dir.join(PASSWORD_FILE), password.as_bytes())?;
    let hba = data_dir.join("pg_hba.conf");
    fs::write(&hba, DEFAULT_HBA).map_err(ClusterError::io("write", &hba))?;
    let conf = data_dir.join("postgresql.conf");
    fs::OpenOptions::new()
        .append(true)
        .open(&conf)
        .and_then(|mut file| file.write_all(INCLUDE_SETTINGS.as_bytes()))
        .map_err(ClusterError::io("append to", &conf))?;
    Ok(password)
}

/// The superuser password of a data directory walcast created.
pub(crate) fn read_password(data_dir: &Path) -> Result<String, ClusterError> {
    let path = data_dir.join(PASSWORD_FILE);
    if !path.exists() {
        return Err(ClusterError::ForeignDataDir {
            data_dir: data_dir.to_owned(),
        });
    }
    fs::read_to_string(&path)
        .map(|password| password.trim().to_owned())
        .map_err(ClusterError::io("read", &path))
}

/// 128 random bits from the kernel, hex encoded (URL-safe as is).
fn generate_password() -> Result<String, ClusterError> {
    const SOURCE: &str = "/dev/urandom";
    let mut bytes = [0u8; 16];
    fs::File::open(SOURCE)
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(ClusterError::io("read", SOURCE))?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Creates `<temp>/walcast-pg-<pid>-<n>`, owned by the server user.
pub(crate) fn create_throwaway_root(user: ServerUser) -> Result<PathBuf, ClusterError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let temp = std::env::temp_dir();
    let temp = std::path::absolute(&temp).map_err(ClusterError::io("resolve", &temp))?;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let root = temp.join(format!("walcast-pg-{}-{n}", std::process::id()));
        match fs::create_dir(&root) {
            // Left behind by an earlier process with our pid.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(ClusterError::io("create directory", &root)(error)),
            Ok(()) => {
                user.create_private_dir(&root)?;
                return Ok(root);
            }
        }
    }
}
