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

mod lame_duck;

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_timer::Delay;
use futures_util::future::{select, Either};

pub use lame_duck::DrainDelay;

use crate::connections::Connections;
use crate::identity::Identity;
use crate::readiness::{notify, NotifyState};
use crate::reason::ForceReason;
use crate::requests::Requests;
use crate::shutdown::{DrainToken, DrainTrigger, Outcome};
use crate::status::Phase;

/// The timings of a drain, from the `[http]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DrainPlan {
    /// The lame duck: still accepting, health checks failing.
    pub(crate) delay: DrainDelay,
    /// The automatic lame duck's bounds.
    pub(crate) auto: lame_duck::Auto,
    /// Time during which responses close their connections and idle ones stay open.
    pub(crate) linger: Duration,
    /// The whole drain's budget, from its start; then the stop is forced.
    pub(crate) timeout: Duration,
}

impl DrainPlan {
    pub(crate) fn new(
        delay: DrainDelay,
        max: Duration,
        quiet: Duration,
        linger: Duration,
        timeout: Duration,
    ) -> DrainPlan {
        DrainPlan {
            delay,
            auto: lame_duck::Auto { max, quiet },
            linger,
            timeout,
        }
    }
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

/// One server's drain: its plan, the trigger it may force (which also holds
/// the connection and request counts), and whether any listener is its own.
#[derive(Debug, Clone)]
pub(crate) struct Drain {
    plan: DrainPlan,
    trigger: DrainTrigger,
    identity: Identity,
    /// Whether this process bound a listener itself (no supervisor holds it).
    bound: bool,
}

impl Drain {
    pub(crate) fn new(
        plan: DrainPlan,
        trigger: DrainTrigger,
        identity: Identity,
        bound: bool,
    ) -> Drain {
        trigger.set_identity(identity);
        trigger.set_supervised(!bound);
        Drain {
            plan,
            trigger,
            identity,
            bound,
        }
    }

    pub(crate) fn token(&self) -> DrainToken {
        self.trigger.token()
    }

    pub(crate) fn connections(&self) -> &Connections {
        self.trigger.connections()
    }

    pub(crate) fn requests(&self) -> &Requests {
        self.trigger.requests()
    }

    pub(crate) fn identity(&self) -> Identity {
        self.identity
    }

    /// Whether a supervisor holds every listener (none is this process's own).
    pub(crate) fn supervised(&self) -> bool {
        !self.bound
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
        let outcome = match select(phases, forced).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right((reason, _)) => match self.connections().count() {
                // A stop forced while no connection is open cuts nothing.
                0 => {
                    self.phase(&format!(
                        "drain: {reason} with no connection open; nothing cut"
                    ));
                    Outcome::Graceful
                }
                cut => Outcome::Forced { reason, cut },
            },
        };
        self.trigger.enter(Phase::Stopped);
        outcome
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
        let connections = self.connections();
        notify(NotifyState::Stopping);
        self.lame_duck().await;
        // From here on every response closes its connection, including those
        // answered while accepting winds down.
        connections.start_closing();
        self.trigger.enter(Phase::StopAccepting);
        self.phase("drain 2/4: stop accepting");
        hooks.stop_accepting().await;
        self.trigger.enter(Phase::Linger);
        self.phase(&format!(
            "drain 3/4 linger {:?}: each response closes its connection; {} open",
            plan.linger,
            connections.count()
        ));
        let linger = Delay::new(plan.linger);
        let all_closed = if hooks.counts_every_connection() {
            match select(pin!(linger), connections.all_closed()).await {
                Either::Left(_) => false,
                Either::Right(_) => true,
            }
        } else {
            linger.await;
            false
        };
        if !all_closed {
            self.trigger.enter(Phase::Closing);
            self.phase(&format!(
                "drain 4/4: linger over; closing idle connections, {} open",
                connections.count()
            ));
            hooks.close_idle();
            connections.all_closed().await;
        }
        hooks.finish().await;
        self.phase("drain: last connection closed");
        Outcome::Graceful
    }
}

impl Drain {
    /// Phase 1, the lame duck, fixed or automatic.
    async fn lame_duck(&self) {
        let started = Instant::now();
        match self.plan.delay {
            DrainDelay::Fixed(delay) if delay.is_zero() => {}
            DrainDelay::Fixed(delay) => {
                self.trigger.enter(Phase::LameDuck);
                self.phase(&format!(
                    "drain 1/4 lame duck: still accepting for {delay:?}; health checks report 503"
                ));
                Delay::new(delay).await;
            }
            DrainDelay::Auto if !self.bound => {
                self.phase(
                    "drain 1/4 lame duck skipped: a supervisor holds every listener, and its next generation takes new connections",
                );
            }
            DrainDelay::Auto => {
                self.trigger.enter(Phase::LameDuck);
                let auto = self.plan.auto;
                self.phase(&format!(
                    "drain 1/4 lame duck: still accepting until no request but health probes arrives for {:?} (at most {:?}); health checks report 503",
                    auto.quiet, auto.max
                ));
                let end = lame_duck::auto(auto, self.requests()).await;
                self.phase(&format!(
                    "drain 1/4 lame duck over after {:?}: {end}",
                    started.elapsed()
                ));
            }
        }
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
    use crate::connections::ConnectionGuard;
    use std::cell::Cell;

    fn plan(delay_ms: u64, linger_ms: u64, timeout_ms: u64) -> DrainPlan {
        let ms = Duration::from_millis;
        DrainPlan::new(
            DrainDelay::Fixed(ms(delay_ms)),
            ms(10_000),
            ms(500),
            ms(linger_ms),
            ms(timeout_ms),
        )
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
            Drain::new(plan, trigger.clone(), Identity::unsupervised(), true),
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
        assert_eq!(drain.token().status().phase, Phase::Stopped);
    }

    #[test]
    fn the_automatic_lame_duck_waits_for_quiet_only_with_a_listener_of_its_own() {
        let quiet = |bound| {
            let trigger = DrainTrigger::new();
            let mut plan = plan(0, 0, 60_000);
            plan.delay = DrainDelay::Auto;
            plan.auto.quiet = Duration::from_millis(300);
            let drain = Drain::new(plan, trigger.clone(), Identity::unsupervised(), bound);
            trigger.drain();
            let started = Instant::now();
            assert_eq!(block_on(drain.run(&Recorder::default())), Outcome::Graceful);
            started.elapsed()
        };
        assert!(
            quiet(true) >= Duration::from_millis(300),
            "waited for quiet"
        );
        assert!(
            quiet(false) < Duration::from_millis(300),
            "skipped under a supervisor"
        );
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
