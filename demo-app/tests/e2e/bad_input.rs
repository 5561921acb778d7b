//! Bad input: a clear one-line error, a non-zero exit, no panic, nothing closed.

use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::demo;
use crate::support::*;

fn with_port(value: &str) -> std::process::Command {
    let mut cmd = demo();
    cmd.env("SERVER_STARTER_PORT", value);
    cmd
}

#[test]
fn malformed_server_starter_port_values() {
    let cases = [
        ("abc", "entry \"abc\": has no \"=fd\" part"),
        ("8080=", "entry \"8080=\": has no fd number"),
        ("8080=x", "fd \"x\" is not a non-negative decimal number"),
        ("8080=-3", "\"-3\" is not a non-negative"),
        ("8080=99999999999", "too large"),
        ("8080=5;8081=5", "fd 5 is listed twice"),
        ("", "set but empty"),
    ];
    for (value, needle) in cases {
        expect_error(with_port(value), &["SERVER_STARTER_PORT", needle]);
    }
}

#[test]
fn unusable_fds_are_named() {
    // A closed fd: nothing is open at 200 in the child.
    expect_error(
        with_port("8080=200"),
        &["SERVER_STARTER_PORT", "fd 200", "is not open"],
    );
    // fd 1 is stdout, a /dev/null character device here.
    expect_error(
        with_port("8080=1"),
        &["SERVER_STARTER_PORT", "fd 1", "is not a socket"],
    );
    // fd 2 is our stderr pipe.
    expect_error(
        with_port("8080=2"),
        &["SERVER_STARTER_PORT", "fd 2", "(it is a pipe)"],
    );

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cmd = with_port("8080=6");
    pass_fd(&mut cmd, udp.as_raw_fd(), 6);
    expect_error(cmd, &["SERVER_STARTER_PORT", "fd 6", "datagram (UDP)"]);

    let bound = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    bound
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let mut cmd = with_port("8080=6");
    pass_fd(&mut cmd, bound.as_raw_fd(), 6);
    expect_error(cmd, &["SERVER_STARTER_PORT", "fd 6", "not listening"]);

    let file = std::fs::File::open("/proc/self/status").unwrap();
    let mut cmd = with_port("8080=6");
    pass_fd(&mut cmd, file.as_raw_fd(), 6);
    expect_error(cmd, &["SERVER_STARTER_PORT", "fd 6", "regular file"]);
}

#[test]
fn a_bad_fd_beside_a_good_one_leaves_the_good_one_listening() {
    let good = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cmd = with_port("8080=5;8081=6");
    pass_fds(&mut cmd, vec![(good.as_raw_fd(), 5), (udp.as_raw_fd(), 6)]);
    expect_error(cmd, &["fd 6"]);
    assert!(still_listening(&good));
    std::net::TcpStream::connect(good.local_addr().unwrap()).unwrap();
}

#[test]
fn unknown_server_lists_the_registered_ones() {
    let mut cmd = demo();
    cmd.args(["--server", "engine"]);
    expect_error(
        cmd,
        &["unknown server \"engine\" (registered: actix, hyper)"],
    );
}

#[test]
fn bad_config_file_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    std::fs::write(&path, "server = \"actix\"\n[http]\nprot = 80\n").unwrap();
    let mut cmd = demo();
    cmd.arg("--config").arg(&path);
    expect_error(
        cmd,
        &[
            &path.display().to_string(),
            "line 3",
            "unknown field `prot`",
        ],
    );

    let mut cmd = demo();
    cmd.args(["--config", "/nonexistent/app.toml"]);
    expect_error(cmd, &["/nonexistent/app.toml", "cannot read it"]);
}

#[test]
fn port_flag_with_a_bind_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    std::fs::write(&path, "[listen]\nbind = [\"127.0.0.1:0\"]\n").unwrap();
    let mut cmd = demo();
    cmd.arg("--config").arg(&path).args(["--port", "9000"]);
    expect_error(cmd, &["--port", "[listen] bind"]);
}

#[test]
fn missing_tls_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    let key = dir.path().join("missing-key.pem");
    std::fs::write(
        &path,
        format!(
            "[http.security_layer.tls]\ncertificate_chain = \"{0}\"\nprivate_key = \"{0}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let mut cmd = demo();
    cmd.arg("--config").arg(&path);
    expect_error(
        cmd,
        &[
            "TLS certificate chain",
            &key.display().to_string(),
            "cannot read it",
        ],
    );
}

#[test]
fn bad_generation_is_named() {
    let mut cmd = demo();
    cmd.env("SERVER_STARTER_GENERATION", "two");
    expect_error(cmd, &["SERVER_STARTER_GENERATION", "\"two\""]);
}

#[test]
fn bind_failure_names_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut cmd = demo();
    cmd.args(["--port", &port]);
    expect_error(cmd, &[&format!("cannot bind 127.0.0.1:{port}")]);
}

#[test]
fn usage_errors_exit_2() {
    let mut cmd = demo();
    cmd.args(["--port", "http"]);
    let mut app = Proc::spawn(cmd);
    assert_eq!(app.exit_code(Duration::from_secs(5)), 2);
}
