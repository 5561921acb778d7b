//! Zero failed requests across hot restarts, under each real start_server
//! (Perl's and ours): every case here runs once per [`Starter`].

use std::path::Path;
use std::time::{Duration, Instant};

use crate::app::in_flight;
pub(crate) use crate::support::load::Load;
use crate::support::supervisor::{old_worker_died, Starter, Supervised};
use crate::support::*;
use crate::Adapter;

/// The app on `adapter` under `starter`, with extra `[http]` settings and
/// `env` added; the directory holds its config.
pub(crate) fn supervised(
    adapter: &Adapter,
    starter: Starter,
    http_extra: &str,
    env: &[(&str, &Path)],
) -> (Supervised, tempfile::TempDir) {
    supervised_with(adapter, starter, &[], http_extra, env)
}

/// Like [`supervised`], with extra supervisor `options`.
pub(crate) fn supervised_with(
    adapter: &Adapter,
    starter: Starter,
    options: &[&str],
    http_extra: &str,
    env: &[(&str, &Path)],
) -> (Supervised, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(dir.path(), http_extra);
    let mut app = adapter.with_config(&config);
    for (key, value) in env {
        app.env(key, value);
    }
    (Supervised::start_with(starter, options, &app), dir)
}

pub fn hup_hands_over_while_generation_1_finishes(adapter: &Adapter, starter: Starter) {
    let (mut sup, _dir) = supervised(adapter, starter, "shutdown_timeout = \"30s\"", &[]);
    let addr = sup.addr;
    let gen1 = get(addr, "/whoami").unwrap().json();
    assert_eq!(
        (gen1["generation"].as_u64(), gen1["server"].as_str()),
        (Some(1), Some(adapter.name))
    );
    let pid1 = sup.current_pid();

    let slow = in_flight(&sup.proc.stderr, addr, 3000);
    // New requests reach generation 2 once start_server has started it.
    sup.hup_and_wait_for(2);
    let pid2 = sup.current_pid();
    assert_ne!(pid1, pid2);

    let slow = slow.join().unwrap();
    let done_at = Instant::now();
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

/// Two deploys in quick succession while generation 1 still has a request
/// in flight: Perl's start_server sends TERM again to every old worker at
/// the second deploy; by default (`repeat_signal = "auto"`) a worker whose
/// listeners came from Server::Starter logs it and keeps draining, so the
/// request is answered and generation 1 exits 0. Ours signals each worker
/// once.
pub fn back_to_back_deploys_let_a_draining_generation_finish(adapter: &Adapter, starter: Starter) {
    let (mut sup, _dir) = supervised(adapter, starter, "shutdown_timeout = \"30s\"", &[]);
    let addr = sup.addr;
    let pid1 = sup.current_pid();
    let slow = in_flight(&sup.proc.stderr, addr, 3000);
    sup.hup_and_wait_for(2);
    // Generation 1 is draining: its request is still in its handler.
    let draining = format!("pid {pid1} gen 1: drain 3/4");
    sup.proc
        .stderr
        .wait_for(Duration::from_secs(10), |l| {
            l.contains(&draining).then_some(())
        })
        .expect("generation 1 drains");
    sup.hup_and_wait_for(3);
    if starter == Starter::Perl {
        // The second TERM reached generation 1 while it drained.
        let ignored = format!("pid {pid1} gen 1: SIGTERM during drain ignored");
        sup.proc
            .stderr
            .wait_for(Duration::from_secs(10), |l| {
                l.contains(&ignored).then_some(())
            })
            .unwrap_or_else(|| panic!("no second TERM logged\n{}", sup.proc.stderr.text()));
    }
    let slow = slow
        .join()
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(slow.status, 200, "in-flight request across two deploys");
    let status = sup
        .proc
        .stderr
        .wait_for(Duration::from_secs(10), |l| old_worker_died(l, pid1))
        .unwrap_or_else(|| panic!("generation 1 did not exit\n{}", sup.proc.stderr.text()));
    assert_eq!(status, 0, "generation 1 drained to the end");
    sup.stop();
}

/// Runs `clients` keep-alive clients, each sending `GET /` every `period`
/// (back to back when zero), while `hups` HUPs are sent; after each hand-over
/// the clients make `gap` requests (in all) before the next HUP.
fn load_across_hups(
    adapter: &Adapter,
    starter: Starter,
    clients: usize,
    period: Duration,
    hups: usize,
    gap: u64,
) -> (Tally, Supervised, tempfile::TempDir) {
    let (mut sup, dir) = supervised(
        adapter,
        starter,
        "shutdown_timeout = \"30s\"\ndrain_linger = \"2s\"",
        &[],
    );
    let load = Load::start(sup.addr, clients, period);
    load.wait_requests(gap);
    for generation in 2..2 + hups as u64 {
        sup.hup_and_wait_for(generation);
        load.wait_requests(gap);
    }
    (load.finish(), sup, dir)
}

pub fn dense_keep_alive_load_across_5_hups_has_no_failures(adapter: &Adapter, starter: Starter) {
    let (tally, mut sup, _dir) = load_across_hups(adapter, starter, 16, Duration::ZERO, 5, 400);
    eprintln!("dense: {tally:?}");
    tally.assert_no_failures();
    assert!(tally.ok > 1000, "load actually ran: {tally:?}");
    assert!(
        tally.closed_by_server >= 16,
        "old connections were retired with Connection: close"
    );
    sup.stop();
}

pub fn sparse_keep_alive_clients_across_5_hups_are_closed_by_a_response(
    adapter: &Adapter,
    starter: Starter,
) {
    // 32 clients at 5 requests per second each: 128 requests is ~800 ms.
    let (tally, mut sup, _dir) =
        load_across_hups(adapter, starter, 32, Duration::from_millis(200), 5, 128);
    eprintln!("sparse: {tally:?}");
    tally.assert_no_failures();
    // The client never closes a connection itself, so with no failures every
    // connection that ended was ended by a response saying Connection: close;
    // at least the 32 connections to generation 1 had to end.
    assert!(tally.closed_by_server >= 32, "{tally:?}");
    sup.stop();
}

pub fn a_post_body_in_flight_across_hup_arrives_intact(adapter: &Adapter, starter: Starter) {
    use std::io::{Read, Write};
    let (mut sup, _dir) = supervised(
        adapter,
        starter,
        "shutdown_timeout = \"30s\"\ndrain_linger = \"2s\"",
        &[],
    );
    let body: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut s = std::net::TcpStream::connect(sup.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body[..1000]).unwrap();
    // Generation 1 has the connection (its head is read within the linger).
    wait_accepted(sup.addr);
    let old = sup.current_pid();
    sup.signal(libc::SIGHUP);
    // Send the rest only once the old generation has been told to stop.
    sup.proc
        .stderr
        .wait_for(Duration::from_secs(10), |l| {
            l.contains(&format!("pid {old} gen 1: drain 2/4"))
                .then_some(())
        })
        .expect("generation 1 drains");
    s.write_all(&body[1000..]).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(&raw[end..], &body[..], "echoed body intact");
    sup.wait_for_generation(2);
    sup.stop();
}
