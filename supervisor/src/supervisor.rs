//! The main loop: starts generations, judges them ready, retires old ones,
//! reacts to signals and exits. Single-threaded: every event (a signal, a
//! notify message, a child exit, a deadline) wakes one `poll`.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cli::{Options, Readiness};
use crate::environment::Environment;
use crate::error::{Error, Result};
use crate::files::StatusFile;
use crate::log::{say, LogFile};
use crate::readiness::{NotifyDir, NotifySocket, Upstream};
use crate::signals::{Receiver, Signal};
use crate::sys;
use crate::worker::{Phase, Stop, Worker};

/// The longest wait between retries when no generation is serving.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the supervisor needs from the command line.
pub(crate) struct Settings {
    pub(crate) command: Vec<OsString>,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) interval: Duration,
    pub(crate) readiness: Readiness,
    pub(crate) ready_timeout: Duration,
    pub(crate) kill_timeout: Option<Duration>,
    pub(crate) signal_on_hup: Signal,
    pub(crate) signal_on_term: Signal,
}

impl Settings {
    pub(crate) fn from_options(o: &Options) -> Settings {
        Settings {
            command: o.command.clone(),
            dir: o.dir.clone(),
            interval: o.interval,
            readiness: o.readiness,
            ready_timeout: o.ready_timeout,
            kill_timeout: o.kill_timeout,
            signal_on_hup: o.signal_on_hup,
            signal_on_term: o.signal_on_term,
        }
    }
}

