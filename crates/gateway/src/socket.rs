//! One upgraded connection speaking WebSocket frames ([`wsframe`]),
//! holding no buffer while it is idle.
//!
//! ```text
//!  client bytes ──poll_read (into a stack chunk)──▶ Decoder ──▶ Inbound ──▶ Session
//!        └─ a partial frame is kept in `input` until it is whole      │ Ping: pong queued
//!                                                                     │ Close: reply queued
//!  Writer ──Outgoing──▶ output: [ServerHeader + shared payload] ──writev──▶ client
//! ```
//!
//! # Memory
//!
//! Reads go into a chunk on the stack, and frames are decoded straight
//! from it; only bytes of a frame that has not fully arrived are copied to
//! the heap (`input`), and that copy is freed once the frame is decoded.
//! Writes gather each frame's header and its payload, a fan-out frame's
//! bytes shared with every other socket, into one vectored write; the
//! queue of frames being written is freed once flushed. So an idle socket
//! holds the connection, the decoder's limit and a few flags: tungstenite,
//! which this replaces, kept a read buffer (grown to twice the largest
//! frame read) and a write buffer for the life of every socket
//! (BENCHMARKS.md, B4).
//!
//! # Close handshake
//!
//! A client's close frame is answered with a close frame carrying the
//! same code and reason (RFC 6455 §5.5.1), queued at once and written with
//! the next write or read; nothing is read after it, and nothing but that
//! reply is sent. A close the server starts ([`Outgoing::Close`]) is the
//! last frame it sends; [`Sink::poll_close`] flushes and shuts the
//! connection's write side down, without waiting for the client's reply.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wsframe::{Decoded, Decoder, Message, OpCode, ServerHeader, close_payload};

use crate::connection::close;
use crate::protocol::{ServerFrame, TextFrame};

/// Bytes one read takes into the chunk on the stack. A frame larger than
/// what is left of it is read straight into `input`.
const READ_CHUNK: usize = 4096;

/// At most this much is reserved ahead for a frame still arriving: a
/// client that announces a large frame and sends it slowly gets its
/// buffer grown as the bytes come, not up front.
const MAX_READ_AHEAD: usize = 64 * 1024;

/// Frames (two slices each: header, payload) gathered into one write.
const WRITE_SLICES: usize = 64;

/// Frames accepted before [`Sink::poll_ready`] writes some out.
const MAX_QUEUED_FRAMES: usize = 128;

/// What a client sent, for the session. Pings and pongs are handled here.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A text message (valid UTF-8).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// The client closed the connection (its close frame is answered).
    Close,
}

