//! `SecurityLayer::Tls`: HTTPS on bound and inherited listeners with a
//! certificate made at test time, checked with a real TLS client (rustls);
//! ALPN; bad files as startup errors; a hot deploy over TLS.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::support::supervisor::{Starter, Supervised};
use crate::support::tls::TestCert;
use crate::support::*;
use crate::Adapter;

/// Asks `/whoami` over TLS until it answers, for up to 10 s.
fn whoami(cert: &TestCert, addr: SocketAddr) -> serde_json::Value {
    ok_within(Duration::from_secs(10), "/whoami over TLS", || {
        cert.get(addr, "/whoami").map(|(r, _)| r)
    })
    .json()
}

/// Plain HTTP to a TLS port gets no HTTP answer.
fn plain_http_is_not_served(addr: SocketAddr) {
    if let Ok(r) = get(addr, "/") {
        panic!("plain HTTP was answered on a TLS listener: {r:?}");
    }
}

pub fn https_on_a_bound_listener_with_http_1_1_alpn(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::new(dir.path());
    let config = adapter.config(dir.path(), &format!("port = 0\n{}", cert.toml()));
    let mut app = Proc::spawn(adapter.with_config(&config));
    let addr = app.listening_addr();
    assert_eq!(whoami(&cert, addr)["server"], adapter.name);
    let (hello, alpn) = cert.get(addr, "/").unwrap();
    assert_eq!(
        (hello.status, hello.text().as_str()),
        (200, "Hello, world!")
    );
    assert_eq!(
        alpn.as_deref(),
        Some(&b"http/1.1"[..]),
        "ALPN picks HTTP/1.1"
    );
    plain_http_is_not_served(addr);
    assert!(
        app.stderr.text().contains("with TLS"),
        "the ready line says TLS"
    );
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

pub fn https_on_an_inherited_listener_outlives_bad_and_silent_clients(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::new(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = adapter.config(
        dir.path(),
        &format!("request_timeout = \"500ms\"\n{}", cert.toml()),
    );
    let mut cmd = adapter.with_config(&config);
    cmd.env("SERVER_STARTER_PORT", format!("{addr}=5"));
    pass_fd(&mut cmd, listener.as_raw_fd(), 5);
    let mut app = Proc::spawn(cmd);
    assert_eq!(app.listening_addr(), addr);
    assert_eq!(whoami(&cert, addr)["server"], adapter.name);

    // A client that does not trust the certificate fails its handshake...
    let stranger = TestCert::new(tempfile::tempdir().unwrap().path());
    assert!(stranger.get(addr, "/").is_err(), "an untrusted certificate");
    // ...a client that never starts one is closed by the request timeout...
    // (2.5 s: under actix's own 3 s default, so our 500 ms must be the one applied.)
    let mut silent = TcpStream::connect(addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_millis(2500)))
        .unwrap();
    let mut buf = [0u8; 16];
    let read = silent.read(&mut buf);
    assert!(
        matches!(read, Ok(0)) || read.is_err(),
        "closed without a byte: {read:?}"
    );
    assert!(
        !matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "closed before the client's own 2.5 s timeout"
    );
    // ...and the server goes on serving.
    let (hello, _) = cert.get(addr, "/").unwrap();
    assert_eq!(hello.status, 200);

    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    assert!(still_listening(&listener));
}

/// A connection accepted before the drain whose client starts its handshake
/// only once the drain runs (a slow client, a long round trip) is answered:
/// the server may not count it as closed while it handshakes.
pub fn a_handshake_started_during_the_drain_is_answered(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::new(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = adapter.config(dir.path(), &cert.toml());
    let mut cmd = adapter.with_config(&config);
    cmd.env("SERVER_STARTER_PORT", format!("{addr}=5"));
    pass_fd(&mut cmd, listener.as_raw_fd(), 5);
    let mut app = Proc::spawn(cmd);
    assert_eq!(whoami(&cert, addr)["server"], adapter.name);

    let early = TcpStream::connect(addr).unwrap();
    // Accepted by the server, still without a handshake.
    wait_accepted(addr);
    let mark = app.stderr.mark();
    app.signal(libc::SIGTERM);
    // The handshake starts once accepting has stopped.
    app.stderr.expect_after(
        mark,
        "drain 3/4 linger",
        Duration::from_secs(10),
        "the drain runs",
    );
    let answer = cert.get_on(early, "/").expect("answered during the drain");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("connection"), Some("close"));
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

/// TLS on an inherited unix socket is served, and the path is never unlinked.
pub fn tls_on_a_unix_socket_is_served(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::new(dir.path());
    let path = dir.path().join("tls.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let config = adapter.config(dir.path(), &cert.toml());
    let mut cmd = adapter.with_config(&config);
    cmd.env("SERVER_STARTER_PORT", format!("{}=5", path.display()));
    pass_fd(&mut cmd, listener.as_raw_fd(), 5);
    let mut app = Proc::spawn(cmd);
    ok_within(Duration::from_secs(10), "/ over TLS on unix", || {
        cert.get_unix(&path, "/")
    });
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    assert!(path.exists(), "an inherited path is never unlinked");
    assert!(still_listening(&listener));
}

pub fn bad_certificate_or_key_exits_1_naming_the_file(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let cert = TestCert::new(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
    let missing = dir.path().join("missing-key.pem");
    let cases = [
        (
            cert.cert.clone(),
            missing.clone(),
            "TLS private key",
            &missing,
        ),
        (
            garbage.clone(),
            cert.key.clone(),
            "TLS certificate chain",
            &garbage,
        ),
    ];
    for (chain, key, what, named) in &cases {
        let extra = format!(
            "[http.security_layer.tls]\ncertificate_chain = {:?}\nprivate_key = {:?}\n",
            chain.display().to_string(),
            key.display().to_string()
        );
        let config = adapter.config(dir.path(), &extra);
        let mut cmd = adapter.with_config(&config);
        cmd.env(
            "SERVER_STARTER_PORT",
            format!("{}=5", listener.local_addr().unwrap()),
        );
        pass_fd(&mut cmd, listener.as_raw_fd(), 5);
        expect_error(cmd, &[what, &named.display().to_string()]);
        assert!(
            still_listening(&listener),
            "the inherited socket is untouched"
        );
    }
}

/// Clients making a new TLS connection per request, while `start_server`
/// replaces generation 1 with 2 and 3: every request is answered.
pub fn hot_deploy_over_tls_fails_no_request(adapter: &Adapter, starter: Starter) {
    let dir = tempfile::tempdir().unwrap();
    let cert = Arc::new(TestCert::new(dir.path()));
    let config = adapter.config(dir.path(), &cert.toml());
    let probe_cert = cert.clone();
    let mut sup = Supervised::start_probed(
        starter,
        &[],
        &adapter.with_config(&config),
        Arc::new(move |addr, path| probe_cert.get(addr, path).map(|(r, _)| r)),
    );
    let addr = sup.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (cert, stop, answered) = (cert.clone(), stop.clone(), answered.clone());
            thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match cert.get(addr, "/") {
                        Ok((r, _)) if r.status == 200 => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        other => failures.push(format!("{other:?}")),
                    }
                }
                failures
            })
        })
        .collect();
    // Each generation answers some of the load before the next HUP.
    let answered_more = |n: u64| {
        let target = answered.load(Ordering::Relaxed) + n;
        wait_until(Duration::from_secs(60), "TLS requests answered", || {
            answered.load(Ordering::Relaxed) >= target
        });
    };
    for generation in [2, 3] {
        answered_more(20);
        sup.hup_and_wait_for(generation);
    }
    answered_more(20);
    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let answered = answered.load(Ordering::Relaxed);
    eprintln!("{answered} TLS requests answered across 2 HUPs");
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert!(answered > 0);
    sup.stop();
}
