//! Test helpers shared by handover's test suites (the conformance suite,
//! demo-app's end-to-end tests, the adapters' native-mode tests and the
//! supervisor's tests): spawn a server (alone or under a supervisor), pass
//! fds, speak HTTP/1.1, HTTP/2 (nghttp2's h2load, hyper's client, frames)
//! and TLS, wait for events. Not published.

// Test code: a failed step is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod h2;
pub mod h2client;
pub mod load;
pub mod native;
pub mod supervisor;
pub mod tls;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Lines a child wrote to stderr, collected by a thread, and whether the
/// pipe has closed (every writer gone).
#[derive(Clone, Default)]
pub struct Lines(Arc<(Mutex<Collected>, Condvar)>);

#[derive(Default)]
struct Collected {
    lines: Vec<String>,
    closed: bool,
}

impl Lines {
    fn push(&self, line: String) {
        let (m, c) = &*self.0;
        m.lock().unwrap().lines.push(line);
        c.notify_all();
    }

    fn close(&self) {
        let (m, c) = &*self.0;
        m.lock().unwrap().closed = true;
        c.notify_all();
    }

    /// Waits up to `timeout` until the pipe has closed and every line is
    /// in; says whether it did.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (m, c) = &*self.0;
        let mut got = m.lock().unwrap();
        while !got.closed {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            got = c.wait_timeout(got, deadline - now).unwrap().0;
        }
        true
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.0 .0.lock().unwrap().lines.clone()
    }

    /// Waits for a line for which `f` returns `Some`, scanning from the start.
    pub fn wait_for<T>(&self, timeout: Duration, f: impl Fn(&str) -> Option<T>) -> Option<T> {
        self.wait_for_after(0, timeout, f)
    }

    /// How many lines have arrived so far (a mark for [`Lines::wait_for_after`]).
    pub fn mark(&self) -> usize {
        self.0 .0.lock().unwrap().lines.len()
    }

    /// Waits until a line after `mark` contains `needle`; panics naming
    /// `what`, with every line so far, if none does within `timeout`.
    pub fn expect_after(&self, mark: usize, needle: &str, timeout: Duration, what: &str) {
        if self
            .wait_for_after(mark, timeout, |l| l.contains(needle).then_some(()))
            .is_none()
        {
            panic!(
                "{what}: no line with {needle:?} within {timeout:?}\n{}",
                self.all().join("\n")
            );
        }
    }

    /// Like [`Lines::wait_for`], scanning only lines after `mark`.
    pub fn wait_for_after<T>(
        &self,
        mark: usize,
        timeout: Duration,
        f: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let (m, c) = &*self.0;
        let mut got = m.lock().unwrap();
        loop {
            if let Some(v) = got.lines.iter().skip(mark).find_map(|l| f(l)) {
                return Some(v);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            got = c.wait_timeout(got, deadline - now).unwrap().0;
        }
    }

    /// Everything the child wrote to stderr so far, one line each.
    pub fn text(&self) -> String {
        self.all().join("\n")
    }
}