/// The running supervisor.
pub(crate) struct Supervisor {
    settings: Settings,
    env: Environment,
    ports: String,
    notify_dir: Option<NotifyDir>,
    upstream: Option<Upstream>,
    status: Option<StatusFile>,
    workers: Vec<Worker>,
    generation: u64,
    /// A generation has said `READY=1`: from now on (in auto mode) every new
    /// generation is expected to.
    learned_ready: bool,
    /// A HUP arrived while a deploy was in progress.
    pending_hup: bool,
    retry_at: Option<Instant>,
    backoff: Duration,
    last_restart: Instant,
    shutting_down: bool,
    told_upstream: bool,
    /// A generation has been accepted before (Perl logs the hand-over from the second on).
    told_first: bool,
    /// Auto restart was on at the last reading of the environment: the loop
    /// then wakes every second to check it.
    auto_restart_on: bool,
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

fn secs(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

impl Supervisor {
    pub(crate) fn new(
        settings: Settings,
        env: Environment,
        ports: String,
        notify_dir: Option<NotifyDir>,
        upstream: Option<Upstream>,
        status: Option<StatusFile>,
    ) -> Supervisor {
        let backoff = settings.interval.max(Duration::from_secs(1));
        let auto_restart_on = env.current().auto_restart();
        Supervisor {
            settings,
            env,
            ports,
            notify_dir,
            upstream,
            status,
            workers: Vec::new(),
            generation: 0,
            learned_ready: false,
            pending_hup: false,
            retry_at: None,
            backoff,
            last_restart: Instant::now(),
            shutting_down: false,
            told_upstream: false,
            told_first: false,
            auto_restart_on,
        }
    }

    /// Runs until a stop signal has been handled and every worker has exited.
    pub(crate) fn run(&mut self, mut signals: Receiver) -> Result<()> {
        self.start_generation();
        loop {
            self.reap();
            let now = Instant::now();
            self.tick(now);
            if self.shutting_down && self.workers.is_empty() {
                break;
            }
            let timeout = self
                .next_wake(now)
                .map(|at| at.saturating_duration_since(now));
            let mut fds = vec![signals.fd()];
            let mut owners = Vec::new();
            for w in &self.workers {
                if let Some(n) = &w.notify {
                    fds.push(n.fd());
                    owners.push(w.pid);
                }
            }
            let readable = sys::poll_readable(&fds, timeout).map_err(|e| Error::io("poll", e))?;
            for signal in signals.take() {
                self.on_signal(signal);
            }
            for (pid, _) in owners.into_iter().zip(&readable[1..]).filter(|(_, r)| **r) {
                let ready = self
                    .workers
                    .iter()
                    .find(|w| w.pid == pid)
                    .and_then(|w| w.notify.as_ref())
                    .is_some_and(NotifySocket::ready);
                if ready {
                    self.on_ready(pid);
                }
            }
        }
        say!("exiting");
        if let Some(status) = &self.status {
            status.remove();
        }
        Ok(())
    }

    fn current(&self) -> Option<&Worker> {
        self.workers.iter().find(|w| w.phase == Phase::Current)
    }

    fn starting(&self) -> Option<&Worker> {
        self.workers
            .iter()
            .find(|w| matches!(w.phase, Phase::Starting { .. }))
    }

    fn expects_ready(&self) -> bool {
        match self.settings.readiness {
            Readiness::Notify => true,
            Readiness::Interval => false,
            Readiness::Auto => self.learned_ready,
        }
    }

    fn write_status(&self) {
        if let Some(status) = &self.status {
            let mut live: Vec<(u64, u32)> = self
                .workers
                .iter()
                .filter(|w| w.accepted)
                .map(|w| (w.generation, w.pid))
                .collect();
            status.write(&mut live);
        }
    }

    /// Starts the next generation (reading the envdir again first).
    fn start_generation(&mut self) {
        if self.shutting_down {
            return;
        }
        self.retry_at = None;
        self.generation += 1;
        let generation = self.generation;
        let env = self.env.current();
        self.auto_restart_on = env.auto_restart();
        let notify = match &self.notify_dir {
            Some(dir) => match dir.socket(generation) {
                Ok(socket) => Some(socket),
                Err(e) => {
                    say!("{e}; generation {generation} gets no NOTIFY_SOCKET");
                    None
                }
            },
            None => None,
        };
        let Some((program, args)) = self.settings.command.split_first() else {
            return;
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(&env.vars)
            .env("SERVER_STARTER_PORT", &self.ports)
            .env("SERVER_STARTER_GENERATION", generation.to_string());
        if let Some(n) = &notify {
            cmd.env("NOTIFY_SOCKET", n.env_value());
        }
        if let Some(dir) = &self.settings.dir {
            cmd.current_dir(dir);
        }
        if let (Some(out), Some(err)) = (LogFile::stdio(), LogFile::stdio()) {
            cmd.stdout(out).stderr(err);
        }
        if let Some(status) = &self.status {
            status.deploy(generation, "starting");
        }
        match cmd.spawn() {
            Ok(child) => {
                let pid = child.id();
                say!("starting new worker {pid}");
                self.workers.push(Worker {
                    child,
                    pid,
                    generation,
                    phase: Phase::Starting {
                        since: Instant::now(),
                    },
                    accepted: false,
                    notify,
                    stop: None,
                });
            }
            Err(e) => {
                say!("failed to exec {}: {e}", program.to_string_lossy());
                self.start_failed(generation);
            }
        }
    }

    /// Generation `generation` will not serve.
    fn start_failed(&mut self, generation: u64) {
        if let Some(status) = &self.status {
            status.deploy(generation, "failed");
        }
        if self.shutting_down {
            return;
        }
        if let Some(current) = self.current() {
            say!(
                "generation {generation} failed to start; generation {} (pid {}) keeps serving",
                current.generation,
                current.pid
            );
            if std::mem::take(&mut self.pending_hup) {
                say!("starting the deploy requested during the failed one");
                self.start_generation();
            }
        } else if self.starting().is_none() && std::mem::take(&mut self.pending_hup) {
            say!("starting the deploy requested during the failed one");
            self.start_generation();
        } else if self.starting().is_none() {
            let delay = self.backoff;
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            say!(
                "no generation is serving; starting another in {} secs",
                secs(delay)
            );
            self.retry_at = Some(Instant::now() + delay);
        }
    }

    /// Reaps every worker that exited and acts on it.
    fn reap(&mut self) {
        let mut i = 0;
        while i < self.workers.len() {
            let status = match self.workers[i].child.try_wait() {
                Ok(Some(status)) => status,
                Ok(None) => {
                    i += 1;
                    continue;
                }
                Err(e) => {
                    say!("waiting for worker {}: {e}", self.workers[i].pid);
                    i += 1;
                    continue;
                }
            };
            let w = self.workers.remove(i);
            // The status file first, so that whoever reads the log line
            // below finds the file up to date.
            if w.accepted {
                self.write_status();
            }
            let raw = status.into_raw();
            let pid = w.pid;
            if self.shutting_down {
                say!("worker {pid} died, status:{raw}");
            } else {
                match w.phase {
                    Phase::Starting { .. } => {
                        say!("new worker {pid} seems to have failed to start, exit status:{raw}");
                        self.start_failed(w.generation);
                    }
                    Phase::Failed => say!("new worker {pid} stopped, status:{raw}"),
                    Phase::Retiring { .. } => say!("old worker {pid} died, status:{raw}"),
                    Phase::Current => {
                        say!("worker {pid} died unexpectedly with status:{raw}, restarting");
                        self.reinstate_newest_unsignalled();
                        if self.starting().is_none() {
                            self.start_generation();
                        }
                    }
                }
            }
        }
    }

    /// The current worker died while older ones wait out `--kill-old-delay`:
    /// the newest of them, never signalled, is current again.
    fn reinstate_newest_unsignalled(&mut self) {
        let newest = self
            .workers
            .iter_mut()
            .filter(|w| w.stop.is_none() && matches!(w.phase, Phase::Retiring { .. }))
            .max_by_key(|w| w.generation);
        if let Some(w) = newest {
            w.phase = Phase::Current;
            say!(
                "generation {} (pid {}) was not told to stop yet; it serves again",
                w.generation,
                w.pid
            );
        }
    }

    /// Acts on the deadlines that have passed.
    fn tick(&mut self, now: Instant) {
        let expects_ready = self.expects_ready();
        let interval = self.settings.interval;
        let ready_timeout = self.settings.ready_timeout;
        let starting = self.starting().and_then(|w| match w.phase {
            Phase::Starting { since } => Some((w.pid, w.generation, since)),
            _ => None,
        });
        if let Some((pid, generation, since)) = starting.filter(|_| !self.shutting_down) {
            if !expects_ready && now >= since + interval {
                self.accept(pid, now);
            } else if expects_ready && now >= since + ready_timeout {
                say!(
                    "new worker {pid} did not send READY=1 within {} secs; stopping it",
                    secs(ready_timeout)
                );
                self.stop_worker(pid, Signal::TERM, now);
                if let Some(w) = self.workers.iter_mut().find(|w| w.pid == pid) {
                    w.phase = Phase::Failed;
                }
                self.start_failed(generation);
            }
        }
        self.tick_retiring(now);
        if let Some(limit) = self.settings.kill_timeout {
            for w in &mut self.workers {
                if let Some(stop) = &mut w.stop {
                    if !stop.killed && now >= stop.at + limit {
                        say!(
                            "worker {} did not exit {} secs after SIG{}; sending KILL",
                            w.pid,
                            secs(limit),
                            stop.signal.name()
                        );
                        stop.killed = true;
                        if let Err(e) = sys::kill(w.pid, Signal::KILL.0) {
                            say!("KILL to worker {}: {e}", w.pid);
                        }
                    }
                }
            }
        }
        if self.retry_at.is_some_and(|at| at <= now) {
            self.start_generation();
        }
        self.auto_restart(now);
    }

    fn auto_restart(&mut self, now: Instant) {
        if self.shutting_down || self.starting().is_some() || self.current().is_none() {
            return;
        }
        let env = self.env.current();
        self.auto_restart_on = env.auto_restart();
        if !self.auto_restart_on {
            return;
        }
        let interval = env.auto_restart_interval();
        let since = now.saturating_duration_since(self.last_restart);
        let old_remain = self.workers.iter().any(|w| w.phase != Phase::Current);
        // The period counts from the attempt, so a failing one is not retried at once.
        if since >= interval && !old_remain {
            say!("autorestart triggered (interval={})", secs(interval));
            self.last_restart = now;
            self.start_generation();
        } else if since >= interval * 2 {
            say!(
                "autorestart triggered (forced, interval={})",
                secs(interval)
            );
            self.last_restart = now;
            self.start_generation();
        }
    }

    /// The earliest deadline, if any.
    fn next_wake(&self, now: Instant) -> Option<Instant> {
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
        at.extend(self.retry_at);
        // With an envdir, auto restart may be turned on there at any time.
        if !self.shutting_down && (self.auto_restart_on || self.env.has_envdir()) {
            at.push(now + Duration::from_secs(1));
        }
        at.into_iter().min()
    }

    /// Sends `signal` to worker `pid`, unless it already got that signal;
    /// its kill deadline counts from the first stop signal.
    fn stop_worker(&mut self, pid: u32, signal: Signal, now: Instant) {
        let Some(w) = self.workers.iter_mut().find(|w| w.pid == pid) else {
            return;
        };
        if w.stop.is_some_and(|s| s.signal == signal) {
            return;
        }
        if let Err(e) = sys::kill(pid, signal.0) {
            say!("SIG{} to worker {pid}: {e}", signal.name());
        }
        let at = w.stop.map_or(now, |s| s.at);
        w.stop = Some(Stop {
            signal,
            at,
            killed: false,
        });
    }

    /// Makes worker `pid` the current generation and schedules the old ones.
    fn accept(&mut self, pid: u32, now: Instant) {
        let env = self.env.current();
        let delay = env.kill_old_delay();
        let signal_at = now + delay;
        let mut generation = 0;
        for w in &mut self.workers {
            if w.pid == pid {
                w.phase = Phase::Current;
                w.accepted = true;
                generation = w.generation;
            } else if w.phase == Phase::Current {
                w.phase = Phase::Retiring { signal_at };
            }
        }
        self.write_status();
        if let Some(status) = &self.status {
            status.deploy(generation, "ready");
        }
        let retiring: Vec<u32> = self
            .workers
            .iter()
            .filter(|w| matches!(w.phase, Phase::Retiring { signal_at: at } if at == signal_at))
            .map(|w| w.pid)
            .collect();
        if self.told_first {
            say!(
                "new worker is now running, sending {} to old workers:{}",
                self.settings.signal_on_hup.name(),
                pids(&retiring)
            );
        }
        self.told_first = true;
        if !retiring.is_empty() && !delay.is_zero() {
            say!("sleeping {} secs before killing old workers", secs(delay));
        }
        self.last_restart = now;
        self.backoff = self.settings.interval.max(Duration::from_secs(1));
        if let Some(up) = &self.upstream {
            let state = format!("STATUS=generation {generation} (pid {pid}) serving");
            if self.told_upstream {
                up.send(&state);
            } else {
                up.send(&format!("READY=1\n{state}"));
                self.told_upstream = true;
            }
        }
        // Signal at once rather than after the next poll when there is no delay.
        self.tick_retiring(now);
        if std::mem::take(&mut self.pending_hup) {
            say!("starting the deploy requested while generation {generation} was starting");
            self.start_generation();
        }
    }

    fn tick_retiring(&mut self, now: Instant) {
        let due: Vec<u32> = self
            .workers
            .iter()
            .filter(|w| w.stop.is_none())
            .filter(|w| matches!(w.phase, Phase::Retiring { signal_at } if signal_at <= now))
            .map(|w| w.pid)
            .collect();
        if !due.is_empty() {
            say!("killing old workers");
            for pid in due {
                self.stop_worker(pid, self.settings.signal_on_hup, now);
            }
        }
    }

    /// Worker `pid` said `READY=1`.
    fn on_ready(&mut self, pid: u32) {
        self.learned_ready = true;
        let Some(w) = self.workers.iter().find(|w| w.pid == pid) else {
            return;
        };
        if let (Phase::Starting { since }, false) = (w.phase, self.shutting_down) {
            say!(
                "new worker {pid} sent READY=1 after {} ms",
                since.elapsed().as_millis()
            );
            self.accept(pid, Instant::now());
        }
    }

    fn on_signal(&mut self, signal: Signal) {
        let now = Instant::now();
        match signal.0 {
            libc::SIGHUP if self.shutting_down => {
                say!("received HUP while stopping; ignored");
            }
            libc::SIGHUP => {
                say!("received HUP, spawning a new worker");
                if let Some(w) = self.starting() {
                    say!(
                        "generation {} is still starting; the new one starts when it is done",
                        w.generation
                    );
                    self.pending_hup = true;
                } else {
                    self.start_generation();
                }
            }
            libc::SIGTERM | libc::SIGINT | libc::SIGQUIT if self.shutting_down => {
                say!("received {}; already stopping", signal.name());
            }
            libc::SIGTERM | libc::SIGINT | libc::SIGQUIT => {
                let send = if signal.0 == libc::SIGINT {
                    Signal::TERM
                } else {
                    self.settings.signal_on_term
                };
                self.shutting_down = true;
                self.retry_at = None;
                self.pending_hup = false;
                let all: Vec<u32> = self.workers.iter().map(|w| w.pid).collect();
                say!(
                    "received {}, sending {} to all workers:{}",
                    signal.name(),
                    send.name(),
                    pids(&all)
                );
                for pid in all {
                    self.stop_worker(pid, send, now);
                }
                if let Some(up) = &self.upstream {
                    up.send("STOPPING=1");
                }
            }
            libc::SIGUSR1 | libc::SIGUSR2 => {
                say!(
                    "received {}; ignored (HUP deploys, TERM stops)",
                    signal.name()
                );
            }
            _ => {}
        }
    }
}
