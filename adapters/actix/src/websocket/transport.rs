//! The [`Transport`](handover::adapter::Transport) of an actix socket: a
//! stream of handover's messages decoded from the upgrade's payload with
//! actix-http's `ws::Codec`, and a sink of messages encoded with its frame
//! writer into the buffer the 101's body ([`SocketBody`]) streams.
//!
//! The payload is actix-http's, bound to its worker's thread, while a
//! transport must be `Send` (the handler's `WebSocket` is): the connection's
//! state ([`Conn`]) stays in a registry of the worker's thread, shared with
//! the body, and the transport names it by slot and id. The socket's task
//! runs on that worker ([`actix_rt::spawn`]), so every look-up finds it; a
//! transport polled on another thread finds nothing and reads and writes
//! nothing (the connection seems gone).
//!
//! What the protocol owns is done here, as tungstenite does on hyper:
//! fragments are joined into whole messages (up to `max_message_size`; a
//! frame over `max_frame_size` is refused before it is buffered whole), a
//! text message must be UTF-8, a ping is answered with a pong, a received
//! Close with the same Close, and closing the sink ends the body (and the
//! connection). Backpressure is bounded both ways: the sink waits while
//! [`HIGH_WATER`] bytes wait for the body, and the stream reads nothing
//! more from the payload meanwhile (a client that sends pings and reads
//! nothing is not answered without bound).

use std::cell::RefCell;
use std::convert::Infallible;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use actix_codec::Decoder;
use actix_http::body::{BodySize, MessageBody};
use actix_http::ws::{CloseReason, Codec, Frame, Item, OpCode, Parser, ProtocolError};
use actix_http::Payload;
use bytes::{Bytes, BytesMut};
use futures_util::{Sink, Stream};
use handover::config::WebSocketConfig;
use handover::{CloseFrame, Error, ErrorKind, Message, Utf8Bytes};
use slab::Slab;

/// Encoded bytes the body may hold before the sink waits (and the stream
/// stops reading) until the connection has taken them.
const HIGH_WATER: usize = 64 * 1024;

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
const MAX_HEADER: usize = 14;

thread_local! {
    /// The sockets of this worker thread, by slot.
    static SOCKETS: RefCell<Slab<(u64, Rc<RefCell<Conn>>)>> = const { RefCell::new(Slab::new()) };
}

/// Tells a socket from any other, on every thread.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Opens a socket on `payload`, the upgrade's bytes from the client: its
/// transport, and the body of its 101.
pub(super) fn open(payload: Payload, limits: &WebSocketConfig) -> (ActixSocket, SocketBody) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let conn = Rc::new(RefCell::new(Conn {
        payload,
        codec: Codec::new().max_size(limits.max_frame_size),
        max_frame: limits.max_frame_size,
        max_message: limits.max_message_size,
        read: BytesMut::new(),
        fragments: None,
        reading: true,
        write: BytesMut::new(),
        close_sent: false,
        shut: false,
        reader: None,
        writer: None,
        body: None,
    }));
    let slot = SOCKETS.with_borrow_mut(|sockets| sockets.insert((id, conn.clone())));
    (ActixSocket { slot, id }, SocketBody { slot, id, conn })
}

/// One socket's connection, on its worker's thread.
struct Conn {
    payload: Payload,
    codec: Codec,
    max_frame: usize,
    max_message: usize,
    /// Received bytes not decoded yet.
    read: BytesMut,
    /// A message arriving in fragments: whether it is text, and its bytes so far.
    fragments: Option<(bool, BytesMut)>,
    /// False once the client's Close, a failure or the end has been read.
    reading: bool,
    /// Encoded frames the body has not taken yet.
    write: BytesMut,
    close_sent: bool,
    /// The sink was closed: the body ends once it has streamed `write`.
    shut: bool,
    /// The transport's task, waiting for the client's bytes or for room.
    reader: Option<Waker>,
    /// The transport's task, waiting for room to write.
    writer: Option<Waker>,
    /// The connection's task, waiting for frames to stream.
    body: Option<Waker>,
}

fn remember(slot: &mut Option<Waker>, cx: &Context<'_>) {
    if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
        *slot = Some(cx.waker().clone());
    }
}

fn protocol(what: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::WebSocket, format!("websocket failed: {what}"))
}

fn too_big(what: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::MessageTooBig,
        format!("websocket message too big: {what}"),
    )
}

fn gone() -> Error {
    Error::new(
        ErrorKind::WebSocket,
        "websocket closed: the connection is gone",
    )
}

fn error(e: ProtocolError) -> Error {
    match e {
        ProtocolError::Overflow => too_big(e),
        e => protocol(e),
    }
}

