//! Hot deploy under the real Perl `start_server` (Debian package libserver-starter-perl).

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

/// The supervisor binary; the suite fails loudly rather than skip when it is missing.
fn start_server() -> Command {
    let path = "/usr/bin/start_server";
    assert!(
        std::path::Path::new(path).exists(),
        "{path} is missing: install libserver-starter-perl (scripts/test does)"
    );
    Command::new(path)
}

/// demo-app under Perl `start_server --port 127.0.0.1:0`, with generation 1 up.
pub struct Supervised {
    pub proc: Proc,
    pub addr: std::net::SocketAddr,
    pub generation: u64,
    pids: Vec<i32>,
    _dir: tempfile::TempDir,
}

impl Supervised {
    pub fn start(http_extra: &str) -> Supervised {
        let dir = tempfile::tempdir().unwrap();
        let config = config_file(dir.path(), http_extra);
        let mut cmd = start_server();
        cmd.args(["--port", "127.0.0.1:0", "--", DEMO, "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .env_remove("SERVER_STARTER_PORT")
            .env_remove("SERVER_STARTER_GENERATION");
        let proc = Proc::spawn(cmd);
        let addr = proc.listening_addr();
        let who = get_ok(addr, "/whoami", Duration::from_secs(10)).json();
        assert_eq!(who["generation"], 1);
        Supervised {
            proc,
            addr,
            generation: 1,
            pids: vec![who["pid"].as_i64().unwrap() as i32],
            _dir: dir,
        }
    }

    pub fn signal(&self, sig: i32) {
        self.proc.signal(sig);
    }

    pub fn current_pid(&self) -> i32 {
        *self.pids.last().unwrap()
    }

    /// Sends HUP and waits until `/whoami` answers from `generation`.
    pub fn hup_and_wait_for(&mut self, generation: u64) {
        self.signal(libc::SIGHUP);
        self.wait_for_generation(generation);
    }

    /// Waits until `/whoami` answers from `generation`.
    pub fn wait_for_generation(&mut self, generation: u64) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let who = get_ok(self.addr, "/whoami", Duration::from_secs(5)).json();
            if who["generation"] == generation {
                self.pids.push(who["pid"].as_i64().unwrap() as i32);
                self.generation = generation;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "generation {generation} never answered"
            );
            thread::sleep(Duration::from_millis(20));
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
        // Perl start_server 0.35 can lose a signal that arrives while it
        // re-enters wait() after reaping a worker (`_wait3` clears
        // `$sighandler_got_sig` before blocking), so TERM is repeated until it
        // says it received it. Its workers get TERM once either way.
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
                break;
            }
            eprintln!("start_server lost a TERM; sending it again");
        }
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
fn old_worker_died(line: &str, pid: i32) -> Option<i32> {
    let rest = line.strip_prefix(&format!("old worker {pid} died, status:"))?;
    rest.trim().parse().ok()
}

#[test]
fn hup_hands_over_to_generation_2_while_generation_1_finishes() {
    let mut sup = Supervised::start("shutdown_timeout = \"30s\"");
    let addr = sup.addr;
    let gen1 = get(addr, "/whoami").unwrap().json();
    assert_eq!(
        (gen1["generation"].as_u64(), gen1["server"].as_str()),
        (Some(1), Some("actix"))
    );
    let pid1 = sup.current_pid();

    let slow = thread::spawn(move || {
        let r = get(addr, "/sleep?ms=3000");
        (r, Instant::now())
    });
    thread::sleep(Duration::from_millis(300));
    // New requests reach generation 2 once start_server has started it.
    sup.hup_and_wait_for(2);
    let pid2 = sup.current_pid();
    assert_ne!(pid1, pid2);

    let (slow, done_at) = slow.join().unwrap();
    let slow = slow.expect("the in-flight request is answered");
    assert_eq!(slow.status, 200, "in-flight request across HUP");
    assert_eq!(slow.text(), "slept 3000 ms\n");

    let status = sup
        .proc
        .stderr
        .wait_for(Duration::from_secs(10), |l| old_worker_died(l, pid1))
        .unwrap_or_else(|| panic!("generation 1 did not exit\n{}", sup.proc.stderr.text()));
    assert_eq!(status, 0, "generation 1 exits 0 after a graceful drain");
    assert!(!alive(pid1));
    eprintln!(
        "generation 1 exit noticed by the test {:?} after its last response",
        done_at.elapsed()
    );
    // Still generation 2, and the listening socket never went away.
    assert_eq!(get(addr, "/whoami").unwrap().json()["generation"], 2);

    sup.stop();
    let log = sup.proc.stderr.text();
    assert!(
        log.contains(&format!("pid {pid2} gen 2: stopped gracefully")),
        "{log}"
    );
}
