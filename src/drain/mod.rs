//! The drain, owned here from its trigger to its outcome, for every server.
//!
//! | phase | what happens | ends when |
//! | --- | --- | --- |
//! | 1. lame duck (`drain_delay`, default 0) | still accepting; the app's health route reports 503 (it watches the drain token) | the delay passes |
//! | 2. stop accepting | our copy of each listener stops accepting; the socket stays open for the supervisor and the next generation | the adapter says no more connections can arrive |
//! | 3. linger (`drain_linger`) | every response carries `Connection: close` and its connection closes after it; idle keep-alive connections stay open so their next request is answered, not raced | the linger passes, or every connection has closed |
//! | 4. close | idle connections are closed, in-flight requests finish | every connection has closed |
//! | forced | at `shutdown_timeout` (counted from the drain's start) or on a second signal | at once; open connections are cut (with none open, the stop counts as graceful) |
//!
//! An adapter implements [`DrainHooks`] (what only it can do: stop its
//! accepting, close its idle connections) and awaits
//! `ServeContext::drain`; it never runs the sequence itself. The deadline is
//! part of the sequence, so it holds for `Droplet::run` and `Droplet::serve`
//! alike. The process leaves as soon as its last connection closes: the
//! connection count is watched directly, with no polling.

mod connections;

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_timer::Delay;
use futures_util::future::{select, Either};

pub use connections::{ConnectionGuard, ConnectionKind, Connections};

use crate::identity::Identity;
use crate::readiness::{notify, NotifyState};
use crate::shutdown::{DrainToken, DrainTrigger, ForceReason, Outcome};

/// The timings of a drain, from the `[http]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DrainPlan {
    /// Lame-duck time: still accepting, health checks failing.
    pub(crate) delay: Duration,
    /// Time during which responses close their connections and idle ones stay open.
    pub(crate) linger: Duration,
    /// The whole drain's budget, from its start; then the stop is forced.
    pub(crate) timeout: Duration,
}

/// A boxed future borrowing its hooks, as [`DrainHooks`] methods return.
pub type HookFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// What the drain asks of a server: the steps only the adapter can take.
pub trait DrainHooks {
    /// Stops accepting on this process's copy of every listener, and resolves
    /// once no more connections can arrive (an adapter whose framework hands
    /// accepted connections on asynchronously waits for them to be counted
    /// here). Must never shut down, close for others, or unlink a shared socket.
    fn stop_accepting(&self) -> HookFuture<'_>;

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
    fn finish(&self) -> HookFuture<'_> {
        Box::pin(std::future::ready(()))
    }
}

/// One server's drain: its plan, the trigger it may force, and its connections.
#[derive(Debug, Clone)]
pub(crate) struct Drain {
    plan: DrainPlan,
    trigger: DrainTrigger,
    connections: Connections,
    identity: Identity,
}

impl Drain {
    pub(crate) fn new(plan: DrainPlan, trigger: DrainTrigger, identity: Identity) -> Drain {
        Drain {
            plan,
            trigger,
            connections: Connections::new(),
            identity,
        }
    }

    pub(crate) fn token(&self) -> DrainToken {
        self.trigger.token()
    }

    pub(crate) fn connections(&self) -> &Connections {
        &self.connections
    }

    pub(crate) fn identity(&self) -> Identity {
        self.identity
    }

    fn phase(&self, what: &str) {
        log::info!("{}: {what}", self.identity);
    }

    /// Waits for the drain to start, then runs it through `hooks` to its end:
    /// graceful once the last connection closed, forced by a signal or by the
    /// deadline.
    pub(crate) async fn run(&self, hooks: &dyn DrainHooks) -> Outcome {
        let token = self.token();
        token.draining().await;
        let started = token
            .drain_started()
            .map_or_else(Instant::now, |(_, at)| at);
        let phases = pin!(self.phases(hooks));
        let forced = pin!(self.forced(&token, started));
        match select(phases, forced).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right((reason, _)) => match self.connections.count() {
                // A stop forced while no connection is open cuts nothing.
                0 => {
                    self.phase(&format!(
                        "drain: {reason} with no connection open; nothing cut"
                    ));
                    Outcome::Graceful
                }
                cut => Outcome::Forced { reason, cut },
            },
        }
    }

    /// Resolves when the stop is forced: by a signal or by code, or here, at
    /// the deadline.
    async fn forced(&self, token: &DrainToken, started: Instant) -> ForceReason {
        let timeout = self.plan.timeout;
        let deadline = async move {
            Delay::new(timeout.saturating_sub(started.elapsed())).await;
            if self.trigger.force_because(ForceReason::Deadline) {
                log::warn!(
                    "{}: drain still running after shutdown_timeout {timeout:?}: forcing the stop",
                    self.identity
                );
            }
            token.forced().await
        };
        match select(token.forced(), pin!(deadline)).await {
            Either::Left((reason, _)) | Either::Right((reason, _)) => reason,
        }
    }

    /// The graceful sequence; dropped where it stands if the stop is forced.
    async fn phases(&self, hooks: &dyn DrainHooks) -> Outcome {
        let plan = self.plan;
        notify(NotifyState::Stopping);
        if !plan.delay.is_zero() {
            self.phase(&format!(
                "drain 1/4 lame duck: still accepting for {:?}; health checks report 503",
                plan.delay
            ));
            Delay::new(plan.delay).await;
        }
        // From here on every response closes its connection, including those
        // answered while accepting winds down.
        self.connections.start_closing();
        self.phase("drain 2/4: stop accepting");
        hooks.stop_accepting().await;
        self.phase(&format!(
            "drain 3/4 linger {:?}: each response closes its connection; {} open",
            plan.linger,
            self.connections.count()
        ));
        let linger = Delay::new(plan.linger);
        let all_closed = if hooks.counts_every_connection() {
            match select(pin!(linger), self.connections.all_closed()).await {
                Either::Left(_) => false,
                Either::Right(_) => true,
            }
        } else {
            linger.await;
            false
        };
        if !all_closed {
            self.phase(&format!(
                "drain 4/4: linger over; closing idle connections, {} open",
                self.connections.count()
            ));
            hooks.close_idle();
            self.connections.all_closed().await;
        }
        hooks.finish().await;
        self.phase("drain: last connection closed");
        Outcome::Graceful
    }
}

