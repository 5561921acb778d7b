//! Hostile supervisor input, as a table: every malformed `SERVER_STARTER_PORT`
//! or `LISTEN_*` value and every unusable fd must give one error line naming
//! the variable, exit 1 within a second without a panic, and leave the fd it
//! was handed exactly as it was (flags, offset, socket state, and it still
//! works).

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::demo;
use crate::support::*;

/// An fd handed to the app, with what it takes to check it still works.
enum Fixture {
    File(std::fs::File),
    /// The read end is passed; the write end stays here.
    Pipe(std::fs::File, std::fs::File),
    Udp(UdpSocket),
    UnixDgram(UnixDatagram),
    BoundNotListening(socket2::Socket),
    /// The accepted end is passed; the client end stays here.
    Connected(TcpStream, TcpStream),
    Listening(TcpListener),
    UnixListening {
        listener: UnixListener,
        _dir: tempfile::TempDir,
    },
}

use Fixture::*;

fn file() -> Fixture {
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(b"0123456789").unwrap();
    f.seek(SeekFrom::Start(3)).unwrap();
    File(f)
}

fn pipe() -> Fixture {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills `fds` with two new fds, owned from here on.
    let (r, w) = unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    Pipe(r.into(), w.into())
}

fn udp() -> Fixture {
    Udp(UdpSocket::bind("127.0.0.1:0").unwrap())
}

fn unix_datagram() -> Fixture {
    UnixDgram(UnixDatagram::unbound().unwrap())
}

fn bound_not_listening() -> Fixture {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    s.bind(&addr.into()).unwrap();
    BoundNotListening(s)
}

fn connected() -> Fixture {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (accepted, _) = l.accept().unwrap();
    Connected(accepted, client)
}

fn listener() -> Fixture {
    Listening(TcpListener::bind("127.0.0.1:0").unwrap())
}

/// A unix listener at a path that contains `=`.
fn unix_listener_with_equals() -> Fixture {
    // Under /tmp whatever TMPDIR says: the path must stay short enough to
    // bind and to be quoted whole in an error.
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let l = UnixListener::bind(dir.path().join("a=b.sock")).unwrap();
    UnixListening {
        listener: l,
        _dir: dir,
    }
}

impl Fixture {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            File(f) | Pipe(f, _) => f.as_fd(),
            Udp(s) => s.as_fd(),
            UnixDgram(s) => s.as_fd(),
            BoundNotListening(s) => s.as_fd(),
            Connected(s, _) => s.as_fd(),
            Listening(l) => l.as_fd(),
            UnixListening { listener: l, .. } => l.as_fd(),
        }
    }

    fn path(&self) -> String {
        match self {
            UnixListening { listener: l, .. } => l
                .local_addr()
                .unwrap()
                .as_pathname()
                .unwrap()
                .display()
                .to_string(),
            _ => panic!("not a unix listener"),
        }
    }

    /// What the app could have changed: status flags (shared with the app's
    /// copy), the file offset, and the socket's type, addresses and
    /// listening state.
    fn state(&self) -> String {
        let fd = self.fd();
        let raw = fd.as_raw_fd();
        // SAFETY: plain queries on an fd this fixture owns.
        let (flags, offset) = unsafe {
            (
                libc::fcntl(raw, libc::F_GETFL),
                libc::lseek(raw, 0, libc::SEEK_CUR),
            )
        };
        let mut out = format!("flags {flags:o} offset {offset}");
        let sock = socket2::SockRef::from(&fd);
        if let Ok(ty) = sock.r#type() {
            out += &format!(
                " type {ty:?} local {:?} peer {:?} listening {:?} error {:?}",
                sock.local_addr().ok().map(|a| format!("{a:?}")),
                sock.peer_addr().ok().map(|a| format!("{a:?}")),
                sock.is_listener().ok(),
                sock.take_error().ok().flatten().map(|e| e.to_string()),
            );
        }
        out
    }

    /// Panics unless the fd still does its job.
    fn still_works(&self) {
        match self {
            File(f) => {
                let mut f = f.try_clone().unwrap();
                let mut rest = String::new();
                f.read_to_string(&mut rest).unwrap();
                assert_eq!(rest, "3456789");
            }
            Pipe(r, w) => {
                (&*w).write_all(b"ping").unwrap();
                let mut buf = [0; 4];
                (&*r).read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"ping");
            }
            Udp(s) => {
                s.send_to(b"ping", s.local_addr().unwrap()).unwrap();
                let mut buf = [0; 8];
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                assert_eq!(s.recv(&mut buf).unwrap(), 4);
            }
            UnixDgram(_) | BoundNotListening(_) => {}
            Connected(ours, theirs) => {
                for (from, to) in [(ours, theirs), (theirs, ours)] {
                    (&*from).write_all(b"ping").unwrap();
                    to.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut buf = [0; 4];
                    (&*to).read_exact(&mut buf).unwrap();
                    assert_eq!(&buf, b"ping");
                }
            }
            Listening(l) => {
                assert!(still_listening(l));
                TcpStream::connect(l.local_addr().unwrap()).unwrap();
                l.accept().unwrap();
            }
            UnixListening { listener: l, .. } => {
                assert!(still_listening(l));
                std::os::unix::net::UnixStream::connect(self.path()).unwrap();
                l.accept().unwrap();
            }
        }
    }
}

