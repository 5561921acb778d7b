//! Behind a load balancer: a listener the process bound refuses connections
//! once accepting stops (retryable) instead of queueing them until the exit
//! resets them; an inherited one keeps queueing for the next generation; the
//! automatic lame duck lasts until the balancer stops sending work.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;
use crate::Adapter;

/// Waits for the drain's linger to begin (accepting has stopped).
fn wait_for_linger(app: &Proc, mark: usize) {
    app.stderr.expect_after(
        mark,
        "drain 3/4 linger",
        Duration::from_secs(20),
        "accepting stops",
    );
}

pub fn a_bound_listener_refuses_connections_once_accepting_stops(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(
        dir.path(),
        "port = 0\ndrain_delay = \"0s\"\ndrain_linger = \"20s\"",
    );
    let mut app = Proc::spawn(adapter.with_config(&config));
    let addr = app.listening_addr();
    // An idle keep-alive connection keeps the linger going.
    let mut kept = KeepAlive::new(addr);
    assert!(matches!(kept.request("GET", "/", b""), Outcome::Ok));
    let mark = app.stderr.mark();
    app.signal(libc::SIGTERM);
    wait_for_linger(&app, mark);
    match TcpStream::connect(addr) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}"),
        Ok(_) => panic!("a connection to a listener that stopped accepting was accepted"),
    }
    // The connection that was open is still answered, and retired.
    let next = kept.request("GET", "/", b"");
    assert!(matches!(next, Outcome::OkClosed), "{next:?}");
    assert_eq!(app.exit_code(Duration::from_secs(20)), 0);
}

pub fn an_inherited_listener_keeps_queueing_for_the_next_generation(adapter: &Adapter) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(dir.path(), "drain_delay = \"auto\"\ndrain_linger = \"20s\"");
    let mut cmd = adapter.with_config(&config);
    cmd.env("SERVER_STARTER_PORT", format!("{addr}=5"));
    pass_fd(&mut cmd, listener.as_raw_fd(), 5);
    let mut app = Proc::spawn(cmd);
    get_ok(addr, "/healthz", Duration::from_secs(10));
    let mut kept = KeepAlive::new(addr);
    assert!(matches!(kept.request("GET", "/", b""), Outcome::Ok));
    let mark = app.stderr.mark();
    app.signal(libc::SIGTERM);
    // A supervisor holds the socket: no lame duck (the next generation takes
    // new connections), and the socket keeps listening.
    app.stderr.expect_after(
        mark,
        "lame duck skipped",
        Duration::from_secs(20),
        "the automatic lame duck under a supervisor",
    );
    wait_for_linger(&app, mark);
    let _waiting = TcpStream::connect(addr).expect("queued, not refused");
    wait_until(Duration::from_secs(10), "the connection is queued", || {
        accept_queue(addr) == Some(1)
    });
    // The next generation (here the test, which holds the socket) takes it.
    listener.set_nonblocking(false).unwrap();
    let (_taken, _) = listener.accept().unwrap();
    assert!(matches!(kept.request("GET", "/", b""), Outcome::OkClosed));
    assert_eq!(app.exit_code(Duration::from_secs(20)), 0);
    assert!(still_listening(&listener));
}

/// A client that probes `/healthz` every 20 ms until told to stop; returns
/// the statuses it saw, in order.
fn prober(
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> thread::JoinHandle<Vec<u16>> {
    thread::spawn(move || {
        let mut seen = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            match get(addr, "/healthz") {
                Ok(r) => seen.push(r.status),
                Err(_) => break,
            }
            // The probe interval: the balancer's pace, not a wait.
            thread::sleep(Duration::from_millis(20));
        }
        seen
    })
}

pub fn the_automatic_lame_duck_lasts_until_the_balancer_stops_sending(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(
        dir.path(),
        "port = 0\ndrain_delay = \"auto\"\ndrain_delay_max = \"30s\"\ndrain_quiet = \"300ms\"\nhealth_path = \"/healthz\"\ndrain_linger = \"0s\"",
    );
    let mut app = Proc::spawn(adapter.with_config(&config));
    let addr = app.listening_addr();
    // The balancer checks health before the drain too.
    assert_eq!(get(addr, "/healthz").unwrap().status, 200);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probes = prober(addr, stop.clone());
    let mark = app.stderr.mark();
    app.signal(libc::SIGTERM);
    app.stderr.expect_after(
        mark,
        "drain 1/4 lame duck: still accepting until",
        Duration::from_secs(20),
        "the automatic lame duck starts",
    );
    // Work keeps arriving (the balancer has not noticed yet): the lame duck
    // goes on, accepting and answering.
    let working_until = Instant::now() + Duration::from_millis(900);
    let mut last_work = Instant::now();
    while last_work < working_until {
        last_work = Instant::now();
        assert_eq!(
            get(addr, "/").expect("accepted in the lame duck").status,
            200
        );
    }
    assert!(
        !app.stderr.text().contains("lame duck over"),
        "the lame duck ended while work was arriving\n{}",
        app.stderr.text()
    );
    // The balancer stops sending work (probes go on): the lame duck ends
    // after the quiet period, having answered probes 503.
    app.stderr.expect_after(
        mark,
        "probe(s) answered 503",
        Duration::from_secs(20),
        "the lame duck ends once only probes arrive",
    );
    assert!(
        last_work.elapsed() >= Duration::from_millis(300),
        "not before the quiet period"
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = probes.join().unwrap();
    assert!(seen.contains(&503), "probes saw the drain: {seen:?}");
    assert_eq!(app.exit_code(Duration::from_secs(20)), 0);
}
