//! Rolling replacement behind a real load balancer: HAProxy (Debian's
//! `haproxy`) in front of three demo instances on 127.0.0.1, each started
//! with the shipped `config/behind-a-load-balancer.toml` and `--server` /
//! `--port` on the command line, replaced one by one by SIGTERM and a
//! restart while clients keep sending through the balancer (keep-alive and a
//! fresh connection per request). With the shipped settings no request fails
//! at the balancer; with `drain_delay = "0s"` the failures are counted and
//! printed for comparison.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::demo;
use crate::support::*;

const SERVERS: [&str; 2] = ["actix", "hyper"];
const INSTANCES: usize = 3;

/// The shipped config every instance uses.
fn shipped_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/behind-a-load-balancer.toml")
}

/// The HAProxy settings the docs recommend: health checks on /healthz every
/// 200 ms, down after 2 failures, up after 2 successes, and no retries, so
/// any request the app mishandles shows as a failure.
fn haproxy_config(dir: &Path, servers: &[SocketAddr]) -> PathBuf {
    let mut cfg = format!(
        "global\n    stats socket {}/admin.sock level admin\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    retries 0\n\
         frontend web\n    bind fd@3\n    default_backend app\n\
         backend app\n    balance roundrobin\n    option httpchk GET /healthz\n    default-server inter 200ms fall 2 rise 2\n",
        dir.display()
    );
    for (i, addr) in servers.iter().enumerate() {
        cfg.push_str(&format!("    server s{i} {addr} check\n"));
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// Sends one command to HAProxy's runtime API and returns its answer (empty
/// while HAProxy has not opened the socket yet).
fn admin(dir: &Path, command: &str) -> String {
    let Ok(mut socket) = UnixStream::connect(dir.join("admin.sock")) else {
        return String::new();
    };
    let mut answer = String::new();
    let sent = socket.write_all(format!("{command}\n").as_bytes());
    if sent
        .and_then(|()| socket.read_to_string(&mut answer))
        .is_err()
    {
        return String::new();
    }
    answer
}

/// HAProxy's view of server `s{i}`: `UP`, `DOWN`, ...
fn state(dir: &Path, i: usize) -> String {
    let stats = admin(dir, "show stat");
    let header: Vec<&str> = stats.lines().next().unwrap_or("").split(',').collect();
    let Some(status) = header.iter().position(|h| *h == "status") else {
        return String::new();
    };
    stats
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"app") && f.get(1) == Some(&format!("s{i}").as_str()))
        .map(|f| f[status].to_owned())
        .unwrap_or_default()
}

/// A demo instance on `server` with `config`, on a port of its own choosing.
fn instance(server: &str, config: &Path) -> (Proc, SocketAddr) {
    let mut cmd = demo();
    cmd.arg("--config")
        .arg(config)
        .args(["--server", server, "--port", "0"]);
    let app = Proc::spawn(cmd);
    let addr = app.listening_addr();
    (app, addr)
}

/// What the clients saw through the balancer.
#[derive(Debug, Default)]
struct Seen {
    requests: u64,
    failures: Vec<String>,
}

/// Keep-alive clients and a client opening a fresh connection per request
/// (about 200 a second), all through the balancer, until `stop`.
fn clients(
    front: SocketAddr,
    stop: &Arc<AtomicBool>,
    done: &Arc<AtomicU64>,
) -> Vec<thread::JoinHandle<Seen>> {
    let mut handles = Vec::new();
    for _ in 0..4 {
        let (stop, done) = (stop.clone(), done.clone());
        handles.push(thread::spawn(move || {
            let mut client = KeepAlive::new(front);
            let mut seen = Seen::default();
            while !stop.load(Ordering::SeqCst) {
                match client.request("GET", "/", b"") {
                    Outcome::Ok | Outcome::OkClosed => {}
                    other => seen.failures.push(format!("keep-alive: {other:?}")),
                }
                seen.requests += 1;
                done.fetch_add(1, Ordering::SeqCst);
            }
            seen
        }));
    }
    let (stop, done) = (stop.clone(), done.clone());
    handles.push(thread::spawn(move || {
        let mut seen = Seen::default();
        while !stop.load(Ordering::SeqCst) {
            match get(front, "/") {
                Ok(r) if r.status == 200 => {}
                other => seen.failures.push(format!("fresh: {other:?}")),
            }
            seen.requests += 1;
            done.fetch_add(1, Ordering::SeqCst);
            // The client's pace: ~200 new connections a second.
            thread::sleep(Duration::from_millis(5));
        }
        seen
    }));
    handles
}

