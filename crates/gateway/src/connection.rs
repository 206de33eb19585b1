//! One WebSocket connection's outbound side: a bounded queue, the writer
//! that drains it into the socket, and the handle everyone else holds.
//!
//! ```text
//!  session (replies) ──▶ Connection::send ──socket idle, nothing queued?──try_write──────────────────────┐
//!  hub (fan-out)     ──▶ Connection::fan_out ──┐                                                           ▼
//!  shutdown          ──▶ Connection::send      ├─▶ Outbox (bounded: frames and bytes) ──▶ Writer::run ──▶ socket
//!                               │ full?        └─ FanOut::finish: ≤ DIRECT_WRITES connections? ─try_flush─▲
//!                               └──▶ evict ──▶ Writer: close 1013 "slow consumer"
//! ```
//!
//! # Direct writes
//!
//! The socket lives with the queue, so a sender can write it. A frame
//! for a connection with nothing queued, nothing in the writer's hands
//! and nothing half-written goes straight into the socket, without
//! waiting (`Transport::try_write`): no queue entry, no wake-up of the
//! connection's task, no second look at the socket. When the kernel's
//! buffer is full, or the socket is in use that instant (the session
//! reading it), the frame is queued as before; a frame the kernel took
//! in part leaves its rest in the socket, and the writer is woken to
//! flush it. Frames leave in the order they were sent: the queue lock
//! orders the senders, and nothing is written directly past a frame
//! that is queued or held by the writer.
//!
//! A fan-out (one batch of changes from the replication stream, one
//! broadcast) queues its frames without waking anyone, then finishes
//! (`FanOut`): every connection it reached gets all of its frames in
//! one write, by the publisher itself while the fan-out reached at most
//! [`DIRECT_WRITES`] connections, by the connections' writers otherwise.
//! Both halves were measured (BENCHMARKS.md, B3):
//! - writing each frame directly as it was made turned every frame into
//!   its own `writev` and TCP segment, where the writers, lagging a
//!   little, had gathered about two frames per write; the CPU per
//!   delivery rose by a quarter. Gathering per batch keeps that saving,
//!   and a publisher that falls behind reads bigger batches, so it
//!   gathers more;
//! - a fan-out of 10,000 written by the publisher alone had a p99 half
//!   again as long as the same fan-out shared by the writers on every
//!   worker.
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
use futures_util::{Sink, SinkExt, Stream};

use crate::protocol::{FanoutFrame, ServerFrame, TextFrame, Vsn};
use crate::socket::{Direct, Inbound, Outgoing, ReadError, Transport};

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
    /// The frame a socket of `vsn` writes; `None` for a close, or when
    /// that vsn cannot carry it.
    fn into_frame(self, vsn: Vsn) -> Option<ServerFrame> {
        match self {
            Self::Frame(frame) => Some(frame),
            Self::Fanout(frame) => frame.frame(vsn).cloned(),
            Self::Close(..) => None,
        }
    }

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

/// The most connections one fan-out (a batch of changes, a broadcast)
/// writes to itself when it finishes; a larger one wakes every
/// connection's writer instead, so that all workers share its writes.
/// See [direct writes](self#direct-writes).
pub const DIRECT_WRITES: usize = 1024;

/// One fan-out: the connections it queued frames to, written when it
/// finishes (or dropped), each in one write.
#[derive(Debug, Default)]
pub(crate) struct FanOut {
    touched: Vec<Arc<Shared>>,
}

impl FanOut {
    /// Writes what the fan-out queued, each connection's frames in one
    /// write where its socket is idle, when it reached at most
    /// [`DIRECT_WRITES`] connections; otherwise, and where a socket is
    /// busy, wakes the connections' writers.
    pub(crate) fn finish(&mut self) {
        let direct = self.touched.len() <= DIRECT_WRITES;
        for shared in self.touched.drain(..) {
            if !(direct && shared.try_flush()) {
                shared.writer.wake();
            }
        }
    }
}

