//! An upgraded connection's life, the same on every adapter: the handler
//! runs, the drain's grace, the Close (1012 or 1001), the wait for the
//! client's Close, and the connection counted until it is gone.

use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use futures_timer::Delay;
use futures_util::future::{select, Either};
use futures_util::FutureExt;

use super::config::WebSocketConfig;
use super::message::{CloseFrame, Message};
use super::socket::{Shared, Transport, WebSocket};
use crate::alarm::Alarm;
use crate::connections::{ConnectionGuard, ConnectionKind, Connections};
use crate::responder::Response;
use crate::shutdown::DrainToken;

/// A socket handler's future, its error already written out.
pub(super) type SocketFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// A socket handler with its request, waiting for its [`WebSocket`].
pub(super) type SocketTask = Box<dyn FnOnce(WebSocket) -> SocketFuture + Send>;

/// What a server needs to run WebSockets: the drain token, the connection
/// count, `[http.websocket]`, and whether a supervisor holds the listeners
/// (which makes the drain's Close 1012 instead of 1001). From
/// [`ServeContext::websockets`](crate::adapter::ServeContext::websockets).
#[derive(Clone)]
pub struct WebSockets {
    token: DrainToken,
    connections: Connections,
    config: WebSocketConfig,
    supervised: bool,
}

impl fmt::Debug for WebSockets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSockets")
            .field("config", &self.config)
            .field("supervised", &self.supervised)
            .finish_non_exhaustive()
    }
}

impl WebSockets {
    pub(crate) fn new(
        token: DrainToken,
        connections: Connections,
        config: WebSocketConfig,
        supervised: bool,
    ) -> WebSockets {
        WebSockets {
            token,
            connections,
            config,
            supervised,
        }
    }

    /// The limits the protocol layer must apply (`max_message_size`, `max_frame_size`).
    pub fn config(&self) -> &WebSocketConfig {
        &self.config
    }

    /// The drain token.
    pub fn token(&self) -> &DrainToken {
        &self.token
    }

    /// The code of the drain's Close: 1012 (Service Restart) when a
    /// supervisor holds every listener, 1001 (Going Away) otherwise.
    pub fn drain_close_code(&self) -> u16 {
        if self.supervised {
            CloseFrame::SERVICE_RESTART
        } else {
            CloseFrame::GOING_AWAY
        }
    }

    /// Counts an upgraded connection a framework no longer tracks (a
    /// native app's upgrade) until the guard is dropped.
    pub fn count(&self) -> ConnectionGuard {
        let mut guard = self.connections.open();
        guard.set_kind(ConnectionKind::Upgraded);
        guard
    }
}

/// The socket a socket route accepted, riding on its 101 response's
/// extensions to the adapter, which upgrades the connection and runs it
/// ([`SocketUpgrade::accept`], then [`AcceptedSocket::run`]).
#[derive(Clone)]
pub struct SocketUpgrade {
    task: Arc<Mutex<Option<SocketTask>>>,
}

impl fmt::Debug for SocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketUpgrade").finish_non_exhaustive()
    }
}

