//! HTTP/2 with real clients (curl, nghttp2's `nghttp` and `h2load`): h2c
//! with prior knowledge and h2 by TLS ALPN beside HTTP/1.1 on one listener,
//! `http.versions`, bodies, 100 streams at once, and the drain on the wire.

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use crate::app::{counted, sleep_started};
use crate::requests::{serve, stop};
use crate::support::h2::{flag, kind, Frame, H2Load, RawH2};
use crate::support::tls::TestCert;
use crate::support::*;
use crate::Adapter;

/// Runs a client to its end; fails loudly when it is missing.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}: install it (scripts/test does)"))
}

/// `curl ARGS -w '\n%{http_version} %{response_code}'`: the body and the
/// last line, `VERSION STATUS` (`2 200`).
fn curl(args: &[&str]) -> (String, String) {
    let mut all = vec![
        "-sS",
        "--max-time",
        "20",
        "-w",
        "\n%{http_version} %{response_code}",
    ];
    all.extend_from_slice(args);
    let out = run("curl", &all);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "curl {args:?}: {}\n{text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, last) = text.rsplit_once('\n').unwrap_or(("", &text));
    (body.to_owned(), last.to_owned())
}

pub fn h2c_prior_knowledge_and_http_1_1_on_one_listener(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    let url = format!("http://{addr}/");
    assert_eq!(
        curl(&["--http2-prior-knowledge", &url]),
        ("Hello, world!".to_owned(), "2 200".to_owned())
    );
    // nghttp2's own client, verbose: a response on stream 1 over h2c.
    let out = run("nghttp", &["-v", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "nghttp: {}\n{text}", out.status);
    assert!(text.contains(":status: 200"), "{text}");
    assert!(text.contains("Hello, world!"), "{text}");
    // HEAD: the length of the GET, no body (a DATA frame would be a
    // protocol error to the client).
    let out = run("nghttp", &["-v", "-H", ":method: HEAD", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "nghttp HEAD: {}\n{text}", out.status);
    assert!(text.contains("content-length: 13"), "{text}");
    assert!(
        !text.contains("recv DATA") && !text.contains("RST_STREAM"),
        "{text}"
    );
    // HTTP/1.1 clients on the same listener, before and after.
    assert_eq!(curl(&["--http1.1", &url]).1, "1.1 200");
    assert_eq!(get(addr, "/").unwrap().text(), "Hello, world!");
    let log = app.stderr.text();
    assert!(
        log.contains("h2 and http/1.1"),
        "the ready line names the versions:\n{log}"
    );
    stop(app);
}

pub fn tls_alpn_picks_h2_and_http_1_1_still_works(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::new(dir.path());
    let config = adapter.config(dir.path(), &format!("port = 0\n{}", cert.toml()));
    let app = Proc::spawn(adapter.with_config(&config));
    let addr = app.listening_addr();
    ok_within(Duration::from_secs(10), "/ over TLS", || {
        cert.get(addr, "/").map(|(r, _)| r)
    });
    let offered = |protocols: &[&[u8]]| cert.alpn(addr, protocols).unwrap();
    assert_eq!(offered(&[b"h2", b"http/1.1"]).as_deref(), Some(&b"h2"[..]));
    assert_eq!(
        offered(&[b"http/1.1", b"h2"]).as_deref(),
        Some(&b"h2"[..]),
        "the server's preference"
    );
    assert_eq!(offered(&[b"http/1.1"]).as_deref(), Some(&b"http/1.1"[..]));
    let url = format!("https://127.0.0.1:{}/", addr.port());
    let ca = cert.cert.display().to_string();
    assert_eq!(
        curl(&["--http2", "--cacert", &ca, &url]),
        ("Hello, world!".to_owned(), "2 200".to_owned())
    );
    assert_eq!(curl(&["--http1.1", "--cacert", &ca, &url]).1, "1.1 200");
    // nghttp negotiates h2 itself.
    let out = run("nghttp", &["-v", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("h2 is negotiated") || text.contains("The negotiated protocol: h2"),
        "{text}"
    );
    assert!(text.contains(":status: 200"), "{text}");
    stop(app);
}

pub fn versions_choose_what_is_served(adapter: &Adapter) {
    // HTTP/1.1 only: h2c with prior knowledge gets no HTTP/2 answer, ALPN
    // never picks h2.
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::new(dir.path());
    let config = adapter.config(
        dir.path(),
        &format!("port = 0\nversions = [\"http/1.1\"]\n{}", cert.toml()),
    );
    let app = Proc::spawn(adapter.with_config(&config));
    let addr = app.listening_addr();
    ok_within(Duration::from_secs(10), "/ over TLS", || {
        cert.get(addr, "/").map(|(r, _)| r)
    });
    assert_eq!(
        cert.alpn(addr, &[b"h2", b"http/1.1"]).unwrap().as_deref(),
        Some(&b"http/1.1"[..])
    );
    assert!(app
        .stderr
        .text()
        .contains("serving 1 listener(s) with TLS, http/1.1"));
    stop(app);

    let (app, addr, _dir) = serve(adapter, "versions = [\"http/1.1\"]");
    let url = format!("http://{addr}/");
    let out = run(
        "curl",
        &["-sS", "--max-time", "10", "--http2-prior-knowledge", &url],
    );
    assert!(!out.status.success(), "h2c was answered: {out:?}");
    assert_eq!(curl(&["--http1.1", &url]).1, "1.1 200");
    stop(app);

    // h2 only: an HTTP/1.1 request is closed unanswered.
    let (app, addr, _dir) = serve_h2_only(adapter);
    assert_eq!(
        curl(&["--http2-prior-knowledge", &format!("http://{addr}/")]).1,
        "2 200"
    );
    assert!(get(addr, "/").is_err(), "HTTP/1.1 was answered");
    stop(app);
}

/// The app serving h2 only (its readiness probed over h2c).
fn serve_h2_only(adapter: &Adapter) -> (Proc, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(
        dir.path(),
        "hostname = \"127.0.0.1\"\nport = 0\nversions = [\"h2\"]",
    );
    let app = Proc::spawn(adapter.with_config(&config));
    let addr = app.listening_addr();
    let url = format!("http://{addr}/healthz");
    wait_until(Duration::from_secs(10), "h2c /healthz", || {
        run(
            "curl",
            &["-sf", "--max-time", "5", "--http2-prior-knowledge", &url],
        )
        .status
        .success()
    });
    (app, addr, dir)
}

pub fn large_bodies_over_h2(adapter: &Adapter) {
    let (app, addr, dir) = serve(adapter, "body_limit = 4194304");
    let body: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let sent = dir.path().join("sent.bin");
    let got = dir.path().join("got.bin");
    std::fs::write(&sent, &body).unwrap();
    let (_, last) = curl(&[
        "--http2-prior-knowledge",
        "--data-binary",
        &format!("@{}", sent.display()),
        "-H",
        "content-type: application/octet-stream",
        "-o",
        &got.display().to_string(),
        &format!("http://{addr}/echo"),
    ]);
    assert_eq!(last.trim(), "2 200");
    assert!(
        std::fs::read(&got).unwrap() == body,
        "3 MiB echoed intact both ways"
    );
    // Over the limit: 413 before the body is read, then RST_STREAM with
    // NO_ERROR to stop the upload (RFC 9113, section 8.1). nghttp here:
    // curl 7.88 reports that reset as an error.
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![b'x'; 4 * 1024 * 1024 + 1]).unwrap();
    let out = run(
        "nghttp",
        &[
            "-v",
            "-d",
            &big.display().to_string(),
            &format!("http://{addr}/echo"),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(":status: 413"), "{text}");
    for reset in text.lines().filter(|l| l.contains("recv RST_STREAM")) {
        let at = text.find(reset).unwrap() + reset.len();
        assert!(
            text[at..].trim_start().starts_with("(error_code=NO_ERROR"),
            "{text}"
        );
    }
    assert_eq!(
        curl(&["--http2-prior-knowledge", &format!("http://{addr}/")]).1,
        "2 200"
    );
    stop(app);
}

pub fn a_hundred_streams_at_once_on_one_connection(adapter: &Adapter) {
    let (app, addr, _dir) = serve(adapter, "");
    // Each request waits in its handler until 100 are there: only 100
    // streams open at once on the one connection can all be answered.
    let url = format!("http://{addr}/barrier?n=100");
    let s = H2Load::run(&["-n", "100", "-c", "1", "-m", "100", &url]);
    assert_eq!(
        (s.succeeded, s.status_2xx, s.failed),
        (100, 100, 0),
        "{}",
        s.output
    );
    stop(app);
}

/// Lines of `nghttp -v` output that name a frame received.
fn received<'a>(text: &'a str, what: &str) -> Vec<(usize, &'a str)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(&format!("recv {what}")))
        .collect()
}

pub fn the_drain_on_the_wire(adapter: &Adapter) {
    let (mut app, addr, _dir) = serve(adapter, "shutdown_timeout = \"20s\"");
    // Two streams in flight on one connection when the drain starts.
    let urls = [
        format!("http://{addr}/sleep?ms=1500"),
        format!("http://{addr}/sleep?ms=2500"),
    ];
    let mark = app.stderr.mark();
    let client = thread::spawn(move || run("nghttp", &["-v", "-t", "20", &urls[0], &urls[1]]));
    for ms in [1500, 2500] {
        app.stderr.expect_after(
            mark,
            &sleep_started(ms),
            Duration::from_secs(20),
            "the streams reach their handlers",
        );
    }
    app.signal(libc::SIGTERM);
    let out = client.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "nghttp: {}\n{text}", out.status);
    assert_eq!(
        app.exit_code(Duration::from_secs(20)),
        0,
        "drained, not forced"
    );
    // The two-step GOAWAY, in order: 2^31-1 and a PING, then the last stream id.
    let goaways = received(&text, "GOAWAY");
    assert_eq!(goaways.len(), 2, "{text}");
    let detail = |at: usize| text.lines().nth(at + 1).unwrap_or_default();
    assert!(
        detail(goaways[0].0).contains("last_stream_id=2147483647"),
        "{text}"
    );
    assert!(detail(goaways[0].0).contains("NO_ERROR"), "{text}");
    // The last stream id is the client's last stream (nghttp numbers its
    // requests after a few streams it opens for priorities).
    let streams: Vec<u32> = text
        .lines()
        .filter_map(|l| l.split("recv (stream_id=").nth(1))
        .filter_map(|rest| rest.split(')').next()?.parse().ok())
        .collect();
    let last = streams
        .iter()
        .max()
        .unwrap_or_else(|| panic!("no response:\n{text}"));
    assert!(
        detail(goaways[1].0).contains(&format!("last_stream_id={last},")),
        "{text}"
    );
    assert!(detail(goaways[1].0).contains("NO_ERROR"), "{text}");
    let ping = received(&text, "PING")
        .into_iter()
        .find(|(_, l)| l.contains("flags=0x00"));
    let ping = ping
        .unwrap_or_else(|| panic!("no PING from the server:\n{text}"))
        .0;
    assert!(goaways[0].0 < ping && ping < goaways[1].0, "{text}");
    // Both streams in flight completed, after the drain began.
    let ends: Vec<usize> = received(&text, "DATA")
        .into_iter()
        .filter(|(_, l)| l.contains("flags=0x01"))
        .map(|(at, _)| at)
        .collect();
    assert_eq!(ends.len(), 2, "{text}");
    assert!(ends.iter().all(|&end| end > goaways[0].0), "{text}");
    assert!(
        text.contains("slept 1500 ms") && text.contains("slept 2500 ms"),
        "{text}"
    );
    assert!(!text.contains("RST_STREAM"), "no stream was reset:\n{text}");
}

/// Reads frames until the server ends the connection; returns them and how it ended.
fn read_to_end(h2: &mut RawH2) -> (Vec<Frame>, crate::support::h2::Ended) {
    match h2.read_until(|_| false) {
        Ok(_) => unreachable!("nothing is wanted"),
        Err((ended, frames)) => (frames, ended),
    }
}

pub fn a_stream_opened_after_the_final_goaway_is_never_processed(adapter: &Adapter) {
    let (mut app, addr, _dir) = serve(
        adapter,
        "shutdown_timeout = \"30s\"\ndrain_linger = \"20s\"",
    );
    let mut h2 = RawH2::connect(addr, &[]).unwrap();
    // Stream 1 keeps the connection open through the whole exchange.
    let mark = app.stderr.mark();
    h2.get(1, "/sleep?ms=5000").unwrap();
    app.stderr.expect_after(
        mark,
        &sleep_started(5000),
        Duration::from_secs(20),
        "stream 1 runs",
    );
    app.signal(libc::SIGTERM);
    app.stderr.expect_after(
        mark,
        "drain 3/4 linger",
        Duration::from_secs(20),
        "the linger begins",
    );
    // A stream answered during the linger brings the GOAWAY in front of it.
    h2.get(3, "/sleep?ms=10").unwrap();
    let (first, _) = h2
        .read_until(|f| f.kind == kind::GOAWAY)
        .unwrap_or_else(|(e, seen)| panic!("no GOAWAY ({e:?}): {seen:?}"));
    assert_eq!(first.last_stream_id(), (1 << 31) - 1, "{first:?}");
    let (ping, _) = h2
        .read_until(|f| f.kind == kind::PING && !f.has(flag::ACK))
        .unwrap_or_else(|(e, seen)| panic!("no PING ({e:?}): {seen:?}"));
    h2.send(kind::PING, flag::ACK, 0, &ping.payload).unwrap();
    let (last, before) = h2
        .read_until(|f| f.kind == kind::GOAWAY)
        .unwrap_or_else(|(e, seen)| panic!("no second GOAWAY ({e:?}): {seen:?}"));
    assert_eq!(
        (last.last_stream_id(), last.error_code()),
        (3, 0),
        "{last:?}"
    );
    // Stream 5, opened after the final GOAWAY, is above its last stream id.
    h2.get(5, "/counted").unwrap();
    let (after, ended) = read_to_end(&mut h2);
    let frames: Vec<&Frame> = before.iter().chain(&after).collect();
    let on = |id: u32| frames.iter().filter(move |f| f.stream == id);
    let data = |id: u32| -> Vec<u8> {
        on(id)
            .filter(|f| f.kind == kind::DATA)
            .flat_map(|f| f.payload.clone())
            .collect()
    };
    assert_eq!(data(3), b"slept 10 ms\n", "{frames:?}");
    assert_eq!(
        data(1),
        b"slept 5000 ms\n",
        "stream 1 completed: {frames:?}"
    );
    assert!(
        on(1).chain(on(3)).all(|f| f.kind != kind::RST_STREAM),
        "{frames:?}"
    );
    // Never processed: no answer, no reset but a refusal, no handler run.
    assert!(
        on(5).all(|f| f.kind == kind::RST_STREAM
            && f.error_code() == crate::support::h2::code::REFUSED_STREAM),
        "stream 5 was answered or reset: {frames:?}"
    );
    assert_eq!(
        ended,
        crate::support::h2::Ended::Closed,
        "closed cleanly after stream 1"
    );
    assert_eq!(app.exit_code(Duration::from_secs(20)), 0);
    let handled = app.stderr.all().iter().find_map(|l| counted(l));
    assert_eq!(
        handled,
        Some((0, 0)),
        "the request on stream 5 was never handled"
    );
}
