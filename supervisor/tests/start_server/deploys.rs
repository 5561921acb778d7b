//! Deploys under our start_server: readiness, failures, queued HUPs, crashes,
//! notifications to systemd, signals during a delay.

use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::*;

#[test]
fn the_old_generation_is_signalled_only_after_the_new_one_is_ready() {
    // Generation 2 needs 1.5 s, far beyond --interval: Perl would retire
    // generation 1 after 0.2 s (whatever its state); ours waits for READY=1.
    let run = ours(
        &["--port", "127.0.0.1:0", "--interval", "0.2"],
        &[("WORKER_SLOW_GEN", "2"), ("WORKER_SLOW_MS", "1500")],
    );
    let pid1 = run.started(1)["pid"].as_u64().unwrap();
    run.line(&format!("new worker {pid1} sent READY=1"));
    run.proc.signal(libc::SIGHUP);
    run.ready(2);
    run.wait_event("gen 1 TERM", |e| e["event"] == "signal" && e["pid"] == pid1);
    let events = run.events();
    let ready2 = position(&events, |e| e["event"] == "ready" && e["gen"] == 2);
    let term1 = position(&events, |e| e["event"] == "signal" && e["pid"] == pid1);
    assert!(ready2 < term1, "{events:#?}");
    run.stop();
}

