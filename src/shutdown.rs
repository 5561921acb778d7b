//! Shutdown state shared by the signal owner, the server and the app.
//!
//! A [`ShutdownTrigger`] moves the state forward (running → draining → forced);
//! any number of [`Shutdown`] handles observe it, blocking or as futures. No
//! runtime is assumed: the futures work on tokio, actix or any executor.
//!
//! ```
//! use handover::shutdown::{DrainReason, ShutdownTrigger};
//! let (trigger, shutdown) = ShutdownTrigger::new();
//! assert!(!shutdown.is_draining());
//! trigger.drain(DrainReason::Requested);
//! assert!(shutdown.is_draining());
//! assert!(shutdown.forced_reason().is_none());
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Why a graceful drain started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrainReason {
    /// A signal (its number) asked for a graceful stop.
    Signal(i32),
    /// Code asked for it through [`ShutdownTrigger::drain`].
    Requested,
}

/// Why the stop was forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForceReason {
    /// The drain outlived `shutdown_timeout`.
    Deadline,
    /// A stop signal (its number) arrived during the drain, or a forcing signal.
    Signal(i32),
    /// Code asked for it through [`ShutdownTrigger::force`].
    Requested,
}

/// How a server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Every connection finished before the deadline.
    Graceful,
    /// The stop was forced; `cut` connections were still open and were cut.
    Forced {
        /// Why.
        reason: ForceReason,
        /// Connections open when the stop was forced.
        cut: usize,
    },
}

impl Outcome {
    /// The process exit code for this outcome: 0 graceful, 3 forced by the
    /// deadline, 4 forced by a signal or by code. (1 is a startup or serve error,
    /// 2 a command-line usage error.)
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Graceful => 0,
            Outcome::Forced {
                reason: ForceReason::Deadline,
                ..
            } => 3,
            Outcome::Forced { .. } => 4,
        }
    }
}

pub(crate) fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGTERM => "SIGTERM".to_owned(),
        libc::SIGINT => "SIGINT".to_owned(),
        libc::SIGQUIT => "SIGQUIT".to_owned(),
        libc::SIGHUP => "SIGHUP".to_owned(),
        other => format!("signal {other}"),
    }
}

impl fmt::Display for DrainReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DrainReason::Signal(s) => f.write_str(&signal_name(*s)),
            DrainReason::Requested => f.write_str("request"),
        }
    }
}

impl fmt::Display for ForceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForceReason::Deadline => f.write_str("shutdown_timeout reached"),
            ForceReason::Signal(s) => write!(f, "{} during drain", signal_name(*s)),
            ForceReason::Requested => f.write_str("request"),
        }
    }
}

#[derive(Default)]
struct State {
    drain: Option<(DrainReason, Instant)>,
    forced: Option<ForceReason>,
    closed: bool,
    wakers: Vec<Waker>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave State inconsistent
        // (every update is a single field assignment), so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State) -> bool) -> bool {
        let wakers = {
            let mut state = self.lock();
            if !f(&mut state) {
                return false;
            }
            std::mem::take(&mut state.wakers)
        };
        self.changed.notify_all();
        wakers.into_iter().for_each(Waker::wake);
        true
    }
}

/// The owner's side: starts the drain and forces the stop.
#[derive(Clone)]
pub struct ShutdownTrigger {
    inner: Arc<Inner>,
}

impl fmt::Debug for ShutdownTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownTrigger").finish_non_exhaustive()
    }
}

impl ShutdownTrigger {
    /// A new trigger and the handle that observes it.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let inner = Arc::new(Inner::default());
        (
            ShutdownTrigger {
                inner: inner.clone(),
            },
            Shutdown { inner },
        )
    }

    /// Starts the graceful drain. Returns `false` if it had already started.
    pub fn drain(&self, reason: DrainReason) -> bool {
        self.inner.update(|s| {
            if s.drain.is_some() {
                return false;
            }
            s.drain = Some((reason, Instant::now()));
            true
        })
    }

    /// Forces the stop (and starts the drain if it had not started). Returns
    /// `false` if the stop was already forced.
    pub fn force(&self, reason: ForceReason) -> bool {
        self.inner.update(|s| {
            if s.forced.is_some() {
                return false;
            }
            if s.drain.is_none() {
                s.drain = Some((DrainReason::Requested, Instant::now()));
            }
            s.forced = Some(reason);
            true
        })
    }

    /// Marks the server as finished: helper threads (signals, deadline) end.
    pub fn close(&self) {
        self.inner.update(|s| {
            s.closed = true;
            true
        });
    }

    /// A new observer handle.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            inner: self.inner.clone(),
        }
    }
}

/// An observer of the shutdown state; also the app's drain token. Cheap to clone.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

impl fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.lock();
        f.debug_struct("Shutdown")
            .field("drain", &s.drain)
            .field("forced", &s.forced)
            .finish()
    }
}

