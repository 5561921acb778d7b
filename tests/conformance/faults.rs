//! Faults during a hot deploy, under each real start_server (Perl's and
//! ours): a new generation that exits 1 or panics at start-up while clients
//! keep sending, an old generation killed in the middle of its drain, and a
//! TERM to the supervisor while a generation drains.

use std::path::Path;
use std::thread;
use std::time::Duration;

use crate::app::in_flight;
use crate::support::supervisor::{old_worker_died, Starter, Supervised};
use crate::support::*;
use crate::zero_failure::{supervised, supervised_with, Load};
use crate::Adapter;

/// Replaces the file at `path` in one step (a rename), so that a generation
/// Perl's start_server retries meanwhile never reads it half written.
fn replace(path: &Path, text: &str) {
    let next = path.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, path).unwrap();
}

/// How the new generation fails.
#[derive(Clone, Copy, Debug)]
enum Failure {
    /// Its config file is broken: one error line, exit 1.
    ExitsOne,
    /// It panics before serving (exit 101).
    Panics,
}

/// A new generation that cannot start while 8 clients keep sending: no
/// request fails, generation 1 keeps serving, and the supervisor reports the
/// failed start with its exit status. Both supervisors retry the deploy
/// every `--interval` until the fault is fixed.
fn failed_deploy_under_load(adapter: &Adapter, starter: Starter, failure: Failure) {
    let flags = tempfile::tempdir().unwrap();
    let panic_flag = flags.path().join("panic");
    // Perl's start_server takes a generation that is still alive after
    // `--interval` for a good one. On a loaded machine a failing start (a
    // panic printing its backtrace) can take longer than the default 1 s;
    // ours waits for READY=1 instead, so the interval does not matter to it.
    let options: &[&str] = match starter {
        Starter::Perl => &["--interval", "5"],
        Starter::Ours => &[],
    };
    let (mut sup, dir) = supervised_with(
        adapter,
        starter,
        options,
        "shutdown_timeout = \"30s\"",
        &[(crate::app::PANIC_IF, &panic_flag)],
    );
    let config = dir.path().join("app.toml");
    let addr = sup.addr;
    let pid1 = sup.current_pid();
    let load = Load::start(addr, 8, Duration::ZERO);
    load.wait_requests(100);
    let good = std::fs::read_to_string(&config).unwrap();
    let raw_status = match failure {
        Failure::ExitsOne => {
            replace(&config, "this is [not toml");
            1 << 8
        }
        Failure::Panics => {
            std::fs::write(&panic_flag, "").unwrap();
            101 << 8
        }
    };
    let mark = sup.proc.stderr.mark();
    sup.signal(libc::SIGHUP);
    let failed = format!("seems to have failed to start, exit status:{raw_status}");
    sup.proc
        .stderr
        .wait_for_after(mark, Duration::from_secs(10), |l| {
            l.contains(&failed).then_some(())
        })
        .unwrap_or_else(|| panic!("{failed:?} never logged\n{}", sup.proc.stderr.text()));
    if starter == Starter::Ours {
        let kept = format!("failed to start; generation 1 (pid {pid1}) keeps serving");
        sup.proc
            .stderr
            .wait_for_after(mark, Duration::from_secs(5), |l| {
                l.contains(&kept).then_some(())
            })
            .unwrap_or_else(|| panic!("{kept}\n{}", sup.proc.stderr.text()));
    }
    // Load goes on against generation 1 for a while after the failure.
    load.wait_requests(500);
    let who = get(addr, "/whoami").unwrap().json();
    assert_eq!(
        (who["generation"].as_u64(), who["pid"].as_i64()),
        (Some(1), Some(pid1 as i64))
    );
    assert!(alive(pid1));

    let fixed = sup.proc.stderr.mark();
    replace(&config, &good);
    let _ = std::fs::remove_file(&panic_flag);
    // The next retry succeeds: a retry already started with the bad input
    // fails first, and each of Perl's takes `--interval`, so on a busy
    // machine this can take a while.
    let old = format!("pid {pid1} ");
    sup.proc
        .stderr
        .wait_for_after(fixed, Duration::from_secs(60), |l| {
            (l.contains(": ready: ") && !l.contains(&old)).then_some(())
        })
        .unwrap_or_else(|| panic!("no retry succeeded\n{}", sup.proc.stderr.text()));
    let who = sup.wait_for_newer();
    assert!(who["generation"].as_u64().unwrap() > 2, "{who}");
    let tally = load.finish();
    eprintln!("{failure:?}: {tally:?}");
    tally.assert_no_failures();
    assert!(tally.ok > 100, "load actually ran: {tally:?}");
    sup.stop();
}