/// A spawned process whose stderr is collected; killed (with its process group) on drop.
pub struct Proc {
    /// The running child.
    pub child: Child,
    /// The child's stderr, read by a thread.
    pub stderr: Lines,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` in its own process group with stderr collected.
    pub fn spawn(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = cmd.spawn().expect("spawn");
        let stderr = Lines::default();
        let pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                eprintln!("  | {line}");
                sink.push(line);
            }
            sink.close();
        });
        Proc {
            child,
            stderr,
            status: None,
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` to the child.
    pub fn signal(&self, sig: i32) {
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0, "kill {sig}");
    }

    /// Waits for the exit, up to `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                self.status = Some(s);
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the exit code; fails the test after `timeout`.
    pub fn exit_code(&mut self, timeout: Duration) -> i32 {
        let status = self
            .wait(timeout)
            .unwrap_or_else(|| panic!("no exit within {timeout:?}\n{}", self.stderr.text()));
        // Let the reader thread collect the last lines (a descendant that
        // still holds the pipe only delays this, up to 2 s).
        self.stderr.wait_closed(Duration::from_secs(2));
        status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {status:?}"))
    }

    /// The TCP address from handover's "listening on ADDR" log line.
    pub fn listening_addr(&self) -> SocketAddr {
        self.stderr
            .wait_for(Duration::from_secs(20), |l| {
                let rest = l.split("listening on ").nth(1)?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or_else(|| panic!("no listening line\n{}", self.stderr.text()))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() && self.child.try_wait().ok().flatten().is_none() {
            unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd`, expects exit 1 within 5 s and exactly one error line
/// containing every needle.
pub fn expect_error(cmd: std::process::Command, needles: &[&str]) {
    let mut app = Proc::spawn(cmd);
    let code = app.exit_code(Duration::from_secs(5));
    let text = app.stderr.text();
    assert_eq!(code, 1, "{text}");
    assert!(!text.contains("panicked"), "{text}");
    let errors: Vec<String> = app
        .stderr
        .all()
        .into_iter()
        .filter(|l| l.contains("error"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{text}");
    for needle in needles {
        assert!(
            errors[0].contains(needle),
            "{needle:?} missing in {:?}",
            errors[0]
        );
    }
}

/// The end of a server child process: logs at info, runs `serve`, and exits
/// with its code, or with 1 after one `WHAT: error: ...` line.
pub fn run_child(
    what: &str,
    serve: impl FnOnce() -> Result<handover::Outcome, handover::Error>,
) -> ! {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let code = match serve() {
        Ok(outcome) => i32::from(outcome.exit_code()),
        Err(e) => {
            eprintln!("{what}: error: {}", e.chain());
            1
        }
    };
    std::process::exit(code);
}

/// Makes `src` (open in this process) appear as fd `dst` in the child, without close-on-exec.
pub fn pass_fd(cmd: &mut Command, src: RawFd, dst: RawFd) {
    let pairs = vec![(src, dst)];
    pass_fds(cmd, pairs);
}

/// Like [`pass_fd`] for several fds. Sources are first moved above every target so
/// one `dup2` cannot overwrite another's source.
pub fn pass_fds(cmd: &mut Command, pairs: Vec<(RawFd, RawFd)>) {
    unsafe {
        cmd.pre_exec(move || {
            let mut moved = Vec::with_capacity(pairs.len());
            for &(src, dst) in &pairs {
                let high = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 100);
                if high < 0 {
                    return Err(io::Error::last_os_error());
                }
                moved.push((high, dst));
            }
            for (high, dst) in moved {
                if libc::dup2(high, dst) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// The headers, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Resp {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// Sends one request with `Connection: close` and reads the whole response.
pub fn exchange<S: Read + Write>(s: S, method: &str, path: &str, body: &[u8]) -> io::Result<Resp> {
    exchange_with(s, method, path, &[], body)
}

/// Like [`exchange`], with extra headers.
pub fn exchange_with<S: Read + Write>(
    mut s: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Resp> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut reader = BufReader::new(s);
    let mut resp = read_response(&mut reader)?;
    // Connection: close: the server must end the connection after the response.
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest)?;
    if resp.header("content-length").is_none() {
        resp.body = rest;
    }
    Ok(resp)
}

/// Reads one response: status line, headers, and a body of `Content-Length` bytes.
fn read_response<R: BufRead>(r: &mut R) -> io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof in head"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if let Some(length) = resp.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| io::Error::other(format!("bad content-length {length:?}")))?;
        resp.body = vec![0; length];
        r.read_exact(&mut resp.body)?;
    }
    Ok(resp)
}

fn tcp(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    Ok(s)
}

/// `method path` with `headers` and `body` on a new connection.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Resp> {
    exchange_with(tcp(addr)?, method, path, headers, body)
}

/// `GET path` on a new connection.
pub fn get(addr: SocketAddr, path: &str) -> io::Result<Resp> {
    exchange(tcp(addr)?, "GET", path, b"")
}

/// `POST path` with `body` on a new connection.
pub fn post(addr: SocketAddr, path: &str, body: &[u8]) -> io::Result<Resp> {
    exchange(tcp(addr)?, "POST", path, body)
}

/// `GET uri` over the unix socket at `path`.
pub fn get_unix(path: &Path, uri: &str) -> io::Result<Resp> {
    let s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    exchange(s, "GET", uri, b"")
}

/// GETs `path` until it answers 200, for up to `timeout`.
pub fn get_ok(addr: SocketAddr, path: &str, timeout: Duration) -> Resp {
    ok_within(timeout, path, || get(addr, path))
}

/// Calls `ask` until it answers 200, for up to `timeout`; `what` names it in the failure.
pub fn ok_within(timeout: Duration, what: &str, ask: impl Fn() -> io::Result<Resp>) -> Resp {
    let deadline = Instant::now() + timeout;
    loop {
        match ask() {
            Ok(r) if r.status == 200 => return r,
            other if Instant::now() >= deadline => panic!("{what}: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Gives `to` the program, arguments and environment changes of `from`, after
/// what `to` already has: to run `from` under a wrapper (a supervisor, `sh`).
pub fn wrap(to: &mut Command, from: &Command) {
    to.arg(from.get_program()).args(from.get_args());
    for (key, value) in from.get_envs() {
        match value {
            Some(value) => to.env(key, value),
            None => to.env_remove(key),
        };
    }
}

/// `sh -c 'VARS exec app'` for `app`: `exec` keeps the shell's pid, so
/// `LISTEN_PID=$$` in `vars` names the app (systemd's variables meant for it).
pub fn with_listen_vars(app: &Command, vars: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(r#"{vars} exec "$@""#)).arg("sh");
    wrap(&mut cmd, app);
    cmd
}

/// Whether `fd` in this process is still a listening socket.
pub fn still_listening(fd: &impl AsRawFd) -> bool {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut v as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && v == 1
}

/// Calls `done` until it says true, for up to `timeout`; panics naming
/// `what` otherwise. For states no event announces (a process gone, a
/// queue drained), polled every 5 ms.
pub fn wait_until(timeout: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How many connections wait in the accept queue of the TCP socket
/// listening on `addr` (from `/proc/net/tcp` or `tcp6`: a listening
/// socket's `rx_queue` is its accept queue); `None` if no such socket.
pub fn accept_queue(addr: SocketAddr) -> Option<u64> {
    let table = if addr.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let text = std::fs::read_to_string(table).ok()?;
    let port = format!(":{:04X}", addr.port());
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, state, queues) = (fields.get(1)?, fields.get(3)?, fields.get(4)?);
        if *state != "0A" || !local.ends_with(&port) {
            return None;
        }
        let rx = queues.split(':').nth(1)?;
        u64::from_str_radix(rx, 16).ok()
    })
}

/// How many established TCP connections the server listening on `addr`
/// has (accepted or still queued), from `/proc/net/tcp` or `tcp6`.
pub fn established(addr: SocketAddr) -> usize {
    let table = if addr.is_ipv4() {
        "/proc/net/tcp"
    } else {
        "/proc/net/tcp6"
    };
    let text = std::fs::read_to_string(table).unwrap_or_default();
    let port = format!(":{:04X}", addr.port());
    text.lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            matches!((fields.get(1), fields.get(3)), (Some(local), Some(&"01")) if local.ends_with(&port))
        })
        .count()
}

/// Waits until every connection made to the listener on `addr` so far has
/// been accepted by a server process.
pub fn wait_accepted(addr: SocketAddr) {
    wait_until(
        Duration::from_secs(20),
        "the connection is accepted",
        || accept_queue(addr) == Some(0),
    );
}

/// Whether process `pid` still exists (a zombie counts as gone).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Whether process `pid` is gone and reaped: not even a zombie is left.
pub fn reaped(pid: i32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// How one keep-alive request ended.
#[derive(Debug)]
pub enum Outcome {
    /// 200, and the connection stays open.
    Ok,
    /// 200 with `Connection: close`: the server retired the connection cleanly.
    OkClosed,
    /// Anything else: no response, a reset, a non-200 status.
    Failed(String),
}

/// A client that keeps one connection open across requests, like a browser or a
/// pooling proxy, and reconnects only after a `Connection: close` response.
pub struct KeepAlive {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl KeepAlive {
    /// A client that has not connected yet.
    pub fn new(addr: SocketAddr) -> KeepAlive {
        KeepAlive { addr, conn: None }
    }

    /// Sends one request, reconnecting first if the server closed the last connection.
    pub fn request(&mut self, method: &str, path: &str, body: &[u8]) -> Outcome {
        self.request_with(method, path, &[], body)
    }

    /// Like [`KeepAlive::request`], with extra headers.
    pub fn request_with(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Outcome {
        match self.try_request(method, path, headers, body) {
            Ok((200, false)) => Outcome::Ok,
            Ok((200, true)) => {
                self.conn = None;
                Outcome::OkClosed
            }
            Ok((status, _)) => {
                self.conn = None;
                Outcome::Failed(format!("status {status}"))
            }
            Err(e) => {
                let reused = self.conn.is_some();
                self.conn = None;
                Outcome::Failed(format!("{e} (reused connection: {reused})"))
            }
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<(u16, bool)> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
            s.set_read_timeout(Some(Duration::from_secs(20)))?;
            s.set_nodelay(true)?;
            self.conn = Some(BufReader::new(s));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(io::Error::other("no connection"));
        };
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        conn.get_mut().write_all(&out)?;
        let resp = read_response(conn)?;
        let close = resp
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        Ok((resp.status, close))
    }
}

/// Tallies of a load run.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Requests answered 2xx.
    pub ok: u64,
    /// Of those, how many the server closed after answering.
    pub closed_by_server: u64,
    /// What went wrong with each failed request.
    pub failed: Vec<String>,
}

impl Tally {
    /// Counts one request.
    pub fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Ok => self.ok += 1,
            Outcome::OkClosed => {
                self.ok += 1;
                self.closed_by_server += 1;
            }
            Outcome::Failed(why) => self.failed.push(why),
        }
    }

    /// Panics listing the failures, if any.
    pub fn assert_no_failures(&self) {
        assert!(
            self.failed.is_empty(),
            "{} failed, first ones: {:?}",
            self.failed.len(),
            &self.failed[..self.failed.len().min(5)]
        );
    }

    /// Adds another client's counts.
    pub fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.closed_by_server += other.closed_by_server;
        self.failed.extend(other.failed);
    }
}