impl Shutdown {
    /// Whether the drain has started.
    pub fn is_draining(&self) -> bool {
        self.inner.lock().drain.is_some()
    }

    /// Why and when the drain started, if it has.
    pub fn drain_started(&self) -> Option<(DrainReason, Instant)> {
        self.inner.lock().drain
    }

    /// Why the stop was forced, if it was.
    pub fn forced_reason(&self) -> Option<ForceReason> {
        self.inner.lock().forced
    }

    /// Resolves when the drain starts (at once if it has).
    pub fn draining(&self) -> Draining {
        Draining {
            inner: self.inner.clone(),
        }
    }

    /// Resolves with the reason when the stop is forced.
    pub fn forced(&self) -> Forced {
        Forced {
            inner: self.inner.clone(),
        }
    }

    /// Blocks until the drain starts or the trigger is closed; `true` if draining.
    pub fn wait_draining(&self) -> bool {
        let mut s = self.inner.lock();
        while s.drain.is_none() && !s.closed {
            s = self
                .inner
                .changed
                .wait(s)
                .unwrap_or_else(|p| p.into_inner());
        }
        s.drain.is_some()
    }

    /// Blocks until the stop is forced, the trigger is closed, or `timeout`
    /// passes; returns `true` only if `timeout` passed with neither.
    pub(crate) fn wait_forced_or_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut s = self.inner.lock();
        loop {
            if s.forced.is_some() || s.closed {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            s = self
                .inner
                .changed
                .wait_timeout(s, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    fn poll_with<T>(
        inner: &Inner,
        cx: &mut Context<'_>,
        ready: impl Fn(&State) -> Option<T>,
    ) -> Poll<T> {
        let mut s = inner.lock();
        if let Some(v) = ready(&s) {
            return Poll::Ready(v);
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Future returned by [`Shutdown::draining`].
#[derive(Clone)]
pub struct Draining {
    inner: Arc<Inner>,
}

impl fmt::Debug for Draining {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Draining").finish_non_exhaustive()
    }
}

impl Future for Draining {
    type Output = DrainReason;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DrainReason> {
        Shutdown::poll_with(&self.inner, cx, |s| s.drain.map(|(r, _)| r))
    }
}

/// Future returned by [`Shutdown::forced`].
#[derive(Clone)]
pub struct Forced {
    inner: Arc<Inner>,
}

impl fmt::Debug for Forced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forced").finish_non_exhaustive()
    }
}

impl Future for Forced {
    type Output = ForceReason;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ForceReason> {
        Shutdown::poll_with(&self.inner, cx, |s| s.forced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn futures_wake_on_transitions() {
        let (trigger, shutdown) = ShutdownTrigger::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut draining = shutdown.draining();
        let mut forced = shutdown.forced();
        assert!(Pin::new(&mut draining).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut draining).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut forced).poll(&mut cx).is_pending());
        assert!(trigger.drain(DrainReason::Signal(libc::SIGTERM)));
        assert!(
            !trigger.drain(DrainReason::Requested),
            "second drain is a no-op"
        );
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "one waker, deduplicated");
        assert_eq!(
            Pin::new(&mut draining).poll(&mut cx),
            Poll::Ready(DrainReason::Signal(libc::SIGTERM))
        );
        assert!(Pin::new(&mut forced).poll(&mut cx).is_pending());
        assert!(trigger.force(ForceReason::Deadline));
        assert!(!trigger.force(ForceReason::Requested));
        assert_eq!(
            Pin::new(&mut forced).poll(&mut cx),
            Poll::Ready(ForceReason::Deadline)
        );
    }

    #[test]
    fn force_implies_draining() {
        let (trigger, shutdown) = ShutdownTrigger::new();
        trigger.force(ForceReason::Requested);
        assert!(shutdown.is_draining());
        assert_eq!(shutdown.forced_reason(), Some(ForceReason::Requested));
    }

    #[test]
    fn blocking_waits() {
        let (trigger, shutdown) = ShutdownTrigger::new();
        assert!(shutdown.wait_forced_or_closed(Duration::from_millis(10)));
        let t = std::thread::spawn({
            let s = shutdown.clone();
            move || s.wait_draining()
        });
        trigger.drain(DrainReason::Requested);
        assert!(t.join().unwrap());
        trigger.close();
        assert!(!shutdown.wait_forced_or_closed(Duration::from_secs(10)));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Outcome::Graceful.exit_code(), 0);
        let forced = |reason| Outcome::Forced { reason, cut: 1 };
        assert_eq!(forced(ForceReason::Deadline).exit_code(), 3);
        assert_eq!(forced(ForceReason::Signal(2)).exit_code(), 4);
        assert_eq!(forced(ForceReason::Requested).exit_code(), 4);
    }
}