impl SocketUpgrade {
    pub(super) fn new(task: SocketTask) -> SocketUpgrade {
        SocketUpgrade {
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Takes the socket out of a response: `Some` for a 101 answer of a
    /// socket route, which the adapter must upgrade.
    pub fn take(response: &mut Response) -> Option<SocketUpgrade> {
        if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
            return None;
        }
        response.extensions_mut().remove::<SocketUpgrade>()
    }

    /// Counts the socket as an open connection from now on: call it as the
    /// 101 goes out, before the HTTP connection's own count ends. `None`
    /// if the socket was already taken.
    pub fn accept(self, sockets: &WebSockets) -> Option<AcceptedSocket> {
        let task = self.task()?;
        Some(AcceptedSocket {
            task,
            counted: Some(sockets.count()),
            sockets: sockets.clone(),
        })
    }

    /// Like [`SocketUpgrade::accept`], for an adapter whose HTTP connection
    /// stays open, and counted, under the socket (the socket's bytes are
    /// the request's payload and the 101's body): not counted twice.
    pub fn accept_on_counted(self, sockets: &WebSockets) -> Option<AcceptedSocket> {
        let task = self.task()?;
        Some(AcceptedSocket {
            task,
            counted: None,
            sockets: sockets.clone(),
        })
    }

    fn task(self) -> Option<SocketTask> {
        self.task.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// An accepted socket, counted as an open connection until [`AcceptedSocket::run`] ends.
pub struct AcceptedSocket {
    task: SocketTask,
    counted: Option<ConnectionGuard>,
    sockets: WebSockets,
}

impl fmt::Debug for AcceptedSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptedSocket")
            .field("sockets", &self.sockets)
            .finish_non_exhaustive()
    }
}

impl AcceptedSocket {
    /// `[http.websocket]`: the limits the protocol layer must apply.
    pub fn config(&self) -> &WebSocketConfig {
        &self.sockets.config
    }

    /// Runs the handler on `transport` (the upgraded connection, speaking
    /// the protocol), then closes: the handler's own Close, or the
    /// server's (1000 once the handler returns, 1011 if it panicked, 1009
    /// or 1002 after a bad message, 1012 or 1001 in a drain), then the wait
    /// for the client's Close, bounded by `close_timeout`. The connection
    /// stays counted until this returns.
    pub async fn run(self, transport: impl Transport) {
        let AcceptedSocket {
            task,
            counted,
            sockets,
        } = self;
        let shared = Arc::new(Shared::new(transport));
        let token = sockets.token.clone();
        let handler =
            AssertUnwindSafe(task(WebSocket::new(shared.clone(), token.clone()))).catch_unwind();
        let grace = sockets.config.close_grace;
        let watch = async {
            token.draining().await;
            let started = token
                .drain_started()
                .map_or_else(Instant::now, |(_, at)| at);
            Delay::new(grace.saturating_sub(started.elapsed())).await;
            shared.begin_closing();
        };
        let timeout = sockets.config.close_timeout;
        // The handler at every wake; the watch only when the drain (or its
        // grace's timer) woke it, not for every message.
        let mut handler = pin!(handler);
        let watch = pin!(watch);
        let mut watch = OnWake::new(watch);
        let first = poll_fn(|cx| match handler.as_mut().poll(cx) {
            Poll::Ready(ended) => Poll::Ready(Some(ended)),
            Poll::Pending => watch.poll_unpin(cx).map(|()| None),
        })
        .await;
        let ended = match first {
            Some(ended) => Some(ended),
            // Past the grace, the handler has `close_timeout` to return: a
            // client that reads nothing cannot hold the drain.
            None => match select(handler, Delay::new(timeout)).await {
                Either::Left((ended, _)) => Some(ended),
                Either::Right(_) => {
                    log::info!(
                        "websocket handler still running {timeout:?} after the drain's grace; dropped"
                    );
                    None
                }
            },
        };
        // A handle the handler left somewhere reads nothing more.
        shared.begin_closing();
        let code = match ended.unwrap_or(Ok(Ok(()))) {
            Err(_) => {
                log::error!("websocket handler panicked; closing with 1011");
                Some(CloseFrame::INTERNAL_ERROR)
            }
            Ok(Err(e)) => {
                log::debug!("websocket handler ended with an error: {e}");
                None
            }
            Ok(Ok(())) => None,
        };
        let code = shared.failure().or(code).unwrap_or(if token.is_draining() {
            sockets.drain_close_code()
        } else {
            CloseFrame::NORMAL
        });
        let crossed = AtomicUsize::new(0);
        let _ = select(pin!(close(&shared, code, &crossed)), Delay::new(timeout)).await;
        // Logged also when the wait for the client's Close was cut short.
        let crossed = crossed.into_inner();
        if crossed > 0 {
            log::info!(
                "websocket: {crossed} message(s) crossed the server's Close {code} unanswered"
            );
        }
        drop(counted);
    }
}

/// A future polled only when its own waker fired (and at the first poll),
/// not at every wake of the task it shares: the drain's watch beside a
/// socket's handler, whose task wakes for every message.
struct OnWake<F> {
    future: F,
    alarm: Arc<Alarm>,
    /// The alarm's waker, for `future`.
    waker: Waker,
    /// The task's waker the alarm holds.
    registered: Option<Waker>,
}

impl<F: Future + Unpin> OnWake<F> {
    /// `future`, polled at first and then only when it woke.
    fn new(future: F) -> OnWake<F> {
        let (alarm, waker) = Alarm::new();
        OnWake {
            future,
            alarm,
            waker,
            registered: None,
        }
    }
}

impl<F: Future + Unpin> Future for OnWake<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if !this.alarm.rang(cx, &mut this.registered) {
            return Poll::Pending;
        }
        this.future
            .poll_unpin(&mut Context::from_waker(&this.waker))
    }
}

