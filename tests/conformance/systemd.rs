//! systemd socket activation under the real `systemd-socket-activate`
//! (Debian package `systemd`): a TCP socket (ours, bound to port 0 and passed
//! through it as fd 3) and a unix socket it binds itself (fd 4), named with
//! `--fdname`. It starts the app on the first connection, in its own process
//! (same pid), with `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` set.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use crate::Adapter;

const ACTIVATE: &str = "/usr/bin/systemd-socket-activate";

/// Runs `app` under `systemd-socket-activate`, which listens on `unix` and
/// passes `tcp` through; the fds are named `names` (`web:local`).
fn socket_activated(app: &Command, tcp: &TcpListener, unix: &Path, names: &str) -> Command {
    assert!(
        Path::new(ACTIVATE).exists(),
        "{ACTIVATE} is missing: install the Debian package systemd (scripts/test does)"
    );
    // The outer LISTEN_* make `tcp` one of its own fds to pass on; `$$` is
    // the shell's pid, which `exec` keeps.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            r#"LISTEN_PID=$$ LISTEN_FDS=1 exec {ACTIVATE} "$@""#
        ))
        .arg("sh")
        .arg("--listen")
        .arg(unix)
        .arg(format!("--fdname={names}"));
    // It passes only the variables named with -E to the app.
    for (key, value) in app.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value).arg("-E").arg(key);
        }
    }
    cmd.arg(app.get_program()).args(app.get_args());
    pass_fd(&mut cmd, tcp.as_raw_fd(), 3);
    cmd
}

/// Starts it and waits until it listens on the unix socket too.
fn start(cmd: Command, unix: &Path) -> Proc {
    let proc = Proc::spawn(cmd);
    let line = format!("Listening on {} as 4.", unix.display());
    proc.stderr
        .wait_for(Duration::from_secs(10), |l| l.contains(&line).then_some(()))
        .unwrap_or_else(|| panic!("no {line:?}\n{}", proc.stderr.text()));
    proc
}

/// The open flags of fd `fd` of process `pid` (from `/proc/PID/fdinfo`).
fn fd_flags(pid: i32, fd: i32) -> u32 {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .map(|f| u32::from_str_radix(f.trim(), 8).unwrap())
        .unwrap()
}

/// Whether fd `fd` of process `pid` is close-on-exec.
fn close_on_exec(pid: i32, fd: i32) -> bool {
    fd_flags(pid, fd) & libc::O_CLOEXEC as u32 != 0
}

/// Whether the fd was left as it came: inheritable and blocking.
fn untouched(pid: i32, fd: i32) -> bool {
    fd_flags(pid, fd) & (libc::O_CLOEXEC | libc::O_NONBLOCK) as u32 == 0
}

fn sockets(dir: &Path) -> (TcpListener, SocketAddr, PathBuf) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = tcp.local_addr().unwrap();
    (tcp, addr, dir.join("local.sock"))
}

pub fn tcp_and_unix_sockets_named_by_systemd_are_served(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let (tcp, addr, unix) = sockets(dir.path());
    let mut app = start(
        socket_activated(&adapter.command(), &tcp, &unix, "web:local"),
        &unix,
    );
    // The first connection starts the app; it waits in the backlog meanwhile.
    let who = get_ok(addr, "/whoami", Duration::from_secs(20)).json();
    assert_eq!(who["server"], adapter.name);
    assert_eq!(
        who["pid"],
        app.pid(),
        "the app runs as the activated process"
    );
    let hello = get_unix(&unix, "/").unwrap();
    assert_eq!(
        (hello.status, hello.text().as_str()),
        (200, "Hello, world!")
    );
    let log = app.stderr.text();
    assert!(
        log.contains("(inherited fd 3 from systemd, name \"web\")"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "listening on unix:{} (inherited fd 4 from systemd, name \"local\")",
            unix.display()
        )),
        "{log}"
    );
    // Adopted fds never reach the app's child processes.
    assert!(close_on_exec(app.pid(), 3) && close_on_exec(app.pid(), 4));

    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    assert!(still_listening(&tcp));
    assert!(unix.exists(), "an inherited path is never unlinked");
}

pub fn sockets_selected_by_name_or_address_leave_the_others_as_they_were(adapter: &Adapter) {
    let dir = tempfile::tempdir().unwrap();
    let (tcp, addr, unix) = sockets(dir.path());
    // By name: only the unix socket; fd 3 is left as it was.
    let config = adapter.config(dir.path(), "[listen]\ninherit = [\"local\"]");
    let mut app = start(
        socket_activated(&adapter.with_config(&config), &tcp, &unix, "web:local"),
        &unix,
    );
    ok_within(Duration::from_secs(20), "/ on the unix socket", || {
        get_unix(&unix, "/")
    });
    assert!(close_on_exec(app.pid(), 4));
    assert!(untouched(app.pid(), 3), "an unselected fd is not touched");
    let log = app.stderr.text();
    assert_eq!(log.matches("(inherited fd").count(), 1, "{log}");
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    std::fs::remove_file(&unix).unwrap();

    // By address: only the TCP socket.
    let config = adapter.config(dir.path(), &format!("[listen]\ninherit = [\"{addr}\"]"));
    let mut app = start(
        socket_activated(&adapter.with_config(&config), &tcp, &unix, "web:local"),
        &unix,
    );
    let who = get_ok(addr, "/whoami", Duration::from_secs(20)).json();
    assert_eq!(who["server"], adapter.name);
    assert!(close_on_exec(app.pid(), 3));
    assert!(untouched(app.pid(), 4), "an unselected fd is not touched");
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

pub fn malformed_listen_fds_for_us_exits_1_naming_it(adapter: &Adapter) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cmd = with_listen_vars(&adapter.command(), "LISTEN_PID=$$ LISTEN_FDS=three");
    pass_fd(&mut cmd, tcp.as_raw_fd(), 3);
    expect_error(cmd, &["LISTEN_FDS: \"three\""]);
    let mut cmd = with_listen_vars(
        &adapter.command(),
        "LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=a:b",
    );
    pass_fd(&mut cmd, tcp.as_raw_fd(), 3);
    expect_error(cmd, &["LISTEN_FDNAMES has 2 name(s)"]);
    assert!(still_listening(&tcp));
}

pub fn listen_vars_for_another_pid_are_ignored(adapter: &Adapter) {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = adapter.config(dir.path(), "port = 0");
    // PPID: the variables a parent was given, leaked to its child.
    let mut cmd = with_listen_vars(
        &adapter.with_config(&config),
        "LISTEN_PID=$PPID LISTEN_FDS=1",
    );
    pass_fd(&mut cmd, tcp.as_raw_fd(), 3);
    let mut app = Proc::spawn(cmd);
    let addr = app.listening_addr();
    assert_ne!(addr, tcp.local_addr().unwrap(), "it binds its own");
    assert_eq!(get_ok(addr, "/", Duration::from_secs(10)).status, 200);
    assert!(untouched(app.pid(), 3), "fd 3 is not ours to touch");
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    assert!(still_listening(&tcp));
}
