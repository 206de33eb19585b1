//! One WebSocket connection's outbound side: a bounded queue, the writer
//! that drains it into the socket, and the handle everyone else holds.
//!
//! ```text
//!  session (replies) ─┐
//!  hub (fan-out)     ─┼─▶ Connection::send ──Outbox (bounded: frames and bytes)──▶ Writer::run ──▶ WebSocket sink
//!  shutdown          ─┘         │ full?                                                  ▲
//!                               └──▶ evict ────────────────────────────────────────────────┘ close 1013 "slow consumer"
//! ```
//!
//! # Slow-consumer policy
//!
//! Nothing ever waits for a connection. A connection may have at most
//! [`QueueLimits::frames`] frames and [`QueueLimits::bytes`] bytes queued
//! (a single frame larger than the byte limit still goes through an empty
//! queue). The send that would exceed either limit evicts the connection:
//! the queue takes nothing more, the session ends (its channels leave the
//! hub at once), and the writer gets [`CLOSE_GRACE`] to deliver what the
//! queue already holds, then close code [`close::SLOW_CONSUMER`]; after
//! that the socket is dropped. The client reconnects and rejoins
//! (realtime-js does so by itself) and resumes from the last frame it
//! read, so what it was still sent shortens its resume. The gateway's
//! memory stays bounded whatever one client does, and nobody else is
//! delayed.
//!
//! The writer never blocks on a client for ever: a write stuck because the
//! client stopped reading is abandoned once the connection is evicted or
//! every handle is gone, and the closing gets [`CLOSE_GRACE`].
//!
//! # Paced producers
//!
//! A resume's replay can be longer than the queue, so it is the one
//! producer that looks at the queue before it sends: it fills the queue up
//! to half its limits (`Connection::is_half_full`), then waits until the
//! writer has drained it to a quarter (`Connection::drained`) before it
//! continues. The other half stays free for live frames and replies, so a
//! client that reads keeps its connection.
//!
//! # Memory
//!
//! The queue is a `VecDeque` behind a `Mutex` held only to push or pop,
//! and it gives its buffer back whenever it runs empty: an idle connection
//! holds no queue memory (tokio's `mpsc` would hold a 32-slot block for
//! life). The writer and the session are woken through one
//! [`AtomicWaker`] each and a few flags: a `Notify` and a
//! `CancellationToken` cost about 170 bytes more per connection on the
//! heap, and their waiting futures (64 and 72 bytes, three of them) are
//! part of every connection's task. A fan-out frame is encoded once per vsn ([`FanoutFrame`]) and
//! handed to every socket as shared bytes, which the socket writes in
//! place: there is no per-socket copy.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::poll_fn;
use futures_util::task::AtomicWaker;
use futures_util::{Sink, SinkExt};

use crate::protocol::{FanoutFrame, ServerFrame, TextFrame, Vsn};
use crate::socket::Outgoing;

/// Frames a connection may have queued before it counts as slow.
pub const DEFAULT_QUEUE_FRAMES: usize = 1024;

/// Bytes a connection may have queued before it counts as slow.
pub const DEFAULT_QUEUE_BYTES: usize = 8 << 20;

/// How long the writer keeps trying to deliver the last frames and the
/// close frame once a connection ends, before it drops the socket.
pub const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Frames written before one flush.
const WRITE_BATCH: usize = 64;

/// WebSocket close codes walcast sends, with their reasons.
pub mod close {
    /// The server is shutting down; reconnect elsewhere or later.
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke the WebSocket framing rules.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame that is not UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// The client broke the protocol (for example too many joins per second).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame larger than the configured limit.
    pub const TOO_BIG: u16 = 1009;
    /// The outbound queue was full: the client did not read fast enough.
    /// Reconnect and rejoin with a resume position.
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

impl Outbound {
    /// The bytes this puts on the wire for a socket of `vsn`; `None` when
    /// that vsn cannot carry it (a binary broadcast to vsn 1.0.0).
    fn wire_len(&self, vsn: Vsn) -> Option<usize> {
        match self {
            Self::Frame(frame) => Some(frame_len(frame)),
            Self::Fanout(frame) => frame.frame(vsn).map(frame_len),
            Self::Close(..) => Some(0),
        }
    }
}

/// How much one connection may have queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Frames ([`DEFAULT_QUEUE_FRAMES`]).
    pub frames: usize,
    /// Bytes ([`DEFAULT_QUEUE_BYTES`]).
    pub bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self {
            frames: DEFAULT_QUEUE_FRAMES,
            bytes: DEFAULT_QUEUE_BYTES,
        }
    }
}

