//! A logical replication stream from PostgreSQL, built on postgres-protocol
//! over a plain (or TLS) socket.
//!
//! tokio-postgres cannot open a walsender session (no `replication` startup
//! parameter, no CopyBoth), so [`wire`] speaks that part of the protocol
//! itself; ordinary SQL (start-up [`checks`], publication management, slot
//! lag) goes through tokio-postgres.
//!
//! ```text
//!  start(config) ──▶ WalConnection ──▶ IDENTIFY_SYSTEM, slot, START_REPLICATION
//!                         │
//!                         ▼
//!                 ReplicationTask ──mpsc──▶ ReplicationEvent::{Transaction, Message}
//!                         ▲
//!                         └── ReplicationHandle::confirm(lsn) ── flush feedback to the slot
//! ```

pub mod checks;
mod config;
mod error;
mod lsn;
mod stream;
mod tls;
mod transaction;
mod wire;

pub use config::{ConfigError, ConnectionConfig, SslMode};
pub use error::{ReplicationError, ServerError};
pub use lsn::{format_lsn, parse_lsn};
pub use stream::{
    Replication, ReplicationConfig, ReplicationHandle, ReplicationStatus, SystemInfo, start,
};
pub use tls::TlsConfigError;
pub use transaction::{ReplicationEvent, SequenceError, Transaction, TransactionAssembler};
pub use wire::{CopyEvent, SESSION_OPTIONS, TextRow, WalConnection};
