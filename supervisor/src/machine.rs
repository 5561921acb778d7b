//! The supervisor's decisions, without I/O: which generation to start,
//! when one is ready, whom to signal, what to log and write. The main loop
//! ([`crate::supervisor`]) feeds it [`Event`]s with the time and carries out
//! the [`Action`]s it returns; [`Machine::next_wake`] says when to wake it
//! if nothing happens. Time is only what the caller says it is, so the whole
//! deploy protocol is tested with synthetic time (`machine/tests.rs`).

use std::time::{Duration, Instant};

use crate::cli::{Options, Readiness};
use crate::event::{Action, DeployState, EnvSettings, Event, Seconds};
use crate::signals::Signal;
use crate::worker::{Phase, Stop, Worker};

mod retire;
mod start;

/// The longest wait between retries when no generation is serving.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The shortest wait before a failed start is tried again.
const MIN_RETRY: Duration = Duration::from_secs(1);
/// How often the environment is looked at when it may turn auto restart on.
const ENV_POLL: Duration = Duration::from_secs(1);
/// `AUTO_RESTART_INTERVAL` when unset.
const DEFAULT_AUTO_RESTART_INTERVAL: Duration = Duration::from_secs(360);
/// `KILL_OLD_DELAY` when unset and auto restart is on.
const AUTO_RESTART_KILL_OLD_DELAY: Duration = Duration::from_secs(5);

/// What the state machine needs from the command line.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) interval: Duration,
    pub(crate) readiness: Readiness,
    pub(crate) ready_timeout: Duration,
    /// `None`: wait for ever.
    pub(crate) kill_timeout: Option<Duration>,
    pub(crate) signal_on_hup: Signal,
    pub(crate) signal_on_term: Signal,
    /// A failed deploy is tried again every `--interval` while the old
    /// generation serves (`--no-retry-failed-deploy` turns it off).
    pub(crate) retry_failed_deploy: bool,
    /// An envdir is in use: auto restart may be turned on there at any time.
    pub(crate) has_envdir: bool,
}

impl Settings {
    /// The settings `options` give; `has_envdir` from the environment.
    pub(crate) fn from_options(o: &Options, has_envdir: bool) -> Settings {
        Settings {
            interval: o.interval,
            readiness: o.readiness,
            ready_timeout: o.ready_timeout,
            kill_timeout: o.kill_timeout,
            signal_on_hup: o.signal_on_hup,
            signal_on_term: o.signal_on_term,
            retry_failed_deploy: o.retry_failed_deploy,
            has_envdir,
        }
    }
}

/// Why a generation was started. A failed auto restart waits for the next
/// period; any other failed start while an old generation serves is tried
/// again after `--interval` (unless `--no-retry-failed-deploy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// The first start, or a retry while nothing serves.
    Start,
    /// A HUP, or a retry of one.
    Deploy,
    /// The auto-restart period.
    AutoRestart,
    /// The current generation exited.
    Replace,
}

/// The supervisor's state.
pub(crate) struct Machine {
    settings: Settings,
    env: EnvSettings,
    workers: Vec<Worker>,
    /// The latest generation number given out.
    generation: u64,
    /// Why the latest generation was started.
    cause: Cause,
    /// [`Action::Spawn`] was asked for this generation and not answered yet.
    spawning: Option<u64>,
    /// A generation has said `READY=1`: from now on (in auto mode) every new
    /// generation is expected to.
    learned_ready: bool,
    /// A HUP arrived while a deploy was in progress.
    pending_hup: bool,
    /// When to start another generation after a failed one, and why.
    retry: Option<(Instant, Cause)>,
    backoff: Duration,
    last_restart: Instant,
    shutting_down: bool,
    told_upstream: bool,
    /// A generation has been accepted before (Perl logs the hand-over from the second on).
    told_first: bool,
    /// [`Action::Exit`] was returned.
    done: bool,
    /// The latest time handled.
    now: Instant,
    /// The actions of the event being handled.
    out: Vec<Action>,
}