#[test]
fn a_generation_that_never_becomes_ready_under_load_fails_no_connection() {
    let run = ours(
        &[
            "--port",
            "127.0.0.1:0",
            "--ready-timeout",
            "1.5",
            "--no-retry-failed-deploy",
        ],
        &[("WORKER_NO_READY_GEN", "2")],
    );
    let start = run.started(1);
    let (addr, pid1) = (tcp_addr(&start), start["pid"].as_u64().unwrap());
    run.line(&format!("new worker {pid1} sent READY=1"));
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let (mut ok, mut failed) = (0, 0);
                while !stop.load(Ordering::SeqCst) {
                    match ask(addr) {
                        Some(_) => {
                            ok += 1;
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        None => failed += 1,
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let load = |n: usize| {
        let from = answered.load(Ordering::SeqCst);
        support::wait_until(
            Duration::from_secs(15),
            &format!("{n} more answers"),
            || answered.load(Ordering::SeqCst) >= from + n,
        );
    };
    // The load runs before the deploy, and goes on after the failure.
    load(50);
    run.proc.signal(libc::SIGHUP);
    let pid2 = run.started(2)["pid"].as_u64().unwrap();
    run.line(&format!(
        "generation 2 failed to start; generation 1 (pid {pid1}) keeps serving"
    ));
    run.wait_event("gen 2 exit", |e| e["event"] == "exit" && e["pid"] == pid2);
    load(100);
    stop.store(true, Ordering::SeqCst);
    let (ok, failed) = clients
        .into_iter()
        .map(|c| c.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    eprintln!("{ok} answered, {failed} failed");
    assert_eq!(failed, 0);
    assert!(ok > 100, "load ran: {ok}");
    assert_eq!(ask(addr), Some((1, pid1)));
    assert!(run.signals_of(pid1).is_empty());
    run.stop();
}

#[test]
fn a_hup_during_a_deploy_is_queued_and_nobody_is_signalled_twice() {
    let run = ours(
        &["--port", "127.0.0.1:0"],
        &[("WORKER_HOLD_GEN", "2"), ("WORKER_GRACE_MS", "500")],
    );
    let start = run.started(1);
    let (addr, pid1) = (tcp_addr(&start), start["pid"].as_u64().unwrap());
    run.line(&format!("new worker {pid1} sent READY=1"));
    run.proc.signal(libc::SIGHUP);
    let pid2 = run.started(2)["pid"].as_u64().unwrap();
    run.proc.signal(libc::SIGHUP);
    run.line("generation 2 is still starting; the new one starts when it is done");
    // Generation 2 becomes ready only now.
    go(pid2);
    let pid3 = run.started(3)["pid"].as_u64().unwrap();
    run.ready(3);
    run.wait_event("gen 2 exit", |e| e["event"] == "exit" && e["pid"] == pid2);
    run.wait_event("gen 1 exit", |e| e["event"] == "exit" && e["pid"] == pid1);
    let events = run.events();
    let ready2 = position(&events, |e| e["event"] == "ready" && e["gen"] == 2);
    let start3 = position(&events, |e| e["event"] == "start" && e["gen"] == 3);
    assert!(
        ready2 < start3,
        "generation 3 starts once 2 is ready: {events:#?}"
    );
    assert_eq!(
        run.signals_of(pid1),
        ["TERM"],
        "once (Perl sends it again on every HUP)"
    );
    assert_eq!(run.signals_of(pid2), ["TERM"]);
    assert_eq!(ask(addr), Some((3, pid3)));
    run.stop();
}

#[test]
fn a_crashed_worker_is_replaced() {
    let run = ours(&["--port", "127.0.0.1:0"], &[("WORKER_CRASH_GEN", "1")]);
    let pid1 = run.started(1)["pid"].as_u64().unwrap();
    // It crashes once it serves.
    run.line(&format!("new worker {pid1} sent READY=1"));
    go(pid1);
    run.line(&format!(
        "worker {pid1} died unexpectedly with status:1792, restarting"
    ));
    let start = run.started(2);
    run.ready(2);
    assert_eq!(ask(tcp_addr(&start)).map(|(g, _)| g), Some(2));
    run.stop();
}

#[test]
fn with_nothing_serving_failed_starts_are_retried_with_back_off() {
    let run = ours(&["--port", "127.0.0.1:0"], &[("WORKER_FAIL_GEN", "1,2")]);
    run.line("no generation is serving; starting another in 1 secs");
    run.line("no generation is serving; starting another in 2 secs");
    let start = run.started(3);
    run.ready(3);
    assert_eq!(ask(tcp_addr(&start)).map(|(g, _)| g), Some(3));
    run.stop();
}

#[test]
fn under_systemd_it_notifies_ready_status_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let systemd = UnixDatagram::bind(&path).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let run = ours(
        &["--port", "127.0.0.1:0"],
        &[("NOTIFY_SOCKET", path.to_str().unwrap())],
    );
    let start = run.started(1);
    let pid1 = start["pid"].as_u64().unwrap();
    // The worker got its own socket, not ours.
    assert_ne!(start["env"]["NOTIFY_SOCKET"], path.to_str().unwrap());
    let mut buf = [0u8; 512];
    let n = systemd.recv(&mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        format!("READY=1\nSTATUS=generation 1 (pid {pid1}) serving")
    );
    run.proc.signal(libc::SIGHUP);
    let pid2 = run.started(2)["pid"].as_u64().unwrap();
    let n = systemd.recv(&mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        format!("STATUS=generation 2 (pid {pid2}) serving")
    );
    let _run = run.stop();
    let n = systemd.recv(&mut buf).unwrap();
    assert_eq!(String::from_utf8_lossy(&buf[..n]), "STOPPING=1");
}

#[test]
fn term_during_kill_old_delay_is_acted_on_at_once() {
    let mut run = ours(&["--port", "127.0.0.1:0", "--kill-old-delay", "60"], &[]);
    let pid1 = run.started(1)["pid"].as_u64().unwrap();
    run.proc.signal(libc::SIGHUP);
    let pid2 = run.started(2)["pid"].as_u64().unwrap();
    run.line("sleeping 60 secs before killing old workers");
    run.proc.signal(libc::SIGTERM);
    // Perl finishes the 60 s sleep first.
    assert_eq!(run.proc.exit_code(Duration::from_secs(10)), 0);
    assert_eq!(run.signals_of(pid1), ["TERM"]);
    assert_eq!(run.signals_of(pid2), ["TERM"]);
}
