//! Listeners: inherited through `SERVER_STARTER_PORT` (TCP v4 and v6, unix),
//! selected by config, or bound when unsupervised.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use crate::support::*;
use crate::Adapter;

/// Serves `listener` inherited as fd 7 of generation 7, checks a few answers,
/// stops with TERM, and checks the socket is still listening afterwards.
fn inherited_tcp(adapter: &Adapter, listener: TcpListener) {
    let addr = listener.local_addr().unwrap();
    let mut cmd = adapter.command();
    cmd.env("SERVER_STARTER_PORT", format!("{addr}=7"))
        .env("SERVER_STARTER_GENERATION", "7");
    pass_fd(&mut cmd, listener.as_raw_fd(), 7);
    let mut app = Proc::spawn(cmd);
    assert_eq!(app.listening_addr(), addr);

    let who = get_ok(addr, "/whoami", Duration::from_secs(10)).json();
    assert_eq!(who["generation"], 7);
    assert_eq!(who["server"], adapter.name);
    assert_eq!(who["pid"], app.pid());
    let hello = get(addr, "/").unwrap();
    assert_eq!(
        (hello.status, hello.text().as_str()),
        (200, "Hello, world!")
    );

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

pub fn tcp_v4_listener_served_and_left_listening(adapter: &Adapter) {
    inherited_tcp(adapter, TcpListener::bind("127.0.0.1:0").unwrap());
}

pub fn tcp_v6_listener_served(adapter: &Adapter) {
    let listener = TcpListener::bind("[::1]:0").expect("IPv6 loopback ::1 is needed");
    assert!(matches!(listener.local_addr().unwrap(), SocketAddr::V6(_)));
    inherited_tcp(adapter, listener);
}

pub fn unix_socket_served_and_never_unlinked(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app=1.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let mut cmd = adapter.command();
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
    assert_eq!(
        (who["generation"].as_u64(), who["server"].as_str()),
        (Some(3), Some(adapter.name))
    );
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    assert!(path.exists(), "the inherited path must not be unlinked");
    assert!(still_listening(&listener));
}

pub fn only_the_selected_socket_is_served(adapter: &Adapter) {
    let a = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr_a, addr_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(dir.path(), &format!("[listen]\ninherit = [\"{addr_b}\"]"));
    let mut cmd = adapter.with_config(&config);
    cmd.env("SERVER_STARTER_PORT", format!("{addr_a}=5;{addr_b}=6"));
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

pub fn binds_the_configured_address_when_unsupervised(adapter: &Adapter) {
    // Port 0: the kernel picks, the log says which; no "find a free port" race.
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(dir.path(), "hostname = \"127.0.0.1\"\nport = 0");
    let mut app = Proc::spawn(adapter.with_config(&config));
    let addr = app.listening_addr();
    let who = get_ok(addr, "/whoami", Duration::from_secs(10)).json();
    assert!(who["generation"].is_null());
    app.signal(libc::SIGINT);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

pub fn binds_a_unix_socket_from_config_with_its_mode_and_removes_it(adapter: &Adapter) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.sock");
    // A socket file left by a process that is gone is replaced.
    drop(UnixListener::bind(&path).unwrap());
    let config = adapter.config(
        dir.path(),
        &format!(
            "[listen]\nbind = [\"127.0.0.1:0\", {:?}]\nunix_mode = 0o600",
            path.display().to_string()
        ),
    );
    let mut app = Proc::spawn(adapter.with_config(&config));
    let addr = app.listening_addr();
    app.stderr
        .wait_for(Duration::from_secs(20), |l| {
            l.contains("ready:").then_some(())
        })
        .expect("ready");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let who = get_unix(&path, "/whoami").unwrap().json();
    assert_eq!(who["server"], adapter.name);
    assert_eq!(get(addr, "/").unwrap().status, 200, "and the TCP address");
    assert!(app.stderr.text().contains(&format!(
        "listening on unix:{} (bound by this process)",
        path.display()
    )));
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    assert!(!path.exists(), "a socket file we bound is removed at exit");
}