/// What the writer sends.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A protocol frame.
    Frame(ServerFrame),
    /// A close frame, with a code and reason or without; nothing follows it.
    Close(Option<(u16, &'static str)>),
}

/// A socket as its connection's task and its producers use it: the
/// session reads it, the writer writes and flushes it, and a producer
/// writes a frame straight into it when nothing is waiting
/// ([`Transport::try_write`], see [`crate::connection`]).
pub(crate) trait Transport:
    Stream<Item = Result<Inbound, ReadError>> + Sink<Outgoing, Error = io::Error> + Send + Unpin
{
    /// Writes `frame` now, without waiting, if nothing is waiting to be
    /// written before it. The default never does (warp's socket, for the
    /// B4 baseline, only writes through its sink).
    fn try_write(&mut self, frame: ServerFrame) -> Direct {
        Direct::Refused(frame)
    }

    /// Whether [`Transport::try_write_all`] takes frames now: nothing
    /// is waiting to be written, and no close frame is queued.
    fn writes_directly(&self) -> bool {
        false
    }

    /// Takes `frames` after what is waiting and writes as much as the
    /// kernel takes without waiting; true when everything is written, so
    /// that no flush is needed. Only called when
    /// [`Transport::writes_directly`].
    fn try_write_all(&mut self, frames: &mut dyn Iterator<Item = ServerFrame>) -> bool {
        frames.for_each(drop);
        false
    }
}

/// What [`Transport::try_write`] did with a frame.
#[derive(Debug)]
pub(crate) enum Direct {
    /// The whole frame is in the kernel's send buffer.
    Written,
    /// Part of it is; the rest waits in the socket for the next flush.
    Partial,
    /// Nothing was written: a frame is waiting before it, the socket is
    /// closing, or the kernel's buffer is full. Queue it instead.
    Refused(ServerFrame),
}

/// Why the socket stopped reading.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The client broke the framing rules or a limit.
    #[error(transparent)]
    Frame(#[from] wsframe::Error),
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl ReadError {
    /// The close code and reason to fail the connection with, when the
    /// client can still be told.
    pub(crate) fn close(&self) -> Option<(u16, &'static str)> {
        match self {
            Self::Frame(wsframe::Error::TooLarge { .. }) => {
                Some((close::TOO_BIG, "frame too large"))
            }
            Self::Frame(wsframe::Error::InvalidUtf8) => {
                Some((close::INVALID_PAYLOAD, "text is not valid UTF-8"))
            }
            Self::Frame(wsframe::Error::Protocol(_)) => {
                Some((close::PROTOCOL_ERROR, "WebSocket protocol error"))
            }
            Self::Io(_) => None,
        }
    }
}

/// A server-side WebSocket over `IO` (the upgraded HTTP connection).
pub(crate) struct Socket<IO> {
    io: IO,
    decoder: Decoder,
    /// Bytes read and not decoded yet. Empty, with no capacity, whenever
    /// the reads so far ended on a frame boundary: the idle state.
    input: Vec<u8>,
    /// The whole length of the frame `input` starts with; 0 until its
    /// header is in.
    input_frame_len: usize,
    /// Frames accepted and not fully written, and how many bytes of the
    /// first one are written. No capacity once flushed.
    output: Vec<OutFrame>,
    written: usize,
    /// A close frame is queued: nothing is sent after it.
    close_queued: bool,
    /// The client's close frame, the end of the stream, or an error was
    /// read: nothing more is read.
    read_closed: bool,
}

/// A frame being written: the header, then the payload in place.
struct OutFrame {
    header: ServerHeader,
    payload: Payload,
}

enum Payload {
    Text(TextFrame),
    Bytes(Bytes),
}

impl OutFrame {
    fn new(opcode: OpCode, payload: Payload) -> Self {
        let len = match &payload {
            Payload::Text(text) => text.len(),
            Payload::Bytes(bytes) => bytes.len(),
        };
        Self {
            header: ServerHeader::new(opcode, len),
            payload,
        }
    }

    /// A protocol frame, its payload in place.
    fn of(frame: ServerFrame) -> Self {
        match frame {
            ServerFrame::Text(text) => Self::new(OpCode::Text, Payload::Text(text)),
            ServerFrame::Binary(bytes) => Self::new(OpCode::Binary, Payload::Bytes(bytes)),
        }
    }

    /// The protocol frame [`OutFrame::of`] made this from.
    fn into_frame(self) -> ServerFrame {
        match self.payload {
            Payload::Text(text) => ServerFrame::Text(text),
            Payload::Bytes(bytes) => ServerFrame::Binary(bytes),
        }
    }

    fn parts(&self) -> [&[u8]; 2] {
        let payload = match &self.payload {
            Payload::Text(text) => text.as_str().as_bytes(),
            Payload::Bytes(bytes) => bytes,
        };
        [self.header.as_bytes(), payload]
    }

    fn len(&self) -> usize {
        self.parts().iter().map(|part| part.len()).sum()
    }
}

impl<IO> Socket<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    /// A socket over the upgraded `io`, refusing frames and messages over
    /// `max_frame_bytes`.
    pub(crate) fn new(io: IO, max_frame_bytes: usize) -> Self {
        Self {
            io,
            decoder: Decoder::new(max_frame_bytes),
            input: Vec::new(),
            input_frame_len: 0,
            output: Vec::new(),
            written: 0,
            close_queued: false,
            read_closed: false,
        }
    }

    /// [`Socket::new`] over a connection whose first bytes, `input`, were
    /// read with the upgrade request (a client that did not wait for the
    /// 101); they are decoded before anything else is read.
    pub(crate) fn with_input(io: IO, max_frame_bytes: usize, input: Vec<u8>) -> Self {
        let mut socket = Self::new(io, max_frame_bytes);
        if !input.is_empty() {
            socket.input = input;
        }
        socket
    }

    /// Decodes frames from the start of `data` until one is for the
    /// session, answering pings and the client's close on the way, or the
    /// rest is an incomplete frame. Returns the bytes consumed.
    fn decode(&mut self, data: &[u8]) -> (usize, Result<Option<Inbound>, wsframe::Error>) {
        let mut consumed = 0;
        loop {
            let rest = data.get(consumed..).unwrap_or_default();
            match self.decoder.decode(rest) {
                Err(err) => return (consumed, Err(err)),
                Ok(Decoded::Incomplete { frame_len }) => {
                    self.input_frame_len = frame_len.unwrap_or(0);
                    return (consumed, Ok(None));
                }
                Ok(Decoded::Frame { len, message }) => {
                    consumed += len;
                    let inbound = match message {
                        Some(message) => self.handle(message),
                        None => None,
                    };
                    if inbound.is_some() {
                        return (consumed, Ok(inbound));
                    }
                }
            }
        }
    }

    fn handle(&mut self, message: Message) -> Option<Inbound> {
        match message {
            Message::Text(text) => Some(Inbound::Text(text)),
            Message::Binary(bytes) => Some(Inbound::Binary(bytes)),
            Message::Ping(payload) => {
                self.queue(OutFrame::new(OpCode::Pong, Payload::Bytes(payload)));
                None
            }
            Message::Pong(_) => None,
            Message::Close(frame) => {
                let reply = frame
                    .map(|frame| {
                        let mut payload = frame.code.to_be_bytes().to_vec();
                        payload.extend_from_slice(&frame.reason);
                        Bytes::from(payload)
                    })
                    .unwrap_or_default();
                self.queue(OutFrame::new(OpCode::Close, Payload::Bytes(reply)));
                self.close_queued = true;
                self.read_closed = true;
                Some(Inbound::Close)
            }
        }
    }

    /// Queues a frame, unless a close frame went before it.
    fn queue(&mut self, frame: OutFrame) {
        if !self.close_queued {
            self.output.push(frame);
        }
    }

    /// Decodes what `input` holds, keeping the undecoded rest.
    fn decode_input(&mut self) -> Result<Option<Inbound>, wsframe::Error> {
        let input = std::mem::take(&mut self.input);
        let (consumed, result) = self.decode(&input);
        self.input = input;
        self.input.drain(..consumed);
        if self.input.is_empty() {
            // Frees the buffer: an idle socket holds none.
            self.input = Vec::new();
        }
        result
    }

    /// Reads and decodes until there is something for the session, the
    /// stream ends (`None`), or the client must be failed.
    fn poll_inbound(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Inbound, ReadError>>> {
        loop {
            if self.read_closed {
                return Poll::Ready(None);
            }
            if !self.input.is_empty() {
                match self.decode_input() {
                    Ok(Some(inbound)) => return Poll::Ready(Some(Ok(inbound))),
                    // Part of a frame: read the rest.
                    Ok(None) => {}
                    Err(err) => return Poll::Ready(Some(Err(self.fail(err.into())))),
                }
            }
            match ready!(self.poll_fill(cx)) {
                Ok(Some(inbound)) => return Poll::Ready(Some(Ok(inbound))),
                Ok(None) => {}
                Err(err) => return Poll::Ready(Some(Err(self.fail(err)))),
            }
        }
    }

    /// One read. Into a chunk on the stack when no frame is partly read,
    /// decoding what arrived from there and keeping only the undecoded
    /// rest; otherwise straight into `input`, sized for the frame.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Inbound>, ReadError>> {
        if !self.input.is_empty() {
            let want = match self.input_frame_len {
                0 => READ_CHUNK,
                frame_len => frame_len.saturating_sub(self.input.len()),
            };
            self.input.reserve(want.clamp(1, MAX_READ_AHEAD));
            let read = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut self.io),
                cx,
                &mut self.input
            ))?;
            if read == 0 {
                self.read_closed = true;
            }
            return Poll::Ready(Ok(None));
        }
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let data = buf.filled();
        if data.is_empty() {
            self.read_closed = true;
            return Poll::Ready(Ok(None));
        }
        let (consumed, result) = self.decode(data);
        let inbound = result?;
        if let Some(rest) = data.get(consumed..).filter(|rest| !rest.is_empty()) {
            let ahead = self.input_frame_len.min(MAX_READ_AHEAD);
            self.input.reserve(ahead.max(rest.len()));
            self.input.extend_from_slice(rest);
        }
        Poll::Ready(Ok(inbound))
    }

    /// Stops reading after `err`.
    fn fail(&mut self, err: ReadError) -> ReadError {
        self.read_closed = true;
        err
    }

    /// Writes the queued frames, as many per write as fit the slices.
    fn poll_write_output(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.output.is_empty() {
            let mut slices = [IoSlice::new(&[]); 2 * WRITE_SLICES];
            let mut count = 0;
            let mut skip = self.written;
            'frames: for frame in &self.output {
                for part in frame.parts() {
                    if skip >= part.len() {
                        skip -= part.len();
                        continue;
                    }
                    let Some(slot) = slices.get_mut(count) else {
                        break 'frames;
                    };
                    *slot = IoSlice::new(part.get(skip..).unwrap_or_default());
                    skip = 0;
                    count += 1;
                }
            }
            let written = ready!(
                Pin::new(&mut self.io)
                    .poll_write_vectored(cx, slices.get(..count).unwrap_or_default())
            )?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.advance(written);
        }
        // Frees the queue's buffer: an idle socket holds none.
        self.output = Vec::new();
        self.written = 0;
        Poll::Ready(Ok(()))
    }

    /// Drops the frames `written` more bytes completed.
    fn advance(&mut self, written: usize) {
        self.written += written;
        let mut done = 0;
        for frame in &self.output {
            let len = frame.len();
            if self.written < len {
                break;
            }
            self.written -= len;
            done += 1;
        }
        self.output.drain(..done);
    }
}

