//! The app layer's middleware on every adapter: the configured order, group
//! scoping, and a panicking handler costing one 500 while its connection
//! and the process go on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::requests::{serve, stop};
use crate::support::*;
use crate::Adapter;

/// One response read from `r`: status line, headers (lowercased names), body
/// of `Content-Length` bytes.
fn read_one(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>, String) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_lowercase(), v.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    r.read_exact(&mut body).unwrap();
    (status, headers, String::from_utf8(body).unwrap())
}

pub fn app_middleware_runs_in_the_configured_order(adapter: &Adapter) {
    for (list, inward, outward) in [
        ("[\"outer\", \"inner\"]", ">outer>inner", "<inner<outer"),
        ("[\"inner\", \"outer\"]", ">inner>outer", "<outer<inner"),
        ("[\"inner\"]", ">inner", "<inner"),
    ] {
        let (app, addr, _dir) = serve(adapter, &format!("[app]\nmiddleware = {list}"));
        let resp = get(addr, "/headers").unwrap();
        assert_eq!(resp.status, 200);
        // The request as the handler saw it, and the response as it left.
        assert_eq!(resp.json()["x-trace"], inward, "{list}");
        assert_eq!(resp.header("x-trace"), Some(outward), "{list}");
        // App-wide middleware also wraps requests no route takes.
        assert_eq!(
            get(addr, "/missing").unwrap().header("x-trace"),
            Some(outward)
        );
        stop(app);
    }
}

pub fn group_middleware_wraps_only_its_routes(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    let inside = get(addr, "/grouped/inside").unwrap();
    assert_eq!((inside.status, inside.text().as_str()), (200, "inside"));
    assert_eq!(inside.header("x-group"), Some("<group"));
    for path in ["/", "/method", "/missing"] {
        assert_eq!(get(addr, path).unwrap().header("x-group"), None, "{path}");
    }
    // No app-wide middleware is configured: the tracers are not installed.
    assert_eq!(get(addr, "/").unwrap().header("x-trace"), None);
    stop(app);
}

/// GET /panic then GET / on one keep-alive connection: a 500 (its JSON
/// body returned), then a 200 on the same connection.
fn panic_then_next_request(addr: std::net::SocketAddr) -> serde_json::Value {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s);
    r.get_mut()
        .write_all(b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (status, headers, body) = read_one(&mut r);
    assert_eq!(status, 500, "{headers:?} {body}");
    assert!(
        !headers
            .iter()
            .any(|(k, v)| k == "connection" && v == "close"),
        "the connection stays open: {headers:?}"
    );
    r.get_mut()
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (status, _, text) = read_one(&mut r);
    assert_eq!((status, text.as_str()), (200, "Hello, world!"));
    serde_json::from_str(&body).unwrap()
}

pub fn a_panicking_handler_is_one_500_and_the_connection_goes_on(adapter: &Adapter) {
    // Without middleware: the router's guard answers.
    let (app, addr, _dir) = serve(adapter, "");
    for _ in 0..3 {
        let body = panic_then_next_request(addr);
        assert_eq!(body["reason"], "Internal Server Error");
        assert!(body.get("debugReason").is_none(), "{body}");
    }
    stop(app);
    // With the error middleware: the panic message outside production only.
    for (environment, debug) in [("development", true), ("production", false)] {
        let (app, addr, _dir) = serve(
            adapter,
            &format!("[app]\nenvironment = \"{environment}\"\nmiddleware = [\"error\"]"),
        );
        let body = panic_then_next_request(addr);
        assert_eq!(body["error"], true);
        assert_eq!(body["reason"], "Internal Server Error");
        let shown = body.get("debugReason").and_then(|v| v.as_str());
        if debug {
            assert_eq!(shown, Some("handler panicked: a handler bug"), "{body}");
        } else {
            assert_eq!(shown, None, "{body}");
        }
        assert_eq!(get(addr, "/").unwrap().status, 200, "the process goes on");
        stop(app);
    }
}
