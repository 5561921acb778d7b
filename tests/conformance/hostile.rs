//! Hostile clients: heads over the limits, a slowloris trickling its head,
//! thousands of idle connections, and all of them at once during a drain.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::app::in_flight;
use crate::requests::{connect, serve, stop};
use crate::support::*;
use crate::Adapter;

/// The largest request head (request line and headers) every adapter takes:
/// actix-http's fixed read buffer; hyper is set to match.
const HEAD_LIMIT: usize = 128 * 1024;
/// The most header fields every adapter takes: actix-http's fixed array.
const MAX_HEADERS: usize = 96;
/// More header fields than any adapter takes: over hyper's limit of 100
/// (its default, kept: a lower one costs ~1,700 instructions per request).
const TOO_MANY_HEADERS: usize = 101;

/// How a connection ended, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The server closed it (FIN).
    Eof,
    /// The server reset it (it closed with unread data, say).
    Reset,
    /// Still open when the client gave up waiting.
    Open,
}

fn end_of(e: &std::io::Error) -> Option<End> {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted => None,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Some(End::Reset)
        }
        _ => panic!("unexpected socket error: {e}"),
    }
}

/// One read: appends what arrived to `out`, or says how the connection
/// ended (`None`: still open, nothing within the read timeout).
fn read_once(s: &mut TcpStream, buf: &mut [u8], out: &mut Vec<u8>) -> Option<End> {
    match s.read(buf) {
        Ok(0) => Some(End::Eof),
        Ok(n) => {
            out.extend_from_slice(&buf[..n]);
            None
        }
        Err(e) => end_of(&e),
    }
}

/// Reads until the server ends the connection or `limit` passes; returns
/// what the server sent and how the connection ended.
fn read_until_end(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, End) {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, End::Open);
        }
        s.set_read_timeout(Some(left)).unwrap();
        if let Some(end) = read_once(s, &mut buf, &mut out) {
            return (out, end);
        }
    }
}

/// Sends `raw` on a new connection, then reads until the server ends it
/// (for up to 10 s). The server may answer and close before it has read
/// everything, so a failed write is not a failure.
fn send(addr: SocketAddr, raw: &[u8]) -> (Vec<u8>, End) {
    let mut s = connect(addr);
    let _ = s.write_all(raw);
    read_until_end(&mut s, Duration::from_secs(10))
}

/// The status line of a raw response, or what came instead.
fn status_line(out: &[u8]) -> String {
    let line = out.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line).trim_end().to_owned()
}

/// A request for `/` with `headers` (raw header lines) and `Connection: close`.
fn request_with(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n").into_bytes()
}

/// `count` headers `X-Hn: v`.
fn many_headers(count: usize) -> String {
    (0..count).map(|i| format!("X-H{i}: v\r\n")).collect()
}

/// One header with a value of `len` bytes.
fn one_header(len: usize) -> String {
    format!("X-Big: {}\r\n", "a".repeat(len))
}

/// Asserts `raw` is answered with `status` and the connection then ends.
fn assert_answered(addr: SocketAddr, raw: &[u8], status: u16, what: &str) {
    let (out, end) = send(addr, raw);
    let line = status_line(&out);
    assert!(
        line.starts_with(&format!("HTTP/1.1 {status} ")),
        "{what}: expected {status}, got {line:?} ({end:?})"
    );
    assert_ne!(end, End::Open, "{what}: the connection was left open");
}

pub fn oversized_head_is_431(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    // Over the limits: 431, and the connection is closed.
    let huge = request_with(&one_header(HEAD_LIMIT + 1024));
    assert_answered(addr, &huge, 431, "one header over the head limit");
    // Host, Connection and these: more than any adapter allows.
    let lots = request_with(&many_headers(TOO_MANY_HEADERS - 2));
    assert_answered(addr, &lots, 431, "more headers than allowed");
    let flood = request_with(&many_headers(10 * MAX_HEADERS));
    assert_answered(addr, &flood, 431, "ten times as many headers as allowed");
    // Just under them: served.
    let big = request_with(&one_header(HEAD_LIMIT - 1024));
    assert_answered(addr, &big, 200, "one header just under the head limit");
    // Host, Connection and these: as many as every adapter allows.
    let many = request_with(&many_headers(MAX_HEADERS - 2));
    assert_answered(addr, &many, 200, "as many headers as allowed");
    // The server is unharmed.
    assert_eq!(get(addr, "/").unwrap().status, 200);
    stop(app);
}