/// The variables of one case.
enum Vars {
    Starter(String),
    /// `LISTEN_PID` is this child's own pid (set by `sh` as `$$`).
    SystemdOurs {
        fds: Option<String>,
        names: Option<String>,
    },
    /// `LISTEN_PID` as given.
    SystemdPid(String),
}

struct Case {
    what: &'static str,
    vars: Vars,
    /// Fixtures and the fd number each gets in the app.
    fds: Vec<(Fixture, RawFd)>,
    /// An `app.toml`, if the case needs one.
    config: Option<&'static str>,
    /// What the one error line must contain (the variable's name among them).
    needles: Vec<String>,
}

fn starter(
    what: &'static str,
    value: impl Into<String>,
    fds: Vec<(Fixture, RawFd)>,
    needles: &[&str],
) -> Case {
    let mut needles: Vec<String> = needles.iter().map(|n| n.to_string()).collect();
    needles.insert(0, "SERVER_STARTER_PORT".into());
    Case {
        what,
        vars: Vars::Starter(value.into()),
        fds,
        config: None,
        needles,
    }
}

fn systemd(
    what: &'static str,
    fds: Option<&str>,
    names: Option<&str>,
    passed: Vec<(Fixture, RawFd)>,
    needles: &[&str],
) -> Case {
    Case {
        what,
        vars: Vars::SystemdOurs {
            fds: fds.map(str::to_owned),
            names: names.map(str::to_owned),
        },
        fds: passed,
        config: None,
        needles: needles.iter().map(|n| n.to_string()).collect(),
    }
}

fn listen_pid(what: &'static str, pid: &str, needles: &[&str]) -> Case {
    Case {
        what,
        vars: Vars::SystemdPid(pid.into()),
        fds: vec![(listener(), 3)],
        config: None,
        needles: needles.iter().map(|n| n.to_string()).collect(),
    }
}

