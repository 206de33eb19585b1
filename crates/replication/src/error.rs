//! Errors of the replication connection, sorted by what the caller must do:
//! retry the connection ([`ReplicationError::is_retryable`]), or stop and
//! tell the operator (authentication, privileges, a missing publication).

use std::fmt;

use crate::tls::TlsConfigError;

/// An `ErrorResponse` from the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerError {
    /// `ERROR`, `FATAL` or `PANIC`.
    pub severity: String,
    /// SQLSTATE.
    pub code: String,
    /// Primary message.
    pub message: String,
    /// Optional detail.
    pub detail: Option<String>,
    /// Optional hint.
    pub hint: Option<String>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        if let Some(detail) = &self.detail {
            write!(f, "; {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "; hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}

/// SQLSTATEs after which retrying cannot help.
const FATAL_SQLSTATES: &[&str] = &[
    "28000", // invalid_authorization_specification (no pg_hba entry, …)
    "28P01", // invalid_password
    "42501", // insufficient_privilege (no REPLICATION attribute)
    "42704", // undefined_object (publication does not exist)
    "3D000", // invalid_catalog_name (database does not exist)
    "55000", // object_not_in_prerequisite_state (wal_level < logical, slot invalidated)
    "42601", // syntax_error (a bug in walcast)
    "22023", // invalid_parameter_value (e.g. an unknown pgoutput option)
];

/// What went wrong on the replication connection.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// The socket failed or closed.
    #[error("connection: {0}")]
    Io(#[source] std::io::Error),
    /// TLS could not be configured.
    #[error("tls: {0}")]
    Tls(#[from] TlsConfigError),
    /// The server does not offer TLS but `sslmode` requires it.
    #[error("the server does not accept TLS connections but sslmode requires TLS")]
    TlsRefused,
    /// Authentication could not proceed.
    #[error("authentication: {0}")]
    Auth(String),
    /// The server answered with an error.
    #[error("server: {0}")]
    Server(#[from] ServerError),
    /// The server sent something the protocol does not allow here.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A pgoutput message could not be decoded.
    #[error("decode: {0}")]
    Decode(#[from] pgoutput::DecodeError),
}

impl ReplicationError {
    /// True when reconnecting later may succeed (network trouble, a server
    /// restart, a slot still held by a previous session); false when an
    /// operator must change something first.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Io(_) => true,
            Self::Server(e) => !FATAL_SQLSTATES.contains(&e.code.as_str()),
            Self::Tls(_)
            | Self::TlsRefused
            | Self::Auth(_)
            | Self::Protocol(_)
            | Self::Decode(_) => false,
        }
    }

    /// The SQLSTATE, when the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Self::Server(e) => Some(&e.code),
            _ => None,
        }
    }
}
