//! Native mode: the `native_axum` example, run as a child process on an
//! inherited listener, hot-deploys like any handover app; its WebSocket and
//! server-sent events routes end when the drain starts; an upgraded
//! connection stays in the drain's count until it closes.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use handover_test_support as support;

#[allow(dead_code)]
#[path = "../examples/native_axum.rs"]
mod example;

use support::{native, Proc};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

/// In the child: which app to run (`echo`: [`echo_app`]; unset: the example).
const APP: &str = "HANDOVER_AXUM_TEST_APP";
const LONG: Duration = Duration::from_secs(20);

#[test]
fn native_app_answers_and_drains_on_term() {
    native::native_app_drains(native::child_command(), "Hello from a native axum app");
}

/// `child` on an inherited listener (as under start_server, generation 4).
fn spawn_on_listener(mut child: Command) -> (Proc, SocketAddr, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    child
        .env("SERVER_STARTER_PORT", format!("{addr}=5"))
        .env("SERVER_STARTER_GENERATION", "4")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "info");
    support::pass_fd(&mut child, listener.as_raw_fd(), 5);
    let app = Proc::spawn(child);
    (app, addr, listener)
}

/// A WebSocket client (tungstenite's) on `path`.
fn websocket(addr: SocketAddr, path: &str) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LONG)).unwrap();
    let (ws, response) = tungstenite::client(format!("ws://{addr}{path}"), stream).unwrap();
    assert_eq!(response.status(), 101);
    ws
}

fn echoes(ws: &mut tungstenite::WebSocket<TcpStream>, text: &str) {
    ws.send(Message::text(text)).unwrap();
    match ws.read().unwrap() {
        Message::Text(echoed) => assert_eq!(echoed.as_str(), text),
        other => panic!("expected the echo of {text:?}, got {other:?}"),
    }
}

