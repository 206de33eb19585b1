//! What a caller chooses about a cluster: where its data lives, its port,
//! extra settings, TLS, and how `pg_ctl stop` shuts it down.

use std::path::PathBuf;

/// How to start a cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// The data directory: created with `initdb` when missing or empty,
    /// reused otherwise, and kept when the cluster is dropped. `None` makes
    /// a throwaway cluster in a temp directory that is removed on drop.
    pub data_dir: Option<PathBuf>,
    /// The TCP port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// Extra server settings (`name`, `value`), applied after walcast's own
    /// so they win, e.g. `("logical_decoding_work_mem", "64kB")`.
    pub settings: Vec<(String, String)>,
    /// Serve TLS with this certificate and key.
    pub tls: Option<TlsFiles>,
    /// `fsync`, `synchronous_commit` and `full_page_writes` off and no
    /// `initdb` sync: faster, and a crash of the machine loses the cluster.
    pub throwaway_speedups: bool,
}

impl ClusterOptions {
    /// A throwaway cluster: temp directory, free port, speedups on.
    pub fn throwaway() -> Self {
        ClusterOptions {
            throwaway_speedups: true,
            ..ClusterOptions::default()
        }
    }

    /// A cluster kept in `data_dir` across runs, on a free port.
    pub fn persistent(data_dir: impl Into<PathBuf>) -> Self {
        ClusterOptions {
            data_dir: Some(data_dir.into()),
            ..ClusterOptions::default()
        }
    }

    /// Adds a server setting, e.g. `("wal_sender_timeout", "10s")`.
    pub fn with_setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }
}

/// A server certificate and its private key, PEM encoded.
#[derive(Clone)]
pub struct TlsFiles {
    /// The certificate (chain), PEM.
    pub cert_pem: Vec<u8>,
    /// The private key, PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .finish_non_exhaustive()
    }
}

/// How `pg_ctl stop` shuts the server down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Wait for every client to disconnect.
    Smart,
    /// Disconnect clients, checkpoint, exit cleanly.
    Fast,
    /// Exit at once, like a crash; the next start runs recovery.
    Immediate,
}

impl StopMode {
    pub(crate) fn as_pg_ctl_arg(self) -> &'static str {
        match self {
            StopMode::Smart => "smart",
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}