impl<IO> Transport for Socket<IO>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin,
{
    /// One vectored write of the header and the payload in place, polled
    /// with a waker that does nothing: a write that would block writes
    /// nothing, and the writer registers its own waker when it next
    /// writes this socket.
    fn try_write(&mut self, frame: ServerFrame) -> Direct {
        if !self.output.is_empty() || self.close_queued {
            return Direct::Refused(frame);
        }
        let frame = OutFrame::of(frame);
        let [header, payload] = frame.parts();
        let slices = [IoSlice::new(header), IoSlice::new(payload)];
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut self.io).poll_write_vectored(&mut cx, &slices) {
            Poll::Ready(Ok(written)) if written >= frame.len() => Direct::Written,
            Poll::Ready(Ok(written)) if written > 0 => {
                self.output.push(frame);
                self.written = written;
                Direct::Partial
            }
            // Would block, or failed: the writer meets the error itself.
            _ => Direct::Refused(frame.into_frame()),
        }
    }

    fn writes_directly(&self) -> bool {
        self.output.is_empty() && !self.close_queued
    }

    fn try_write_all(&mut self, frames: &mut dyn Iterator<Item = ServerFrame>) -> bool {
        for frame in frames {
            self.queue(OutFrame::of(frame));
        }
        let mut cx = Context::from_waker(Waker::noop());
        matches!(self.poll_write_output(&mut cx), Poll::Ready(Ok(())))
    }
}

