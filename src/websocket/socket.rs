//! [`WebSocket`]: the handle a socket route's handler reads and writes, over
//! whatever transport the adapter runs the protocol with.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use futures_util::task::AtomicWaker;
use futures_util::Sink;

use super::message::{CloseFrame, Message};
use crate::error::{Error, ErrorKind};
use crate::reason::DrainReason;
use crate::shutdown::DrainToken;

/// What an adapter runs a WebSocket over: a stream of received messages and
/// a sink of messages to send, both speaking [`Message`] (the protocol
/// itself, framing, masking and pong replies, is the adapter's crate's).
///
/// A received message larger than the configured limits is an error of
/// kind [`ErrorKind::MessageTooBig`]; any other failure is of kind
/// [`ErrorKind::WebSocket`]; the end of the connection ends the stream.
/// Closing the sink closes the connection.
pub trait Transport:
    Stream<Item = Result<Message, Error>> + Sink<Message, Error = Error> + Send + 'static
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<Message, Error>> + Sink<Message, Error = Error> + Send + 'static
{
}

/// A transport behind its lock, as [`Shared`] drives it: one call through
/// the vtable per operation, with the transport's own methods (generic,
/// inlined) behind it, instead of one call per `Stream`/`Sink` method.
trait Locked: Send + Sync {
    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>>;
    /// Hands `message` to the transport once it is ready (taking it out of
    /// the option), then flushes.
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
    ) -> Poll<Result<(), Error>>;
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;
    fn poll_close(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>>;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T: Transport> Locked for Mutex<Pin<Box<T>>> {
    #[inline]
    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        lock(self).as_mut().poll_next(cx)
    }

    #[inline]
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        message: &mut Option<Message>,
    ) -> Poll<Result<(), Error>> {
        let mut io = lock(self);
        if message.is_some() {
            std::task::ready!(io.as_mut().poll_ready(cx))?;
            if let Some(message) = message.take() {
                io.as_mut().start_send(message)?;
            }
        }
        io.as_mut().poll_flush(cx)
    }

    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(self).as_mut().poll_flush(cx)
    }

    fn poll_close(&self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(self).as_mut().poll_close(cx)
    }
}

/// The state a [`WebSocket`] shares with the task that serves it.
pub(super) struct Shared {
    io: Box<dyn Locked>,
    /// The drain's grace is over: `recv` ends, and `send` fails unless it
    /// answers a message already received.
    closing: AtomicBool,
    /// A message was handed to the handler, which has not asked for the
    /// next one yet: it may still answer it.
    busy: AtomicBool,
    close_sent: AtomicBool,
    close_received: AtomicBool,
    /// The stream ended or failed: nothing more to read.
    ended: AtomicBool,
    /// The close code a failure calls for (1009, 1002), or 0.
    failure: AtomicU16,
    recv_waker: AtomicWaker,
}

impl Shared {
    pub(super) fn new(io: impl Transport) -> Shared {
        Shared {
            io: Box::new(Mutex::new(Box::pin(io))),
            closing: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            close_sent: AtomicBool::new(false),
            close_received: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            failure: AtomicU16::new(0),
            recv_waker: AtomicWaker::new(),
        }
    }

    /// Ends the handler's reading: its `recv` returns `None` from now on.
    pub(super) fn begin_closing(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.recv_waker.wake();
    }

    #[inline]
    pub(super) fn close_sent(&self) -> bool {
        self.close_sent.load(Ordering::SeqCst)
    }

    #[inline]
    pub(super) fn close_received(&self) -> bool {
        self.close_received.load(Ordering::SeqCst)
    }

    #[inline]
    pub(super) fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    pub(super) fn failure(&self) -> Option<u16> {
        match self.failure.load(Ordering::SeqCst) {
            0 => None,
            code => Some(code),
        }
    }

    /// The next message from the transport, noting Close frames, failures and the end.
    #[inline]
    pub(super) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if self.ended() || self.close_received() {
            return Poll::Ready(None);
        }
        let next = std::task::ready!(self.io.poll_next(cx));
        match &next {
            None => self.ended.store(true, Ordering::SeqCst),
            Some(Ok(Message::Close(_))) => self.close_received.store(true, Ordering::SeqCst),
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                let code = match e.kind() {
                    ErrorKind::MessageTooBig => CloseFrame::TOO_BIG,
                    _ => CloseFrame::PROTOCOL_ERROR,
                };
                self.failure.store(code, Ordering::SeqCst);
                self.ended.store(true, Ordering::SeqCst);
            }
        }
        Poll::Ready(next)
    }

    /// While closing: the next message, also after a failure (the Close
    /// frame that answers the server's may still come).
    pub(super) fn poll_closing(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        if self.close_received() || (self.ended() && self.failure().is_none()) {
            return Poll::Ready(None);
        }
        let next = std::task::ready!(self.io.poll_next(cx));
        match &next {
            Some(Ok(Message::Close(_))) => self.close_received.store(true, Ordering::SeqCst),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => self.ended.store(true, Ordering::SeqCst),
        }
        Poll::Ready(next)
    }

    /// Sends `message` and flushes it (one future, polled straight from
    /// the handler's: no `async fn` layer between them); fails at once when
    /// `refused` (the drain's grace is over and nothing waits for an answer).
    pub(super) fn send(
        &self,
        message: Message,
        refused: bool,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        let is_close = matches!(message, Message::Close(_));
        let mut message = Some(message);
        poll_fn(move |cx| {
            if refused {
                return Poll::Ready(Err(closed("the server is restarting")));
            }
            if message.is_some() && self.close_sent() {
                return Poll::Ready(Err(closed("the Close frame has been sent")));
            }
            let had = message.is_some();
            let sent = self.io.poll_send(cx, &mut message);
            if is_close && had && message.is_none() {
                self.close_sent.store(true, Ordering::SeqCst);
            }
            sent
        })
    }

    /// Flushes what the transport holds (a pong, the reply to a Close).
    pub(super) async fn flush(&self) -> Result<(), Error> {
        poll_fn(|cx| self.io.poll_flush(cx)).await
    }

    /// Closes the connection.
    pub(super) async fn shut(&self) -> Result<(), Error> {
        poll_fn(|cx| self.io.poll_close(cx)).await
    }
}

