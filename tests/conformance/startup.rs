//! Startup errors: one error line naming the input, exit 1, nothing closed.

use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;

use crate::support::*;
use crate::Adapter;

pub fn bind_failure_exits_1_naming_the_address(adapter: &Adapter) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(
        dir.path(),
        &format!("hostname = \"127.0.0.1\"\nport = {port}"),
    );
    expect_error(
        adapter.with_config(&config),
        &[&format!("cannot bind 127.0.0.1:{port}")],
    );
    assert!(still_listening(&taken));
}

pub fn stray_fd_exits_1_and_leaves_the_good_socket_listening(adapter: &Adapter) {
    let good = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cmd = adapter.command();
    cmd.env("SERVER_STARTER_PORT", "8080=5;8081=6");
    pass_fds(&mut cmd, vec![(good.as_raw_fd(), 5), (udp.as_raw_fd(), 6)]);
    expect_error(cmd, &["SERVER_STARTER_PORT", "fd 6"]);
    assert!(still_listening(&good));
    std::net::TcpStream::connect(good.local_addr().unwrap()).unwrap();
}
