//! The main loop: the one place that acts. It waits (`poll`) for a signal,
//! a notify message or the state machine's next deadline, turns what
//! happened into [`Event`]s for [`Machine`], and carries out the
//! [`Action`]s it returns: spawning workers, signalling them, logging,
//! writing the status files and telling systemd. Single-threaded.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Instant;

use crate::environment::{Current, Environment};
use crate::error::{Error, Result};
use crate::event::{Action, Event};
use crate::files::StatusFile;
use crate::log::{say, LogFile};
use crate::machine::Machine;
use crate::readiness::{NotifyDir, NotifySocket, Upstream};
use crate::signals::{Receiver, Signal};
use crate::sys;

/// How workers are started.
pub(crate) struct Launch {
    /// The server program and its arguments.
    pub(crate) command: Vec<OsString>,
    /// `--dir`.
    pub(crate) dir: Option<PathBuf>,
    /// `SERVER_STARTER_PORT`.
    pub(crate) ports: String,
}

/// What the loop owns besides the state machine.
pub(crate) struct Resources {
    pub(crate) env: Environment,
    pub(crate) notify_dir: Option<NotifyDir>,
    pub(crate) upstream: Option<Upstream>,
    pub(crate) status: Option<StatusFile>,
}

/// A running worker process.
struct Process {
    child: Child,
    notify: Option<NotifySocket>,
}

/// The running supervisor.
pub(crate) struct Supervisor {
    machine: Machine,
    launch: Launch,
    res: Resources,
    /// The environment as last read: the next generation gets it.
    vars: Current,
    processes: Vec<Process>,
    exit: Option<u8>,
}

impl Supervisor {
    /// A supervisor deciding with `machine`; `vars` is the environment it was made from.
    pub(crate) fn new(machine: Machine, launch: Launch, res: Resources, vars: Current) -> Self {
        Supervisor {
            machine,
            launch,
            res,
            vars,
            processes: Vec::new(),
            exit: None,
        }
    }

    /// Runs until the state machine says to exit (a stop signal was handled
    /// and every worker has exited); returns the exit code.
    pub(crate) fn run(mut self, mut signals: Receiver) -> Result<u8> {
        self.dispatch(Event::Start);
        loop {
            for (pid, status) in self.reap() {
                self.dispatch(Event::Exited { pid, status });
            }
            self.dispatch(Event::Timer);
            if let Some(code) = self.exit {
                return Ok(code);
            }
            let timeout = self
                .machine
                .next_wake()
                .map(|at| at.saturating_duration_since(Instant::now()));
            let mut fds = vec![signals.fd()];
            let mut owners = Vec::new();
            for p in &self.processes {
                if let Some(n) = &p.notify {
                    fds.push(n.fd());
                    owners.push(p.child.id());
                }
            }
            let readable = sys::poll_readable(&fds, timeout).map_err(|e| Error::io("poll", e))?;
            if self.res.env.has_envdir() {
                self.vars = self.res.env.current();
                self.dispatch(Event::Environment(self.vars.settings()));
            }
            for signal in signals.take() {
                self.dispatch(Event::Signal(signal));
            }
            for (pid, _) in owners.into_iter().zip(&readable[1..]).filter(|(_, r)| **r) {
                let notice = self
                    .processes
                    .iter()
                    .find(|p| p.child.id() == pid)
                    .and_then(|p| p.notify.as_ref())
                    .map(NotifySocket::read)
                    .unwrap_or_default();
                if notice.ready {
                    self.dispatch(Event::Ready { pid });
                }
                if notice.stopping {
                    self.dispatch(Event::Stopping { pid });
                }
            }
        }
    }

    /// Every worker that exited, with its raw wait status; forgotten here.
    fn reap(&mut self) -> Vec<(u32, i32)> {
        let mut exited = Vec::new();
        self.processes.retain_mut(|p| match p.child.try_wait() {
            Ok(Some(status)) => {
                exited.push((p.child.id(), status.into_raw()));
                false
            }
            Ok(None) => true,
            Err(e) => {
                say!("waiting for worker {}: {e}", p.child.id());
                true
            }
        });
        exited
    }

    /// Tells the state machine about `event`, now, and does what it says.
    fn dispatch(&mut self, event: Event) {
        for action in self.machine.handle(event, Instant::now()) {
            self.perform(action);
        }
    }

    fn perform(&mut self, action: Action) {
        match action {
            Action::Spawn { generation } => {
                let result = self.spawn(generation);
                self.dispatch(result);
            }
            Action::Signal { pid, signal } => {
                if let Err(e) = sys::kill(pid, signal.0) {
                    let name = if signal == Signal::KILL {
                        "KILL".to_owned()
                    } else {
                        format!("SIG{}", signal.name())
                    };
                    say!("{name} to worker {pid}: {e}");
                }
            }
            Action::Log(line) => say!("{line}"),
            Action::WriteStatus(mut live) => {
                if let Some(status) = &self.res.status {
                    status.write(&mut live);
                }
            }
            Action::WriteDeploy { generation, state } => {
                if let Some(status) = &self.res.status {
                    status.deploy(generation, state.as_str());
                }
            }
            Action::NotifyUpstream(message) => {
                if let Some(up) = &self.res.upstream {
                    up.send(&message);
                }
            }
            Action::RemoveStatus => {
                if let Some(status) = &self.res.status {
                    status.remove();
                }
            }
            Action::Exit { code } => self.exit = Some(code),
        }
    }

    /// Starts generation `generation` with the environment as last read.
    fn spawn(&mut self, generation: u64) -> Event {
        let notify = match &self.res.notify_dir {
            Some(dir) => match dir.socket(generation) {
                Ok(socket) => Some(socket),
                Err(e) => {
                    say!("{e}; generation {generation} gets no NOTIFY_SOCKET");
                    None
                }
            },
            None => None,
        };
        let Some((program, args)) = self.launch.command.split_first() else {
            return Event::SpawnFailed {
                generation,
                reason: "server program not specified".to_owned(),
            };
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(&self.vars.vars)
            .env("SERVER_STARTER_PORT", &self.launch.ports)
            .env("SERVER_STARTER_GENERATION", generation.to_string());
        if let Some(n) = &notify {
            cmd.env("NOTIFY_SOCKET", n.env_value());
        }
        if let Some(dir) = &self.launch.dir {
            cmd.current_dir(dir);
        }
        if let (Some(out), Some(err)) = (LogFile::stdio(), LogFile::stdio()) {
            cmd.stdout(out).stderr(err);
        }
        match cmd.spawn() {
            Ok(child) => {
                let pid = child.id();
                self.processes.push(Process { child, notify });
                Event::Spawned { generation, pid }
            }
            Err(e) => Event::SpawnFailed {
                generation,
                reason: format!("failed to exec {}: {e}", program.to_string_lossy()),
            },
        }
    }
}
