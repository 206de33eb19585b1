//! The change stream: a replication stream's events decoded into typed
//! events, in batches, with the position to confirm after each batch.
//!
//! The consumer calls [`ChangeStream::next_batch`], handles the events, then
//! [`ChangeStream::confirm`]s the returned LSN. Nothing is confirmed on its
//! behalf: what the slot may forget is the consumer's decision (the replay
//! window keeps it behind the oldest event it still holds).

use pgoutput::Lsn;
use replication::{Replication, ReplicationEvent, ReplicationHandle};
use tokio::sync::mpsc;

use crate::change::{Epoch, Event};
use crate::decoder::{ChangeDecoder, ChangeError};

/// How many replication events one batch takes at most.
const BATCH: usize = 256;

/// Typed events from a running replication stream.
pub struct ChangeStream {
    events: mpsc::Receiver<ReplicationEvent>,
    handle: ReplicationHandle,
    decoder: ChangeDecoder,
    buffer: Vec<ReplicationEvent>,
    /// How long the last batch took to decode (not counting the wait).
    last_decode: std::time::Duration,
}

impl ChangeStream {
    /// Wraps a started replication stream. Its task stays with the caller.
    /// Positions carry epoch 0 until [`with_epoch`](Self::with_epoch).
    pub fn new(events: mpsc::Receiver<ReplicationEvent>, handle: ReplicationHandle) -> Self {
        Self {
            events,
            handle,
            decoder: ChangeDecoder::new(),
            buffer: Vec::with_capacity(BATCH),
            last_decode: std::time::Duration::ZERO,
        }
    }

    /// Splits a [`Replication`] into the change stream and the task handle.
    pub fn from_replication(
        replication: Replication,
    ) -> (
        Self,
        tokio::task::JoinHandle<Result<(), replication::ReplicationError>>,
    ) {
        (
            Self::new(replication.events, replication.handle),
            replication.task,
        )
    }

    /// Stamps `epoch` on the positions of every event decoded from now on;
    /// call it before the first [`next_batch`](Self::next_batch). The
    /// binary derives it ([`Epoch::derive`]) from
    /// [`handle().system()`](Self::handle), the slot and the slot's token.
    pub fn with_epoch(mut self, epoch: Epoch) -> Self {
        self.decoder.set_epoch(epoch);
        self
    }

    /// The epoch stamped on positions.
    pub fn epoch(&self) -> Epoch {
        self.decoder.epoch()
    }

    /// Waits for at least one committed transaction or message, decodes
    /// everything already waiting (up to a batch), appends the typed events
    /// to `out` and returns the LSN that acknowledges them. `None` when the
    /// replication stream has ended.
    pub async fn next_batch(&mut self, out: &mut Vec<Event>) -> Option<Result<Lsn, ChangeError>> {
        self.buffer.clear();
        if self.events.recv_many(&mut self.buffer, BATCH).await == 0 {
            return None;
        }
        let started = std::time::Instant::now();
        let mut ack = 0;
        for event in self.buffer.drain(..) {
            ack = event.ack_lsn();
            if let Err(err) = self.decoder.decode(event, out) {
                return Some(Err(err));
            }
        }
        self.last_decode = started.elapsed();
        Some(Ok(ack))
    }

    /// How long the last [`next_batch`](Self::next_batch) spent decoding,
    /// not counting the wait for events.
    pub fn last_decode_time(&self) -> std::time::Duration {
        self.last_decode
    }

    /// Confirms every event up to `lsn` as handled for good.
    pub fn confirm(&self, lsn: Lsn) {
        self.handle.confirm(lsn);
    }

    /// The replication handle (status, system identity).
    pub fn handle(&self) -> &ReplicationHandle {
        &self.handle
    }
}
