//! One WebSocket connection's outbound side: a bounded queue, the task
//! that owns the socket's write half, and the handle everyone else holds.
//!
//! ```text
//!  session (replies) ─┐
//!  hub (fan-out)     ─┼─▶ Connection::send ──mpsc (bounded)──▶ Writer::run ──▶ WebSocket sink
//!  shutdown          ─┘         │ full?                              ▲
//!                               └──▶ evict ────────────────────────────┘ close 1013 "slow consumer"
//! ```
//!
//! # Slow-consumer policy
//!
//! Nothing ever waits for a connection. When its queue
//! ([`DEFAULT_QUEUE_FRAMES`] frames) is full, the connection is evicted: the
//! writer sends close code [`close::SLOW_CONSUMER`] and the session ends.
//! The client reconnects and rejoins (realtime-js does so by itself), so the
//! gateway's memory stays bounded whatever one client does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{Sink, SinkExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use warp::ws::Message;

use crate::protocol::{FanoutFrame, ServerFrame, TextFrame, Vsn};

/// Frames a connection may have queued before it counts as slow.
pub const DEFAULT_QUEUE_FRAMES: usize = 1024;

/// WebSocket close codes walcast sends, with their reasons.
pub mod close {
    /// The server is shutting down; reconnect elsewhere or later.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke the protocol (for example too many joins per second).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame larger than the configured limit.
    pub const TOO_BIG: u16 = 1009;
    /// The outbound queue was full: the client did not read fast enough.
    /// Reconnect and rejoin (with a resume position, once available).
    pub const SLOW_CONSUMER: u16 = 1013;
    /// No frame (not even a heartbeat) for the idle timeout.
    pub const IDLE: u16 = 1000;
}

/// Something for the writer to send.
#[derive(Debug)]
pub enum Outbound {
    /// A frame for this connection only (replies, system messages).
    Frame(ServerFrame),
    /// A frame shared with other connections of the same topic.
    Fanout(Arc<FanoutFrame>),
    /// Close the socket with this code and reason, then stop.
    Close(u16, &'static str),
}

/// The cloneable handle to one connection's queue.
#[derive(Debug, Clone)]
pub struct Connection {
    inner: Arc<ConnectionInner>,
}

#[derive(Debug)]
struct ConnectionInner {
    id: u64,
    vsn: Vsn,
    tx: mpsc::Sender<Outbound>,
    evicted: CancellationToken,
    dropped: AtomicU64,
}

impl Connection {
    /// A connection and the receiving end of its queue (for [`Writer`]).
    pub fn new(id: u64, vsn: Vsn, capacity: usize) -> (Self, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let inner = ConnectionInner {
            id,
            vsn,
            tx,
            evicted: CancellationToken::new(),
            dropped: AtomicU64::new(0),
        };
        (
            Self {
                inner: Arc::new(inner),
            },
            rx,
        )
    }

    /// The connection's id (for logs).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The protocol version the client connected with.
    pub fn vsn(&self) -> Vsn {
        self.inner.vsn
    }

    /// Queues a frame without waiting. A full queue evicts the connection
    /// (see the module docs); returns whether the frame was queued.
    pub fn send(&self, outbound: Outbound) -> bool {
        match self.inner.tx.try_send(outbound) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                self.inner.evicted.cancel();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Queues a per-connection text frame.
    pub fn send_text(&self, frame: TextFrame) -> bool {
        self.send(Outbound::Frame(ServerFrame::Text(frame)))
    }

    /// Cancelled when the connection was evicted as a slow consumer.
    pub fn evicted(&self) -> &CancellationToken {
        &self.inner.evicted
    }
}

/// Owns the write half of the socket.
pub struct Writer<S> {
    sink: S,
    /// Sending ends: the session and the hub, through [`Connection`]. The
    /// writer holds no sender itself, so the queue closes (and the writer
    /// ends) once the session and the hub have let go of the connection.
    rx: mpsc::Receiver<Outbound>,
    vsn: Vsn,
    evicted: CancellationToken,
}

impl<S> Writer<S>
where
    S: Sink<Message, Error = warp::Error> + Unpin,
{
    /// A writer for `sink` draining `rx`.
    pub fn new(sink: S, rx: mpsc::Receiver<Outbound>, connection: &Connection) -> Self {
        Self {
            sink,
            rx,
            vsn: connection.vsn(),
            evicted: connection.evicted().clone(),
        }
    }

    /// Writes until the queue closes, a close is requested, the connection
    /// is evicted, or the socket fails. Several queued frames are written
    /// before one flush.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(64);
        loop {
            tokio::select! {
                biased;
                () = self.evicted.cancelled() => {
                    let _ = self.close(close::SLOW_CONSUMER, "slow consumer: outbound queue full").await;
                    return;
                }
                n = self.rx.recv_many(&mut batch, 64) => {
                    if n == 0 {
                        let _ = self.sink.close().await;
                        return;
                    }
                    for outbound in batch.drain(..) {
                        let message = match outbound {
                            Outbound::Frame(frame) => to_message(&frame),
                            Outbound::Fanout(frame) => match frame.frame(self.vsn) {
                                Some(frame) => to_message(frame),
                                None => continue,
                            },
                            Outbound::Close(code, reason) => {
                                let _ = self.sink.flush().await;
                                let _ = self.close(code, reason).await;
                                return;
                            }
                        };
                        if self.sink.feed(message).await.is_err() {
                            return;
                        }
                    }
                    if self.sink.flush().await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn close(&mut self, code: u16, reason: &'static str) -> Result<(), warp::Error> {
        self.sink.send(Message::close_with(code, reason)).await?;
        self.sink.close().await
    }
}

fn to_message(frame: &ServerFrame) -> Message {
    match frame {
        ServerFrame::Text(text) => Message::text(text.as_str()),
        ServerFrame::Binary(bytes) => Message::binary(bytes.clone()),
    }
}
