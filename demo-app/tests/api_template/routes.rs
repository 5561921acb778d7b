//! Every route of the template with its status codes and bodies.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{request, Resp};
use crate::{serve, serve_with, stop};

const JSON: &str = "application/json; charset=utf-8";

fn call(addr: SocketAddr, method: &str, path: &str) -> Resp {
    request(addr, method, path, &[], b"").unwrap()
}

fn send_json(addr: SocketAddr, method: &str, path: &str, body: &str) -> Resp {
    request(
        addr,
        method,
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap()
}

/// Asserts status and content type, and returns the body as JSON.
fn json_of(resp: &Resp, status: u16) -> Value {
    assert_eq!(resp.status, status, "{resp:?} {}", resp.text());
    assert_eq!(resp.header("content-type"), Some(JSON), "{resp:?}");
    resp.json()
}

fn error(reason: &str) -> Value {
    json!({"error": true, "reason": reason})
}

pub fn every_route(server: &str) {
    let (app, addr, _dir) = serve(server, "environment = \"production\"");

    // The template's plain routes.
    let hello = call(addr, "GET", "/hello");
    assert_eq!(json_of(&hello, 200), json!({"hello": "world"}));
    let plain = call(addr, "GET", "/plaintext");
    assert_eq!(
        (
            plain.status,
            plain.header("content-type"),
            plain.text().as_str()
        ),
        (200, Some("text/plain; charset=utf-8"), "Hello, world!")
    );
    for path in ["/info", "/description"] {
        let info = request(addr, "GET", path, &[("X-Probe", "yes")], b"").unwrap();
        assert_eq!(info.status, 200);
        let text = info.text();
        assert!(
            text.starts_with(&format!("GET {path} HTTP/1.1\n")),
            "{text}"
        );
        assert!(text.contains("x-probe: yes\n"), "{text}");
    }

    // The posts resource: create, show, list.
    assert_eq!(json_of(&call(addr, "GET", "/posts"), 200), json!([]));
    let first = send_json(addr, "POST", "/posts", r#"{"content":"first"}"#);
    assert_eq!(json_of(&first, 200), json!({"id": 1, "content": "first"}));
    let second = send_json(addr, "POST", "/posts/", r#"{"content":"second"}"#);
    assert_eq!(json_of(&second, 200), json!({"id": 2, "content": "second"}));
    assert_eq!(
        json_of(&call(addr, "GET", "/posts/1"), 200),
        json!({"id": 1, "content": "first"})
    );
    assert_eq!(
        json_of(&call(addr, "GET", "/posts"), 200),
        json!([{"id": 1, "content": "first"}, {"id": 2, "content": "second"}])
    );

    // Replace, update (only the fields present), delete one.
    let replaced = send_json(addr, "PUT", "/posts/1", r#"{"content":"replaced"}"#);
    assert_eq!(
        json_of(&replaced, 200),
        json!({"id": 1, "content": "replaced"})
    );
    let patched = send_json(addr, "PATCH", "/posts/2", r#"{"content":"patched"}"#);
    assert_eq!(
        json_of(&patched, 200),
        json!({"id": 2, "content": "patched"})
    );
    let unchanged = send_json(addr, "PATCH", "/posts/2", "{}");
    assert_eq!(
        json_of(&unchanged, 200),
        json!({"id": 2, "content": "patched"})
    );
    let deleted = call(addr, "DELETE", "/posts/1");
    assert_eq!(
        (deleted.status, deleted.body.len()),
        (200, 0),
        "{deleted:?}"
    );
    assert_eq!(
        json_of(&call(addr, "GET", "/posts/1"), 404),
        error("Not Found")
    );
    assert_eq!(
        json_of(&call(addr, "DELETE", "/posts/1"), 404),
        error("Not Found")
    );

    // OPTIONS lists the methods, as Vapor's resource does.
    assert_eq!(
        json_of(&call(addr, "OPTIONS", "/posts"), 200),
        json!({"resource": "posts", "methods": ["GET", "POST", "DELETE", "OPTIONS"]})
    );
    assert_eq!(
        json_of(&call(addr, "OPTIONS", "/posts/2"), 200),
        json!({"resource": "posts/:posts_id", "methods": ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"]})
    );
    // OPTIONS on a plain route: the router's own answer.
    let options = call(addr, "OPTIONS", "/hello");
    assert_eq!(options.status, 200);
    assert_eq!(options.header("allow"), Some("GET, HEAD, OPTIONS"));

    // Unknown ids, ids that are not numbers, unknown paths: 404 JSON.
    for path in [
        "/posts/999",
        "/posts/abc",
        "/posts/1.5",
        "/nope",
        "/posts/2/extra",
    ] {
        assert_eq!(
            json_of(&call(addr, "GET", path), 404),
            error("Not Found"),
            "{path}"
        );
    }
    assert_eq!(
        json_of(
            &send_json(addr, "PUT", "/posts/999", r#"{"content":"x"}"#),
            404
        ),
        error("Not Found")
    );
    // A known path with another method: 405 with Allow, rendered as JSON.
    let wrong = call(addr, "PUT", "/hello");
    assert_eq!(json_of(&wrong, 405), error("Method Not Allowed"));
    assert_eq!(wrong.header("allow"), Some("GET, HEAD, OPTIONS"));

    // Bodies that are not JSON, or JSON without the field: 400 naming it
    // (Vapor 2 answered 500 for a missing field).
    let not_json = request(
        addr,
        "POST",
        "/posts",
        &[("Content-Type", "text/plain")],
        b"content=x",
    )
    .unwrap();
    assert_eq!(
        json_of(&not_json, 400),
        error("expected a JSON body (Content-Type: application/json)")
    );
    let cases = [
        (
            "POST",
            "/posts",
            "{",
            "invalid JSON body: EOF while parsing an object",
        ),
        (
            "POST",
            "/posts",
            "{}",
            "invalid JSON body: missing field `content`",
        ),
        (
            "PUT",
            "/posts/2",
            "{}",
            "invalid JSON body: missing field `content`",
        ),
        (
            "POST",
            "/posts",
            r#"{"content":5}"#,
            "invalid JSON body: content: invalid type: integer `5`, expected a string",
        ),
        (
            "PATCH",
            "/posts/2",
            r#"{"content":true}"#,
            "invalid JSON body: content: invalid type: boolean `true`",
        ),
    ];
    for (method, path, body, reason) in cases {
        let resp = send_json(addr, method, path, body);
        let got = json_of(&resp, 400);
        let text = got["reason"].as_str().unwrap();
        assert!(text.starts_with(reason), "{method} {path} {body}: {text}");
        assert_eq!(got["error"], true);
    }
    // Nothing was stored by the bad requests.
    assert_eq!(
        json_of(&call(addr, "GET", "/posts"), 200),
        json!([{"id": 2, "content": "patched"}])
    );

    // Delete all.
    let cleared = call(addr, "DELETE", "/posts");
    assert_eq!(
        (cleared.status, cleared.body.len()),
        (200, 0),
        "{cleared:?}"
    );
    assert_eq!(json_of(&call(addr, "GET", "/posts"), 200), json!([]));
    let third = send_json(addr, "POST", "/posts", r#"{"content":"third"}"#);
    assert_eq!(
        json_of(&third, 200),
        json!({"id": 3, "content": "third"}),
        "ids are not reused"
    );
    stop(app);
}

/// Sends a raw request head and reads until the server closes.
fn raw(addr: SocketAddr, head: &str) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

pub fn static_files(server: &str) {
    let (app, addr, _dir) = serve(server, "");
    let css = call(addr, "GET", "/styles/app.css");
    assert_eq!(css.status, 200, "{css:?}");
    assert_eq!(css.header("content-type"), Some("text/css"));
    assert_eq!(css.text(), "body { margin: 0 }\n");
    let etag = css.header("etag").expect("an ETag").to_owned();
    assert!(css.header("last-modified").is_some());

    // If-None-Match with the ETag: 304, no body.
    let again = request(
        addr,
        "GET",
        "/styles/app.css",
        &[("If-None-Match", &etag)],
        b"",
    )
    .unwrap();
    assert_eq!((again.status, again.body.len()), (304, 0), "{again:?}");
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let other = request(
        addr,
        "GET",
        "/styles/app.css",
        &[("If-None-Match", "\"other\"")],
        b"",
    )
    .unwrap();
    assert_eq!(other.status, 200);

    // A large file, streamed whole with its length.
    let big = call(addr, "GET", "/big.bin");
    assert_eq!(big.status, 200);
    assert_eq!(big.header("content-length"), Some("200000"));
    assert_eq!(big.header("content-type"), Some("application/octet-stream"));
    assert!(
        big.body == crate::big(),
        "200 KB intact ({} bytes)",
        big.body.len()
    );

    // HEAD: the headers, no body.
    let head = raw(
        addr,
        "HEAD /styles/app.css HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&head).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "no body after HEAD: {text:?}");

    // Never outside the directory: `..` raw or encoded, or a symlink out.
    for path in [
        "/../secret.txt",
        "/styles/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/link.txt",
    ] {
        let out = raw(
            addr,
            &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        );
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 403"), "{path}: {text}");
        assert!(!text.contains("outside"), "{path}: {text}");
        assert!(
            text.contains(r#"{"error":true,"reason":"Forbidden"}"#),
            "{path}: {text}"
        );
    }
    // A POST to a file's path is not a file request.
    assert_eq!(call(addr, "POST", "/styles/app.css").status, 404);
    assert_eq!(call(addr, "GET", "/styles/missing.css").status, 404);
    stop(app);
}

pub fn html_errors_for_browsers(server: &str) {
    let (app, addr, _dir) = serve(server, "environment = \"development\"");
    let bad = send_json(addr, "POST", "/posts", "{}");
    assert_eq!(json_of(&bad, 400)["error"], true);
    let html = request(
        addr,
        "GET",
        "/posts/77",
        &[("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")],
        b"",
    )
    .unwrap();
    assert_eq!(html.status, 404);
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(
        html.text().contains("<h1>404</h1><p>Not Found</p>"),
        "{}",
        html.text()
    );
    stop(app);
}

pub fn cors(server: &str) {
    let (app, addr, _dir) = serve_with(
        server,
        "[\"cors\", \"error\", \"date\", \"file\"]",
        "[app.cors]\nallowed_origin = [\"https://app.example\"]\nallow_credentials = true\nexposed_headers = [\"X-Total\"]",
    );
    // A preflight is answered by the middleware: empty 200 with the headers.
    let preflight = request(
        addr,
        "OPTIONS",
        "/posts",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(
        (preflight.status, preflight.body.len()),
        (200, 0),
        "{preflight:?}"
    );
    let want = [
        ("access-control-allow-origin", "https://app.example"),
        (
            "access-control-allow-methods",
            "GET, POST, PUT, OPTIONS, DELETE, PATCH",
        ),
        ("access-control-allow-credentials", "true"),
        ("access-control-max-age", "600"),
        ("vary", "Origin"),
    ];
    for (name, value) in want {
        assert_eq!(preflight.header(name), Some(value), "{name}: {preflight:?}");
    }
    // A request from the origin reaches the app and gets the headers, errors too.
    let listed = request(
        addr,
        "GET",
        "/posts",
        &[("Origin", "https://app.example")],
        b"",
    )
    .unwrap();
    assert_eq!((listed.status, listed.text().as_str()), (200, "[]"));
    assert_eq!(
        listed.header("access-control-expose-headers"),
        Some("X-Total")
    );
    let missing = request(
        addr,
        "GET",
        "/nope",
        &[("Origin", "https://app.example")],
        b"",
    )
    .unwrap();
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    // Another origin is not allowed; no Origin, no CORS headers at all.
    let other = request(
        addr,
        "GET",
        "/posts",
        &[("Origin", "https://evil.example")],
        b"",
    )
    .unwrap();
    assert_eq!(other.header("access-control-allow-origin"), None);
    let plain = call(addr, "GET", "/posts");
    assert_eq!(plain.header("access-control-allow-methods"), None);
    stop(app);
}
