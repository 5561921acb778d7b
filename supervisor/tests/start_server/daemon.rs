//! `--daemonize`: the command returns once the supervisor runs in the
//! background, detached, and that supervisor serves, deploys and stops.

use std::path::Path;
use std::time::Duration;

use crate::support::supervisor::Starter;
use crate::support::{alive, Proc};
use crate::*;

/// Fields of `/proc/PID/stat` after the command name: 0 is the state (as
/// -1), 1 the parent, 2 the process group, 3 the session.
fn stat(pid: &str) -> Vec<i64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = text.rsplit_once(')').unwrap().1;
    rest.split_whitespace()
        .map(|f| f.parse().unwrap_or(-1))
        .collect()
}

/// Where fd `fd` of process `pid` points.
fn fd_target(pid: i32, fd: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
        .unwrap()
        .display()
        .to_string()
}

/// Kills the background supervisor's process group (it and its workers) if
/// the test ends before stopping it.
struct KillGroup {
    pid: i32,
    group: i32,
}

impl Drop for KillGroup {
    fn drop(&mut self) {
        if alive(self.pid) {
            // SAFETY (test): signals a process group this test started.
            unsafe { libc::kill(-self.group, libc::SIGKILL) };
        }
    }
}

fn client(args: &[&str], pid_file: &Path, status_file: &Path) -> (i32, String, String) {
    let mut all = args.to_vec();
    all.extend([
        "--pid-file",
        pid_file.to_str().unwrap(),
        "--status-file",
        status_file.to_str().unwrap(),
    ]);
    run_to_end(Starter::Ours, &all)
}

#[test]
fn daemonize_detaches_then_serves_deploys_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (cmd, log) = command(
        Starter::Ours,
        dir.path(),
        &[
            "--port",
            "127.0.0.1:0",
            "--daemonize",
            "--log-file",
            "{dir}/out.log",
            "--pid-file",
            "{dir}/pid",
            "--status-file",
            "{dir}/status",
        ],
        &[],
    );
    let mut run = Run {
        proc: Proc::spawn(cmd),
        dir,
        log,
    };
    let (pid_file, status_file) = (run.dir.path().join("pid"), run.dir.path().join("status"));
    let out_log = run.dir.path().join("out.log");
    // The command returns 0 once the background supervisor has written its
    // pid; the "starting now" line went to the command's stderr, as Perl's.
    assert_eq!(run.proc.exit_code(Duration::from_secs(20)), 0);
    assert!(run.proc.stderr.text().contains("starting now..."));
    let text = std::fs::read_to_string(&pid_file).unwrap();
    let daemon: i32 = text.trim().parse().unwrap();
    let fields = stat(&daemon.to_string());
    let _guard = KillGroup {
        pid: daemon,
        group: i32::try_from(fields[2]).unwrap(),
    };
    assert_ne!(daemon, run.proc.pid());
    assert!(alive(daemon));
    // A session of its own, of which it is not the leader (so it can never
    // get a controlling terminal); stdin /dev/null, stdout and stderr the log.
    assert_ne!(fields[3], stat("self")[3], "a new session");
    assert_ne!(fields[3], i64::from(daemon), "not the session leader");
    assert_eq!(fd_target(daemon, 0), "/dev/null");
    let log_path = out_log.canonicalize().unwrap().display().to_string();
    assert_eq!(fd_target(daemon, 1), log_path);
    assert_eq!(fd_target(daemon, 2), log_path);

    // It serves.
    let start = run.started(1);
    let (addr, pid1) = (tcp_addr(&start), start["pid"].as_u64().unwrap());
    wait_file(&out_log, |t| {
        t.contains(&format!("starting new worker {pid1}"))
    });
    wait_file(&status_file, |t| t == format!("1:{pid1}\n"));
    assert_eq!(ask(addr), Some((1, pid1)));

    // It deploys.
    let (code, out, err) = client(&["--restart"], &pid_file, &status_file);
    let pid2 = run.started(2)["pid"].as_u64().unwrap();
    assert_eq!(
        (code, out.trim()),
        (0, format!("generation 2 (pid {pid2}) took over").as_str()),
        "{err}"
    );
    assert_eq!(ask(addr), Some((2, pid2)));
    wait_file(&out_log, |t| {
        t.contains(&format!("old worker {pid1} died, status:0"))
    });

    // It stops: --stop returns once it has exited and removed its files.
    let (code, _, err) = run_to_end(
        Starter::Ours,
        &["--stop", "--pid-file", pid_file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    support::wait_until(
        Duration::from_secs(15),
        "the background supervisor exits",
        || !alive(daemon),
    );
    assert!(!pid_file.exists() && !status_file.exists());
    let text = wait_file(&out_log, |t| t.contains("exiting"));
    assert!(
        text.contains(&format!("worker {pid2} died, status:0")),
        "{text}"
    );
    run.wait_event("gen 2 exit", |e| e["event"] == "exit" && e["pid"] == pid2);
}

#[test]
fn daemonize_needs_log_file_and_reports_errors_in_the_foreground() {
    // Perl: "Usage: --log-file option must be specified together with
    // --deamonize", exit 255; ours: one line, exit 1.
    let (code, _, err) = run_to_end(Starter::Ours, &["--daemonize", "--", "true"]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "start_server: --log-file option must be specified together with --daemonize"
    );
    // A port in use is reported by the command itself, before detaching.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = format!("127.0.0.1:{}", busy.local_addr().unwrap().port());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out.log");
    let (code, _, err) = run_to_end(
        Starter::Ours,
        &[
            "--daemonize",
            "--log-file",
            log.to_str().unwrap(),
            "--port",
            &busy,
            "--",
            "true",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("start_server: --port ") && l.contains("Address already in use")),
        "{err}"
    );
}
