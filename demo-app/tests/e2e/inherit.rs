//! demo-app serving sockets the test creates and passes through SERVER_STARTER_PORT.

use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use crate::support::*;

#[test]
fn serves_an_inherited_tcp_listener_and_leaves_it_listening() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cmd = demo();
    cmd.env("SERVER_STARTER_PORT", format!("{addr}=7"))
        .env("SERVER_STARTER_GENERATION", "7");
    pass_fd(&mut cmd, listener.as_raw_fd(), 7);
    let mut app = Proc::spawn(cmd);
    assert_eq!(app.listening_addr(), addr);

    let who = get_ok(addr, "/whoami", Duration::from_secs(10)).json();
    assert_eq!(who["generation"], 7);
    assert_eq!(who["server"], "actix");
    assert_eq!(who["pid"], app.pid());

    let hello = get(addr, "/").unwrap();
    assert_eq!(
        (hello.status, hello.text().as_str()),
        (200, "Hello, world!")
    );
    let echo = post(addr, "/echo", b"ping \x00\xff").unwrap();
    assert_eq!(
        (echo.status, echo.body.as_slice()),
        (200, &b"ping \x00\xff"[..])
    );
    assert_eq!(get(addr, "/healthz").unwrap().status, 200);
    assert_eq!(get(addr, "/missing").unwrap().status, 404);
    assert_eq!(get(addr, "/sleep?ms=20").unwrap().status, 200);
    assert_eq!(get(addr, "/sleep?ms=abc").unwrap().status, 400);

    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    assert!(
        app.stderr.text().contains("inherited fd 7"),
        "the log names the inherited fd"
    );
    // Our copy of the socket is untouched: still listening, connections queue.
    assert!(still_listening(&listener));
    std::net::TcpStream::connect(addr).expect("backlog still accepts");
}

#[test]
fn serves_an_inherited_unix_socket_and_never_unlinks_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app=1.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut cmd = demo();
    cmd.env("SERVER_STARTER_PORT", format!("{}=5", path.display()))
        .env("SERVER_STARTER_GENERATION", "3");
    pass_fd(&mut cmd, listener.as_raw_fd(), 5);
    let mut app = Proc::spawn(cmd);
    app.stderr
        .wait_for(Duration::from_secs(20), |l| {
            l.contains("ready:").then_some(())
        })
        .expect("ready");
    let who = get_unix(&path, "/whoami").unwrap().json();
    assert_eq!(who["generation"], 3);
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    assert!(path.exists(), "the inherited path must not be unlinked");
    assert!(still_listening(&listener));
}

#[test]
fn serves_only_the_selected_inherited_socket() {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("app.toml");
    std::fs::write(
        &config,
        format!("[http]\nworkers = 1\n[listen]\ninherit = [\"{addr_b}\"]\n"),
    )
    .unwrap();
    let mut cmd = demo();
    cmd.arg("--config")
        .arg(&config)
        .env("SERVER_STARTER_PORT", format!("{addr_a}=5;{addr_b}=6"));
    pass_fds(&mut cmd, vec![(a.as_raw_fd(), 5), (b.as_raw_fd(), 6)]);
    let mut app = Proc::spawn(cmd);
    assert_eq!(app.listening_addr(), addr_b);
    assert_eq!(get_ok(addr_b, "/", Duration::from_secs(10)).status, 200);
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    let lines = app.stderr.text();
    assert_eq!(lines.matches("(inherited fd").count(), 1, "{lines}");
    assert!(still_listening(&a) && still_listening(&b));
}

#[test]
fn binds_the_configured_address_when_unsupervised() {
    // Port 0: the kernel picks, the log says which; no "find a free port" race.
    let mut app = Proc::spawn({
        let mut cmd = demo();
        cmd.args(["--hostname", "127.0.0.1", "--port", "0"]);
        cmd
    });
    let addr = app.listening_addr();
    let who = get_ok(addr, "/whoami", Duration::from_secs(10)).json();
    assert!(who["generation"].is_null());
    app.signal(libc::SIGINT);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}
