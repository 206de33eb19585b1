//! Typed row changes: what walcast delivers, built from pgoutput messages.
//!
//! ```text
//! replication::ReplicationEvent (committed transaction of pgoutput messages)
//!        │
//!        ▼  ChangeDecoder: relation cache (by OID), type names, values with
//!        │                 to_jsonb semantics, old_record rules, TOAST fill
//!        ▼
//!  Event::Change(Change) | Event::Message(LogicalMessage), each with a
//!  Position: epoch (cluster, slot, slot incarnation) / LSN . index
//! ```
//!
//! [`ChangeStream`] runs the decoder on a [`replication::Replication`].
//! [`ReplayLog`] keeps recent changes by position and key, so a client that
//! rejoins gets what it missed.

mod change;
mod decoder;
pub mod replay;
mod stream;
pub mod time;
pub mod types;
pub mod value;

pub use change::{
    BroadcastChange, Change, ChangeKind, Column, Epoch, Event, LogicalMessage, Position, Relation,
    Row,
};
pub use decoder::{ChangeDecoder, ChangeError};
pub use replay::{ReadEnd, ReplayLimits, ReplayLog, ResumeError};
pub use stream::ChangeStream;
pub use types::{PgType, TypeKind};
pub use value::Datum;
