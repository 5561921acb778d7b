//! WebSockets on every adapter, driven by the Python `websockets` package
//! (a client nobody here wrote; Debian's python3-websockets): echo, pings,
//! limits, fragments, text that is not UTF-8, the handshake's refusal,
//! closes from either side, and the drain: 1012 under a supervisor, 1001
//! without, the socket counted until it closes, the deadline, and clients
//! across hot deploys.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::supervisor::{Starter, Supervised};
use crate::support::*;
use crate::zero_failure::supervised;
use crate::Adapter;

/// Debian's Python, which has python3-websockets.
const PYTHON: &str = "/usr/bin/python3";

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(name)
}

/// A running Python client (`ws_client.py`, `sse_client.py`): its JSON
/// lines as they come, its stdin to end it.
pub(crate) struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
}

impl Client {
    fn start(args: &[&str]) -> Client {
        Client::script("ws_client.py", args)
    }

    /// Runs `name` (a script beside this file) with `args`.
    pub(crate) fn script(name: &str, args: &[&str]) -> Client {
        let mut child = Command::new(PYTHON)
            .arg(script(name))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run /usr/bin/python3 (install python3-websockets)");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("  ws> {line}");
                let Ok(value) = serde_json::from_str(&line) else {
                    break;
                };
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Client {
            child,
            stdin,
            lines,
        }
    }

    /// The next JSON line, within `timeout`.
    pub(crate) fn next(&self, timeout: Duration, what: &str) -> Value {
        self.lines
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("websocket client: no line for {what}: {e}"))
    }

    /// Follows a `deploy` scenario's `clients` across `hups` hand-overs of
    /// `sup`: waits until every client is on each generation, ends the
    /// scenario, and returns its figures (the line that has `key`).
    pub(crate) fn follow_hups(
        mut self,
        sup: &mut Supervised,
        clients: usize,
        hups: u64,
        key: &str,
    ) -> Value {
        let on = |client: &Client, generation: u64| {
            let mut count = 0;
            while count < clients {
                let line = client.next(Duration::from_secs(30), "the clients on a generation");
                count += usize::from(line["on"] == generation);
            }
        };
        on(&self, 1);
        for generation in 2..=hups + 1 {
            sup.hand_over(generation);
            on(&self, generation);
        }
        self.end();
        loop {
            let line = self.next(Duration::from_secs(30), "the clients' figures");
            if line.get(key).is_some() {
                return line;
            }
        }
    }

    /// Closes its stdin (the `hold` and `deploy` scenarios then finish).
    pub(crate) fn end(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs one scenario to its result line.
fn run(args: &[&str]) -> Value {
    let client = Client::start(args);
    client.next(Duration::from_secs(30), args[0])
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("ws://{addr}{path}")
}

/// The app on an inherited listener (so a supervisor seems to hold it).
fn inherited(adapter: &Adapter, extra: &str) -> (Proc, SocketAddr, tempfile::TempDir) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(dir.path(), extra);
    let mut cmd = adapter.with_config(&config);
    cmd.env("SERVER_STARTER_PORT", format!("{addr}=5"))
        .env("SERVER_STARTER_GENERATION", "1");
    pass_fd(&mut cmd, listener.as_raw_fd(), 5);
    let app = Proc::spawn(cmd);
    get_ok(addr, "/healthz", Duration::from_secs(10));
    (app, addr, dir)
}

/// The app on a listener it binds itself (no supervisor).
fn bound(adapter: &Adapter, extra: &str) -> (Proc, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(dir.path(), &format!("port = 0\n{extra}"));
    let app = Proc::spawn(adapter.with_config(&config));
    let addr = app.listening_addr();
    get_ok(addr, "/healthz", Duration::from_secs(10));
    (app, addr, dir)
}

fn close_code(result: &Value) -> Option<u64> {
    result["close"]["code"].as_u64()
}