fn closed(why: &str) -> Error {
    Error::new(ErrorKind::WebSocket, format!("websocket closed: {why}"))
}

/// One WebSocket connection, as its socket route's handler sees it
/// (Vapor's `WebSocket`).
///
/// Read with [`WebSocket::recv`], write with [`WebSocket::send`], end with
/// [`WebSocket::close`] or by returning from the handler (the server then
/// closes with 1000). Pings are answered by the server.
///
/// **The drain.** When the drain starts, [`WebSocket::draining`] resolves
/// and [`WebSocket::token`] says so: a handler may say goodbye itself
/// within `http.websocket.close_grace` (close with its own code, or just
/// return). After the grace, `recv` returns `None` (a message it already
/// returned can still be answered: `send` goes on working until `recv` is
/// called again), `send` fails once no received message waits for an
/// answer, and when the handler has returned (or `close_timeout` after the
/// grace, when it is dropped) the server sends the Close:
/// 1012 (Service Restart) when a supervisor holds the listeners, 1001
/// (Going Away) otherwise. It then waits up to `http.websocket.close_timeout`
/// for the client's Close, and closes the connection. The socket counts as
/// an open connection until then, so the process leaves when its last
/// socket has closed, or at `shutdown_timeout` (the stop is then forced).
///
/// ```
/// use handover::{Request, Router, WebSocket};
/// let router = Router::new().socket("/ws/echo", |_req: Request, mut ws: WebSocket| async move {
///     while let Some(message) = ws.recv().await {
///         let message = message?;
///         if message.is_data() {
///             ws.send(message).await?;
///         }
///     }
///     Ok::<(), handover::Error>(())
/// });
/// assert!(router.is_ok());
/// ```
pub struct WebSocket {
    shared: Arc<Shared>,
    token: DrainToken,
    /// The waker `shared.recv_waker` holds: registered again only when
    /// another task reads (only `begin_closing` wakes it, and after that
    /// `recv` never waits again).
    recv_waker: Option<Waker>,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("close_sent", &self.shared.close_sent())
            .field("close_received", &self.shared.close_received())
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    pub(super) fn new(shared: Arc<Shared>, token: DrainToken) -> WebSocket {
        WebSocket {
            shared,
            token,
            recv_waker: None,
        }
    }

    /// The next message: text, binary, ping, pong, or the client's Close
    /// (after which `None`). `None` when the connection has ended, or the
    /// drain's grace is over. An error (a message over the size limits, a
    /// protocol violation) is followed by `None`; the server then closes
    /// with 1009 or 1002.
    ///
    /// (A plain `fn` returning the future, not an `async fn`: one state
    /// machine less to go through at every message.)
    pub fn recv(&mut self) -> impl Future<Output = Option<Result<Message, Error>>> + Send + '_ {
        let shared = &*self.shared;
        let registered = &mut self.recv_waker;
        shared.busy.store(false, Ordering::SeqCst);
        poll_fn(move |cx| {
            if !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                shared.recv_waker.register(cx.waker());
                *registered = Some(cx.waker().clone());
            }
            if shared.closing.load(Ordering::SeqCst) {
                return Poll::Ready(None);
            }
            let next = std::task::ready!(shared.poll_next(cx));
            if let Some(Ok(message)) = &next {
                if message.is_data() {
                    shared.busy.store(true, Ordering::SeqCst);
                }
            }
            Poll::Ready(next)
        })
    }

    /// Sends `message` (a `String`, `&str`, `Bytes` or `Vec<u8>` converts
    /// into one) and flushes it.
    ///
    /// # Errors
    /// [`ErrorKind::WebSocket`] when the connection failed, a Close frame
    /// has been sent, or the drain's grace is over and no received message
    /// waits for an answer.
    pub fn send(
        &mut self,
        message: impl Into<Message>,
    ) -> impl Future<Output = Result<(), Error>> + Send + '_ {
        let shared = &*self.shared;
        let refused = shared.closing.load(Ordering::SeqCst) && !shared.busy.load(Ordering::SeqCst);
        let message = match message.into() {
            Message::Close(frame) => {
                let frame = frame.unwrap_or_else(|| CloseFrame::new(CloseFrame::NORMAL, ""));
                // The reason cut to what a Close frame holds.
                Message::Close(Some(CloseFrame::new(frame.code, &frame.reason)))
            }
            message => message,
        };
        shared.send(message, refused)
    }

    /// Sends a Close frame with `code` and `reason` (cut to 123 bytes).
    /// The server then waits for the client's Close (read it with
    /// [`WebSocket::recv`], or return) and closes the connection.
    ///
    /// # Errors
    /// As [`WebSocket::send`]; a second Close is an error too.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame::new(code, reason);
        self.shared.send(Message::Close(Some(frame)), false).await
    }

    /// Resolves when the drain starts (the process is about to leave).
    pub fn draining(&self) -> impl Future<Output = DrainReason> + Send + Unpin + 'static {
        self.token.draining()
    }

    /// The drain token, as long-lived handlers watch it.
    pub fn token(&self) -> &DrainToken {
        &self.token
    }
}
