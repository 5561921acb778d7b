//! The stop's state, shared by the signal owner, the drain and the app:
//! running, then draining, then (perhaps) forced.
//!
//! A [`DrainTrigger`] moves the state forward; any number of [`DrainToken`]s
//! observe it, as futures or blocking. No runtime is assumed: the futures
//! work on tokio, actix or any executor.
//!
//! ```
//! use handover::DrainTrigger;
//! let trigger = DrainTrigger::new();
//! let token = trigger.token();
//! assert!(!token.is_draining());
//! trigger.drain();
//! assert!(token.is_draining());
//! assert!(token.forced_reason().is_none());
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::connections::{ConnectionGuard, ConnectionKind, Connections};
use crate::identity::Identity;
use crate::reason::{DrainReason, ForceReason};
use crate::requests::Requests;
use crate::status::{DrainStatus, Phase};

/// How a server stopped.
///
/// `main` turns it into the process's exit status:
///
/// ```
/// use std::process::ExitCode;
/// let code: ExitCode = handover::Outcome::Graceful.into();
/// assert_eq!(code, ExitCode::SUCCESS);
/// ```
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
    /// The exit status for this outcome: 0 graceful, 3 forced by the
    /// deadline, 4 forced by a signal or by code. (1 is a startup or serve
    /// error, 2 a command-line usage error.)
    pub fn exit_code(self) -> u8 {
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

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> ExitCode {
        ExitCode::from(outcome.exit_code())
    }
}

#[derive(Default)]
struct State {
    drain: Option<(DrainReason, Instant)>,
    forced: Option<ForceReason>,
    wakers: Vec<Waker>,
}

struct Inner {
    state: Mutex<State>,
    changed: Condvar,
    /// What the server is doing, for the drain and for metrics.
    connections: Connections,
    requests: Requests,
    phase: Mutex<(Phase, Instant)>,
    identity: OnceLock<Identity>,
    /// Whether a supervisor holds every listener (set when serving starts).
    supervised: AtomicBool,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            state: Mutex::default(),
            changed: Condvar::new(),
            connections: Connections::default(),
            requests: Requests::default(),
            phase: Mutex::new((Phase::Serving, Instant::now())),
            identity: OnceLock::new(),
            supervised: AtomicBool::new(false),
        }
    }
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

    fn poll_until<T>(&self, cx: &mut Context<'_>, ready: impl Fn(&State) -> Option<T>) -> Poll<T> {
        let mut s = self.lock();
        if let Some(v) = ready(&s) {
            return Poll::Ready(v);
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Starts the drain and forces the stop: held by the signal owner, and by
/// code that embeds a server ([`Droplet::trigger`](crate::Droplet::trigger)).
#[derive(Clone, Default)]
pub struct DrainTrigger {
    inner: Arc<Inner>,
}

impl fmt::Debug for DrainTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DrainTrigger").finish_non_exhaustive()
    }
}

impl DrainTrigger {
    /// A trigger that has not fired.
    pub fn new() -> DrainTrigger {
        DrainTrigger::default()
    }

    /// A token that observes this trigger.
    pub fn token(&self) -> DrainToken {
        DrainToken {
            inner: self.inner.clone(),
        }
    }

    /// Starts the graceful drain. Returns `false` if it had already started.
    pub fn drain(&self) -> bool {
        self.drain_because(DrainReason::Requested)
    }

    /// Forces the stop (and starts the drain if it had not started). Returns
    /// `false` if the stop was already forced.
    pub fn force(&self) -> bool {
        self.force_because(ForceReason::Requested)
    }

    pub(crate) fn drain_because(&self, reason: DrainReason) -> bool {
        self.inner.update(|s| {
            if s.drain.is_some() {
                return false;
            }
            s.drain = Some((reason, Instant::now()));
            true
        })
    }

    /// The connection count of the server this trigger stops.
    pub(crate) fn connections(&self) -> &Connections {
        &self.inner.connections
    }

    /// The request count of the server this trigger stops.
    pub(crate) fn requests(&self) -> &Requests {
        &self.inner.requests
    }

    /// Enters `phase` (the drain owner calls this).
    pub(crate) fn enter(&self, phase: Phase) {
        *self.inner.phase.lock().unwrap_or_else(|p| p.into_inner()) = (phase, Instant::now());
    }

    /// Records whether a supervisor holds every listener (when serving starts).
    pub(crate) fn set_supervised(&self, supervised: bool) {
        self.inner.supervised.store(supervised, Ordering::Relaxed);
    }

    /// Records who serves (once, when serving starts).
    pub(crate) fn set_identity(&self, identity: Identity) {
        let _ = self.inner.identity.set(identity);
    }

    pub(crate) fn force_because(&self, reason: ForceReason) -> bool {
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
}

/// The drain token: says when the drain starts (end long polls, close
/// streams, fail health checks) and whether the stop was forced. Cheap to clone.
///
/// ```
/// # let droplet = handover::Droplet::new(handover::Config::default());
/// let token = droplet.drain_token();
/// let health = move || if token.is_draining() { 503 } else { 200 };
/// assert_eq!(health(), 200);
/// ```
#[derive(Clone)]
pub struct DrainToken {
    inner: Arc<Inner>,
}

impl fmt::Debug for DrainToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.lock();
        f.debug_struct("DrainToken")
            .field("drain", &s.drain)
            .field("forced", &s.forced)
            .finish()
    }
}

