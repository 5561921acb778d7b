//! A server under a real start_server: Perl's (Debian package
//! libserver-starter-perl) or ours (the `handover-supervisor` crate).

use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// Which start_server runs the server; hot-deploy cases run under each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Starter {
    /// Perl Server::Starter 0.35, `/usr/bin/start_server`.
    Perl,
    /// Ours, `target/<profile>/start_server`.
    Ours,
}

impl Starter {
    /// Both, in the order the hot-deploy cases run them.
    pub const ALL: [Starter; 2] = [Starter::Perl, Starter::Ours];

    /// The supervisor binary; the suite fails loudly rather than skip when it is missing.
    pub fn command(self) -> Command {
        let (path, fix) = match self {
            Starter::Perl => (
                PathBuf::from("/usr/bin/start_server"),
                "install libserver-starter-perl (scripts/test does)",
            ),
            Starter::Ours => (
                ours(),
                "build it with `cargo build -p handover-supervisor` (`cargo test --workspace` does)",
            ),
        };
        assert!(path.exists(), "{} is missing: {fix}", path.display());
        Command::new(path)
    }
}

/// Our start_server, built in the same target directory as this test binary
/// (`target/debug/deps/TEST` -> `target/debug/start_server`).
pub fn ours() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir.join("start_server")
}

/// A server under `start_server --port 127.0.0.1:0`, with generation 1 up.
/// The server must answer `GET /whoami` with its `pid` and `generation`.
pub struct Supervised {
    /// Which supervisor.
    pub starter: Starter,
    /// The supervisor process.
    pub proc: Proc,
    /// The address it listens on.
    pub addr: std::net::SocketAddr,
    /// The newest generation seen serving.
    pub generation: u64,
    pids: Vec<i32>,
    probe: Probe,
}

/// How the test asks the server for `/whoami`: plain HTTP by default.
pub type Probe = std::sync::Arc<dyn Fn(SocketAddr, &str) -> io::Result<Resp> + Send + Sync>;

impl Supervised {
    /// Runs `app` (its program, arguments and environment) under `starter`.
    pub fn start(starter: Starter, app: &Command) -> Supervised {
        Supervised::start_with(starter, &[], app)
    }

    /// Like [`Supervised::start`], with extra supervisor options.
    pub fn start_with(starter: Starter, options: &[&str], app: &Command) -> Supervised {
        Supervised::start_probed(starter, options, app, std::sync::Arc::new(get))
    }

    /// Like [`Supervised::start_with`], asking `/whoami` through `probe` (for TLS, say).
    pub fn start_probed(
        starter: Starter,
        options: &[&str],
        app: &Command,
        probe: Probe,
    ) -> Supervised {
        let mut cmd = starter.command();
        cmd.args(["--port", "127.0.0.1:0"]).args(options).arg("--");
        wrap(&mut cmd, app);
        cmd.env_remove("SERVER_STARTER_PORT")
            .env_remove("SERVER_STARTER_GENERATION")
            .env_remove("NOTIFY_SOCKET");
        let proc = Proc::spawn(cmd);
        let addr = proc.listening_addr();
        let who = ok_within(Duration::from_secs(10), "/whoami", || {
            probe(addr, "/whoami")
        })
        .json();
        assert_eq!(who["generation"], 1);
        Supervised {
            starter,
            proc,
            addr,
            generation: 1,
            pids: vec![who["pid"].as_i64().unwrap() as i32],
            probe,
        }
    }

    /// Sends `sig` to the supervisor.
    pub fn signal(&self, sig: i32) {
        self.proc.signal(sig);
    }

    /// Leaves `pid` out of [`Supervised::stop`]'s checks (a generation the
    /// test killed, say).
    pub fn forget(&mut self, pid: i32) {
        self.pids.retain(|p| *p != pid);
    }

    /// Every generation's pid seen so far, oldest first.
    pub fn pids(&self) -> &[i32] {
        &self.pids
    }

    /// The pid of the generation serving now (per `/whoami`).
    pub fn current_pid(&self) -> i32 {
        *self.pids.last().unwrap()
    }

