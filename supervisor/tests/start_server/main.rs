//! Our `start_server`, really started, with a test worker (this test binary
//! re-run as [`worker`]) that records what it was given (environment, fds,
//! cwd) and what it was sent (signals) as JSON lines in a log file, answers
//! TCP connections with `GEN PID`, and misbehaves on request (fails to start,
//! never says READY=1, crashes, ignores TERM). One test per option in
//! `options.rs` (`--daemonize` in `daemon.rs`); deploy behaviour in
//! `deploys.rs`; the same observations made on Perl's start_server in
//! `compat.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    unreachable_pub,
    missing_docs
)]

use handover_test_support as support;

mod compat;
mod daemon;
mod deploys;
mod options;
mod worker;

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::supervisor::Starter;
use support::Proc;

/// Set (to the log path) only in the worker.
const WORKER: &str = "START_SERVER_TEST_WORKER";

/// The worker: not a test. Runs [`worker::main`] when [`WORKER`] is set.
#[test]
#[ignore = "entry point of the worker process; the tests run it"]
fn worker() {
    if let Some(log) = std::env::var_os(WORKER) {
        worker::main(PathBuf::from(log));
    }
}

/// The worker's command line.
fn worker_argv() -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    vec![
        exe.to_str().unwrap().to_owned(),
        "--exact".into(),
        "worker".into(),
        "--ignored".into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
        "-q".into(),
    ]
}

/// A supervisor running the worker, in a scratch directory.
pub struct Run {
    pub proc: Proc,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

/// `start_server OPTIONS -- worker` with `env` added; `{dir}` in an option
/// or a value is the scratch directory.
pub fn start(starter: Starter, options: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (cmd, log) = command(starter, dir.path(), options, env);
    Run {
        proc: Proc::spawn(cmd),
        dir,
        log,
    }
}

/// Our supervisor: [`start`] with [`Starter::Ours`].
pub fn ours(options: &[&str], env: &[(&str, &str)]) -> Run {
    start(Starter::Ours, options, env)
}

/// The command [`start`] runs, and the worker's log path.
pub fn command(
    starter: Starter,
    dir: &Path,
    options: &[&str],
    env: &[(&str, &str)],
) -> (Command, PathBuf) {
    let fill = |s: &str| s.replace("{dir}", dir.to_str().unwrap());
    let log = dir.join("worker.log");
    let mut cmd = starter.command();
    cmd.args(options.iter().map(|o| fill(o)))
        .arg("--")
        .args(worker_argv())
        .env(WORKER, &log)
        .env_remove("SERVER_STARTER_PORT")
        .env_remove("SERVER_STARTER_GENERATION")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("KILL_OLD_DELAY")
        .env_remove("ENABLE_AUTO_RESTART")
        .env_remove("AUTO_RESTART_INTERVAL")
        .env_remove("ENVDIR");
    for (k, v) in env {
        cmd.env(k, fill(v));
    }
    (cmd, log)
}

impl Run {
    /// Every event the workers recorded so far.
    pub fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits for the first event matching `f`; panics with the logs after 15 s.
    pub fn wait_event(&self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(e) = self.events().into_iter().find(|e| f(e)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no event: {what}\nworker log:\n{}\nsupervisor:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default(),
                self.proc.stderr.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `start` event of generation `generation`.
    pub fn started(&self, generation: u64) -> Value {
        self.wait_event(&format!("gen {generation} start"), |e| {
            e["event"] == "start" && e["gen"] == generation
        })
    }

    /// The `ready` event of generation `generation` (after which it accepts).
    pub fn ready(&self, generation: u64) -> Value {
        self.wait_event(&format!("gen {generation} ready"), |e| {
            e["event"] == "ready" && e["gen"] == generation
        })
    }

    /// Signals worker `pid` recorded, in order.
    pub fn signals_of(&self, pid: u64) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e["event"] == "signal" && e["pid"] == pid)
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Waits for a supervisor log line containing `needle`; returns it.
    pub fn line(&self, needle: &str) -> String {
        self.proc
            .stderr
            .wait_for(Duration::from_secs(15), |l| {
                l.contains(needle).then(|| l.to_owned())
            })
            .unwrap_or_else(|| panic!("no line {needle:?}\n{}", self.proc.stderr.text()))
    }

    /// Sends TERM to the supervisor and expects it to exit 0.
    pub fn stop(mut self) -> Run {
        self.proc.signal(libc::SIGTERM);
        assert_eq!(self.proc.exit_code(Duration::from_secs(20)), 0);
        self
    }
}

/// Gives worker `pid` the test's go-ahead (see [`worker`]).
pub fn go(pid: u64) {
    let pid = i32::try_from(pid).unwrap();
    // SAFETY (test): signals a worker this test started.
    assert_eq!(unsafe { libc::kill(pid, worker::GO) }, 0, "go to {pid}");
}

/// Waits until the file at `path` exists and its text satisfies `f`;
/// returns the text. Panics after 15 s.
pub fn wait_file(path: &Path, f: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if f(&text) {
                return text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{}: not as expected within 15 s: {:?}",
            path.display(),
            std::fs::read_to_string(path)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Index of the first event matching `f` in `events`.
pub fn position(events: &[Value], f: impl Fn(&Value) -> bool) -> usize {
    events
        .iter()
        .position(f)
        .unwrap_or_else(|| panic!("event not found in {events:#?}"))
}

/// The worker's first TCP listener address, from its `start` event.
pub fn tcp_addr(start: &Value) -> SocketAddr {
    start["fds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|fd| fd["type"] == "stream" && fd["addr"].is_string() && fd["family"] != "unix")
        .and_then(|fd| fd["addr"].as_str())
        .unwrap()
        .parse()
        .unwrap()
}

/// Asks whoever accepts on `addr`: `Some((generation, pid))`, `None` if the
/// connection failed or got no answer.
pub fn ask(addr: SocketAddr) -> Option<(u64, u64)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"?\n").ok()?;
    let mut line = String::new();
    std::io::BufReader::new(&mut s).read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Runs `start_server ARGS` to completion: (exit code, stdout, stderr).
pub fn run_to_end(starter: Starter, args: &[&str]) -> (i32, String, String) {
    let mut child = starter
        .command()
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let code = child.wait().unwrap().code().unwrap();
    (code, out, err)
}