fn cases() -> Vec<Case> {
    let huge_key = format!("{}=5", "k".repeat(100_000));
    let with_equals = unix_listener_with_equals();
    let equals_value = format!("{}=5", with_equals.path());
    let equals_shown = format!("(key {:?})", with_equals.path());
    drop(with_equals);
    vec![
        // SERVER_STARTER_PORT: the value itself.
        starter("empty", "", vec![], &["set but empty"]),
        starter("only separators", ";;", vec![], &["set but empty"]),
        starter(
            "no =fd part",
            "8080",
            vec![],
            &["\"8080\"", "no \"=fd\" part"],
        ),
        starter("empty key", "=5", vec![], &["empty key"]),
        starter("empty fd", "8080=", vec![], &["no fd number"]),
        starter(
            "non-numeric fd",
            "8080=four",
            vec![],
            &["\"four\" is not a non-negative decimal number"],
        ),
        starter(
            "negative fd",
            "8080=-4",
            vec![],
            &["\"-4\" is not a non-negative decimal number"],
        ),
        starter(
            "fd past i32",
            "8080=2147483648",
            vec![],
            &["\"2147483648\" is too large"],
        ),
        starter(
            "fd of 40 digits",
            format!("8080={}", "9".repeat(40)),
            vec![],
            &["is too large"],
        ),
        starter(
            "huge key (100 KB), its fd not open",
            huge_key,
            vec![],
            &["(100000 bytes)", "fd 5", "is not open"],
        ),
        Case {
            what: "1,000 entries, none the configured selector picks",
            vars: Vars::Starter(
                (0..1000)
                    .map(|i| format!("127.0.0.1:{}={}", 10_000 + i, 10 + i))
                    .collect::<Vec<_>>()
                    .join(";"),
            ),
            fds: vec![],
            config: Some("[listen]\ninherit = [\"9999\"]\n"),
            needles: vec![
                "SERVER_STARTER_PORT".into(),
                "selector \"9999\" matches no entry".into(),
                "992 more".into(),
            ],
        },
        starter(
            "duplicate fds",
            "8080=5;8081=5",
            vec![(listener(), 5)],
            &["fd 5 is listed twice"],
        ),
        // SERVER_STARTER_PORT: the fds it names.
        starter("fd 0", "8080=0", vec![], &["fd 0", "is not a socket"]),
        starter("fd 1", "8080=1", vec![], &["fd 1", "is not a socket"]),
        starter("fd 2", "8080=2", vec![], &["fd 2", "(it is a pipe)"]),
        starter("closed fd", "8080=5", vec![], &["fd 5", "is not open"]),
        // The lowest free numbers: the app's own fds (its signal thread's
        // socket pair) must not be mistaken for them.
        starter(
            "fd 3, not passed",
            "8080=3",
            vec![],
            &["fd 3", "is not open"],
        ),
        starter(
            "fd 4, not passed",
            "8080=4",
            vec![],
            &["fd 4", "is not open"],
        ),
        starter(
            "largest fd, not open",
            "8080=2147483647",
            vec![],
            &["fd 2147483647", "is not open"],
        ),
        starter(
            "regular file",
            "8080=5",
            vec![(file(), 5)],
            &["fd 5", "regular file"],
        ),
        starter("pipe", "8080=5", vec![(pipe(), 5)], &["fd 5", "pipe"]),
        starter(
            "UDP socket",
            "8080=5",
            vec![(udp(), 5)],
            &["fd 5", "datagram (UDP)"],
        ),
        starter(
            "unix datagram socket",
            "/run/app.sock=5",
            vec![(unix_datagram(), 5)],
            &["fd 5", "datagram"],
        ),
        starter(
            "bound, not listening",
            "8080=5",
            vec![(bound_not_listening(), 5)],
            &["fd 5", "not listening"],
        ),
        starter(
            "connected stream",
            "8080=5",
            vec![(connected(), 5)],
            &["fd 5", "not listening"],
        ),
        starter(
            "path containing =, its fd a UDP socket",
            equals_value,
            vec![(udp(), 5)],
            &[&equals_shown, "datagram (UDP)"],
        ),
        starter(
            "a good listener beside a UDP socket",
            "8080=5;8081=6",
            vec![(listener(), 5), (udp(), 6)],
            &["fd 6", "datagram (UDP)"],
        ),
        // LISTEN_PID.
        listen_pid(
            "LISTEN_PID empty",
            "",
            &["LISTEN_PID: \"\" is not a process id"],
        ),
        listen_pid(
            "LISTEN_PID non-numeric",
            "self",
            &["LISTEN_PID: \"self\" is not a process id"],
        ),
        listen_pid(
            "LISTEN_PID negative",
            "-1",
            &["LISTEN_PID: \"-1\" is not a process id"],
        ),
        listen_pid(
            "LISTEN_PID zero",
            "0",
            &["LISTEN_PID: \"0\" is not a process id"],
        ),
        listen_pid(
            "LISTEN_PID overflowing",
            "99999999999999999999",
            &["LISTEN_PID: \"99999999999999999999\" is not a process id"],
        ),
        Case {
            what: "LISTEN_PID not ours, systemd required by config",
            vars: Vars::SystemdPid("1".into()),
            fds: vec![(listener(), 3)],
            config: Some("[listen]\nsource = \"systemd\"\n"),
            needles: vec!["LISTEN_PID is 1, not this process".into()],
        },
        // LISTEN_FDS and LISTEN_FDNAMES, LISTEN_PID being ours.
        systemd(
            "LISTEN_FDS unset",
            None,
            None,
            vec![(listener(), 3)],
            &["LISTEN_FDS is not set"],
        ),
        systemd(
            "LISTEN_FDS empty",
            Some(""),
            None,
            vec![(listener(), 3)],
            &["LISTEN_FDS: \"\" is not a non-negative decimal number"],
        ),
        systemd(
            "LISTEN_FDS non-numeric",
            Some("one"),
            None,
            vec![(listener(), 3)],
            &["LISTEN_FDS: \"one\" is not"],
        ),
        systemd(
            "LISTEN_FDS negative",
            Some("-1"),
            None,
            vec![(listener(), 3)],
            &["LISTEN_FDS: \"-1\" is not"],
        ),
        systemd(
            "LISTEN_FDS zero",
            Some("0"),
            None,
            vec![(listener(), 3)],
            &["LISTEN_FDS is 0"],
        ),
        systemd(
            "LISTEN_FDS overflowing",
            Some("2147483645"),
            None,
            vec![(listener(), 3)],
            &["LISTEN_FDS: \"2147483645\" sockets is too many"],
        ),
        systemd(
            "LISTEN_FDS huge, fds past 3 not open",
            Some("100000"),
            None,
            vec![(listener(), 3)],
            &["LISTEN_FDS: fd 4", "is not open"],
        ),
        systemd(
            "LISTEN_FDNAMES with another count",
            Some("1"),
            Some("web:admin"),
            vec![(listener(), 3)],
            &["LISTEN_FDNAMES has 2 name(s) but LISTEN_FDS is 1"],
        ),
        systemd(
            "LISTEN_FDS: a UDP socket",
            Some("1"),
            None,
            vec![(udp(), 3)],
            &["LISTEN_FDS: fd 3", "datagram (UDP)"],
        ),
        systemd(
            "LISTEN_FDS: a pipe",
            Some("1"),
            Some("web"),
            vec![(pipe(), 3)],
            &["LISTEN_FDS: fd 3 (name \"web\")", "pipe"],
        ),
        systemd(
            "LISTEN_FDS: a regular file",
            Some("1"),
            None,
            vec![(file(), 3)],
            &["LISTEN_FDS: fd 3", "regular file"],
        ),
        systemd(
            "LISTEN_FDS: bound, not listening",
            Some("1"),
            None,
            vec![(bound_not_listening(), 3)],
            &["LISTEN_FDS: fd 3", "not listening"],
        ),
        systemd(
            "LISTEN_FDS: a connected stream after a good listener",
            Some("2"),
            None,
            vec![(listener(), 3), (connected(), 4)],
            &["LISTEN_FDS: fd 4", "not listening"],
        ),
    ]
}

