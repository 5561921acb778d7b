//! The test worker. Behaviour, from its environment (`G` = its generation,
//! lists are comma-separated generations):
//! - `WORKER_FAIL_GEN`: exit 3 at once.
//! - `WORKER_NO_READY_GEN`: never send READY=1 (but serve).
//! - `WORKER_SLOW_GEN` + `WORKER_SLOW_MS`: wait that long before serving and READY=1.
//! - `WORKER_HOLD_GEN`: wait for the test's go-ahead before serving and READY=1.
//! - `WORKER_CRASH_GEN`: exit 7 at the test's go-ahead (sent once the
//!   supervisor has accepted it).
//! - `WORKER_IGNORE_STOP=1`: record stop signals but keep running.
//! - `WORKER_GRACE_MS`: after a stop signal, keep running that long.
//! - `WORKER_LINGER_GEN`: after a stop signal, keep running until the test's
//!   go-ahead.
//!
//! The test's go-ahead is SIGWINCH ([`GO`]), which is not recorded.
//!
//! Events, one JSON object per line: `start` (env, cwd, fds), `ready`,
//! `signal` (name), `exit`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use signal_hook::consts::*;
use signal_hook::iterator::Signals;

/// The test's go-ahead to a worker (see the module docs).
pub const GO: libc::c_int = SIGWINCH;

struct Log {
    path: PathBuf,
    pid: u32,
    generation: u64,
}

impl Log {
    fn record(&self, event: &str, mut extra: Value) {
        extra["event"] = json!(event);
        extra["pid"] = json!(self.pid);
        extra["gen"] = json!(self.generation);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)
            .unwrap();
        file.write_all(format!("{extra}\n").as_bytes()).unwrap();
    }
}

fn name(signal: libc::c_int) -> &'static str {
    match signal {
        SIGTERM => "TERM",
        SIGINT => "INT",
        SIGQUIT => "QUIT",
        SIGHUP => "HUP",
        SIGUSR1 => "USR1",
        _ => "USR2",
    }
}

/// Waits for the test's go-ahead, recording any other signal.
fn await_go(signals: &mut Signals, log: &Log) {
    for signal in signals.forever() {
        if signal == GO {
            return;
        }
        log.record("signal", json!({ "name": name(signal) }));
    }
}

/// Waits until `listener` has a connection (true) or `wake` is readable (false).
fn accept_or_wake(listener: RawFd, wake: RawFd) -> bool {
    let mut fds = [listener, wake].map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY (test): a valid array of two pollfd structs.
    while unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {}
    fds[1].revents == 0
}

fn listed(var: &str, generation: u64) -> bool {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .any(|g| g.trim() == generation.to_string())
}

fn int_opt(fd: RawFd, level: libc::c_int, name: libc::c_int) -> Option<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(v)
}

/// What fd `fd` is.
fn describe(fd: RawFd) -> Value {
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    let status = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    let mut d = json!({
        "fd": fd,
        "target": target,
        "cloexec": flags >= 0 && flags & libc::FD_CLOEXEC != 0,
        "nonblock": status >= 0 && status & libc::O_NONBLOCK != 0,
    });
    if !target.starts_with("socket:") {
        return d;
    }
    let kind = int_opt(fd, libc::SOL_SOCKET, libc::SO_TYPE);
    d["type"] = json!(match kind {
        Some(libc::SOCK_STREAM) => "stream",
        Some(libc::SOCK_DGRAM) => "dgram",
        _ => "other",
    });
    d["listening"] = json!(int_opt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN) == Some(1));
    d["reuseaddr"] = json!(int_opt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR) == Some(1));
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockname(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        match storage.ss_family as libc::c_int {
            libc::AF_INET => {
                let sin: libc::sockaddr_in =
                    unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                d["family"] = json!("inet");
                d["addr"] = json!(format!("{ip}:{}", u16::from_be(sin.sin_port)));
            }
            libc::AF_INET6 => {
                let sin6: libc::sockaddr_in6 =
                    unsafe { std::ptr::read((&storage as *const libc::sockaddr_storage).cast()) };
                let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                d["family"] = json!("inet6");
                d["addr"] = json!(format!("[{ip}]:{}", u16::from_be(sin6.sin6_port)));
                d["v6only"] = json!(int_opt(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) == Some(1));
            }
            libc::AF_UNIX => d["family"] = json!("unix"),
            _ => {}
        }
    }
    d
}