/// Bytes queued on every connection together (for metrics and tests).
#[derive(Debug, Clone, Default)]
pub struct QueuedBytes(Arc<AtomicUsize>);

impl QueuedBytes {
    /// The current total.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// The cloneable handle to one connection's queue. When the last handle
/// is dropped the queue closes, and the writer finishes.
#[derive(Debug)]
pub struct Connection {
    shared: Arc<Shared>,
}

/// The writer's end of the queue.
#[derive(Debug)]
pub struct Outbox {
    shared: Arc<Shared>,
}

/// What the handles and the writer share.
#[derive(Debug)]
struct Shared {
    id: u64,
    vsn: Vsn,
    limits: QueueLimits,
    queue: Mutex<Queue>,
    /// Wakes the writer: a frame was queued, the queue closed, or the
    /// connection stopped.
    writer: AtomicWaker,
    /// Wakes the session (the one task waiting in [`Connection::evicted`])
    /// when the connection is evicted.
    session: AtomicWaker,
    /// Wakes the producer waiting in [`Connection::drained`] (the session,
    /// pacing a resume) once the writer has taken the queue down to its
    /// low-water mark.
    drained: AtomicWaker,
    /// Live [`Connection`] handles.
    handles: AtomicUsize,
    total: QueuedBytes,
    /// Set, before `stopped`, for a slow consumer.
    evicted: AtomicBool,
    /// Set on eviction, or when the last handle is dropped.
    stopped: AtomicBool,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Outbound>,
    /// Wire bytes of `frames`.
    bytes: usize,
    closed: bool,
    /// A producer waits in [`Connection::drained`]: the writer signals
    /// [`Shared::drained`] when the queue gets down to the low-water mark.
    drain_wanted: bool,
}

impl Queue {
    /// At or above half the frame or byte limit.
    fn is_half_full(&self, limits: QueueLimits) -> bool {
        self.frames.len() * 2 >= limits.frames || self.bytes * 2 >= limits.bytes
    }

    /// At or below a quarter of both limits: the low-water mark.
    fn is_drained(&self, limits: QueueLimits) -> bool {
        self.frames.len() * 4 <= limits.frames && self.bytes * 4 <= limits.bytes
    }
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn evict(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        self.queue().closed = true;
        self.evicted.store(true, Ordering::Release);
        self.stopped.store(true, Ordering::Release);
        self.writer.wake();
        self.session.wake();
    }

    /// Resolves once the connection is evicted or every handle is gone.
    fn stopped(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| Self::poll_flag(&self.stopped, &self.writer, cx))
    }

    /// Ready once `flag` is set; `waker` is woken when it is.
    fn poll_flag(flag: &AtomicBool, waker: &AtomicWaker, cx: &mut Context<'_>) -> Poll<()> {
        if flag.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        waker.register(cx.waker());
        // Set between the check and the registration: nobody woke us.
        if flag.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Connection {
    /// A connection and the writer's end of its queue (for [`Writer`]).
    /// `total` adds up the bytes queued on every connection.
    pub fn new(id: u64, vsn: Vsn, limits: QueueLimits, total: &QueuedBytes) -> (Self, Outbox) {
        let shared = Arc::new(Shared {
            id,
            vsn,
            limits,
            queue: Mutex::new(Queue::default()),
            writer: AtomicWaker::new(),
            session: AtomicWaker::new(),
            drained: AtomicWaker::new(),
            handles: AtomicUsize::new(1),
            total: total.clone(),
            evicted: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        });
        let outbox = Outbox {
            shared: Arc::clone(&shared),
        };
        (Self { shared }, outbox)
    }

    /// The connection's id (for logs).
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// The protocol version the client connected with.
    pub fn vsn(&self) -> Vsn {
        self.shared.vsn
    }

    /// Queues a frame without waiting. A full queue evicts the connection
    /// (see the module docs); returns whether the frame was queued. A
    /// fan-out frame this connection's vsn cannot carry is skipped.
    pub fn send(&self, outbound: Outbound) -> bool {
        let shared = &*self.shared;
        let Some(len) = outbound.wire_len(shared.vsn) else {
            return false;
        };
        {
            let mut queue = shared.queue();
            if queue.closed {
                return false;
            }
            let too_many = queue.frames.len() >= shared.limits.frames.max(1);
            let too_big = queue.bytes > 0 && queue.bytes + len > shared.limits.bytes;
            if too_many || too_big {
                drop(queue);
                shared.evict();
                return false;
            }
            queue.frames.push_back(outbound);
            queue.bytes += len;
        }
        shared.total.0.fetch_add(len, Ordering::Relaxed);
        shared.writer.wake();
        true
    }

    /// Whether the queue holds half its frame or byte limit or more (or
    /// takes nothing more): a paced producer stops there.
    pub(crate) fn is_half_full(&self) -> bool {
        let queue = self.shared.queue();
        queue.closed || queue.is_half_full(self.shared.limits)
    }

    /// Returns once the queue is down to a quarter of its limits; never
    /// while it is closed (the session ends then, by another path).
    pub(crate) fn drained(&self) -> impl Future<Output = ()> + Send + '_ {
        let shared = &*self.shared;
        poll_fn(move |cx| {
            let mut queue = shared.queue();
            if queue.closed {
                return Poll::Pending;
            }
            if queue.is_drained(shared.limits) {
                return Poll::Ready(());
            }
            // Registered under the queue lock, where the writer checks the
            // flag: its wake after the pop reaches this waker.
            shared.drained.register(cx.waker());
            queue.drain_wanted = true;
            Poll::Pending
        })
    }

    /// Queues a per-connection text frame.
    pub fn send_text(&self, frame: TextFrame) -> bool {
        self.send(Outbound::Frame(ServerFrame::Text(frame)))
    }

    /// Resolves once the connection is evicted as a slow consumer. One
    /// task at a time may wait (the session): a second waiter would take
    /// the first one's wakeup.
    pub fn evicted(&self) -> impl Future<Output = ()> + Send + '_ {
        let shared = &*self.shared;
        poll_fn(move |cx| Shared::poll_flag(&shared.evicted, &shared.session, cx))
    }