/// Why the stop was forced and how many connections it cut, for logs.
pub(crate) fn describe(reason: ForceReason, cut: usize) -> String {
    format!("stop forced ({reason}); {cut} open connection(s) cut")
}

/// Wakes a parked thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` on the calling thread, parking it while the future waits.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn plan(delay_ms: u64, linger_ms: u64, timeout_ms: u64) -> DrainPlan {
        DrainPlan {
            delay: Duration::from_millis(delay_ms),
            linger: Duration::from_millis(linger_ms),
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    /// Hooks that record the order of the calls and keep one connection open
    /// until idle connections are closed (or for ever).
    #[derive(Default)]
    struct Recorder {
        calls: std::sync::Mutex<Vec<&'static str>>,
        held: std::sync::Mutex<Option<ConnectionGuard>>,
        idle_closes: Cell<bool>,
    }

    impl Recorder {
        fn calls(&self) -> Vec<&'static str> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl DrainHooks for Recorder {
        fn stop_accepting(&self) -> HookFuture<'_> {
            self.calls.lock().unwrap().push("stop_accepting");
            Box::pin(std::future::ready(()))
        }
        fn close_idle(&self) {
            self.calls.lock().unwrap().push("close_idle");
            if self.idle_closes.get() {
                self.held.lock().unwrap().take();
            }
        }
        fn finish(&self) -> HookFuture<'_> {
            self.calls.lock().unwrap().push("finish");
            Box::pin(std::future::ready(()))
        }
    }

    fn drain(plan: DrainPlan) -> (Drain, DrainTrigger) {
        let trigger = DrainTrigger::new();
        (
            Drain::new(plan, trigger.clone(), Identity::unsupervised()),
            trigger,
        )
    }

    #[test]
    fn with_nothing_open_it_ends_as_soon_as_accepting_stopped() {
        let (drain, trigger) = drain(plan(0, 60_000, 60_000));
        trigger.drain();
        let hooks = Recorder::default();
        let started = Instant::now();
        assert_eq!(block_on(drain.run(&hooks)), Outcome::Graceful);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no linger wait"
        );
        assert_eq!(hooks.calls(), ["stop_accepting", "finish"]);
        assert!(drain.connections().close_after_response());
    }

    #[test]
    fn an_open_connection_is_closed_idle_after_the_linger() {
        let (drain, trigger) = drain(plan(0, 1, 60_000));
        let hooks = Recorder::default();
        hooks.idle_closes.set(true);
        *hooks.held.lock().unwrap() = Some(drain.connections().open());
        trigger.drain();
        assert_eq!(block_on(drain.run(&hooks)), Outcome::Graceful);
        assert_eq!(hooks.calls(), ["stop_accepting", "close_idle", "finish"]);
    }

    #[test]
    fn the_deadline_forces_and_counts_the_cut() {
        let (drain, trigger) = drain(plan(0, 1, 50));
        let hooks = Recorder::default();
        *hooks.held.lock().unwrap() = Some(drain.connections().open());
        trigger.drain();
        let outcome = block_on(drain.run(&hooks));
        assert_eq!(
            outcome,
            Outcome::Forced {
                reason: ForceReason::Deadline,
                cut: 1
            }
        );
        assert_eq!(drain.token().forced_reason(), Some(ForceReason::Deadline));
    }

    #[test]
    fn a_deadline_already_past_forces_at_once_even_in_the_lame_duck() {
        let (drain, trigger) = drain(plan(60_000, 0, 0));
        let hooks = Recorder::default();
        *hooks.held.lock().unwrap() = Some(drain.connections().open());
        trigger.drain();
        let outcome = block_on(drain.run(&hooks));
        assert!(
            matches!(outcome, Outcome::Forced { cut: 1, .. }),
            "{outcome:?}"
        );
        assert!(hooks.calls().is_empty(), "forced during the lame duck");
    }

    #[test]
    fn forced_with_nothing_open_is_graceful() {
        let (drain, trigger) = drain(plan(60_000, 0, 60_000));
        trigger.force();
        assert_eq!(block_on(drain.run(&Recorder::default())), Outcome::Graceful);
    }
}