pub fn main(path: PathBuf) -> ! {
    let generation: u64 = std::env::var("SERVER_STARTER_GENERATION")
        .ok()
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    let log = Log {
        path,
        pid: std::process::id(),
        generation,
    };
    if listed("WORKER_FAIL_GEN", generation) {
        log.record("fail", json!({}));
        std::process::exit(3);
    }
    let mut fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    let described: Vec<Value> = fds
        .iter()
        .filter(|fd| **fd > 2)
        .map(|fd| describe(*fd))
        .filter(|d| !d["target"].as_str().unwrap().is_empty())
        .collect();
    let env: serde_json::Map<String, Value> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("SERVER_STARTER")
                || k.starts_with("FOO")
                || [
                    "NOTIFY_SOCKET",
                    "KILL_OLD_DELAY",
                    "ENVDIR",
                    "ENABLE_AUTO_RESTART",
                    "AUTO_RESTART_INTERVAL",
                ]
                .contains(&k.as_str())
        })
        .map(|(k, v)| (k, json!(v)))
        .collect();
    log.record(
        "start",
        json!({
            "env": env,
            "cwd": std::env::current_dir().unwrap().display().to_string(),
            "fds": described,
        }),
    );
    let signals = Signals::new([SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, GO]);
    let mut signals = signals.unwrap();
    if listed("WORKER_SLOW_GEN", generation) {
        // A slow start-up: the behaviour under test.
        let ms: u64 = std::env::var("WORKER_SLOW_MS").unwrap().parse().unwrap();
        std::thread::sleep(Duration::from_millis(ms));
    }
    if listed("WORKER_HOLD_GEN", generation) {
        await_go(&mut signals, &log);
    }
    // Serve on the first TCP stream listener until told to stop (a byte on `stop`).
    let (wake, mut stop) = UnixStream::pair().unwrap();
    let listener = std::env::var("SERVER_STARTER_PORT")
        .unwrap_or_default()
        .split(';')
        .filter_map(|item| item.rsplit_once('=')?.1.parse::<RawFd>().ok())
        .find(|fd| {
            let d = describe(*fd);
            d["type"] == "stream" && d["listening"] == true && d["family"] != "unix"
        });
    let server = listener.map(|fd| {
        let (generation, pid) = (generation, log.pid);
        // SAFETY (test): fd is one of the inherited listeners, used only here.
        let listener = unsafe { TcpListener::from_raw_fd(libc::dup(fd)) };
        // Non-blocking: another generation may take a connection first.
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            while accept_or_wake(listener.as_raw_fd(), wake.as_raw_fd()) {
                if let Ok((mut conn, _)) = listener.accept() {
                    conn.set_nonblocking(false).unwrap();
                    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut buf = [0u8; 16];
                    let _ = conn.read(&mut buf);
                    let _ = conn.write_all(format!("{generation} {pid}\n").as_bytes());
                }
            }
        })
    });
    if !listed("WORKER_NO_READY_GEN", generation) {
        log.record("ready", json!({}));
        if let Some(path) = std::env::var_os("NOTIFY_SOCKET") {
            let socket = UnixDatagram::unbound().unwrap();
            socket.send_to(b"READY=1", path).unwrap();
        }
    }
    if listed("WORKER_CRASH_GEN", generation) {
        await_go(&mut signals, &log);
        log.record("exit", json!({"code": 7}));
        std::process::exit(7);
    }
    let ignore = std::env::var("WORKER_IGNORE_STOP").is_ok();
    let grace: u64 = std::env::var("WORKER_GRACE_MS")
        .ok()
        .and_then(|g| g.parse().ok())
        .unwrap_or(0);
    for signal in signals.forever() {
        if signal == GO {
            continue;
        }
        let name = name(signal);
        log.record("signal", json!({ "name": name }));
        if name != "HUP" && name != "USR2" && !ignore {
            break;
        }
    }
    // Stop accepting, finish the connection in hand, then linger.
    stop.write_all(b"x").unwrap();
    if let Some(server) = server {
        server.join().unwrap();
    }
    if listed("WORKER_LINGER_GEN", generation) {
        await_go(&mut signals, &log);
    }
    // A drain of this length: the behaviour under test.
    std::thread::sleep(Duration::from_millis(grace));
    log.record("exit", json!({"code": 0}));
    std::process::exit(0);
}