/// Replaces every instance of `server`, started with `config`, behind
/// HAProxy under load; returns what the clients saw and, per replacement,
/// the lame duck's length as the instance logged it.
fn rolling_replacement(server: &str, config: &Path) -> (Seen, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut instances: Vec<(Proc, SocketAddr)> =
        (0..INSTANCES).map(|_| instance(server, config)).collect();
    let addrs: Vec<SocketAddr> = instances.iter().map(|(_, a)| *a).collect();
    let front = TcpListener::bind("127.0.0.1:0").unwrap();
    let front_addr = front.local_addr().unwrap();
    let mut cmd = Command::new("/usr/sbin/haproxy");
    cmd.arg("-db")
        .arg("-f")
        .arg(haproxy_config(dir.path(), &addrs));
    pass_fd(&mut cmd, front.as_raw_fd(), 3);
    let _haproxy = Proc::spawn(cmd);
    for i in 0..INSTANCES {
        wait_until(
            Duration::from_secs(20),
            "HAProxy sees every instance up",
            || state(dir.path(), i) == "UP",
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let load = clients(front_addr, &stop, &done);
    let wait_requests = |n: u64| {
        let target = done.load(Ordering::SeqCst) + n;
        wait_until(
            Duration::from_secs(60),
            "requests through the balancer",
            || done.load(Ordering::SeqCst) >= target,
        );
    };
    wait_requests(200);
    let mut timings = Vec::new();
    for i in 0..INSTANCES {
        let (mut old, _) = instances.remove(i);
        let started = Instant::now();
        old.signal(libc::SIGTERM);
        assert_eq!(
            old.exit_code(Duration::from_secs(40)),
            0,
            "{}",
            old.stderr.text()
        );
        let lame_duck = old
            .stderr
            .all()
            .into_iter()
            .find(|l| l.contains("lame duck over") || l.contains("lame duck: still accepting for"))
            .unwrap_or_else(|| "no lame duck".to_owned());
        timings.push(format!(
            "s{i}: stopped {:?} after SIGTERM; {}",
            started.elapsed(),
            lame_duck.split(": ").skip(1).collect::<Vec<_>>().join(": ")
        ));
        let (new, addr) = instance(server, config);
        let answer = admin(
            dir.path(),
            &format!(
                "set server app/s{i} addr {} port {}",
                addr.ip(),
                addr.port()
            ),
        );
        assert!(!answer.contains("No such"), "{answer}");
        wait_until(Duration::from_secs(20), "the new instance comes up", || {
            state(dir.path(), i) == "UP"
        });
        instances.insert(i, (new, addr));
        wait_requests(200);
    }
    stop.store(true, Ordering::SeqCst);
    let mut seen = Seen::default();
    for handle in load {
        let part = handle.join().unwrap();
        seen.requests += part.requests;
        seen.failures.extend(part.failures);
    }
    for (mut app, _) in instances {
        app.signal(libc::SIGTERM);
        assert_eq!(app.exit_code(Duration::from_secs(40)), 0);
    }
    (seen, timings)
}

#[test]
fn every_instance_replaced_behind_haproxy_fails_no_request() {
    assert!(
        Path::new("/usr/sbin/haproxy").exists(),
        "/usr/sbin/haproxy is missing: install haproxy (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(shipped_config()).unwrap();
    let no_lame_duck = dir.path().join("no-lame-duck.toml");
    std::fs::write(
        &no_lame_duck,
        shipped.replace("drain_delay = \"auto\"", "drain_delay = \"0s\""),
    )
    .unwrap();
    for server in SERVERS {
        let (seen, timings) = rolling_replacement(server, &shipped_config());
        eprintln!(
            "{server}, shipped settings: {} requests through HAProxy, {} failed; {}",
            seen.requests,
            seen.failures.len(),
            timings.join("; ")
        );
        assert!(
            seen.failures.is_empty(),
            "{server}: {} of {} failed: {:?}",
            seen.failures.len(),
            seen.requests,
            &seen.failures[..seen.failures.len().min(10)]
        );
        let (bare, _) = rolling_replacement(server, &no_lame_duck);
        eprintln!(
            "{server}, drain_delay = \"0s\" for comparison: {} requests, {} failed",
            bare.requests,
            bare.failures.len()
        );
    }
}
