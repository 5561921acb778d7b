//! fd hygiene: a process the app spawns holds none of the app's listeners,
//! whether they were bound, inherited from a Server::Starter supervisor or
//! passed by systemd, nor any of its connections.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::requests::stop;
use crate::support::*;
use crate::Adapter;

/// `socket:[INODE]`, as `/proc/PID/fd` links name a socket, for an fd of ours.
fn socket_link(fd: &impl AsRawFd) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .display()
        .to_string()
}

/// The fds (number → link target) of a shell the app at `addr` spawned.
fn child_fds(addr: SocketAddr) -> BTreeMap<u32, String> {
    let listing = get_ok(addr, "/child-fds", Duration::from_secs(10)).text();
    let fds: BTreeMap<u32, String> = listing
        .lines()
        .map(|l| {
            let (fd, target) = l.split_once(' ').unwrap();
            (fd.parse().unwrap(), target.to_owned())
        })
        .collect();
    // The listing itself works: the shell's stdout pipe is there.
    assert!(
        fds.get(&1).is_some_and(|t| t.starts_with("pipe:")),
        "{fds:?}"
    );
    fds
}

fn sockets(fds: &BTreeMap<u32, String>) -> Vec<(u32, &str)> {
    fds.iter()
        .filter(|(_, t)| t.starts_with("socket:"))
        .map(|(fd, t)| (*fd, t.as_str()))
        .collect()
}

pub fn children_of_the_app_hold_none_of_its_sockets(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();

    // Bound by the app: a TCP and a unix listener, and the connection the
    // request comes in on.
    let sock = dir.path().join("bound.sock");
    let config = adapter.config(
        dir.path(),
        &format!("[listen]\nbind = [\"127.0.0.1:0\", \"{}\"]", sock.display()),
    );
    let app = Proc::spawn(adapter.with_config(&config));
    let fds = child_fds(app.listening_addr());
    assert_eq!(sockets(&fds), vec![], "bound: {fds:?}");
    stop(app);

    // Inherited from Server::Starter: fd 5 is served, fd 6 is not selected.
    // fd 6 is left as it came, inheritable, so it shows that a socket leaked
    // to the child would be seen.
    let served = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let (addr, other_addr) = (served.local_addr().unwrap(), other.local_addr().unwrap());
    let config = adapter.config(dir.path(), &format!("[listen]\ninherit = [\"{addr}\"]"));
    let mut cmd = adapter.with_config(&config);
    cmd.env("SERVER_STARTER_PORT", format!("{addr}=5;{other_addr}=6"));
    pass_fds(
        &mut cmd,
        vec![(served.as_raw_fd(), 5), (other.as_raw_fd(), 6)],
    );
    let app = Proc::spawn(cmd);
    assert_eq!(app.listening_addr(), addr);
    let fds = child_fds(addr);
    assert_eq!(
        sockets(&fds),
        vec![(6, socket_link(&other).as_str())],
        "Server::Starter: only the socket the app did not take: {fds:?}"
    );
    stop(app);

    // Passed by systemd (LISTEN_PID set to the app's own pid by `sh`).
    let activated = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = with_listen_vars(&adapter.command(), "LISTEN_PID=$$ LISTEN_FDS=1");
    pass_fd(&mut cmd, activated.as_raw_fd(), 3);
    let app = Proc::spawn(cmd);
    let fds = child_fds(activated.local_addr().unwrap());
    assert_eq!(sockets(&fds), vec![], "systemd: {fds:?}");
    stop(app);
}