    /// Sends HUP, waits until `/whoami` answers from `generation` and the
    /// generation before it has exited, and asserts it exited 0 (drained).
    pub fn hand_over(&mut self, generation: u64) {
        let old = self.current_pid();
        self.hup_and_wait_for(generation);
        let status = self
            .proc
            .stderr
            .wait_for(Duration::from_secs(30), |l| old_worker_died(l, old))
            .unwrap_or_else(|| panic!("generation {} did not exit", generation - 1));
        assert_eq!(status, 0, "generation {} drained", generation - 1);
    }

    /// Sends HUP and waits until `/whoami` answers from `generation`; returns that answer.
    /// (The old generation may still answer other requests until it is told to stop.)
    pub fn hup_and_wait_for(&mut self, generation: u64) -> serde_json::Value {
        self.signal(libc::SIGHUP);
        self.wait_for_generation(generation)
    }

    /// Waits until `/whoami` answers from `generation`; returns that answer.
    pub fn wait_for_generation(&mut self, generation: u64) -> serde_json::Value {
        self.wait_for(|g| g == generation, &format!("generation {generation}"))
    }

    /// Waits until `/whoami` answers from a generation after the current one
    /// (Perl's start_server may have used up numbers on failed attempts).
    pub fn wait_for_newer(&mut self) -> serde_json::Value {
        let current = self.generation;
        self.wait_for(|g| g > current, &format!("a generation after {current}"))
    }

    fn wait_for(&mut self, wanted: impl Fn(u64) -> bool, what: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (probe, addr) = (&self.probe, self.addr);
            let who =
                ok_within(Duration::from_secs(5), "/whoami", || probe(addr, "/whoami")).json();
            let generation = who["generation"].as_u64().unwrap();
            if wanted(generation) {
                self.pids.push(who["pid"].as_i64().unwrap() as i32);
                self.generation = generation;
                return who;
            }
            assert!(Instant::now() < deadline, "{what} never answered");
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends TERM to the supervisor until it says it received it.
    ///
    /// Perl start_server 0.35 can lose a signal that arrives while it
    /// re-enters wait() after reaping a worker (`_wait3` clears
    /// `$sighandler_got_sig` before blocking), so TERM is repeated (up to 5
    /// times, 2 s apart). Its workers get TERM once either way.
    pub fn term(&self) {
        let mark = self.proc.stderr.mark();
        for _ in 0..5 {
            self.signal(libc::SIGTERM);
            let acted = self
                .proc
                .stderr
                .wait_for_after(mark, Duration::from_secs(2), |l| {
                    l.starts_with("received TERM").then_some(())
                });
            if acted.is_some() {
                return;
            }
            eprintln!("start_server lost a TERM; sending it again");
        }
    }

    /// Waits for every old generation to finish its drain, then sends TERM to
    /// the supervisor; every generation exits 0 and the supervisor too.
    pub fn stop(&mut self) {
        let current = self.current_pid();
        let deadline = Instant::now() + Duration::from_secs(15);
        for pid in self.pids.iter().filter(|p| **p != current) {
            while alive(*pid) {
                assert!(
                    Instant::now() < deadline,
                    "old generation {pid} never exited"
                );
                thread::sleep(Duration::from_millis(10));
            }
        }
        self.term();
        assert_eq!(self.proc.exit_code(Duration::from_secs(20)), 0);
        let log = self.proc.stderr.text();
        for pid in &self.pids {
            assert!(!alive(*pid), "pid {pid} still alive");
            let line = log
                .lines()
                .find(|l| l.contains(&format!("worker {pid} died, status:")));
            let status = line.and_then(|l| l.rsplit(':').next()).map(str::trim);
            assert_eq!(status, Some("0"), "pid {pid} exit status\n{log}");
        }
    }
}

/// Parses `old worker PID died, status:N` from start_server's log.
pub fn old_worker_died(line: &str, pid: i32) -> Option<i32> {
    let rest = line.strip_prefix(&format!("old worker {pid} died, status:"))?;
    rest.trim().parse().ok()
}
