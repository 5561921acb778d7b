//! The command line, parsed the way Perl's `Getopt::Long` parses start_server's:
//! `--opt value`, `--opt=value`, a single dash, and unique prefixes (`--pid` =
//! `--pid-file`). Options end at `--` or at the first argument that is not one.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::signals::Signal;

/// How a new generation is judged ready to take over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// Wait for `READY=1` once any generation has sent it; until then, the
    /// `--interval` rule (the default).
    Auto,
    /// Always wait for `READY=1`, up to `--ready-timeout`.
    Notify,
    /// Perl's rule only: alive after `--interval`. No `NOTIFY_SOCKET` is given.
    Interval,
}

/// Everything the command line says.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) ports: Vec<String>,
    pub(crate) paths: Vec<PathBuf>,
    pub(crate) interval: Duration,
    pub(crate) kill_old_delay: Option<String>,
    pub(crate) signal_on_hup: Signal,
    pub(crate) signal_on_term: Signal,
    pub(crate) pid_file: Option<PathBuf>,
    pub(crate) status_file: Option<PathBuf>,
    pub(crate) restart: bool,
    pub(crate) stop: bool,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) envdir: Option<PathBuf>,
    pub(crate) backlog: Option<i32>,
    pub(crate) log_file: Option<OsString>,
    pub(crate) enable_auto_restart: bool,
    pub(crate) auto_restart_interval: Option<String>,
    pub(crate) daemonize: bool,
    /// A failed deploy is tried again every `--interval` (`--no-retry-failed-deploy`: once).
    pub(crate) retry_failed_deploy: bool,
    pub(crate) readiness: Readiness,
    pub(crate) ready_timeout: Duration,
    /// `None`: wait for ever, as Perl does.
    pub(crate) kill_timeout: Option<Duration>,
    /// The server program and its arguments.
    pub(crate) command: Vec<OsString>,
}

/// What the command line asks for.
#[derive(Debug)]
pub(crate) enum Parsed {
    Run(Box<Options>),
    Help,
    Version,
}

/// Whether an option takes a value.
#[derive(Clone, Copy, PartialEq)]
enum Arity {
    Flag,
    Value,
}

const OPTIONS: &[(&str, Arity)] = &[
    ("port", Arity::Value),
    ("path", Arity::Value),
    ("interval", Arity::Value),
    ("log-file", Arity::Value),
    ("pid-file", Arity::Value),
    ("dir", Arity::Value),
    ("signal-on-hup", Arity::Value),
    ("signal-on-term", Arity::Value),
    ("backlog", Arity::Value),
    ("envdir", Arity::Value),
    ("enable-auto-restart", Arity::Flag),
    ("daemonize", Arity::Flag),
    ("auto-restart-interval", Arity::Value),
    ("kill-old-delay", Arity::Value),
    ("status-file", Arity::Value),
    ("restart", Arity::Flag),
    ("stop", Arity::Flag),
    ("help", Arity::Flag),
    ("version", Arity::Flag),
    // handover's additions
    ("readiness", Arity::Value),
    ("ready-timeout", Arity::Value),
    ("kill-timeout", Arity::Value),
    ("no-retry-failed-deploy", Arity::Flag),
];

/// The default `--ready-timeout`.
pub(crate) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The default `--kill-timeout`.
pub(crate) const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(60);