impl DrainToken {
    /// Counts a connection the server no longer tracks as open until the
    /// guard is dropped, so the drain waits for it and the deadline counts
    /// it as cut: one handed out of the server's reach. handover's adapters
    /// count upgraded connections (a socket route's WebSockets, and a
    /// native app's `hyper::upgrade::on` or actix-ws) without it.
    pub fn count_upgraded(&self) -> ConnectionGuard {
        let mut guard = self.inner.connections.open();
        guard.set_kind(ConnectionKind::Upgraded);
        guard
    }

    /// The Close code a native app's WebSocket says goodbye with in a
    /// drain, as socket routes do: 1012 (Service Restart) when a supervisor
    /// holds every listener (the next generation takes the reconnection),
    /// 1001 (Going Away) otherwise.
    pub fn websocket_close_code(&self) -> u16 {
        if self.inner.supervised.load(Ordering::Relaxed) {
            1012
        } else {
            1001
        }
    }

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
    pub fn draining(&self) -> impl Future<Output = DrainReason> + Send + Unpin + 'static {
        Watch {
            inner: self.inner.clone(),
            ready: |s: &State| s.drain.map(|(reason, _)| reason),
        }
    }

    /// Resolves with the reason when the stop is forced.
    pub fn forced(&self) -> impl Future<Output = ForceReason> + Send + Unpin + 'static {
        Watch {
            inner: self.inner.clone(),
            ready: |s: &State| s.forced,
        }
    }

    /// Where the drain stands now: the phase and for how long, the open
    /// connections by kind, the requests in flight and the probes seen.
    ///
    /// ```
    /// # let droplet = handover::Droplet::new(handover::Config::default());
    /// let status = droplet.drain_token().status();
    /// assert_eq!(status.phase, handover::Phase::Serving);
    /// assert_eq!(status.open_connections(), 0);
    /// ```
    pub fn status(&self) -> DrainStatus {
        let (phase, since) = *self.inner.phase.lock().unwrap_or_else(|p| p.into_inner());
        let (draining_for, forced) = {
            let s = self.inner.lock();
            (s.drain.map(|(_, at)| at.elapsed()), s.forced)
        };
        let requests = &self.inner.requests;
        DrainStatus {
            phase,
            in_phase: since.elapsed(),
            draining_for,
            forced,
            generation: self.inner.identity.get().and_then(|id| id.generation),
            connections: self.inner.connections.by_kind().collect(),
            in_flight: requests.in_flight(),
            requests: requests.arrived(),
            probes: requests.probes(),
            probes_refused: requests.probes_refused(),
        }
    }

    /// Blocks the calling thread until the drain starts.
    pub fn wait_draining(&self) -> DrainReason {
        let mut s = self.inner.lock();
        loop {
            if let Some((reason, _)) = s.drain {
                return reason;
            }
            s = self
                .inner
                .changed
                .wait(s)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A future that resolves once `ready` reads a value from the state.
struct Watch<T> {
    inner: Arc<Inner>,
    ready: fn(&State) -> Option<T>,
}

impl<T> Future for Watch<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        self.inner.poll_until(cx, self.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wake_count::Count;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn futures_wake_on_transitions() {
        let trigger = DrainTrigger::new();
        let token = trigger.token();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut draining = token.draining();
        let mut forced = token.forced();
        assert!(Pin::new(&mut draining).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut draining).poll(&mut cx).is_pending());
        assert!(Pin::new(&mut forced).poll(&mut cx).is_pending());
        assert!(trigger.drain_because(DrainReason::Signal(libc::SIGTERM)));
        assert!(!trigger.drain(), "second drain is a no-op");
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "one waker, deduplicated");
        assert_eq!(
            Pin::new(&mut draining).poll(&mut cx),
            Poll::Ready(DrainReason::Signal(libc::SIGTERM))
        );
        assert!(Pin::new(&mut forced).poll(&mut cx).is_pending());
        assert!(trigger.force_because(ForceReason::Deadline));
        assert!(!trigger.force());
        assert_eq!(
            Pin::new(&mut forced).poll(&mut cx),
            Poll::Ready(ForceReason::Deadline)
        );
    }

    #[test]
    fn force_implies_draining() {
        let trigger = DrainTrigger::new();
        let token = trigger.token();
        trigger.force();
        assert!(token.is_draining());
        assert_eq!(token.forced_reason(), Some(ForceReason::Requested));
    }

    #[test]
    fn blocking_wait_returns_once_draining() {
        let trigger = DrainTrigger::new();
        let waiter = std::thread::spawn({
            let token = trigger.token();
            move || token.wait_draining()
        });
        trigger.drain();
        assert_eq!(waiter.join().unwrap(), DrainReason::Requested);
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Outcome::Graceful.exit_code(), 0);
        let forced = |reason| Outcome::Forced { reason, cut: 1 };
        assert_eq!(forced(ForceReason::Deadline).exit_code(), 3);
        assert_eq!(forced(ForceReason::Signal(2)).exit_code(), 4);
        assert_eq!(forced(ForceReason::Requested).exit_code(), 4);
        assert_eq!(
            ExitCode::from(forced(ForceReason::Deadline)),
            ExitCode::from(3)
        );
    }
}