impl Drop for FanOut {
    fn drop(&mut self) {
        self.finish();
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
struct Shared {
    id: u64,
    vsn: Vsn,
    limits: QueueLimits,
    queue: Mutex<Queue>,
    /// The socket, once the upgrade has completed, until its task ends.
    /// Lock order: `queue`, then `socket`; a producer holding the queue
    /// only ever tries this lock, so the reader and the writer, which
    /// take it for one poll, never wait on a producer for long.
    socket: Mutex<Option<Box<dyn Transport>>>,
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
    /// The writer has taken a frame that may not be in the socket yet:
    /// nothing may be written past it. Cleared when the writer finds the
    /// queue empty.
    writer_holds: bool,
    /// A direct write left part of a frame in the socket: the writer
    /// must flush it.
    flush_wanted: bool,
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

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("vsn", &self.vsn)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn socket(&self) -> MutexGuard<'_, Option<Box<dyn Transport>>> {
        self.socket.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes what is queued straight into the socket, in one write,
    /// when the writer holds nothing, nobody is using the socket this
    /// instant, and no close is queued. True when the writer need not be
    /// woken: all of it is written.
    fn try_flush(&self) -> bool {
        let mut queue = self.queue();
        let written = match queue.frames.len() {
            // The common case: written in place by `try_write`, with no
            // buffer in the socket.
            1 if !queue.writer_holds && !queue.closed => {
                let Some(only) = queue.frames.pop_front() else {
                    return false;
                };
                if let Err(only) = self.try_write(&mut queue, only) {
                    queue.frames.push_front(only);
                    return false;
                }
                !queue.flush_wanted
            }
            // More than one write's worth is the writer's: what a direct
            // write leaves in the socket is no more than the writer would
            // put there.
            2..=WRITE_BATCH if !queue.writer_holds && !queue.closed => {
                if queue
                    .frames
                    .iter()
                    .any(|frame| matches!(frame, Outbound::Close(..)))
                {
                    return false;
                }
                let Ok(mut socket) = self.socket.try_lock() else {
                    return false;
                };
                let Some(socket) = socket.as_mut().filter(|socket| socket.writes_directly()) else {
                    return false;
                };
                let vsn = self.vsn;
                let frames = std::mem::take(&mut queue.frames);
                let written =
                    socket.try_write_all(&mut frames.into_iter().filter_map(|f| f.into_frame(vsn)));
                queue.flush_wanted |= !written;
                written
            }
            _ => return false,
        };
        if queue.frames.is_empty() {
            queue.frames = VecDeque::new();
        }
        let bytes = std::mem::take(&mut queue.bytes);
        let wake = queue.drain_wanted && queue.is_drained(self.limits);
        if wake {
            queue.drain_wanted = false;
        }
        drop(queue);
        self.total.0.fetch_sub(bytes, Ordering::Relaxed);
        if wake {
            self.drained.wake();
        }
        written
    }

    /// Writes `outbound` straight into the socket when nothing is queued
    /// or in the writer's hands before it and nobody is using the socket
    /// this instant. Called with the queue locked. Returns the frame back
    /// when it must be queued.
    fn try_write(&self, queue: &mut Queue, outbound: Outbound) -> Result<(), Outbound> {
        if !queue.frames.is_empty() || queue.writer_holds || matches!(outbound, Outbound::Close(..))
        {
            return Err(outbound);
        }
        let Ok(mut socket) = self.socket.try_lock() else {
            return Err(outbound);
        };
        let Some(socket) = socket.as_mut() else {
            return Err(outbound);
        };
        let Some(frame) = outbound.into_frame(self.vsn) else {
            return Ok(());
        };
        match socket.try_write(frame) {
            Direct::Written => Ok(()),
            Direct::Partial => {
                queue.flush_wanted = true;
                Ok(())
            }
            Direct::Refused(frame) => Err(Outbound::Frame(frame)),
        }
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
    /// A connection and the writer's end of its queue (for the connection's writer).
    /// `total` adds up the bytes queued on every connection.
    pub fn new(id: u64, vsn: Vsn, limits: QueueLimits, total: &QueuedBytes) -> (Self, Outbox) {
        let shared = Arc::new(Shared {
            id,
            vsn,
            limits,
            queue: Mutex::new(Queue::default()),
            socket: Mutex::new(None),
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

    /// Sends a frame without waiting: written straight into the socket
    /// when nothing waits before it and the kernel takes it, queued for
    /// the writer otherwise. A full queue evicts the connection (see the
    /// module docs); returns whether the frame was written or queued. A
    /// fan-out frame this connection's vsn cannot carry is skipped.
    pub fn send(&self, outbound: Outbound) -> bool {
        self.send_or_queue(outbound, None)
    }

    /// Queues a frame as part of `fan_out`, which writes it (or wakes the
    /// writer) when it finishes: every frame a connection gets from one
    /// fan-out leaves in one write.
    pub(crate) fn fan_out(&self, outbound: Outbound, fan_out: &mut FanOut) -> bool {
        self.send_or_queue(outbound, Some(fan_out))
    }

    /// Writes directly when not part of a fan-out; otherwise queues, and
    /// leaves the wake-up to the fan-out.
    fn send_or_queue(&self, outbound: Outbound, fan_out: Option<&mut FanOut>) -> bool {
        let shared = &self.shared;
        let Some(len) = outbound.wire_len(shared.vsn) else {
            return false;
        };
        let mut queue = shared.queue();
        if queue.closed {
            return false;
        }
        let outbound = match fan_out {
            Some(_) => outbound,
            None => match shared.try_write(&mut queue, outbound) {
                Ok(()) => {
                    let flush = queue.flush_wanted;
                    drop(queue);
                    if flush {
                        shared.writer.wake();
                    }
                    return true;
                }
                Err(outbound) => outbound,
            },
        };
        let too_many = queue.frames.len() >= shared.limits.frames.max(1);
        let too_big = queue.bytes > 0 && queue.bytes + len > shared.limits.bytes;
        if too_many || too_big {
            drop(queue);
            shared.evict();
            return false;
        }
        let first = queue.frames.is_empty();
        queue.frames.push_back(outbound);
        queue.bytes += len;
        drop(queue);
        shared.total.0.fetch_add(len, Ordering::Relaxed);
        match fan_out {
            // The frames before this one are another sender's to wake
            // the writer for, or already this fan-out's.
            Some(fan_out) => {
                if first {
                    fan_out.touched.push(Arc::clone(shared));
                }
            }
            None => shared.writer.wake(),
        }
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

/// What the writer is to do next.
enum Next {
    /// Send this.
    Frame(Outbound),
    /// Flush what a direct write left in the socket.
    Flush,
    /// The queue is closed and empty.
    Closed,
}

impl Outbox {
    /// Hands the upgraded socket over: from now on the session reads it
    /// and the writer and producers write it through [`Outbox::socket`]
    /// and [`Connection::send`].
    pub(crate) fn attach(&self, socket: Box<dyn Transport>) {
        *self.shared.socket() = Some(socket);
    }

    /// The socket, shared by the session and the writer.
    pub(crate) fn socket(&self) -> SharedSocket {
        SharedSocket {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Drops the socket (which closes the TCP connection), even while a
    /// handle to the connection lives on.
    pub(crate) fn detach(&self) {
        let socket = self.shared.socket().take();
        drop(socket);
    }

    /// What to do next; waits while there is nothing.
    async fn recv(&self) -> Next {
        poll_fn(|cx| {
            let next = self.poll_next();
            if next.is_ready() {
                return next;
            }
            self.shared.writer.register(cx.waker());
            // Queued or closed between the look and the registration.
            self.poll_next()
        })
        .await
    }

    fn poll_next(&self) -> Poll<Next> {
        let mut queue = self.shared.queue();
        if let Some(next) = self.pop(&mut queue) {
            return Poll::Ready(Next::Frame(next));
        }
        if std::mem::take(&mut queue.flush_wanted) {
            Poll::Ready(Next::Flush)
        } else if queue.closed {
            Poll::Ready(Next::Closed)
        } else {
            Poll::Pending
        }
    }

    /// The next frame if one is queued.
    fn try_recv(&self) -> Option<Outbound> {
        self.pop(&mut self.shared.queue())
    }

    /// Takes the next frame from the locked queue. The writer holds it
    /// until it finds the queue empty: producers do not write past it.
    /// An emptied queue gives its buffer back, so an idle connection
    /// holds none.
    fn pop(&self, queue: &mut MutexGuard<'_, Queue>) -> Option<Outbound> {
        let shared = &*self.shared;
        let Some(next) = queue.frames.pop_front() else {
            queue.writer_holds = false;
            return None;
        };
        queue.writer_holds = true;
        let len = next.wire_len(shared.vsn).unwrap_or(0);
        queue.bytes -= len;
        if queue.frames.is_empty() {
            queue.frames = VecDeque::new();
        }
        let wake = queue.drain_wanted && queue.is_drained(shared.limits);
        if wake {
            queue.drain_wanted = false;
        }
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

    /// Drops the socket ([`Outbox::detach`]).
    pub(crate) fn detach(&self) {
        self.outbox.detach();
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
                Next::Frame(first) => self.take(first),
                // Nothing to take: the flush below writes the rest.
                Next::Flush => {}
                Next::Closed => return Ok(Some(End::Stopped)),
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
            Outbound::Close(code, reason) => self.close_requested = Some((code, reason)),
            frame => self.pending = frame.into_frame(self.vsn),
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
            // Polled once before the timer is armed: a close usually
            // completes at once, and a timer costs a lock of the timer
            // wheel to arm and another to cancel.
            let close = self.close(end);
            tokio::pin!(close);
            let first = poll_fn(|cx| Poll::Ready(close.as_mut().poll(cx))).await;
            if first.is_pending() {
                let _ = tokio::time::timeout(CLOSE_GRACE, close).await;
            }
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

/// The connection's socket as the session (a stream) and the writer (a
/// sink) use it in the connection's one task. Each poll takes the lock
/// for that call only, so the two never contend, and a producer's
/// direct write finds it free but for those moments. A socket not
/// attached yet, or detached, reads as ended and fails writes.
pub(crate) struct SharedSocket {
    shared: Arc<Shared>,
}

impl SharedSocket {
    fn using<T>(
        &self,
        absent: impl FnOnce() -> T,
        f: impl FnOnce(Pin<&mut dyn Transport>) -> T,
    ) -> T {
        match self.shared.socket().as_mut() {
            Some(socket) => f(Pin::new(&mut **socket)),
            None => absent(),
        }
    }
}

fn detached<T>() -> Poll<Result<T, std::io::Error>> {
    Poll::Ready(Err(std::io::ErrorKind::NotConnected.into()))
}

impl Stream for SharedSocket {
    type Item = Result<Inbound, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.using(|| Poll::Ready(None), |socket| socket.poll_next(cx))
    }
}

impl Sink<Outgoing> for SharedSocket {
    type Error = std::io::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.using(detached, |socket| socket.poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, item: Outgoing) -> std::io::Result<()> {
        self.using(
            || Err(std::io::ErrorKind::NotConnected.into()),
            |socket| socket.start_send(item),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.using(detached, |socket| socket.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.using(detached, |socket| socket.poll_close(cx))
    }
}

#[cfg(test)]
mod tests;