impl<IO> Stream for Socket<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Result<Inbound, ReadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let next = this.poll_inbound(cx);
        // Pongs and the reply to a close go out at once, even while the
        // writer waits for frames; a write that has to wait is finished by
        // the next read or the writer's next flush.
        if !this.output.is_empty() {
            if let Poll::Ready(Err(err)) = this.poll_write_output(cx) {
                if next.is_pending() {
                    return Poll::Ready(Some(Err(this.fail(err.into()))));
                }
            }
        }
        next
    }
}

impl<IO> Sink<Outgoing> for Socket<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    type Error = io::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.output.len() >= MAX_QUEUED_FRAMES {
            ready!(this.poll_write_output(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Queues the frame; after a close frame, frames are dropped.
    fn start_send(self: Pin<&mut Self>, item: Outgoing) -> io::Result<()> {
        let this = self.get_mut();
        match item {
            Outgoing::Frame(frame) => this.queue(OutFrame::of(frame)),
            Outgoing::Close(frame) => {
                let payload = frame
                    .map(|(code, reason)| close_payload(code, reason))
                    .unwrap_or_default();
                this.queue(OutFrame::new(OpCode::Close, Payload::Bytes(payload.into())));
                this.close_queued = true;
            }
        }
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_output(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    /// Flushes, then shuts the write side down (the server closes the
    /// TCP connection first, RFC 6455 §7.1.1).
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_output(cx))?;
        ready!(Pin::new(&mut this.io).poll_flush(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