pub fn echo_text_binary_ping_and_a_client_close(adapter: &Adapter) {
    let (mut app, addr, _dir) = inherited(adapter, "");
    let result = run(&["echo", &url(addr, "/ws/echo")]);
    assert_eq!(result["text"], "hello");
    assert_eq!(result["binary"], serde_json::json!([0, 1, 254, 255]));
    assert_eq!(result["pong"], true);
    assert_eq!(
        close_code(&result),
        Some(1000),
        "the server answers the client's Close"
    );
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

/// A client may send its first frame right behind the handshake, before the
/// 101 arrives (RFC 6455 lets it pipeline): those bytes were read with the
/// request, and must reach the socket. Written by hand, in one write, since
/// a library client waits for the 101.
pub fn a_frame_sent_with_the_handshake_is_echoed(adapter: &Adapter) {
    use std::io::Read;
    let (mut app, addr, _dir) = inherited(adapter, "");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut sent = format!(
        "GET /ws/echo HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    // A masked text frame, "hi".
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    sent.extend_from_slice(&[0x81, 0x82]);
    sent.extend_from_slice(&mask);
    sent.extend(b"hi".iter().zip(mask).map(|(b, m)| b ^ m));
    stream.write_all(&sent).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let head_end = loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).expect("the 101 within 10 s");
        assert!(
            n > 0,
            "closed before the 101: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    while got.len() < head_end + 4 {
        let n = stream.read(&mut buf).expect("the echo within 10 s");
        assert!(n > 0, "closed before the echo");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        &got[head_end..head_end + 4],
        &[0x81, 0x02, b'h', b'i'],
        "the echo of \"hi\""
    );
    drop(stream);
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

pub fn an_oversized_message_is_closed_with_1009(adapter: &Adapter) {
    let (mut app, addr, _dir) = inherited(
        adapter,
        "[http.websocket]\nmax_message_size = 1024\nmax_frame_size = 1024",
    );
    let result = run(&["too_big", &url(addr, "/ws/echo"), "4096"]);
    assert_eq!(close_code(&result), Some(1009), "{result}");
    // At the limit is fine, and the server goes on.
    let result = run(&["too_big", &url(addr, "/ws/echo"), "1024"]);
    assert_eq!(result["answered"], 1024, "{result}");
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

pub fn fragments_arrive_whole_and_text_that_is_not_utf8_closes_with_1002(adapter: &Adapter) {
    let (mut app, addr, _dir) = inherited(adapter, "");
    let result = run(&["fragments", &url(addr, "/ws/echo")]);
    assert_eq!(result["text"], "hello, w\u{f6}rld", "{result}");
    assert_eq!(result["binary"], serde_json::json!([0, 1, 254, 255]));
    assert_eq!(close_code(&result), Some(1002), "{result}");
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

pub fn a_panicking_socket_handler_closes_with_1011_and_the_server_goes_on(adapter: &Adapter) {
    let (mut app, addr, _dir) = inherited(adapter, "");
    let result = run(&["too_big", &url(addr, "/ws/panic"), "10"]);
    assert_eq!(close_code(&result), Some(1011), "{result}");
    let result = run(&["echo", &url(addr, "/ws/echo")]);
    assert_eq!(result["text"], "hello");
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

pub fn a_plain_request_to_a_socket_route_is_426(adapter: &Adapter) {
    let (mut app, addr, _dir) = inherited(adapter, "");
    let resp = get(addr, "/ws/echo").unwrap();
    assert_eq!(resp.status, 426, "{}", resp.text());
    assert_eq!(resp.header("upgrade"), Some("websocket"));
    // The connection and the server go on.
    assert_eq!(get(addr, "/").unwrap().status, 200);
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

/// Opens a socket that waits, drains the app, and returns the client's result.
fn drained_close(app: &mut Proc, addr: SocketAddr, path: &str) -> Value {
    let client = Client::start(&["hold", &url(addr, path)]);
    client.next(Duration::from_secs(20), "open");
    app.signal(libc::SIGTERM);
    let result = client.next(Duration::from_secs(20), "the server's Close");
    assert_eq!(app.exit_code(Duration::from_secs(20)), 0);
    result
}

pub fn the_drain_closes_with_1012_when_a_supervisor_holds_the_listener(adapter: &Adapter) {
    let (mut app, addr, _dir) = inherited(adapter, "[http.websocket]\nclose_grace = \"100ms\"");
    let result = drained_close(&mut app, addr, "/ws/echo");
    assert_eq!(close_code(&result), Some(1012), "{result}");
    assert_eq!(result["by_client"], false);
}

pub fn the_drain_closes_with_1001_without_a_supervisor(adapter: &Adapter) {
    let (mut app, addr, _dir) = bound(
        adapter,
        "drain_delay = \"0s\"\n[http.websocket]\nclose_grace = \"100ms\"",
    );
    let result = drained_close(&mut app, addr, "/ws/echo");
    assert_eq!(close_code(&result), Some(1001), "{result}");
}

pub fn a_handler_that_closes_itself_in_the_grace_sends_its_own_code(adapter: &Adapter) {
    let (mut app, addr, _dir) = inherited(adapter, "[http.websocket]\nclose_grace = \"10s\"");
    let result = drained_close(&mut app, addr, "/ws/goodbye");
    assert_eq!(close_code(&result), Some(4000), "{result}");
    assert_eq!(result["close"]["reason"], "goodbye from the app");
}

pub fn a_handler_that_never_returns_is_dropped_after_grace_and_close_timeout(adapter: &Adapter) {
    let (mut app, addr, _dir) = inherited(
        adapter,
        "shutdown_timeout = \"60s\"\n[http.websocket]\nclose_grace = \"100ms\"\nclose_timeout = \"300ms\"",
    );
    let result = drained_close(&mut app, addr, "/ws/stubborn");
    assert_eq!(close_code(&result), Some(1012), "{result}");
}

pub fn an_open_socket_holds_the_drain_until_the_client_closes_it(adapter: &Adapter) {
    let (mut app, addr, _dir) = inherited(
        adapter,
        "drain_linger = \"100ms\"\nshutdown_timeout = \"60s\"\n[http.websocket]\nclose_grace = \"60s\"",
    );
    let mut client = Client::start(&["hold", &url(addr, "/ws/echo")]);
    client.next(Duration::from_secs(20), "open");
    let mark = app.stderr.mark();
    app.signal(libc::SIGTERM);
    // Past the linger, the socket is what keeps the process.
    app.stderr.expect_after(
        mark,
        "linger over; closing idle connections, 1 open",
        Duration::from_secs(20),
        "the drain waits for the socket",
    );
    assert!(
        app.wait(Duration::ZERO).is_none(),
        "exited with a socket open"
    );
    client.end();
    let result = client.next(Duration::from_secs(20), "the client's close");
    assert_eq!(result["by_client"], true);
    assert_eq!(close_code(&result), Some(1000), "{result}");
    assert_eq!(app.exit_code(Duration::from_secs(20)), 0);
    assert!(app.stderr.text().contains("drain: last connection closed"));
}

pub fn the_deadline_cuts_a_socket_that_outlives_it(adapter: &Adapter) {
    let (mut app, addr, _dir) = inherited(
        adapter,
        "drain_linger = \"100ms\"\nshutdown_timeout = \"700ms\"\n[http.websocket]\nclose_grace = \"60s\"",
    );
    let client = Client::start(&["hold", &url(addr, "/ws/echo")]);
    client.next(Duration::from_secs(20), "open");
    app.signal(libc::SIGTERM);
    assert_eq!(
        app.exit_code(Duration::from_secs(20)),
        3,
        "forced at the deadline"
    );
    let result = client.next(Duration::from_secs(20), "the cut");
    assert_eq!(close_code(&result), None, "cut without a Close: {result}");
    assert!(app.stderr.text().contains("1 open connection(s) cut"));
}

/// Clients across hot deploys, sending every 50 ms (scaled down from the
/// issue's 100 clients and 5 HUPs: bench/websocket_deploy.py runs those).
const CLIENTS: usize = 10;
const HUPS: u64 = 2;

pub fn websocket_clients_across_hups_get_1012_and_reconnect(adapter: &Adapter, starter: Starter) {
    let (mut sup, _dir) = supervised(
        adapter,
        starter,
        // A close handshake gets all the time a loaded machine needs: the
        // servers' count of crossed messages is complete once it ends.
        "shutdown_timeout = \"30s\"\n[http.websocket]\nclose_grace = \"200ms\"\nclose_timeout = \"20s\"",
        &[],
    );
    let addr = sup.addr;
    let client = Client::start(&["deploy", &url(addr, "/ws/echo"), &CLIENTS.to_string()]);
    let result = client.follow_hups(&mut sup, CLIENTS, HUPS, "closes");
    eprintln!("{} {:?} websocket deploy: {result}", adapter.name, starter);
    assert_eq!(
        result["abnormal"], 0,
        "no abnormal closure (1006): {result}"
    );
    let restarts = result["closes"]["1012"].as_u64().unwrap_or(0);
    assert_eq!(
        restarts,
        CLIENTS as u64 * HUPS,
        "each client got 1012 from each old generation: {result}"
    );
    assert_eq!(result["closes"]["1000"], CLIENTS as u64, "{result}");
    assert_eq!(result["failed_connects"], 0, "{result}");
    let generations: Vec<u64> = serde_json::from_value(result["generations"].clone()).unwrap();
    assert_eq!(generations, (1..=HUPS + 1).collect::<Vec<_>>(), "{result}");
    assert!(result["answered"].as_u64().unwrap() > 0, "{result}");
    sup.stop();
    // What the clients sent unanswered is exactly what reached the servers
    // after their Close: every message read before it was answered.
    let crossed: u64 = sup
        .proc
        .stderr
        .all()
        .iter()
        .filter_map(|l| l.split("websocket: ").nth(1))
        .filter_map(|l| l.split(" message(s) crossed").next())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum();
    assert_eq!(result["unanswered"], crossed, "{result}");
}