/// The close handshake from the server's side, then the end of the connection.
async fn close(shared: &Shared, code: u16, crossed: &AtomicUsize) {
    if shared.ended() && shared.failure().is_none() {
        // The client went away: nothing to say goodbye to.
        return;
    }
    if shared.close_received() {
        // The protocol layer answers the client's Close by itself.
        let _ = shared.flush().await;
    } else {
        if !shared.close_sent() {
            let reason = match code {
                CloseFrame::SERVICE_RESTART => "service restart",
                CloseFrame::GOING_AWAY => "going away",
                CloseFrame::TOO_BIG => "message too big",
                CloseFrame::PROTOCOL_ERROR => "protocol error",
                CloseFrame::INTERNAL_ERROR => "internal error",
                _ => "",
            };
            let frame = CloseFrame::new(code, reason);
            if shared
                .send(Message::Close(Some(frame)), false)
                .await
                .is_err()
            {
                return;
            }
        }
        // What arrives before the client's Close crossed ours and cannot be answered.
        loop {
            match poll_fn(|cx| shared.poll_closing(cx)).await {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(message)) => {
                    crossed.fetch_add(usize::from(message.is_data()), Ordering::Relaxed);
                }
            }
        }
    }
    let _ = shared.shut().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wake_count::Count;
    use std::sync::atomic::AtomicBool;

    /// A future that counts its polls, keeps its last waker, and is ready once told.
    #[derive(Default)]
    struct Probe {
        polls: AtomicUsize,
        ready: AtomicBool,
        waker: Mutex<Option<Waker>>,
    }

    impl Future for &Probe {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.ready.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }
    }

    #[test]
    fn on_wake_polls_its_future_only_when_it_woke_and_never_loses_a_wake() {
        let probe = Probe::default();
        let task = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(task.clone());
        let mut cx = Context::from_waker(&waker);
        let mut on_wake = OnWake::new(&probe);
        let polls = || probe.polls.load(Ordering::SeqCst);
        let wakes = || task.0.load(Ordering::SeqCst);
        let wake_probe = || probe.waker.lock().unwrap().as_ref().unwrap().wake_by_ref();

        assert!(Pin::new(&mut on_wake).poll(&mut cx).is_pending());
        assert_eq!(polls(), 1, "polled at first");
        assert!(Pin::new(&mut on_wake).poll(&mut cx).is_pending());
        assert_eq!(
            polls(),
            1,
            "not polled when the task woke for something else"
        );

        for round in 1..=3 {
            wake_probe();
            assert_eq!(wakes(), round, "the future's wake wakes the task");
            assert!(Pin::new(&mut on_wake).poll(&mut cx).is_pending());
            assert_eq!(polls(), 1 + round, "polled after its own wake");
        }

        probe.ready.store(true, Ordering::SeqCst);
        wake_probe();
        assert!(Pin::new(&mut on_wake).poll(&mut cx).is_ready());
    }
}
