//! Drain phases, in order, applied by every adapter through [`DrainControl`].
//!
//! | phase | what happens | ends when |
//! | --- | --- | --- |
//! | 1. lame duck (`drain_delay`, default 0) | still accepting; the app's health route reports 503 (it watches the drain token) | the delay passes |
//! | 2. stop accepting | our copy of each listener stops accepting; the socket stays open for the supervisor and the next generation | at once |
//! | 3. linger (`drain_linger`) | every response carries `Connection: close` and its connection closes after it; idle keep-alive connections stay open so their next request is answered, not raced | the linger passes, or every connection has closed |
//! | 4. close | idle connections are closed, in-flight requests finish | every connection has closed |
//! | forced | at `shutdown_timeout` (counted from the drain's start) or on a second signal | at once; open connections are cut (with none open, the stop counts as graceful) |
//!
//! The process leaves as soon as its last connection closes: the connection
//! count is watched directly, with no polling.

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_timer::Delay;
use futures_util::future::{select, Either};

use crate::server::ServeContext;
use crate::shutdown::{ForceReason, Outcome};

/// After accepting stops, connections the server accepted just before may still
/// be on their way to a worker; they are given this long to be counted.
const SETTLE: Duration = Duration::from_millis(20);

/// The timings of a drain, from [`ServerConfig`](crate::ServerConfig).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrainPlan {
    /// Lame-duck time: still accepting, health checks failing.
    pub delay: Duration,
    /// Time during which responses close their connections and idle ones stay open.
    pub linger: Duration,
}

#[derive(Default)]
struct ConnInner {
    open: AtomicUsize,
    close_after_response: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl ConnInner {
    fn wake_all(&self) {
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// Counts open connections and says whether responses must close them.
/// Adapters call [`Connections::open`] for each accepted connection and keep
/// the guard for the connection's lifetime.
#[derive(Clone, Default)]
pub struct Connections {
    inner: Arc<ConnInner>,
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("open", &self.count())
            .field("close_after_response", &self.close_after_response())
            .finish()
    }
}

impl Connections {
    /// A tracker with no connections.
    pub fn new() -> Connections {
        Connections::default()
    }

    /// Counts a new connection until the guard is dropped.
    pub fn open(&self) -> ConnectionGuard {
        self.inner.open.fetch_add(1, Ordering::SeqCst);
        ConnectionGuard {
            inner: self.inner.clone(),
        }
    }

    /// Connections open now.
    pub fn count(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }

    /// Whether every response must now carry `Connection: close` and end its connection.
    pub fn close_after_response(&self) -> bool {
        self.inner.close_after_response.load(Ordering::SeqCst)
    }

    fn start_closing(&self) {
        self.inner
            .close_after_response
            .store(true, Ordering::SeqCst);
    }

    /// Resolves when no connection is open.
    pub fn all_closed(&self) -> AllClosed {
        AllClosed {
            inner: self.inner.clone(),
        }
    }
}

/// Keeps one connection counted; dropping it uncounts the connection.
pub struct ConnectionGuard {
    inner: Arc<ConnInner>,
}

impl fmt::Debug for ConnectionGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionGuard").finish_non_exhaustive()
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if self.inner.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.wake_all();
        }
    }
}

/// Future returned by [`Connections::all_closed`].
pub struct AllClosed {
    inner: Arc<ConnInner>,
}

impl fmt::Debug for AllClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllClosed").finish_non_exhaustive()
    }
}