/// Trickles a head that never ends on `s`, a byte every 100 ms, until the
/// server ends the connection or `limit` passes. Returns what the server
/// sent and how the connection ended.
fn slowloris(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, End) {
    const HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    for i in 0usize.. {
        if Instant::now() >= deadline {
            return (out, End::Open);
        }
        let byte = HEAD.get(i).copied().unwrap_or(b'a');
        if s.write_all(&[byte]).is_err() {
            // Closed by the server: collect what it sent before.
            let (rest, end) = read_until_end(s, Duration::from_secs(2));
            out.extend_from_slice(&rest);
            return (out, if end == End::Open { End::Reset } else { end });
        }
        // Also the pace: waits up to 100 ms.
        if let Some(end) = read_once(s, &mut buf, &mut out) {
            return (out, end);
        }
    }
    unreachable!("the trickle ends by returning")
}

/// Asserts a slowloris was closed without being served.
fn assert_closed_unserved(out: &[u8], end: End, what: &str) {
    assert_ne!(end, End::Open, "{what}: still open when the client gave up");
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1.1 408 "),
        "{what}: closed with {:?}",
        String::from_utf8_lossy(out)
    );
}

pub fn slowloris_head_is_closed_after_request_timeout(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "request_timeout = \"500ms\"");
    let mut s = connect(addr);
    let (out, end) = slowloris(&mut s, Duration::from_secs(10));
    assert_closed_unserved(&out, end, "a head trickled on a new connection");
    assert_eq!(get(addr, "/").unwrap().status, 200);
    stop(app);
}

/// A connection that made one keep-alive request and got its answer.
fn kept_alive(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut first = vec![0u8; 4096];
    let n = s.read(&mut first).unwrap();
    let first = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(
        first.starts_with("HTTP/1.1 200 ") && first.ends_with("Hello, world!"),
        "{first:?}"
    );
    s
}

pub fn late_head_after_a_keep_alive_request_is_closed(adapter: &Adapter) {
    // The keep-alive timer stops at the next head's first byte (on actix);
    // something else must close a head that trickles or stalls after it.
    let (app, addr, _dir) = serve(adapter, "request_timeout = \"500ms\"\nkeep_alive = \"1s\"");
    let trickled = thread::spawn(move || slowloris(&mut kept_alive(addr), Duration::from_secs(10)));
    let stalled = thread::spawn(move || {
        let mut s = kept_alive(addr);
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Stalled: ")
            .unwrap();
        read_until_end(&mut s, Duration::from_secs(10))
    });
    let (out, end) = trickled.join().unwrap();
    assert_closed_unserved(&out, end, "a head trickled after a keep-alive request");
    let (out, end) = stalled.join().unwrap();
    assert_closed_unserved(&out, end, "a head stalled after a keep-alive request");
    assert_eq!(get(addr, "/").unwrap().status, 200);
    stop(app);
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (server
/// children inherit it); fails the case if that is below `need`.
fn raise_fd_limit(need: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) },
            0,
            "setrlimit"
        );
    }
    assert!(
        limit.rlim_cur >= need,
        "this case needs {need} open files in the test and in the server, but the hard \
         RLIMIT_NOFILE is {}: raise it (ulimit -Hn, or LimitNOFILE= for a service)",
        limit.rlim_max
    );
}