/// A whole received frame (a fragmented message already joined) as
/// handover's message; a text message must be UTF-8.
fn received(frame: Frame) -> Result<Message, Error> {
    Ok(match frame {
        Frame::Text(data) => Message::Text(
            Utf8Bytes::try_from(data)
                .map_err(|e| protocol(format_args!("a text message is not UTF-8: {e}")))?,
        ),
        Frame::Binary(data) => Message::Binary(data),
        Frame::Ping(data) => Message::Ping(data),
        Frame::Pong(data) => Message::Pong(data),
        Frame::Close(reason) => Message::Close(reason.map(|reason| CloseFrame {
            code: reason.code.into(),
            reason: reason.description.unwrap_or_default(),
        })),
        Frame::Continuation(_) => return Err(protocol("a fragment outside a message")),
    })
}

/// Writes `message` as one frame, the server's (unmasked), into `dst`.
fn encode(message: Message, dst: &mut BytesMut) {
    let (op, data) = match message {
        Message::Text(text) => (OpCode::Text, Bytes::from(text)),
        Message::Binary(data) => (OpCode::Binary, data),
        Message::Ping(data) => (OpCode::Ping, data),
        Message::Pong(data) => (OpCode::Pong, data),
        Message::Close(frame) => {
            let reason = frame.map(|frame| CloseReason {
                code: frame.code.into(),
                description: Some(frame.reason).filter(|r| !r.is_empty()),
            });
            return Parser::write_close(dst, reason, false);
        }
        // `Message` may grow; nothing else is sent today.
        #[allow(unreachable_patterns)]
        _ => return,
    };
    Parser::write_message(dst, data, op, true, false);
}

impl Conn {
    /// Encodes `message` for the body and wakes it.
    fn queue(&mut self, message: Message) {
        if matches!(message, Message::Close(_)) {
            self.close_sent = true;
        }
        encode(message, &mut self.write);
        if let Some(body) = &self.body {
            body.wake_by_ref();
        }
    }

    /// The next whole message from the client.
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        loop {
            if !self.reading {
                return Poll::Ready(None);
            }
            if self.write.len() >= HIGH_WATER {
                remember(&mut self.reader, cx);
                return Poll::Pending;
            }
            match self.codec.decode(&mut self.read) {
                Ok(Some(frame)) => match self.on_frame(frame) {
                    Ok(Some(message)) => return Poll::Ready(Some(Ok(message))),
                    Ok(None) => continue,
                    Err(e) => return Poll::Ready(Some(Err(self.fail(e)))),
                },
                // A frame over the limit is refused before it is all in.
                Ok(None) if self.read.len() > self.max_frame.saturating_add(MAX_HEADER) => {
                    let e = too_big(format_args!("a frame over {} bytes", self.max_frame));
                    return Poll::Ready(Some(Err(self.fail(e))));
                }
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(self.fail(error(e))))),
            }
            match Pin::new(&mut self.payload).poll_next(cx) {
                Poll::Ready(Some(Ok(chunk))) => self.read.extend_from_slice(&chunk),
                // The connection ended (with or without an error of its own).
                Poll::Ready(Some(Err(_)) | None) => {
                    self.reading = false;
                    return Poll::Ready(None);
                }
                Poll::Pending => {
                    remember(&mut self.reader, cx);
                    return Poll::Pending;
                }
            }
        }
    }

    /// Nothing more is read after a failure.
    fn fail(&mut self, e: Error) -> Error {
        self.reading = false;
        self.read = BytesMut::new();
        self.fragments = None;
        e
    }

    /// A decoded frame: a message for the handler, or `None` for a fragment.
    fn on_frame(&mut self, frame: Frame) -> Result<Option<Message>, Error> {
        let whole = match frame {
            Frame::Continuation(item) => {
                let (text, data, last) = match item {
                    Item::FirstText(data) => (Some(true), data, false),
                    Item::FirstBinary(data) => (Some(false), data, false),
                    Item::Continue(data) => (None, data, false),
                    Item::Last(data) => (None, data, true),
                };
                let (is_text, joined) = match (text, self.fragments.as_mut()) {
                    (Some(text), _) => self.fragments.insert((text, BytesMut::new())),
                    (None, Some(fragments)) => fragments,
                    // The codec refuses a continuation without a first fragment.
                    (None, None) => return Err(protocol("a fragment outside a message")),
                };
                if joined.len() + data.len() > self.max_message {
                    return Err(too_big(format_args!(
                        "a message over {} bytes",
                        self.max_message
                    )));
                }
                joined.extend_from_slice(&data);
                if !last {
                    return Ok(None);
                }
                let data = std::mem::take(joined).freeze();
                let frame = if *is_text {
                    Frame::Text(data)
                } else {
                    Frame::Binary(data)
                };
                self.fragments = None;
                frame
            }
            Frame::Ping(data) => {
                if !self.close_sent {
                    self.queue(Message::Pong(data.clone()));
                }
                Frame::Ping(data)
            }
            Frame::Close(reason) => {
                self.reading = false;
                let message = received(Frame::Close(reason))?;
                if !self.close_sent {
                    // Answered with the same code and reason, as tungstenite does.
                    self.queue(message.clone());
                }
                return Ok(Some(message));
            }
            frame => frame,
        };
        received(whole).map(Some)
    }
}

