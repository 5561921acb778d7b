//! The deploy protocol as tables: each row is one event at a synthetic time
//! and every action the state machine answers with, as text. No process is
//! started and nothing sleeps. Generation `g` runs as pid `100 + g`; `At(ms)`
//! moves the clock to `ms` after the start and wakes the machine there.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use super::*;

/// One row's event.
#[derive(Clone, Debug)]
enum Step {
    /// The clock reaches this many ms after the start: a timer wake-up.
    At(u64),
    /// A signal to the supervisor.
    Sig(libc::c_int),
    /// Generation `g` says `READY=1`.
    Ready(u64),
    /// Generation `g` says `STOPPING=1`.
    Stopping(u64),
    /// Generation `g` exits with this raw wait status.
    Exit(u64, i32),
    /// The next spawn fails (the program cannot be run).
    SpawnFails,
    /// The environment is read again.
    Env(EnvSettings),
    /// Not an event: [`Machine::next_wake`] is this many ms after the start
    /// (`None`: no deadline).
    Wake(Option<u64>),
}

use Step::*;

const HUP: Step = Sig(libc::SIGHUP);
const TERM: Step = Sig(libc::SIGTERM);
const INT: Step = Sig(libc::SIGINT);
const QUIT: Step = Sig(libc::SIGQUIT);
const USR1: Step = Sig(libc::SIGUSR1);

type Row = (Step, &'static [&'static str]);

/// The pid of generation `generation`.
fn pid(generation: u64) -> u32 {
    100 + u32::try_from(generation).unwrap()
}

/// The defaults of the command line.
fn settings() -> Settings {
    Settings {
        interval: Duration::from_secs(1),
        readiness: Readiness::Auto,
        ready_timeout: Duration::from_secs(60),
        kill_timeout: Some(Duration::from_secs(60)),
        signal_on_hup: Signal::TERM,
        signal_on_term: Signal::TERM,
        retry_failed_deploy: true,
        has_envdir: false,
    }
}

fn env(auto_restart: bool, interval: Option<u64>, kill_old_delay: Option<u64>) -> EnvSettings {
    let secs = |v: Option<u64>| v.map_or(Seconds::Unset, |s| Seconds::Set(Duration::from_secs(s)));
    EnvSettings {
        auto_restart,
        auto_restart_interval: secs(interval),
        kill_old_delay: secs(kill_old_delay),
    }
}

/// A machine, its clock, and the loop's part played in memory.
struct Sim {
    machine: Machine,
    start: Instant,
    now: Instant,
    fail_next_spawn: bool,
}

impl Sim {
    fn new(settings: Settings, env: EnvSettings) -> Sim {
        let start = Instant::now();
        Sim {
            machine: Machine::new(settings, env, start),
            start,
            now: start,
            fail_next_spawn: false,
        }
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.start).as_millis()).unwrap()
    }

    /// Handles `event` as the main loop does: a spawn is answered at once.
    fn handle(&mut self, event: Event, out: &mut Vec<String>) {
        for action in self.machine.handle(event, self.now) {
            match action {
                Action::Spawn { generation } => {
                    out.push(format!("spawn {generation}"));
                    let answer = if std::mem::take(&mut self.fail_next_spawn) {
                        Event::SpawnFailed {
                            generation,
                            reason: "failed to exec app: No such file or directory".to_owned(),
                        }
                    } else {
                        Event::Spawned {
                            generation,
                            pid: pid(generation),
                        }
                    };
                    self.handle(answer, out);
                }
                Action::Signal { pid, signal } => out.push(format!("{} to {pid}", signal.name())),
                Action::Log(line) => out.push(format!("log: {line}")),
                Action::WriteStatus(live) => out.push(format!(
                    "status:{}",
                    live.iter()
                        .map(|(g, p)| format!(" {g}:{p}"))
                        .collect::<String>()
                )),
                Action::WriteDeploy { generation, state } => {
                    out.push(format!("deploy: {generation} {}", state.as_str()))
                }
                Action::NotifyUpstream(message) => {
                    out.push(format!("upstream: {}", message.replace('\n', " ")))
                }
                Action::RemoveStatus => out.push("remove status".to_owned()),
                Action::Exit { code } => out.push(format!("exit {code}")),
            }
        }
    }

    fn step(&mut self, step: &Step) -> Vec<String> {
        let mut out = Vec::new();
        match step {
            At(ms) => {
                self.now = self.start + Duration::from_millis(*ms);
                self.handle(Event::Timer, &mut out);
            }
            Sig(signal) => self.handle(Event::Signal(Signal(*signal)), &mut out),
            Ready(g) => self.handle(Event::Ready { pid: pid(*g) }, &mut out),
            Stopping(g) => self.handle(Event::Stopping { pid: pid(*g) }, &mut out),
            Exit(g, status) => self.handle(
                Event::Exited {
                    pid: pid(*g),
                    status: *status,
                },
                &mut out,
            ),
            SpawnFails => self.fail_next_spawn = true,
            Env(env) => self.handle(Event::Environment(env.clone()), &mut out),
            Wake(_) => {
                let wake = self.machine.next_wake().map(|at| self.ms(at));
                out.push(format!("wake {wake:?}"));
            }
        }
        out
    }
}

/// Runs `rows` after [`Event::Start`] at 0 ms (which gives [`START`]):
/// each row's actions must be exactly the ones listed (for `Wake`, the
/// deadline).
fn run(settings: Settings, env: EnvSettings, rows: &[Row]) {
    let mut sim = Sim::new(settings, env);
    let mut out = Vec::new();
    sim.handle(Event::Start, &mut out);
    assert_eq!(out, START, "actions of the start");
    for (i, (step, want)) in rows.iter().enumerate() {
        let got = sim.step(step);
        let want: Vec<String> = match step {
            Wake(ms) => vec![format!("wake {ms:?}")],
            _ => want.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(got, want, "row {i}: {step:?}");
    }
}

/// The start: generation 1 spawned.
const START: &[&str] = &[
    "deploy: 1 starting",
    "spawn 1",
    "log: starting new worker 101",
];

/// Generation 1 says READY=1 (at 0 ms, in most tables).
const GEN1_READY: Row = (
    Ready(1),
    &[
        "log: new worker 101 sent READY=1 after 0 ms",
        "status: 1:101",
        "deploy: 1 ready",
        "upstream: READY=1 STATUS=generation 1 (pid 101) serving",
    ],
);

/// A HUP at the current time starts generation `g`.
fn hup(g: u64) -> Vec<String> {
    vec![
        "log: received HUP, spawning a new worker".to_owned(),
        format!("deploy: {g} starting"),
        format!("spawn {g}"),
        format!("log: starting new worker {}", pid(g)),
    ]
}

/// `lines` as a row's actions (rows are `'static`; a test leaks a few strings).
fn leak(lines: Vec<String>) -> &'static [&'static str] {
    let lines: Vec<&'static str> = lines
        .into_iter()
        .map(|l| &*Box::leak(l.into_boxed_str()))
        .collect();
    Box::leak(lines.into_boxed_slice())
}

mod auto_restart;
mod deploy;
mod readiness;
mod start;
mod stop;
