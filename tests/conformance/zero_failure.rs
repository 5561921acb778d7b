//! Zero failed requests across hot restarts, under each real start_server
//! (Perl's and ours): every case here runs once per [`Starter`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

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
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(dir.path(), http_extra);
    let mut app = adapter.with_config(&config);
    for (key, value) in env {
        app.env(key, value);
    }
    (Supervised::start(starter, &app), dir)
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

/// Runs `clients` keep-alive clients, each sending `GET /` every `period`
/// (back to back when zero), while `hups` HUPs are sent `gap` apart.
fn load_across_hups(
    adapter: &Adapter,
    starter: Starter,
    clients: usize,
    period: Duration,
    hups: usize,
    gap: Duration,
) -> (Tally, Supervised, tempfile::TempDir) {
    let (mut sup, dir) = supervised(
        adapter,
        starter,
        "shutdown_timeout = \"30s\"\ndrain_linger = \"2s\"",
        &[],
    );
    let addr = sup.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let workers = clients_until(addr, clients, period, &stop);
    thread::sleep(Duration::from_millis(500));
    for generation in 2..2 + hups as u64 {
        sup.hup_and_wait_for(generation);
        thread::sleep(gap);
    }
    (finish(&stop, workers), sup, dir)
}

/// `clients` keep-alive clients, each sending `GET /` every `period` (back
/// to back when zero) until `stop`.
pub(crate) fn clients_until(
    addr: SocketAddr,
    clients: usize,
    period: Duration,
    stop: &Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<Tally>> {
    (0..clients)
        .map(|_| {
            let stop = stop.clone();
            thread::spawn(move || client_loop(addr, period, &stop))
        })
        .collect()
}

/// Sets `stop` and adds up what the clients saw.
pub(crate) fn finish(stop: &AtomicBool, clients: Vec<thread::JoinHandle<Tally>>) -> Tally {
    stop.store(true, Ordering::SeqCst);
    let mut tally = Tally::default();
    for c in clients {
        tally.merge(c.join().unwrap());
    }
    tally
}

fn client_loop(addr: SocketAddr, period: Duration, stop: &AtomicBool) -> Tally {
    let mut client = KeepAlive::new(addr);
    let mut tally = Tally::default();
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        tally.add(client.request("GET", "/", b""));
        if let Some(rest) = period.checked_sub(started.elapsed()) {
            thread::sleep(rest);
        }
    }
    tally
}

pub fn dense_keep_alive_load_across_5_hups_has_no_failures(adapter: &Adapter, starter: Starter) {
    let (tally, mut sup, _dir) = load_across_hups(
        adapter,
        starter,
        16,
        Duration::ZERO,
        5,
        Duration::from_millis(800),
    );
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
    let (tally, mut sup, _dir) = load_across_hups(
        adapter,
        starter,
        32,
        Duration::from_millis(200),
        5,
        Duration::from_millis(800),
    );
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
    thread::sleep(Duration::from_millis(200));
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