/// The app's command for `case`, with a config file in `dir` if it needs one.
fn command(case: &Case, dir: &std::path::Path) -> Command {
    let mut app = demo();
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        app.env_remove(var);
    }
    if let Some(config) = case.config {
        let path = dir.join("app.toml");
        std::fs::write(&path, config).unwrap();
        app.arg("--config").arg(path);
    }
    let mut cmd = match &case.vars {
        Vars::Starter(value) => {
            app.env("SERVER_STARTER_PORT", value);
            app
        }
        Vars::SystemdPid(pid) => {
            app.env("LISTEN_PID", pid).env("LISTEN_FDS", "1");
            app
        }
        Vars::SystemdOurs { fds, names } => {
            if let Some(fds) = fds {
                app.env("LISTEN_FDS", fds);
            }
            if let Some(names) = names {
                app.env("LISTEN_FDNAMES", names);
            }
            with_listen_vars(&app, "LISTEN_PID=$$")
        }
    };
    let pairs = case
        .fds
        .iter()
        .map(|(f, to)| (f.fd().as_raw_fd(), *to))
        .collect();
    pass_fds(&mut cmd, pairs);
    cmd
}

/// How soon the app must exit on bad supervisor input.
const EXIT_WITHIN: Duration = Duration::from_secs(1);