pub fn a_deploy_that_exits_1_under_load_fails_no_request(adapter: &Adapter, starter: Starter) {
    failed_deploy_under_load(adapter, starter, Failure::ExitsOne);
}

pub fn a_deploy_that_panics_at_start_up_under_load_fails_no_request(
    adapter: &Adapter,
    starter: Starter,
) {
    failed_deploy_under_load(adapter, starter, Failure::Panics);
}

/// Deploys generation 2 while generation 1 is answering `/sleep?ms=60000`,
/// and waits until generation 1 is draining; returns the in-flight request.
fn deploy_with_generation_1_draining(
    sup: &mut Supervised,
) -> thread::JoinHandle<std::io::Result<Resp>> {
    let pid1 = sup.current_pid();
    let slow = in_flight(&sup.proc.stderr, sup.addr, 60_000);
    sup.hup_and_wait_for(2);
    sup.proc
        .stderr
        .wait_for(Duration::from_secs(10), |l| {
            l.contains(&format!("pid {pid1} gen 1: drain 2/4"))
                .then_some(())
        })
        .unwrap_or_else(|| panic!("generation 1 drains\n{}", sup.proc.stderr.text()));
    slow
}

/// Waits (bounded) until `pid` is reaped: not even a zombie left.
fn assert_reaped(pid: i32, what: &str) {
    wait_until(
        Duration::from_secs(10),
        &format!("{what} {pid} is reaped"),
        || reaped(pid),
    );
}

pub fn an_old_generation_killed_mid_drain_is_reaped_and_serving_goes_on(
    adapter: &Adapter,
    starter: Starter,
) {
    let (mut sup, _dir) = supervised(adapter, starter, "shutdown_timeout = \"60s\"", &[]);
    let pid1 = sup.current_pid();
    let slow = deploy_with_generation_1_draining(&mut sup);
    let load = Load::start(sup.addr, 4, Duration::ZERO);
    load.wait_requests(50);

    // SAFETY: kill(2) on a child of the supervisor this test started.
    assert_eq!(unsafe { libc::kill(pid1, libc::SIGKILL) }, 0);
    let status = sup
        .proc
        .stderr
        .wait_for(Duration::from_secs(10), |l| old_worker_died(l, pid1))
        .unwrap_or_else(|| panic!("the kill went unnoticed\n{}", sup.proc.stderr.text()));
    assert_eq!(status, libc::SIGKILL, "raw wait status: killed by KILL");
    assert_reaped(pid1, "the killed generation");
    // Its in-flight request is lost with it; nothing else is.
    assert!(
        slow.join().unwrap().is_err(),
        "the request generation 1 was serving dies with it"
    );
    // Serving goes on after the kill.
    load.wait_requests(100);
    let tally = load.finish();
    eprintln!("kill mid-drain: {tally:?}");
    tally.assert_no_failures();
    assert!(tally.ok > 50, "load actually ran: {tally:?}");
    assert_eq!(get(sup.addr, "/whoami").unwrap().json()["generation"], 2);
    sup.forget(pid1);
    sup.stop();
}

pub fn term_to_the_supervisor_while_a_generation_drains_ends_within_its_deadline(
    adapter: &Adapter,
    starter: Starter,
) {
    // The drain deadline is the bound: generation 1 is forced to stop 2 s
    // after it was told to, whatever it is still serving. A repeated TERM
    // (Perl sends one to every worker on TERM) is ignored, so only the
    // deadline can end the drain.
    let (mut sup, _dir) = supervised(
        adapter,
        starter,
        "shutdown_timeout = \"2s\"\nrepeat_signal = \"ignore\"",
        &[],
    );
    let pid1 = sup.current_pid();
    let slow = deploy_with_generation_1_draining(&mut sup);
    let pids = sup.pids().to_vec();
    sup.term();
    // Bounded by the 2 s deadline, not by the 60 s request.
    let code = sup.proc.exit_code(Duration::from_secs(20));
    let log = sup.proc.stderr.text();
    assert_eq!(code, 0, "{log}");
    for pid in pids {
        assert_reaped(pid, "generation");
        assert!(
            log.contains(&format!("worker {pid} died, status:")),
            "the supervisor waited for {pid}\n{log}"
        );
    }
    assert!(
        log.contains(&format!("worker {pid1} died, status:768")),
        "generation 1 forced by the deadline (exit 3)\n{log}"
    );
    let slow = slow.join().unwrap();
    assert!(
        slow.as_ref().map_or(true, |r| r.status != 200),
        "the 60 s request was cut by the deadline: {slow:?}"
    );
}