    /// Frames refused because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Clone for Connection {
    fn clone(&self) -> Self {
        self.shared.handles.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if self.shared.handles.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.queue().closed = true;
            self.shared.stopped.store(true, Ordering::Release);
            // Wakes a writer waiting for frames, or stuck on a client
            // that stopped reading.
            self.shared.writer.wake();
        }
    }
}

impl Outbox {
    /// The next frame; `None` once the queue is closed and empty.
    async fn recv(&self) -> Option<Outbound> {
        poll_fn(|cx| {
            let next = self.poll_next_frame();
            if next.is_ready() {
                return next;
            }
            self.shared.writer.register(cx.waker());
            // Queued or closed between the look and the registration.
            self.poll_next_frame()
        })
        .await
    }

    fn poll_next_frame(&self) -> Poll<Option<Outbound>> {
        match self.try_recv() {
            Some(next) => Poll::Ready(Some(next)),
            None if self.shared.queue().closed => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// The next frame if one is queued. An emptied queue gives its buffer
    /// back, so an idle connection holds none.
    fn try_recv(&self) -> Option<Outbound> {
        let shared = &*self.shared;
        let mut queue = shared.queue();
        let next = queue.frames.pop_front()?;
        let len = next.wire_len(shared.vsn).unwrap_or(0);
        queue.bytes -= len;
        if queue.frames.is_empty() {
            queue.frames = VecDeque::new();
        }
        let wake = queue.drain_wanted && queue.is_drained(shared.limits);
        if wake {
            queue.drain_wanted = false;
        }
        drop(queue);
        shared.total.0.fetch_sub(len, Ordering::Relaxed);
        if wake {
            shared.drained.wake();
        }
        Some(next)
    }

    /// Closes the queue and forgets what it holds.
    fn close(&self) {
        let mut queue = self.shared.queue();
        queue.closed = true;
        let frames = std::mem::take(&mut queue.frames);
        let bytes = std::mem::take(&mut queue.bytes);
        drop(queue);
        self.shared.total.0.fetch_sub(bytes, Ordering::Relaxed);
        drop(frames);
    }
}

/// Why the writer stopped taking frames.
enum End {
    /// Evicted as a slow consumer: write what is queued, then close 1013.
    Evicted,
    /// Every handle is gone: write what is queued, then close.
    Stopped,
    /// An explicit close request.
    Close(u16, &'static str),
    /// The socket failed; nothing more can be written.
    Failed,
}

/// Owns the write half of the socket.
pub(crate) struct Writer<S> {
    sink: S,
    /// Sending ends: the session and the hub, through [`Connection`]. The
    /// writer holds no handle itself, so the queue closes (and the writer
    /// ends) once the session and the hub have let go of the connection.
    outbox: Outbox,
    vsn: Vsn,
    /// A frame taken from the queue that the sink has not accepted yet,
    /// and a close request taken from the queue: kept here, not in the
    /// future, so that an abandoned write loses nothing.
    pending: Option<ServerFrame>,
    close_requested: Option<(u16, &'static str)>,
}

impl<S, E> Writer<S>
where
    S: Sink<Outgoing, Error = E> + Unpin,
{
    /// A writer for `sink` draining `outbox`.
    pub(crate) fn new(sink: S, outbox: Outbox) -> Self {
        Self {
            sink,
            vsn: outbox.shared.vsn,
            outbox,
            pending: None,
            close_requested: None,
        }
    }

    /// Writes until the queue closes, a close is requested, the connection
    /// is evicted, or the socket fails. Several queued frames are written
    /// before one flush.
    pub(crate) async fn run(&mut self) {
        let shared = Arc::clone(&self.outbox.shared);
        let end = loop {
            let step = tokio::select! {
                biased;
                () = shared.stopped() => break self.stop_reason(),
                step = self.step() => step,
            };
            match step {
                Ok(None) => {}
                Ok(Some(end)) => break end,
                Err(_) => break End::Failed,
            }
        };
        // Boxed: only needed once, at the end.
        Box::pin(self.finish(end)).await;
    }

    /// Whether the connection was evicted as a slow consumer.
    pub(crate) fn evicted(&self) -> bool {
        self.outbox.shared.evicted.load(Ordering::Acquire)
    }

    fn stop_reason(&self) -> End {
        if self.evicted() {
            End::Evicted
        } else {
            End::Stopped
        }
    }

    /// Waits for queued frames, writes them (up to [`WRITE_BATCH`]), then
    /// flushes. Returns the end when the queue closed or a close was
    /// requested. Dropping it at any await loses nothing.
    async fn step(&mut self) -> Result<Option<End>, E> {
        if self.pending.is_none() {
            match self.outbox.recv().await {
                Some(first) => self.take(first),
                None => return Ok(Some(End::Stopped)),
            }
        }
        let mut written = 0;
        while self.close_requested.is_none() {
            self.feed_pending().await?;
            written += 1;
            match self.outbox.try_recv() {
                Some(next) if written < WRITE_BATCH => self.take(next),
                Some(next) => {
                    // The rest waits for the next batch.
                    self.take(next);
                    break;
                }
                None => break,
            }
        }
        poll_fn(|cx| Pin::new(&mut self.sink).poll_flush(cx)).await?;
        Ok(self
            .close_requested
            .map(|(code, reason)| End::Close(code, reason)))
    }

    /// Makes a frame taken from the queue the pending frame, or notes the
    /// close request. A fan-out frame's bytes are shared, not copied.
    fn take(&mut self, outbound: Outbound) {
        match outbound {
            Outbound::Frame(frame) => self.pending = Some(frame),
            Outbound::Fanout(frame) => self.pending = frame.frame(self.vsn).cloned(),
            Outbound::Close(code, reason) => self.close_requested = Some((code, reason)),
        }
    }

    /// Hands the pending frame to the sink once it is ready for it.
    async fn feed_pending(&mut self) -> Result<(), E> {
        if self.pending.is_none() {
            return Ok(());
        }
        poll_fn(|cx| Pin::new(&mut self.sink).poll_ready(cx)).await?;
        if let Some(frame) = self.pending.take() {
            Pin::new(&mut self.sink).start_send(Outgoing::Frame(frame))?;
        }
        Ok(())
    }

    /// Sends what the end calls for and the close frame, within
    /// [`CLOSE_GRACE`]; then drops whatever is still queued.
    async fn finish(&mut self, end: End) {
        if !matches!(end, End::Failed) {
            let _ = tokio::time::timeout(CLOSE_GRACE, self.close(end)).await;
        }
        self.outbox.close();
    }

    /// Writes the pending message and what is queued, up to a close request.
    async fn drain(&mut self) -> Result<(), E> {
        self.feed_pending().await?;
        while self.close_requested.is_none() {
            let Some(outbound) = self.outbox.try_recv() else {
                break;
            };
            self.take(outbound);
            self.feed_pending().await?;
        }
        Ok(())
    }

    async fn close(&mut self, end: End) -> Result<(), E> {
        let frame = match end {
            End::Evicted => {
                self.drain().await?;
                Some((close::SLOW_CONSUMER, "slow consumer: outbound queue full"))
            }
            End::Close(code, reason) => {
                self.feed_pending().await?;
                Some((code, reason))
            }
            End::Stopped => {
                // The session is gone: deliver its last words (replies,
                // its close request) first.
                self.drain().await?;
                self.close_requested
            }
            End::Failed => return Ok(()),
        };
        // Dropped by the socket when the client closed first: its reply to
        // the client's close is queued already, and closing flushes it.
        let _ = self.sink.send(Outgoing::Close(frame)).await;
        self.sink.close().await
    }
}

fn frame_len(frame: &ServerFrame) -> usize {
    match frame {
        ServerFrame::Text(text) => text.len(),
        ServerFrame::Binary(bytes) => bytes.len(),
    }
}