/// Finds the option `name` stands for: an exact name, or the one name it is a
/// prefix of.
fn lookup(name: &str) -> Result<(&'static str, Arity)> {
    if let Some(&(full, arity)) = OPTIONS.iter().find(|(full, _)| *full == name) {
        return Ok((full, arity));
    }
    let matches: Vec<_> = OPTIONS
        .iter()
        .filter(|(full, _)| !name.is_empty() && full.starts_with(name))
        .collect();
    match matches.as_slice() {
        [&(full, arity)] => Ok((full, arity)),
        [] => Err(Error::new(format!("unknown option: --{name} (see --help)"))),
        many => Err(Error::new(format!(
            "option --{name} is ambiguous ({})",
            many.iter()
                .map(|(full, _)| format!("--{full}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Parses a number of seconds (a whole or decimal number, `0` or more).
pub(crate) fn seconds(option: &str, value: &str) -> Result<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| Error::new(format!("--{option}: {value:?} is not a number of seconds")))
}

fn text<'a>(option: &str, value: &'a OsStr) -> Result<&'a str> {
    value
        .to_str()
        .ok_or_else(|| Error::new(format!("--{option}: {value:?} is not valid UTF-8")))
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed> {
    let mut o = Options {
        ports: Vec::new(),
        paths: Vec::new(),
        interval: Duration::from_secs(1),
        kill_old_delay: None,
        signal_on_hup: Signal::TERM,
        signal_on_term: Signal::TERM,
        pid_file: None,
        status_file: None,
        restart: false,
        stop: false,
        dir: None,
        envdir: None,
        backlog: None,
        log_file: None,
        enable_auto_restart: false,
        auto_restart_interval: None,
        daemonize: false,
        retry_failed_deploy: true,
        readiness: Readiness::Auto,
        ready_timeout: DEFAULT_READY_TIMEOUT,
        kill_timeout: Some(DEFAULT_KILL_TIMEOUT),
        command: Vec::new(),
    };
    let (mut help, mut version) = (false, false);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            break;
        }
        if bytes.len() < 2 || bytes[0] != b'-' {
            // The server program: everything from here on is its.
            o.command.push(arg);
            break;
        }
        let body = arg
            .to_str()
            .ok_or_else(|| Error::new(format!("{arg:?}: option names are ASCII")))?;
        let body = body.strip_prefix("--").unwrap_or(&body[1..]);
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(OsString::from(value))),
            None => (body, None),
        };
        let (name, arity) = lookup(name)?;
        let value = match (arity, inline) {
            (Arity::Flag, Some(_)) => {
                return Err(Error::new(format!("--{name} takes no value")));
            }
            (Arity::Flag, None) => None,
            (Arity::Value, Some(v)) => Some(v),
            (Arity::Value, None) => Some(
                args.next()
                    .ok_or_else(|| Error::new(format!("--{name} needs a value")))?,
            ),
        };
        let value = value.unwrap_or_default();
        match name {
            "port" => o.ports.push(text(name, &value)?.to_owned()),
            "path" => o.paths.push(PathBuf::from(value)),
            "interval" => o.interval = seconds(name, text(name, &value)?)?,
            "log-file" => o.log_file = Some(value),
            "pid-file" => o.pid_file = Some(PathBuf::from(value)),
            "status-file" => o.status_file = Some(PathBuf::from(value)),
            "dir" => o.dir = Some(PathBuf::from(value)),
            "envdir" => o.envdir = Some(PathBuf::from(value)),
            "signal-on-hup" => o.signal_on_hup = Signal::parse(name, text(name, &value)?)?,
            "signal-on-term" => o.signal_on_term = Signal::parse(name, text(name, &value)?)?,
            "backlog" => {
                let v = text(name, &value)?;
                o.backlog = Some(v.trim().parse().ok().filter(|b| *b > 0).ok_or_else(|| {
                    Error::new(format!("--backlog: {v:?} is not a positive integer"))
                })?);
            }
            "kill-old-delay" => {
                let v = text(name, &value)?;
                seconds(name, v)?;
                o.kill_old_delay = Some(v.trim().to_owned());
            }
            "auto-restart-interval" => {
                let v = text(name, &value)?;
                seconds(name, v)?;
                o.auto_restart_interval = Some(v.trim().to_owned());
            }
            "enable-auto-restart" => o.enable_auto_restart = true,
            "daemonize" => o.daemonize = true,
            "no-retry-failed-deploy" => o.retry_failed_deploy = false,
            "restart" => o.restart = true,
            "stop" => o.stop = true,
            "help" => help = true,
            "version" => version = true,
            "readiness" => {
                o.readiness = match text(name, &value)? {
                    "auto" => Readiness::Auto,
                    "notify" => Readiness::Notify,
                    "interval" => Readiness::Interval,
                    other => {
                        return Err(Error::new(format!(
                            "--readiness: {other:?} is not auto, notify or interval"
                        )))
                    }
                }
            }
            "ready-timeout" => o.ready_timeout = seconds(name, text(name, &value)?)?,
            "kill-timeout" => {
                let t = seconds(name, text(name, &value)?)?;
                o.kill_timeout = (!t.is_zero()).then_some(t);
            }
            _ => return Err(Error::new(format!("--{name}: not handled"))),
        }
    }
    o.command.extend(args);
    if help {
        return Ok(Parsed::Help);
    }
    if version {
        return Ok(Parsed::Version);
    }
    Ok(Parsed::Run(Box::new(o)))
}

/// `--help`.
pub(crate) const USAGE: &str = "\
Usage: start_server [options] -- server-prog server-arg1 server-arg2 ...

Runs server-prog, hands it the listening sockets in SERVER_STARTER_PORT, and on
SIGHUP starts a new generation and retires the old one once the new one is
ready (sd_notify READY=1 on its NOTIFY_SOCKET, or still alive after --interval).
Compatible with Perl Server::Starter 0.35; see docs/supervisor.md.

Sockets:
  --port=[HOST:]PORT[=FD]   TCP port to listen on; [V6ADDR]:PORT for IPv6, uPORT
                            for UDP, =FD to place the socket at that fd; repeatable
  --path=PATH               unix socket to listen on (mode 0777); repeatable
  --backlog=N               listen(2) backlog (default: SOMAXCONN)
