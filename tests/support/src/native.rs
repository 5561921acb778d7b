//! The check every adapter's native mode passes: its example app, run as a
//! child on an inherited listener, answers, drains an in-flight request on
//! TERM, and leaves the socket listening.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use super::*;

/// Runs `child` (the native example app) on an inherited listener: `GET /`
/// answers with `hello`, and a keep-alive `GET /slow` started before TERM
/// gets its 200 with `Connection: close`; the app exits 0 and the socket stays listening.
pub fn native_app_drains(mut child: Command, hello: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    child
        .env("SERVER_STARTER_PORT", format!("{addr}=5"))
        .env("SERVER_STARTER_GENERATION", "4")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "info");
    pass_fd(&mut child, listener.as_raw_fd(), 5);
    let mut app = Proc::spawn(child);
    let root = get_ok(addr, "/", Duration::from_secs(10));
    assert!(root.text().contains(hello), "{root:?}");
    assert_eq!(get(addr, "/missing").unwrap().status, 404);

    // A keep-alive client: the server, not the client, must close the connection.
    let slow = thread::spawn(move || KeepAlive::new(addr).request("GET", "/slow", b""));
    app.stderr.expect_after(
        0,
        "slow request started",
        Duration::from_secs(20),
        "the slow request reaches its handler",
    );
    app.signal(libc::SIGTERM);
    let slow = slow.join().unwrap();
    assert!(
        matches!(slow, Outcome::OkClosed),
        "200 with Connection: close: {slow:?}"
    );
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    let log = app.stderr.text();
    assert!(
        log.contains("pid") && log.contains("gen 4: stopped gracefully"),
        "{log}"
    );
    assert!(still_listening(&listener));
}

/// Set in the child process: run the example instead of testing.
pub const CHILD: &str = "HANDOVER_NATIVE_CHILD";

/// The child command: this test binary, re-run to execute only `serve_child`.
pub fn child_command() -> Command {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", "serve_child", "--ignored", "--nocapture", "-q"])
        .env(CHILD, "1");
    child
}

/// The body of the child's `serve_child` entry: runs `example` with the
/// default config and exits with its code; returns at once outside the child.
pub fn serve_child(example: fn(handover::Config) -> Result<handover::Outcome, handover::Error>) {
    if std::env::var_os(CHILD).is_some() {
        run_child("native", || example(handover::Config::default()));
    }
}

/// Runs `args` with the conformance suite's WebSocket client (the Python
/// `websockets` package), returning its JSON lines as they come.
fn ws_client(
    args: &[&str],
) -> (
    std::process::Child,
    std::sync::mpsc::Receiver<serde_json::Value>,
) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/ws_client.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3 (install python3-websockets)");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
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
    (child, rx)
}

/// Runs `child` (the native example app) on an inherited listener: its
/// WebSocket at `/ws` echoes, and on TERM says goodbye with 1012 (a
/// supervisor holds the listener) before the app exits 0.
pub fn native_socket_closes_with_1012_on_term(mut child: Command) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    child
        .env("SERVER_STARTER_PORT", format!("{addr}=5"))
        .env("SERVER_STARTER_GENERATION", "4")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "info");
    pass_fd(&mut child, listener.as_raw_fd(), 5);
    let mut app = Proc::spawn(child);
    get_ok(addr, "/", Duration::from_secs(10));
    let url = format!("ws://{addr}/ws");
    let wait = Duration::from_secs(20);
    let (mut echo, lines) = ws_client(&["echo", &url]);
    let result = lines.recv_timeout(wait).expect("the echo's result");
    let _ = echo.wait();
    assert_eq!(result["text"], "hello", "{result}");
    assert_eq!(result["binary"], serde_json::json!([0, 1, 254, 255]));
    let (mut hold, lines) = ws_client(&["hold", &url]);
    lines.recv_timeout(wait).expect("the socket opens");
    app.signal(libc::SIGTERM);
    let result = lines.recv_timeout(wait).expect("the server's Close");
    let _ = hold.kill();
    let _ = hold.wait();
    assert_eq!(result["close"]["code"], 1012, "{result}");
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}