/// Runs the app for `case` until it exits (failing after 10 s: a hang);
/// returns it, its status and how long it took from the spawn.
fn run(case: &Case, dir: &std::path::Path) -> (Proc, std::process::ExitStatus, Duration) {
    let started = Instant::now();
    let mut app = Proc::spawn(command(case, dir));
    let status = app.wait(Duration::from_secs(10));
    let took = started.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "{}: still running after {took:?}\n{}",
            case.what,
            app.stderr.text()
        )
    });
    (app, status, took)
}

#[test]
fn hostile_supervisor_input_is_one_error_line_and_leaves_fds_alone() {
    let cases = cases();
    assert!(cases.len() >= 20);
    let dir = tempfile::tempdir().unwrap();
    for case in &cases {
        let before: Vec<String> = case.fds.iter().map(|(f, _)| f.state()).collect();
        let (app, status, took) = run(case, dir.path());
        if took > EXIT_WITHIN {
            // Once more: the bound is for our code (nothing may wait or
            // retry), not for a busy machine's scheduling of one spawn.
            let (again, _, took_again) = run(case, dir.path());
            assert!(
                took_again <= EXIT_WITHIN,
                "{}: exit took {took:?}, then {took_again:?}\n{}",
                case.what,
                again.stderr.text()
            );
        }
        assert!(app.stderr.wait_closed(Duration::from_secs(5)));
        let text = app.stderr.text();
        assert_eq!(status.code(), Some(1), "{}: {status:?}\n{text}", case.what);
        assert!(!text.contains("panicked"), "{}: {text}", case.what);
        let errors: Vec<&str> = text.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(
            errors.len(),
            1,
            "{}: one error line expected:\n{text}",
            case.what
        );
        for needle in &case.needles {
            assert!(
                errors[0].contains(needle.as_str()),
                "{}: {needle:?} missing in {:?}",
                case.what,
                errors[0]
            );
        }
        assert!(
            errors[0].len() < 400,
            "{}: {} bytes",
            case.what,
            errors[0].len()
        );
        for ((fixture, to), before) in case.fds.iter().zip(before) {
            assert_eq!(fixture.state(), before, "{}: fd {to} changed", case.what);
            fixture.still_works();
        }
    }
}

#[test]
fn a_unix_path_containing_equals_is_served() {
    let fixture = unix_listener_with_equals();
    let path = fixture.path();
    let mut cmd = demo();
    cmd.env("SERVER_STARTER_PORT", format!("{path}=5"));
    pass_fd(&mut cmd, fixture.fd().as_raw_fd(), 5);
    let mut app = Proc::spawn(cmd);
    let path = std::path::PathBuf::from(path);
    let resp = ok_within(Duration::from_secs(10), "GET / on the unix socket", || {
        get_unix(&path, "/")
    });
    assert_eq!(resp.status, 200);
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
    assert!(path.exists(), "an inherited path is never unlinked");
    fixture.still_works();
}
