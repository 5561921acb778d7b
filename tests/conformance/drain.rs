//! Stopping: graceful drain of in-flight work, forced by deadline or by a
//! second signal; exit codes; readiness.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use crate::app::{in_flight, sleep_started};
use crate::support::*;
use crate::Adapter;

/// The app on an inherited listener with extra `[http]` settings.
fn start(
    adapter: &Adapter,
    http_extra: &str,
) -> (Proc, SocketAddr, TcpListener, tempfile::TempDir) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(dir.path(), http_extra);
    let mut cmd = adapter.with_config(&config);
    cmd.env("SERVER_STARTER_PORT", format!("{addr}=5"))
        .env("SERVER_STARTER_GENERATION", "1");
    pass_fd(&mut cmd, listener.as_raw_fd(), 5);
    let app = Proc::spawn(cmd);
    get_ok(addr, "/healthz", Duration::from_secs(10));
    (app, addr, listener, dir)
}

pub fn term_lets_the_in_flight_request_finish_then_exits_0(adapter: &Adapter) {
    let (mut app, addr, listener, _dir) = start(adapter, "shutdown_timeout = \"10s\"");
    let request = in_flight(&app.stderr, addr, 1500);
    // A keep-alive client too: the server, not the client, closes its connection.
    let mark = app.stderr.mark();
    let kept = thread::spawn(move || KeepAlive::new(addr).request("GET", "/sleep?ms=1600", b""));
    app.stderr.expect_after(
        mark,
        &sleep_started(1600),
        Duration::from_secs(20),
        "the keep-alive request reaches its handler",
    );
    app.signal(libc::SIGTERM);
    let resp = request.join().unwrap().expect("in-flight request answered");
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "slept 1500 ms\n")
    );
    let kept = kept.join().unwrap();
    assert!(
        matches!(kept, Outcome::OkClosed),
        "200 with Connection: close: {kept:?}"
    );
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    let log = app.stderr.text();
    for phase in [
        "SIGTERM: draining",
        "drain 2/4: stop accepting",
        "drain 3/4 linger",
        "drain: last connection closed",
        "stopped gracefully",
    ] {
        assert!(log.contains(phase), "{phase:?} not logged:\n{log}");
    }
    assert!(log.contains(&format!("pid {} gen 1", app.pid())));
    assert!(still_listening(&listener));
}

pub fn deadline_forces_the_stop_with_exit_3(adapter: &Adapter) {
    let (mut app, addr, _listener, _dir) = start(adapter, "shutdown_timeout = \"700ms\"");
    let request = in_flight(&app.stderr, addr, 20_000);
    let t0 = Instant::now();
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 3);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "forced at the deadline, not at the sleep's end"
    );
    let cut = request.join().unwrap();
    assert!(cut.is_err(), "the cut request has no response: {cut:?}");
    assert!(app.stderr.text().contains("shutdown_timeout reached"));
}

/// SIGTERM, then a second SIGTERM once the drain has started.
fn term_twice(app: &Proc) {
    app.signal(libc::SIGTERM);
    app.stderr
        .wait_for(Duration::from_secs(5), |l| {
            l.contains("draining").then_some(())
        })
        .expect("drain started");
    app.signal(libc::SIGTERM);
}

pub fn second_term_during_drain_forces_with_exit_4(adapter: &Adapter) {
    // Under Server::Starter the default (`auto`) ignores a second TERM: this
    // case asks for `force`.
    let (mut app, addr, _listener, _dir) = start(
        adapter,
        "shutdown_timeout = \"30s\"\nrepeat_signal = \"force\"",
    );
    let request = in_flight(&app.stderr, addr, 20_000);
    term_twice(&app);
    assert_eq!(app.exit_code(Duration::from_secs(5)), 4);
    assert!(request.join().unwrap().is_err());
    assert!(app.stderr.text().contains("SIGTERM during drain"));
}

pub fn repeat_signal_ignore_keeps_draining(adapter: &Adapter) {
    let (mut app, addr, _listener, _dir) = start(
        adapter,
        "shutdown_timeout = \"30s\"\nrepeat_signal = \"ignore\"",
    );
    let request = in_flight(&app.stderr, addr, 1500);
    term_twice(&app);
    assert_eq!(request.join().unwrap().unwrap().status, 200);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    assert!(app.stderr.text().contains("ignored"));
}

pub fn sigquit_forces_at_once(adapter: &Adapter) {
    let (mut app, addr, _listener, _dir) = start(adapter, "shutdown_timeout = \"30s\"");
    let request = in_flight(&app.stderr, addr, 20_000);
    app.signal(libc::SIGQUIT);
    assert_eq!(app.exit_code(Duration::from_secs(5)), 4);
    assert!(request.join().unwrap().is_err());
}

pub fn lame_duck_reports_503_while_still_accepting(adapter: &Adapter) {
    let (mut app, addr, _listener, _dir) = start(adapter, "drain_delay = \"1500ms\"");
    assert_eq!(get(addr, "/healthz").unwrap().status, 200);
    app.signal(libc::SIGTERM);
    app.stderr
        .wait_for(Duration::from_secs(5), |l| {
            l.contains("lame duck").then_some(())
        })
        .expect("lame duck phase logged");
    // A new connection is still accepted and answered; health says draining.
    let health = get(addr, "/healthz").unwrap();
    assert_eq!((health.status, health.text().as_str()), (503, "draining\n"));
    assert_eq!(get(addr, "/").unwrap().status, 200);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

pub fn sd_notify_ready_then_stopping(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cmd = adapter.command();
    cmd.env("SERVER_STARTER_PORT", format!("{addr}=5"))
        .env("NOTIFY_SOCKET", &socket_path);
    pass_fd(&mut cmd, listener.as_raw_fd(), 5);
    let mut app = Proc::spawn(cmd);
    let mut buf = [0u8; 256];
    let n = notify.recv(&mut buf).expect("READY=1 within 10 s");
    assert_eq!(&buf[..n], b"READY=1\n");
    // Ready means served: a request succeeds at once.
    assert_eq!(get(addr, "/").unwrap().status, 200);
    app.signal(libc::SIGTERM);
    let n = notify.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1\n");
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

pub fn idle_keep_alive_connection_gets_its_next_request_answered(adapter: &Adapter) {
    let (mut app, addr, _listener, _dir) = start(adapter, "drain_linger = \"3s\"");
    let mut client = KeepAlive::new(addr);
    assert!(matches!(client.request("GET", "/", b""), Outcome::Ok));
    let mark = app.stderr.mark();
    app.signal(libc::SIGTERM);
    app.stderr
        .wait_for_after(mark, Duration::from_secs(5), |l| {
            l.contains("drain 3/4 linger").then_some(())
        })
        .expect("linger started");
    // The idle connection was left open: its next request is answered, and
    // the answer retires the connection.
    let next = client.request("GET", "/", b"");
    assert!(matches!(next, Outcome::OkClosed), "{next:?}");
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}