/// The transport of one socket (its state stays on the worker's thread).
pub(crate) struct ActixSocket {
    slot: usize,
    id: u64,
}

impl ActixSocket {
    /// The connection, while it lasts, on its worker's thread (none on
    /// another thread, or once the thread's registry is gone at its exit).
    fn conn(&self) -> Option<Rc<RefCell<Conn>>> {
        SOCKETS
            .try_with(|sockets| match sockets.try_borrow().ok()?.get(self.slot) {
                Some((id, conn)) if *id == self.id => Some(conn.clone()),
                _ => None,
            })
            .ok()
            .flatten()
    }

    /// Ready while the body holds less than [`HIGH_WATER`] bytes.
    fn poll_room(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let Some(conn) = self.conn() else {
            return Poll::Ready(Err(gone()));
        };
        let mut conn = conn.borrow_mut();
        if conn.write.len() >= HIGH_WATER {
            remember(&mut conn.writer, cx);
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for ActixSocket {
    fn drop(&mut self) {
        if let Some(Ok(mut conn)) = self.conn().as_deref().map(RefCell::try_borrow_mut) {
            // What the client sends from now on is discarded.
            conn.payload = Payload::None;
            conn.reading = false;
            conn.shut = true;
            if let Some(body) = conn.body.take() {
                body.wake();
            }
        }
        forget(self.slot, self.id);
    }
}

/// Takes the socket out of the registry (the body still streams what it has).
fn forget(slot: usize, id: u64) {
    // `try_with`: the registry may be gone at the thread's exit.
    let _ = SOCKETS.try_with(|sockets| {
        if let Ok(mut sockets) = sockets.try_borrow_mut() {
            if sockets.get(slot).is_some_and(|(at, _)| *at == id) {
                sockets.remove(slot);
            }
        }
    });
}

impl Stream for ActixSocket {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.conn() {
            Some(conn) => conn.borrow_mut().poll_message(cx),
            None => Poll::Ready(None),
        }
    }
}

impl Sink<Message> for ActixSocket {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_room(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        let conn = self.conn().ok_or_else(gone)?;
        let mut conn = conn.borrow_mut();
        if conn.close_sent || conn.shut {
            return Err(Error::new(
                ErrorKind::WebSocket,
                "websocket closed: the Close frame has been sent",
            ));
        }
        conn.queue(message);
        Ok(())
    }

    /// Ready once the frames are the body's to stream, while it holds less
    /// than [`HIGH_WATER`] bytes.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_room(cx)
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if let Some(conn) = self.conn() {
            let mut conn = conn.borrow_mut();
            conn.shut = true;
            if let Some(body) = &conn.body {
                body.wake_by_ref();
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The 101's body: the frames the server writes, until the sink closes.
pub(crate) struct SocketBody {
    slot: usize,
    id: u64,
    conn: Rc<RefCell<Conn>>,
}

impl MessageBody for SocketBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Infallible>>> {
        let mut conn = self.conn.borrow_mut();
        if !conn.write.is_empty() {
            if conn.write.len() >= HIGH_WATER {
                if let Some(writer) = conn.writer.take() {
                    writer.wake();
                }
                if let Some(reader) = &conn.reader {
                    reader.wake_by_ref();
                }
            }
            return Poll::Ready(Some(Ok(conn.write.split().freeze())));
        }
        if conn.shut {
            return Poll::Ready(None);
        }
        remember(&mut conn.body, cx);
        Poll::Pending
    }
}

impl Drop for SocketBody {
    /// The connection is over: the transport finds nothing from now on.
    fn drop(&mut self) {
        forget(self.slot, self.id);
        if let Ok(mut conn) = self.conn.try_borrow_mut() {
            conn.reading = false;
            conn.shut = true;
            for waker in [conn.reader.take(), conn.writer.take()]
                .into_iter()
                .flatten()
            {
                waker.wake();
            }
        }
    }
}