/// How many sockets process `pid` holds.
fn sockets_held(pid: i32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// Waits (up to 30 s) until the server holds at least `count` sockets.
fn wait_for_sockets(app: &Proc, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while sockets_held(app.pid()) < count {
        assert!(
            Instant::now() < deadline,
            "the server holds {} sockets, expected {count}",
            sockets_held(app.pid())
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// `silent` connections that send nothing, and `kept` keep-alive clients
/// that made one request and stay idle.
fn idle_crowd(addr: SocketAddr, silent: usize, kept: usize) -> (Vec<TcpStream>, Vec<KeepAlive>) {
    let silent = (0..silent)
        .map(|i| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("idle connection {i}: {e}"))
        })
        .collect();
    let kept = (0..kept)
        .map(|i| {
            let mut client = KeepAlive::new(addr);
            let outcome = client.request("GET", "/", b"");
            assert!(
                matches!(outcome, Outcome::Ok),
                "keep-alive {i}: {outcome:?}"
            );
            client
        })
        .collect();
    (silent, kept)
}

/// Timeouts longer than the case: idle connections stay open until the drain.
const PATIENT: &str = "keep_alive = \"120s\"\nrequest_timeout = \"120s\"";

pub fn two_thousand_idle_connections_leave_the_server_responsive(adapter: &Adapter) {
    const SILENT: usize = 1800;
    const KEPT: usize = 200;
    raise_fd_limit(3 * (SILENT + KEPT) as u64);
    let (app, addr, _dir) = serve(adapter, PATIENT);
    let (silent, mut kept) = idle_crowd(addr, SILENT, KEPT);
    wait_for_sockets(&app, SILENT + KEPT);
    // A new client is served while all of them are open.
    let fresh = get(addr, "/").unwrap();
    assert_eq!(
        (fresh.status, fresh.text().as_str()),
        (200, "Hello, world!")
    );
    assert!(
        sockets_held(app.pid()) >= SILENT + KEPT,
        "the idle connections were still open"
    );
    // So are the idle keep-alive clients, on their own connections.
    for (i, client) in kept.iter_mut().enumerate() {
        let outcome = client.request("GET", "/", b"");
        assert!(
            matches!(outcome, Outcome::Ok),
            "keep-alive {i}: {outcome:?}"
        );
    }
    drop((silent, kept));
    stop(app);
}

pub fn hostile_clients_do_not_disturb_a_drain(adapter: &Adapter) {
    const SILENT: usize = 1000;
    const KEPT: usize = 50;
    raise_fd_limit(3 * (SILENT + KEPT) as u64);
    // Nothing times out on its own: the drain has to close every connection,
    // and an exit of 3 would mean one held it until `shutdown_timeout`.
    let (mut app, addr, _dir) = serve(adapter, &format!("{PATIENT}\nshutdown_timeout = \"30s\""));
    let (silent, kept) = idle_crowd(addr, SILENT, KEPT);
    let oversized = request_with(&one_header(HEAD_LIMIT + 1024));
    assert_answered(addr, &oversized, 431, "an oversized head");
    let loris = thread::spawn(move || slowloris(&mut connect(addr), Duration::from_secs(60)));
    wait_for_sockets(&app, SILENT + KEPT + 1);
    // A legitimate request in flight when the drain starts.
    let legit = in_flight(&app.stderr, addr, 1500);
    app.signal(libc::SIGTERM);
    let resp = legit
        .join()
        .unwrap()
        .expect("the in-flight request answered");
    assert_eq!(
        (resp.status, resp.text().as_str()),
        (200, "slept 1500 ms\n")
    );
    assert_eq!(app.exit_code(Duration::from_secs(40)), 0, "drained in time");
    let log = app.stderr.text();
    assert!(log.contains("drain: last connection closed"), "{log}");
    let (out, end) = loris.join().unwrap();
    assert_closed_unserved(&out, end, "a head trickled during the drain");
    drop((silent, kept));
}

pub fn slow_request_body_is_not_cut_by_the_timeouts(adapter: &Adapter) {
    // A body is not a head: once the head is in, a request is in progress
    // until its response is sent, however slowly its body arrives. (Nor is a
    // body stalled for good closed; see docs/writing-an-adapter.md.)
    let (app, addr, _dir) = serve(
        adapter,
        "keep_alive = \"300ms\"\nrequest_timeout = \"300ms\"",
    );
    let mut s = connect(addr);
    s.set_nodelay(true).unwrap();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 30\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    for part in [b"part one; ", b"part two; ", b"part three"] {
        // The client's pace, not a wait: each gap outlasts both timeouts.
        thread::sleep(Duration::from_millis(700));
        s.write_all(part).unwrap();
    }
    let (out, end) = read_until_end(&mut s, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 200 ") && text.ends_with("part one; part two; part three"),
        "{text:?} ({end:?})"
    );
    stop(app);
}
