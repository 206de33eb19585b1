//! Typed row changes: what walcast delivers, built from pgoutput messages.
//!
//! ```text
//! replication::ReplicationEvent (committed transaction of pgoutput messages)
//!        │
//!        ▼  ChangeDecoder: relation cache (by OID), type names, values with
//!        │                 to_jsonb semantics, old_record rules, TOAST fill
//!        ▼
//!  Event::Change(Change) | Event::Message(LogicalMessage), each with a Position
//! ```
//!
//! [`ChangeStream`] runs the decoder on a [`replication::Replication`].

mod change;
mod decoder;
mod stream;
pub mod time;
pub mod types;
pub mod value;

pub use change::{Change, ChangeKind, Column, Event, LogicalMessage, Position, Relation, Row};
pub use decoder::{ChangeDecoder, ChangeError};
pub use stream::ChangeStream;
pub use types::{PgType, TypeKind};
pub use value::Datum;
