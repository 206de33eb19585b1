//! Groups pgoutput messages into committed transactions.
//!
//! ```text
//!  Begin … (Relation | Type | Insert | Update | Delete | Truncate | Message)* … Commit  ──▶ Transaction
//!  Stream Start(xid) … Stream Stop  (repeated, interleaved)  … Stream Commit(xid)       ──▶ Transaction
//!                                                             … Stream Abort(xid, sub)   ──▶ dropped
//!  Message (non-transactional, outside any transaction)                                  ──▶ Message
//! ```
//!
//! Only committed work leaves this module: a streamed transaction is buffered
//! per xid until its Stream Commit and dropped on Stream Abort (only the
//! aborted subtransaction's messages when `subxid != xid`; in a streamed
//! block pgoutput tags each message with the xid of the (sub)transaction
//! that made it).
//!
//! Pure and synchronous: the stream task feeds it and owns the I/O.

use std::collections::HashMap;

use pgoutput::{LogicalMessageBody, Lsn, Message, PgTimestamp};

/// A committed transaction: the pgoutput messages between Begin and Commit,
/// in order. Relation and Type messages are kept in place so a consumer's
/// relation cache sees each layout before the rows that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Top-level transaction id.
    pub xid: u32,
    /// LSN of the commit record.
    pub commit_lsn: Lsn,
    /// LSN just past the commit record. Confirming it tells the server this
    /// transaction need never be sent again.
    pub end_lsn: Lsn,
    /// Commit time, microseconds since 2000-01-01 UTC.
    pub commit_ts: PgTimestamp,
    /// The messages, without Begin and Commit.
    pub messages: Vec<Message>,
}

/// What the replication stream hands to its consumer, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicationEvent {
    /// A committed transaction.
    Transaction(Transaction),
    /// A non-transactional `pg_logical_emit_message`; `lsn` orders it among
    /// transactions' `end_lsn`s.
    Message(LogicalMessageBody),
}

impl ReplicationEvent {
    /// The LSN to confirm once this event is handled: a transaction's
    /// `end_lsn`, a message's own LSN (the end of its WAL record). Strictly
    /// increases along the stream.
    pub fn ack_lsn(&self) -> Lsn {
        match self {
            Self::Transaction(t) => t.end_lsn,
            Self::Message(m) => m.lsn,
        }
    }
}

/// A message the assembler cannot place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// Begin while a transaction is open, Commit without Begin, and similar.
    #[error("{0}")]
    OutOfOrder(&'static str),
}

struct OpenTransaction {
    xid: u32,
    messages: Vec<Message>,
}

/// Buffers messages until their transaction commits.
#[derive(Default)]
pub struct TransactionAssembler {
    open: Option<OpenTransaction>,
    /// Streamed transactions by top-level xid; each message with the xid of
    /// the (sub)transaction that made it.
    streamed: HashMap<u32, Vec<(u32, Message)>>,
    /// The top-level xid of the current Stream Start block.
    stream_block: Option<u32>,
}

impl TransactionAssembler {
    /// An assembler with nothing open.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no transaction is open or buffered: everything received so
    /// far has been handed on (or was aborted).
    pub fn is_idle(&self) -> bool {
        self.open.is_none() && self.streamed.is_empty() && self.stream_block.is_none()
    }

    /// Forgets every open or buffered transaction; called when the
    /// connection drops, since the server resends them after a reconnect.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Feeds one message; returns an event when it completes one.
    pub fn push(&mut self, message: Message) -> Result<Option<ReplicationEvent>, SequenceError> {
        match message {
            Message::Begin(begin) => {
                if self.open.is_some() {
                    return Err(SequenceError::OutOfOrder(
                        "begin inside an open transaction",
                    ));
                }
                self.open = Some(OpenTransaction {
                    xid: begin.xid,
                    messages: Vec::new(),
                });
                Ok(None)
            }
            Message::Commit(commit) => {
                let open = self
                    .open
                    .take()
                    .ok_or(SequenceError::OutOfOrder("commit without begin"))?;
                Ok(Some(ReplicationEvent::Transaction(Transaction {
                    xid: open.xid,
                    commit_lsn: commit.commit_lsn,
                    end_lsn: commit.end_lsn,
                    commit_ts: commit.commit_ts,
                    messages: open.messages,
                })))
            }
            Message::StreamStart(start) => {
                if self.stream_block.is_some() || self.open.is_some() {
                    return Err(SequenceError::OutOfOrder(
                        "stream start inside a transaction",
                    ));
                }
                self.stream_block = Some(start.xid);
                self.streamed.entry(start.xid).or_default();
                Ok(None)
            }
            Message::StreamStop => {
                self.stream_block.take().ok_or(SequenceError::OutOfOrder(
                    "stream stop without stream start",
                ))?;
                Ok(None)
            }
            Message::StreamCommit(commit) => {
                if self.stream_block.is_some() {
                    return Err(SequenceError::OutOfOrder(
                        "stream commit inside a stream block",
                    ));
                }
                let messages = self.streamed.remove(&commit.xid).unwrap_or_default();
                Ok(Some(ReplicationEvent::Transaction(Transaction {
                    xid: commit.xid,
                    commit_lsn: commit.commit_lsn,
                    end_lsn: commit.end_lsn,
                    commit_ts: commit.commit_ts,
                    messages: messages.into_iter().map(|(_, m)| m).collect(),
                })))
            }
            Message::StreamAbort(abort) => {
                if abort.subxid == abort.xid {
                    self.streamed.remove(&abort.xid);
                } else if let Some(messages) = self.streamed.get_mut(&abort.xid) {
                    messages.retain(|(xid, _)| *xid != abort.subxid);
                }
                Ok(None)
            }
            Message::Message(body)
                if !body.transactional && self.open.is_none() && self.stream_block.is_none() =>
            {
                Ok(Some(ReplicationEvent::Message(body)))
            }
            other => {
                if let Some(top) = self.stream_block {
                    let xid = message_xid(&other).unwrap_or(top);
                    self.streamed.entry(top).or_default().push((xid, other));
                    return Ok(None);
                }
                match &mut self.open {
                    Some(open) => {
                        open.messages.push(other);
                        Ok(None)
                    }
                    // A Relation or Type may arrive outside a transaction
                    // (pgoutput sends them lazily); the consumer still needs it.
                    None => match other {
                        Message::Relation(_) | Message::Type(_) | Message::Origin(_) => {
                            Err(SequenceError::OutOfOrder("relation outside a transaction"))
                        }
                        _ => Err(SequenceError::OutOfOrder(
                            "row change outside a transaction",
                        )),
                    },
                }
            }
        }
    }
}

fn message_xid(message: &Message) -> Option<u32> {
    match message {
        Message::Relation(b) => b.xid,
        Message::Type(b) => b.xid,
        Message::Insert(b) => b.xid,
        Message::Update(b) => b.xid,
        Message::Delete(b) => b.xid,
        Message::Truncate(b) => b.xid,
        Message::Message(b) => b.xid,
        _ => None,
    }
}