/// `12,34` as Perl lists pids, or `none`.
fn pids(pids: &[u32]) -> String {
    if pids.is_empty() {
        return "none".to_owned();
    }
    pids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Seconds as the log shows them: `1`, `0.5`.
fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

impl Machine {
    /// A supervisor with no worker yet, started at `now`, with the
    /// environment as first read.
    pub(crate) fn new(settings: Settings, env: EnvSettings, now: Instant) -> Machine {
        let backoff = settings.interval.max(MIN_RETRY);
        Machine {
            settings,
            env,
            workers: Vec::new(),
            generation: 0,
            cause: Cause::Start,
            spawning: None,
            learned_ready: false,
            pending_hup: false,
            retry: None,
            backoff,
            last_restart: now,
            shutting_down: false,
            told_upstream: false,
            told_first: false,
            done: false,
            now,
            out: Vec::new(),
        }
    }

    /// Handles `event`, which happened at `now`; returns what to do, in order.
    pub(crate) fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        self.now = self.now.max(now);
        if self.done {
            return Vec::new();
        }
        match event {
            Event::Start => self.start_generation(Cause::Start),
            Event::Signal(signal) => self.on_signal(signal),
            Event::Spawned { generation, pid } => self.on_spawned(generation, pid),
            Event::SpawnFailed { generation, reason } => {
                self.spawning = None;
                self.say(reason);
                self.start_failed(generation);
            }
            Event::Exited { pid, status } => self.on_exit(pid, status),
            Event::Ready { pid } => self.on_ready(pid),
            Event::Stopping { pid } => self.on_stopping(pid),
            Event::Environment(env) => self.env = env,
            Event::Timer => self.on_timer(),
        }
        if self.shutting_down && self.workers.is_empty() && self.spawning.is_none() {
            self.done = true;
            self.say("exiting");
            self.out.push(Action::RemoveStatus);
            self.out.push(Action::Exit { code: 0 });
        }
        std::mem::take(&mut self.out)
    }

    /// The earliest deadline, if any: handle [`Event::Timer`] then.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        let mut at: Vec<Instant> = Vec::new();
        for w in &self.workers {
            match w.phase {
                Phase::Starting { since } if self.expects_ready() => {
                    at.push(since + self.settings.ready_timeout)
                }
                Phase::Starting { since } => at.push(since + self.settings.interval),
                Phase::Retiring { signal_at } if w.stop.is_none() => at.push(signal_at),
                _ => {}
            }
            if let (Some(stop), Some(limit)) = (w.stop, self.settings.kill_timeout) {
                if !stop.killed {
                    at.push(stop.at + limit);
                }
            }
        }
        at.extend(self.retry.map(|(when, _)| when));
        if !self.shutting_down && (self.env.auto_restart || self.settings.has_envdir) {
            at.push(self.now + ENV_POLL);
        }
        at.into_iter().min()
    }

    fn say(&mut self, line: impl Into<String>) {
        self.out.push(Action::Log(line.into()));
    }

    fn current(&self) -> Option<&Worker> {
        self.workers.iter().find(|w| w.phase == Phase::Current)
    }

    /// The generation being started, if any.
    fn starting(&self) -> Option<u64> {
        self.spawning.or_else(|| {
            self.workers
                .iter()
                .find(|w| matches!(w.phase, Phase::Starting { .. }))
                .map(|w| w.generation)
        })
    }

    fn expects_ready(&self) -> bool {
        match self.settings.readiness {
            Readiness::Notify => true,
            Readiness::Interval => false,
            Readiness::Auto => self.learned_ready,
        }
    }

    /// Seconds from the environment, or `default` (saying so if the value is bad).
    fn seconds(&mut self, name: &str, value: Seconds, default: Duration) -> Duration {
        match value {
            Seconds::Unset => default,
            Seconds::Set(d) => d,
            Seconds::Invalid(text) => {
                self.say(format!(
                    "{name}={text:?} is not a number of seconds; ignored"
                ));
                default
            }
        }
    }

    fn write_status(&mut self) {
        let mut live: Vec<(u64, u32)> = self
            .workers
            .iter()
            .filter(|w| w.accepted)
            .map(|w| (w.generation, w.pid))
            .collect();
        live.sort_unstable();
        self.out.push(Action::WriteStatus(live));
    }

    fn deploy(&mut self, generation: u64, state: DeployState) {
        self.out.push(Action::WriteDeploy { generation, state });
    }

    /// Worker `pid` exited with raw wait status `status`.
    fn on_exit(&mut self, pid: u32, status: i32) {
        let Some(i) = self.workers.iter().position(|w| w.pid == pid) else {
            return;
        };
        let w = self.workers.remove(i);
        // The status file first, so that whoever reads the log line below
        // finds the file up to date.
        if w.accepted {
            self.write_status();
        }
        if self.shutting_down {
            self.say(format!("worker {pid} died, status:{status}"));
            return;
        }
        match w.phase {
            Phase::Starting { .. } => {
                self.say(format!(
                    "new worker {pid} seems to have failed to start, exit status:{status}"
                ));
                self.start_failed(w.generation);
            }
            Phase::Failed => self.say(format!("new worker {pid} stopped, status:{status}")),
            Phase::Retiring { .. } => self.say(format!("old worker {pid} died, status:{status}")),
            Phase::Current => {
                self.say(format!(
                    "worker {pid} died unexpectedly with status:{status}, restarting"
                ));
                self.reinstate_newest_unsignalled();
                if self.starting().is_none() {
                    self.start_generation(Cause::Replace);
                }
            }
        }
    }

    /// Acts on the deadlines that have passed.
    fn on_timer(&mut self) {
        let now = self.now;
        let starting = self.workers.iter().find_map(|w| match w.phase {
            Phase::Starting { since } => Some((w.pid, w.generation, since)),
            _ => None,
        });
        if let Some((pid, generation, since)) = starting.filter(|_| !self.shutting_down) {
            let expects_ready = self.expects_ready();
            if !expects_ready && now >= since + self.settings.interval {
                self.accept(pid);
            } else if expects_ready && now >= since + self.settings.ready_timeout {
                self.say(format!(
                    "new worker {pid} did not send READY=1 within {} secs; stopping it",
                    secs(self.settings.ready_timeout)
                ));
                self.stop_worker(pid, Signal::TERM);
                if let Some(w) = self.workers.iter_mut().find(|w| w.pid == pid) {
                    w.phase = Phase::Failed;
                }
                self.start_failed(generation);
            }
        }
        self.signal_due_old_workers();
        self.kill_overdue();
        if let Some((_, cause)) = self.retry.filter(|(at, _)| *at <= now) {
            self.start_generation(cause);
        }
        self.auto_restart();
    }

    /// Worker `pid` said `STOPPING=1`. Its exit is what counts; a serving
    /// worker nobody told to stop gets a line in the log.
    fn on_stopping(&mut self, pid: u32) {
        let Some(w) = self.workers.iter().find(|w| w.pid == pid) else {
            return;
        };
        let serving = matches!(w.phase, Phase::Current | Phase::Retiring { .. });
        if serving && w.stop.is_none() && !self.shutting_down {
            let line = format!(
                "worker {pid} (generation {}) says it is stopping; it was not told to",
                w.generation
            );
            self.say(line);
        }
    }

    fn on_signal(&mut self, signal: Signal) {
        match signal.0 {
            libc::SIGHUP if self.shutting_down => {
                self.say("received HUP while stopping; ignored");
            }
            libc::SIGHUP => {
                self.say("received HUP, spawning a new worker");
                if let Some(generation) = self.starting() {
                    self.say(format!(
                        "generation {generation} is still starting; the new one starts when it is done"
                    ));
                    self.pending_hup = true;
                } else {
                    self.start_generation(Cause::Deploy);
                }
            }
            libc::SIGTERM | libc::SIGINT | libc::SIGQUIT if self.shutting_down => {
                self.say(format!("received {}; already stopping", signal.name()));
            }
            libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => {
                let send = if signal.0 == libc::SIGINT {
                    Signal::TERM
                } else {
                    self.settings.signal_on_term
                };
                self.shutting_down = true;
                self.retry = None;
                self.pending_hup = false;
                let all: Vec<u32> = self.workers.iter().map(|w| w.pid).collect();
                self.say(format!(
                    "received {}, sending {} to all workers:{}",
                    signal.name(),
                    send.name(),
                    pids(&all)
                ));
                for pid in all {
                    self.stop_worker(pid, send);
                }
                self.out
                    .push(Action::NotifyUpstream("STOPPING=1".to_owned()));
            }
            libc::SIGUSR1 | libc::SIGUSR2 => {
                self.say(format!(
                    "received {}; ignored (HUP deploys, TERM stops)",
                    signal.name()
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
