//! Zero failed requests across hot restarts under the real Perl `start_server`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::start_server::Supervised;
use crate::support::*;

/// Runs `clients` keep-alive clients, each sending `GET /` every `period`
/// (back to back when zero), while `hups` HUPs are sent `gap` apart.
fn load_across_hups(
    clients: usize,
    period: Duration,
    hups: usize,
    gap: Duration,
) -> (Tally, Supervised) {
    let mut sup = Supervised::start("shutdown_timeout = \"30s\"\ndrain_linger = \"2s\"");
    let addr = sup.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let stop = stop.clone();
            thread::spawn(move || client_loop(addr, period, &stop))
        })
        .collect();
    thread::sleep(Duration::from_millis(500));
    for generation in 2..2 + hups as u64 {
        sup.hup_and_wait_for(generation);
        thread::sleep(gap);
    }
    stop.store(true, Ordering::SeqCst);
    let mut tally = Tally::default();
    for w in workers {
        tally.merge(w.join().unwrap());
    }
    (tally, sup)
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

#[test]
fn dense_keep_alive_load_across_5_hups_has_no_failures() {
    let (tally, mut sup) = load_across_hups(16, Duration::ZERO, 5, Duration::from_millis(800));
    eprintln!("dense: {tally:?}");
    tally.assert_no_failures();
    assert!(tally.ok > 1000, "load actually ran: {tally:?}");
    assert!(
        tally.closed_by_server >= 16,
        "old connections were retired with Connection: close"
    );
    sup.stop();
}

#[test]
fn sparse_keep_alive_clients_across_5_hups_are_closed_by_a_response() {
    let (tally, mut sup) = load_across_hups(
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

#[test]
fn a_post_body_in_flight_across_hup_arrives_intact() {
    use std::io::{Read, Write};
    let mut sup = Supervised::start("shutdown_timeout = \"30s\"\ndrain_linger = \"2s\"");
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