impl Future for AllClosed {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.open.load(Ordering::SeqCst) == 0 {
            return Poll::Ready(());
        }
        {
            let mut wakers = self.inner.wakers.lock().unwrap_or_else(|p| p.into_inner());
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        // Re-check: the last guard may have dropped between the load and the push.
        if self.inner.open.load(Ordering::SeqCst) == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// What the drain asks of the server; implemented by each adapter.
pub trait DrainControl {
    /// Stops accepting on this process's copy of every listener. Must never shut
    /// down, close for others, or unlink a shared socket.
    fn stop_accepting(&self) -> Pin<Box<dyn Future<Output = ()> + '_>>;

    /// Closes idle keep-alive connections and lets in-flight requests finish,
    /// each connection closing after its response. Must not wait for them.
    fn close_idle(&self);

    /// Whether [`Connections`] sees every accepted connection from its accept
    /// on. When it does not (a TLS handshake the framework runs before any
    /// hook of ours), the linger always runs its full length instead of
    /// ending once the count is zero. Default: true.
    fn counts_every_connection(&self) -> bool {
        true
    }

    /// Called once the count is zero, before the drain reports a graceful
    /// end: waits for what the count cannot see. Default: nothing to wait for.
    fn finish(&self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(std::future::ready(()))
    }
}

/// Runs the drain phases after the drain has started; returns how it ended.
pub async fn drain(
    ctx: &ServeContext,
    plan: DrainPlan,
    connections: &Connections,
    control: &dyn DrainControl,
) -> Outcome {
    let shutdown = ctx.shutdown().clone();
    // A stop forced while no connection is open cuts nothing: it is graceful.
    let forced = |reason| match connections.count() {
        0 => {
            ctx.phase(&format!(
                "drain: {reason} with no connection open; nothing cut"
            ));
            Outcome::Graceful
        }
        cut => Outcome::Forced { reason, cut },
    };
    macro_rules! or_forced {
        ($fut:expr) => {
            match select(pin!($fut), pin!(shutdown.forced())).await {
                Either::Left((value, _)) => value,
                Either::Right((reason, _)) => return forced(reason),
            }
        };
    }
    if let Some(reason) = shutdown.forced_reason() {
        return forced(reason);
    }
    ctx.notify_stopping();
    if !plan.delay.is_zero() {
        ctx.phase(&format!(
            "drain 1/4 lame duck: still accepting for {:?}; health checks report 503",
            plan.delay
        ));
        or_forced!(Delay::new(plan.delay));
    }
    // From here on every response closes its connection, including those
    // answered while accepting winds down.
    connections.start_closing();
    ctx.phase("drain 2/4: stop accepting");
    or_forced!(control.stop_accepting());
    ctx.phase(&format!(
        "drain 3/4 linger {:?}: each response closes its connection; {} open",
        plan.linger,
        connections.count()
    ));
    let settled_and_closed = async {
        Delay::new(SETTLE).await;
        connections.all_closed().await;
    };
    let linger = Delay::new(plan.linger.max(SETTLE));
    let all_closed = if control.counts_every_connection() {
        match or_forced!(select(pin!(linger), pin!(settled_and_closed))) {
            Either::Left(_) => false,
            Either::Right(_) => true,
        }
    } else {
        or_forced!(linger);
        false
    };
    if !all_closed {
        ctx.phase(&format!(
            "drain 4/4: linger over; closing idle connections, {} open",
            connections.count()
        ));
        control.close_idle();
        or_forced!(connections.all_closed());
    }
    or_forced!(control.finish());
    ctx.phase("drain: last connection closed");
    Outcome::Graceful
}

/// Why the stop was forced and how many connections it cut, for logs.
pub(crate) fn describe(reason: ForceReason, cut: usize) -> String {
    format!("stop forced ({reason}); {cut} open connection(s) cut")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_and_wake() {
        let conns = Connections::new();
        let a = conns.open();
        let b = conns.open();
        assert_eq!(conns.count(), 2);
        let mut closed = conns.all_closed();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut closed).poll(&mut cx).is_pending());
        drop(a);
        assert!(Pin::new(&mut closed).poll(&mut cx).is_pending());
        drop(b);
        assert!(Pin::new(&mut closed).poll(&mut cx).is_ready());
        assert!(!conns.close_after_response());
        conns.start_closing();
        assert!(conns.close_after_response());
    }
}