/// Reads from `stream` until what was read contains `needle`; returns it all.
fn read_until(stream: &mut TcpStream, seen: &mut Vec<u8>, needle: &str) {
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(seen).contains(needle) {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before {needle:?}: {}",
            String::from_utf8_lossy(seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn websocket_and_sse_end_when_the_drain_starts() {
    let (mut app, addr, listener) = spawn_on_listener(native::child_command());
    let hello = support::get_ok(addr, "/", LONG);
    // ConnectInfo<SocketAddr>, as into_make_service_with_connect_info gives it.
    assert!(hello.text().contains("127.0.0.1: visit 1"), "{hello:?}");

    let mut ws = websocket(addr, "/ws");
    echoes(&mut ws, "ping");

    let mut sse = TcpStream::connect(addr).unwrap();
    sse.set_read_timeout(Some(LONG)).unwrap();
    sse.write_all(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut events = Vec::new();
    read_until(&mut sse, &mut events, "tick 1, ");
    assert!(
        String::from_utf8_lossy(&events).contains("text/event-stream"),
        "{}",
        String::from_utf8_lossy(&events)
    );

    app.signal(libc::SIGTERM);
    // The WebSocket gets its close frame (1012, service restart) ...
    match ws.read().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Restart),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // ... and tungstenite answers it (flushed by the next read, which ends).
    assert!(ws.read().is_err());
    // The event stream ends: the last chunk.
    read_until(&mut sse, &mut events, "\r\n0\r\n\r\n");
    assert_eq!(app.exit_code(LONG), 0);
    let log = app.stderr.text();
    assert!(log.contains("gen 4: stopped gracefully"), "{log}");
    assert!(support::still_listening(&listener));
}

#[test]
fn the_router_answers_over_h2c_with_its_peer_address() {
    let (mut app, addr, _listener) = spawn_on_listener(native::child_command());
    support::get_ok(addr, "/", LONG);
    // curl with HTTP/2 prior knowledge: the router, ConnectInfo included.
    let url = format!("http://{addr}/");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--http2-prior-knowledge"])
        .args(["-w", "\n%{http_version} %{response_code}", &url])
        .output()
        .unwrap_or_else(|e| panic!("curl: {e}: install it (scripts/test does)"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "curl: {}\n{text}", out.status);
    assert!(text.contains("127.0.0.1: visit 2"), "{text}");
    assert!(text.ends_with("\n2 200"), "{text}");
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(LONG), 0);
}

/// A router whose WebSocket echoes and ignores the drain, with a linger
/// long enough to upgrade a connection in it; served through a tower layer
/// that marks every response (`AxumFactory::from_service`).
fn echo_app(mut config: handover::Config) -> Result<handover::Outcome, handover::Error> {
    use axum::extract::ws::{Message, WebSocketUpgrade};
    use tower::ServiceExt;
    config.server = handover_axum::NAME.to_owned();
    config.http.drain_linger = Duration::from_secs(3);
    let router: axum::Router = axum::Router::new().route(
        "/echo",
        axum::routing::get(|upgrade: WebSocketUpgrade| async move {
            upgrade.on_upgrade(|mut socket| async move {
                while let Some(Ok(message)) = socket.recv().await {
                    if let Message::Text(_) = message {
                        if socket.send(message).await.is_err() {
                            return;
                        }
                    }
                }
            })
        }),
    );
    let layered = ServiceExt::<axum::extract::Request>::map_response(
        router,
        |mut response: axum::response::Response| {
            let layer = http::HeaderValue::from_static("yes");
            response.headers_mut().insert("x-tower-layer", layer);
            response
        },
    );
    handover::Droplet::new(config)
        .with_factory(handover_axum::AxumFactory::from_service(layered))
        .run()
}

/// axum routes, and the app's handover router for the rest.
fn mixed_app(mut config: handover::Config) -> Result<handover::Outcome, handover::Error> {
    config.server = handover_axum::NAME.to_owned();
    let axum_routes = axum::Router::new()
        .route("/axum", axum::routing::get(|| async { "from axum\n" }))
        .route(
            "/peer",
            axum::routing::get(
                |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>| async move {
                    peer.to_string()
                },
            ),
        );
    let handover_routes = handover::Router::new()
        .get("/handover", |_: handover::Request| async {
            handover::Response::new(handover::Body::from("from handover\n"))
        })?
        .post("/handover/echo", |req: handover::Request| async move {
            handover::Response::new(handover::Body::from(req.into_body()))
        })?;
    let factory = handover_axum::AxumFactory::new(axum_routes).with_responder_fallback();
    handover::Droplet::new(config)
        .with_factory(factory)
        .with_responder(handover_routes)
        .run()
}

#[test]
fn axum_routes_and_the_handover_responder_share_a_server() {
    let mut child = native::child_command();
    child.env(APP, "mixed");
    let (mut app, addr, _listener) = spawn_on_listener(child);
    let axum = support::get_ok(addr, "/axum", LONG);
    assert_eq!(axum.text(), "from axum\n");
    let handover = support::get(addr, "/handover").unwrap();
    assert_eq!(
        (handover.status, handover.text().as_str()),
        (200, "from handover\n")
    );
    let echoed = support::post(addr, "/handover/echo", b"body through axum").unwrap();
    assert_eq!(echoed.text(), "body through axum");
    // No `with_connect_info`: no `ConnectInfo`, and axum's extractor
    // answers 500, as under `axum::serve` without it.
    let peer = support::get(addr, "/peer").unwrap();
    assert_eq!(peer.status, 500, "{peer:?}");
    assert!(peer.text().contains("ConnectInfo"), "{peer:?}");
    // What neither router has: the handover router's 404.
    assert_eq!(support::get(addr, "/missing").unwrap().status, 404);
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(LONG), 0);
}

#[test]
fn a_connection_upgraded_during_the_linger_is_counted_until_it_closes() {
    let mut child = native::child_command();
    child.env(APP, "echo");
    let (mut app, addr, _listener) = spawn_on_listener(child);
    app.stderr
        .expect_after(0, "ready: axum serving", LONG, "the app is ready");
    // A keep-alive connection, open before the drain.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(LONG)).unwrap();
    stream
        .write_all(b"GET /missing HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    read_until(&mut stream, &mut answer, "\r\n\r\n");
    let answer = String::from_utf8_lossy(&answer).to_lowercase();
    assert!(answer.starts_with("http/1.1 404"), "{answer}");
    assert!(answer.contains("x-tower-layer: yes"), "{answer}");
    let mark = app.stderr.mark();
    app.signal(libc::SIGTERM);
    app.stderr
        .expect_after(mark, "drain 3/4 linger", LONG, "the linger begins");
    // During the linger it upgrades: the 101 keeps `Connection: upgrade`
    // (no `Connection: close`), or tungstenite refuses the handshake.
    let (mut ws, response) = tungstenite::client(format!("ws://{addr}/echo"), stream).unwrap();
    assert_eq!(response.status(), 101);
    echoes(&mut ws, "in the linger");
    // The drain waits for the WebSocket past the linger: the adapter closes
    // idle HTTP connections, never an upgraded one.
    app.stderr.expect_after(
        mark,
        "linger over; closing idle connections, 1 open",
        LONG,
        "the drain counts the WebSocket",
    );
    echoes(&mut ws, "after the linger");
    assert!(support::alive(app.pid()));
    ws.close(None).unwrap();
    while ws.read().is_ok() {}
    assert_eq!(app.exit_code(LONG), 0);
    let log = app.stderr.text();
    assert!(log.contains("drain: last connection closed"), "{log}");
}

/// The child: not a test; the tests above run it.
#[test]
#[ignore = "entry point of the child process"]
fn serve_child() {
    match std::env::var(APP).as_deref() {
        Ok("echo") => native::serve_child(echo_app),
        Ok("mixed") => native::serve_child(mixed_app),
        _ => native::serve_child(example::run),
    }
}