Workers:
  --dir=DIR                 working directory of the server program
  --envdir=DIR              daemontools-style env directory, re-read on every deploy
  --log-file=FILE|\"| CMD\"   append (or pipe) stdout and stderr to FILE (or CMD)
Deploys:
  --interval=SECS           a worker that does not notify is ready when alive this
                            long; also the retry delay (default: 1)
  --readiness=MODE          auto (default): wait for READY=1 once a generation sent
                            it; notify: always wait for it; interval: never
  --ready-timeout=SECS      a new generation not ready by then is stopped and the
                            old one keeps serving (default: 60)
  --no-retry-failed-deploy  one attempt per HUP; by default a failed deploy is
                            tried again every --interval while the old one serves
  --kill-old-delay=SECS     wait this long before signalling old generations
                            (default: 0, or 5 with --enable-auto-restart)
  --signal-on-hup=SIG       signal for old generations after a deploy (default: TERM)
  --signal-on-term=SIG      signal for every worker on SIGTERM (default: TERM)
  --kill-timeout=SECS       SIGKILL a worker this long after it was told to stop;
                            0 waits for ever (default: 60)
  --enable-auto-restart     restart every --auto-restart-interval seconds
  --auto-restart-interval=SECS   (default: 360)
Files:
  --pid-file=FILE           write the supervisor's pid, locked while it runs
  --status-file=FILE        write GEN:PID of every accepted live worker
Background:
  --daemonize               detach (fork, setsid, fork) once the sockets are bound
                            and the pid file is written; needs --log-file
Client modes:
  --restart                 HUP the running supervisor and wait for the deploy:
                            exit 0 when it took over, 1 when it failed
                            (needs --pid-file and --status-file)
  --stop                    TERM the running supervisor and wait for it to exit
                            (needs --pid-file)
  --help, --version
";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn run(args: &[&str]) -> Result<Box<Options>> {
        match parse(args.iter().map(OsString::from))? {
            Parsed::Run(o) => Ok(o),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn getopt_long_forms_and_prefixes() {
        let o = run(&[
            "--port",
            "80",
            "--port=127.0.0.1:81",
            "-interval",
            "3",
            "--pid=/p",
            "--sig-on-hup",
        ]);
        assert!(o.is_err(), "--sig-on-hup is not a prefix of anything");
        let o = run(&[
            "--port",
            "80",
            "--port=127.0.0.1:81",
            "-interval",
            "3",
            "--pid=/p",
            "--stat",
            "/s",
            "--",
            "app",
            "--port",
            "9",
        ])
        .unwrap();
        assert_eq!(o.ports, ["80", "127.0.0.1:81"]);
        assert_eq!(o.interval, Duration::from_secs(3));
        assert_eq!(o.pid_file, Some(PathBuf::from("/p")));
        assert_eq!(o.status_file, Some(PathBuf::from("/s")));
        assert_eq!(o.command, ["app", "--port", "9"]);
    }

    #[test]
    fn the_program_ends_the_options_without_a_double_dash() {
        let o = run(&["--port", "80", "app", "--port", "9"]).unwrap();
        assert_eq!(o.ports, ["80"]);
        assert_eq!(o.command, ["app", "--port", "9"]);
    }

    #[test]
    fn ambiguous_unknown_and_bad_values_are_errors() {
        let e = |args: &[&str]| run(args).unwrap_err().to_string();
        assert_eq!(
            e(&["--p", "1"]),
            "option --p is ambiguous (--port, --path, --pid-file)"
        );
        assert_eq!(e(&["--bogus"]), "unknown option: --bogus (see --help)");
        assert_eq!(
            e(&["--interval", "x"]),
            "--interval: \"x\" is not a number of seconds"
        );
        assert_eq!(
            e(&["--interval", "-1"]),
            "--interval: \"-1\" is not a number of seconds"
        );
        assert_eq!(
            e(&["--backlog", "0"]),
            "--backlog: \"0\" is not a positive integer"
        );
        assert_eq!(e(&["--port"]), "--port needs a value");
        assert_eq!(e(&["--stop=1"]), "--stop takes no value");
        assert_eq!(
            e(&["--signal-on-hup", "FOO"]),
            "--signal-on-hup: \"FOO\" is not a signal name"
        );
    }

    #[test]
    fn kill_timeout_zero_means_for_ever() {
        assert_eq!(run(&["--kill-timeout=0"]).unwrap().kill_timeout, None);
        assert_eq!(
            run(&["--kill-timeout=1.5"]).unwrap().kill_timeout,
            Some(Duration::from_millis(1500))
        );
    }
}
