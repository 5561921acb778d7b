//! Request semantics on a bound listener: methods, headers, bodies, HEAD,
//! errors, keep-alive.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::*;
use crate::Adapter;

/// The app bound to 127.0.0.1:0 with extra `[http]` settings.
pub fn serve(adapter: &Adapter, http_extra: &str) -> (Proc, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(
        dir.path(),
        &format!("hostname = \"127.0.0.1\"\nport = 0\n{http_extra}"),
    );
    let app = Proc::spawn(adapter.with_config(&config));
    let addr = app.listening_addr();
    get_ok(addr, "/healthz", Duration::from_secs(10));
    (app, addr, dir)
}

/// Stops the app with TERM; it must exit 0.
pub fn stop(mut app: Proc) {
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends `raw` and reads until the server closes the connection.
fn raw_exchange(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

/// Splits a raw response into its head (lowercased) and body.
pub fn split(raw: &[u8]) -> (String, &[u8]) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)))
        + 4;
    (
        String::from_utf8_lossy(&raw[..end]).to_lowercase(),
        &raw[end..],
    )
}

/// Decodes a chunked body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size line");
        let size = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        assert_eq!(&raw[size..size + 2], b"\r\n", "chunk terminator");
        raw = &raw[size + 2..];
    }
}

pub fn methods_and_routing(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let resp = exchange(connect(addr), method, "/method", b"").unwrap();
        assert_eq!((resp.status, resp.text()), (200, method.to_owned()));
    }
    let missing = get(addr, "/missing").unwrap();
    assert_eq!(missing.status, 404);
    let wrong = exchange(connect(addr), "PUT", "/", b"").unwrap();
    assert_eq!(wrong.status, 405);
    assert!(
        wrong.header("allow").is_some_and(|a| a.contains("GET")),
        "{wrong:?}"
    );
    let query = get(addr, "/sleep?ms=abc").unwrap();
    assert_eq!(query.status, 400);
    stop(app);
}

pub fn headers_in_and_out(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    let raw = raw_exchange(
        addr,
        b"GET /headers HTTP/1.1\r\nHost: t\r\nX-Custom: abc def\r\nX-Multi: 1\r\nX-Multi: 2\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = split(&raw);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let replies: Vec<&str> = head
        .lines()
        .filter_map(|l| l.strip_prefix("x-reply:"))
        .map(str::trim)
        .collect();
    assert_eq!(
        replies,
        ["one", "two"],
        "repeated response header kept\n{head}"
    );
    assert!(head.contains("content-type: application/json"), "{head}");
    let seen: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(seen["x-custom"], "abc def");
    assert_eq!(seen["x-multi"], "1, 2");
    assert_eq!(seen["host"], "t");
    stop(app);
}

pub fn large_request_body(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "body_limit = 4194304");
    let body: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let resp = post(addr, "/echo", &body).unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        resp.body == body,
        "3 MiB echoed intact ({} bytes back)",
        resp.body.len()
    );
    stop(app);
}

pub fn chunked_request_body(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    let mut raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    let mut expected = Vec::new();
    for i in 0..50 {
        let chunk = format!("part {i} of the body;");
        raw.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
        expected.extend_from_slice(chunk.as_bytes());
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let out = raw_exchange(addr, &raw);
    let (head, body) = split(&out);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    };
    assert_eq!(body, expected);
    stop(app);
}

pub fn chunked_response_body(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    let out = raw_exchange(
        addr,
        b"GET /chunked?n=4 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = split(&out);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert_eq!(dechunk(body), b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
    stop(app);
}

pub fn head_has_no_body(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    let out = raw_exchange(
        addr,
        b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = split(&out);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(body.is_empty(), "HEAD answered with a body: {body:?}");
    stop(app);
}

pub fn over_the_body_limit_is_413(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "body_limit = 1024");
    // Declared too long: refused from the head.
    let resp = post(addr, "/echo", &[b'x'; 2048]).unwrap();
    assert_eq!(resp.status, 413);
    // Chunked, no length declared: refused once the limit is passed.
    let mut raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..4 {
        raw.extend_from_slice(b"200\r\n");
        raw.extend_from_slice(&[b'y'; 0x200]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let out = raw_exchange(addr, &raw);
    let (head, _) = split(&out);
    assert!(head.starts_with("http/1.1 413"), "{head}");
    // Exactly at the limit is fine.
    let resp = post(addr, "/echo", &[b'z'; 1024]).unwrap();
    assert_eq!((resp.status, resp.body.len()), (200, 1024));
    stop(app);
}

pub fn malformed_request_line_is_400(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    for garbage in [
        &b"this is not http\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost t\r\n\r\n",
    ] {
        let mut s = connect(addr);
        s.write_all(garbage).unwrap();
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 400"), "{garbage:?} -> {line:?}");
    }
    // The server is unharmed.
    assert_eq!(get(addr, "/").unwrap().status, 200);
    stop(app);
}

pub fn keep_alive_serves_many_requests_on_one_connection(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    let mut client = KeepAlive::new(addr);
    for i in 0..50 {
        // `Ok` means 200 without `Connection: close`; the client reconnects
        // only after a close, so all 50 went over one connection.
        let outcome = client.request("POST", "/echo", format!("{i}").as_bytes());
        assert!(matches!(outcome, Outcome::Ok), "request {i}: {outcome:?}");
    }
    stop(app);
}

/// Waits (up to 20 s) for the server to end the connection; returns what it sent.
fn read_until_closed(mut s: TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("server never closed the connection: {e}"));
    out
}

pub fn idle_keep_alive_connection_is_closed_after_keep_alive(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "keep_alive = \"300ms\"");
    let mut s = connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let out = read_until_closed(s);
    let (head, body) = split(&out);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"Hello, world!", "the response, then the close");
    stop(app);
}

pub fn half_sent_head_is_closed_after_request_timeout(adapter: &Adapter) {
    let (app, addr, _dir) = serve(
        adapter,
        "keep_alive = \"300ms\"\nrequest_timeout = \"300ms\"",
    );
    let mut s = connect(addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .unwrap();
    let out = read_until_closed(s);
    // Closed without an answer, or with a 408: never a 200.
    assert!(
        out.is_empty() || out.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    stop(app);
}

pub fn slow_streamed_response_outlives_keep_alive(adapter: &Adapter) {
    // Gaps between chunks longer than keep_alive and request_timeout
    // together: the response is in progress, so the connection is not idle
    // and must not be closed.
    let (app, addr, _dir) = serve(
        adapter,
        "keep_alive = \"300ms\"\nrequest_timeout = \"300ms\"",
    );
    // So is a slow handler.
    let slept = get(addr, "/sleep?ms=1500").unwrap();
    assert_eq!(
        (slept.status, slept.text().as_str()),
        (200, "slept 1500 ms\n")
    );
    let out = raw_exchange(
        addr,
        b"GET /drip?n=3&ms=700 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = split(&out);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(dechunk(body), b"drip 0\ndrip 1\ndrip 2\n");
    stop(app);
}
