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

/// The state a [`WebSocket`] shares with the task that serves it.
pub(super) struct Shared {
    io: Mutex<Pin<Box<dyn Transport>>>,
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
    pub(super) fn new(io: Pin<Box<dyn Transport>>) -> Shared {
        Shared {
            io: Mutex::new(io),
            closing: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            close_sent: AtomicBool::new(false),
            close_received: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            failure: AtomicU16::new(0),
            recv_waker: AtomicWaker::new(),
        }
    }

    fn io(&self) -> MutexGuard<'_, Pin<Box<dyn Transport>>> {
        self.io.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ends the handler's reading: its `recv` returns `None` from now on.
    pub(super) fn begin_closing(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.recv_waker.wake();
    }

    pub(super) fn close_sent(&self) -> bool {
        self.close_sent.load(Ordering::SeqCst)
    }

    pub(super) fn close_received(&self) -> bool {
        self.close_received.load(Ordering::SeqCst)
    }

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
    pub(super) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if self.ended() || self.close_received() {
            return Poll::Ready(None);
        }
        let next = std::task::ready!(self.io().as_mut().poll_next(cx));
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
        let next = std::task::ready!(self.io().as_mut().poll_next(cx));
        match &next {
            Some(Ok(Message::Close(_))) => self.close_received.store(true, Ordering::SeqCst),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => self.ended.store(true, Ordering::SeqCst),
        }
        Poll::Ready(next)
    }

    /// Sends `message` and flushes it.
    pub(super) async fn send(&self, message: Message) -> Result<(), Error> {
        if self.close_sent() {
            return Err(closed("the Close frame has been sent"));
        }
        let is_close = matches!(message, Message::Close(_));
        let mut message = Some(message);
        poll_fn(|cx| {
            let mut io = self.io();
            if message.is_some() {
                std::task::ready!(io.as_mut().poll_ready(cx))?;
                if let Some(message) = message.take() {
                    io.as_mut().start_send(message)?;
                    if is_close {
                        self.close_sent.store(true, Ordering::SeqCst);
                    }
                }
            }
            io.as_mut().poll_flush(cx)
        })
        .await
    }

    /// Flushes what the transport holds (a pong, the reply to a Close).
    pub(super) async fn flush(&self) -> Result<(), Error> {
        poll_fn(|cx| self.io().as_mut().poll_flush(cx)).await
    }

    /// Closes the connection.
    pub(super) async fn shut(&self) -> Result<(), Error> {
        poll_fn(|cx| self.io().as_mut().poll_close(cx)).await
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
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        let shared = &*self.shared;
        let registered = &mut self.recv_waker;
        shared.busy.store(false, Ordering::SeqCst);
        poll_fn(|cx| {
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
        .await
    }

    /// Sends `message` (a `String`, `&str`, `Bytes` or `Vec<u8>` converts
    /// into one) and flushes it.
    ///
    /// # Errors
    /// [`ErrorKind::WebSocket`] when the connection failed, a Close frame
    /// has been sent, or the drain's grace is over and no received message
    /// waits for an answer.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let shared = &*self.shared;
        if shared.closing.load(Ordering::SeqCst) && !shared.busy.load(Ordering::SeqCst) {
            return Err(closed("the server is restarting"));
        }
        match message.into() {
            Message::Close(frame) => {
                let frame = frame.unwrap_or_else(|| CloseFrame::new(CloseFrame::NORMAL, ""));
                self.close(frame.code, &frame.reason).await
            }
            message => shared.send(message).await,
        }
    }

    /// Sends a Close frame with `code` and `reason` (cut to 123 bytes).
    /// The server then waits for the client's Close (read it with
    /// [`WebSocket::recv`], or return) and closes the connection.
    ///
    /// # Errors
    /// As [`WebSocket::send`]; a second Close is an error too.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        let frame = CloseFrame::new(code, reason);
        self.shared.send(Message::Close(Some(frame))).await
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
