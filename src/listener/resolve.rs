//! Choosing the source of listening sockets and taking them: systemd,
//! Server::Starter, or a plain bind.

use super::bind::{bind, bind_tcp};
use super::inherit::{inherit_starter, inherit_systemd};
use super::settings::{ListenConfig, Source};
use super::socket::{give_up, Listener};
use super::starter::SERVER_STARTER_PORT;
use super::systemd::{
    parse_listen_fds, Activation, SystemdVars, LISTEN_FDNAMES, LISTEN_FDS, LISTEN_PID,
};
use crate::error::{Error, ErrorKind};

/// What to bind when `[listen] bind` is empty: `http.hostname:http.port`,
/// and the backlog of every socket this process binds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fallback<'a> {
    pub(crate) hostname: &'a str,
    pub(crate) port: u16,
    pub(crate) backlog: u32,
}

/// The supervisor variables, read once at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Inheritance {
    /// The raw `SERVER_STARTER_PORT`, if set.
    pub(crate) server_starter_port: Option<String>,
    /// The raw systemd variables.
    pub(crate) systemd: SystemdVars,
    /// This process's pid when the variables were read (compared with `LISTEN_PID`).
    pub(crate) pid: u32,
}

impl Inheritance {
    /// Reads the supervisor variables from the process environment. Call it once,
    /// in `main`, before other threads start. Nothing is removed from the
    /// environment: `LISTEN_PID` already keeps child processes from taking
    /// systemd's variables as theirs.
    pub(crate) fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        Inheritance {
            server_starter_port: var(SERVER_STARTER_PORT),
            systemd: SystemdVars {
                listen_pid: var(LISTEN_PID),
                listen_fds: var(LISTEN_FDS),
                listen_fdnames: var(LISTEN_FDNAMES),
            },
            pid: std::process::id(),
        }
    }
}

/// Chooses the source and returns the listeners to serve.
///
/// # Errors
/// [`ErrorKind::Inherit`] for a malformed variable, an unusable fd (naming the
/// variable and the fd), a forced source that is absent, or selectors that
/// match nothing; [`ErrorKind::Bind`] when binding fails. Nothing inherited is
/// closed or changed on error.
pub(crate) fn resolve(
    inheritance: &Inheritance,
    listen: &ListenConfig,
    fallback: Fallback<'_>,
) -> Result<Vec<Listener>, Error> {
    let inherit_error = |message: String| Error::new(ErrorKind::Inherit, message);
    let starter = inheritance.server_starter_port.as_deref();
    match listen.source {
        Source::Systemd => match parse_listen_fds(&inheritance.systemd, inheritance.pid)? {
            Activation::Ours(entries) => inherit_systemd(&entries, &listen.inherit),
            Activation::Absent => Err(inherit_error(format!(
                "{LISTEN_PID} is not set, but [listen] source = \"systemd\" requires socket activation"
            ))),
            Activation::OtherProcess { pid } => Err(inherit_error(format!(
                "{LISTEN_PID} is {pid}, not this process ({}), but [listen] source = \"systemd\" requires socket activation",
                inheritance.pid
            ))),
        },
        Source::ServerStarter => match starter {
            Some(value) => inherit_starter(value, &listen.inherit),
            None => Err(inherit_error(format!(
                "{SERVER_STARTER_PORT} is not set, but [listen] source = \"server-starter\" requires it"
            ))),
        },
        Source::Bind => {
            let systemd_ours = matches!(
                parse_listen_fds(&inheritance.systemd, inheritance.pid),
                Ok(Activation::Ours(_))
            );
            if starter.is_some() || systemd_ours {
                log::warn!(
                    "supervisor variables are set but [listen] source = \"bind\": binding instead of using the supervisor's sockets"
                );
            }
            bind_all(listen, fallback)
        }
        Source::Auto => match parse_listen_fds(&inheritance.systemd, inheritance.pid)? {
            Activation::Ours(entries) => {
                if starter.is_some() {
                    log::warn!("{SERVER_STARTER_PORT} is ignored: systemd socket activation comes first");
                }
                inherit_systemd(&entries, &listen.inherit)
            }
            other => {
                if let Activation::OtherProcess { pid } = other {
                    log::info!(
                        "{LISTEN_PID} is {pid}, not this process ({}): those sockets are not ours",
                        inheritance.pid
                    );
                }
                match starter {
                    Some(value) => inherit_starter(value, &listen.inherit),
                    None => bind_all(listen, fallback),
                }
            }
        },
    }
}

/// Binds every `[listen] bind` address, or `hostname:port` when there is none.
fn bind_all(listen: &ListenConfig, fallback: Fallback<'_>) -> Result<Vec<Listener>, Error> {
    if listen.bind.is_empty() {
        return Ok(vec![bind_tcp(
            fallback.hostname,
            fallback.port,
            fallback.backlog,
        )?]);
    }
    let mut listeners: Vec<Listener> = Vec::with_capacity(listen.bind.len());
    for address in &listen.bind {
        match bind(address, fallback.backlog, listen.unix_mode) {
            Ok(listener) => listeners.push(listener),
            Err(e) => {
                give_up(listeners);
                return Err(e);
            }
        }
    }
    Ok(listeners)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::bind::BindAddress;
    use crate::listener::socket::Origin;

    const FALLBACK: Fallback<'static> = Fallback {
        hostname: "127.0.0.1",
        port: 0,
        backlog: 16,
    };

    #[test]
    fn empty_variable_is_an_error_not_a_bind() {
        let inh = Inheritance {
            server_starter_port: Some(String::new()),
            ..Inheritance::default()
        };
        let e = resolve(&inh, &ListenConfig::default(), FALLBACK).unwrap_err();
        assert!(e.to_string().contains("set but empty"), "{e}");
    }

    #[test]
    fn selector_matching_nothing_is_an_error() {
        let inh = Inheritance {
            server_starter_port: Some("8080=1000".into()),
            ..Inheritance::default()
        };
        let listen = ListenConfig {
            inherit: vec!["9090".parse().unwrap()],
            ..ListenConfig::default()
        };
        let e = resolve(&inh, &listen, FALLBACK).unwrap_err();
        assert!(
            e.to_string()
                .contains(r#""9090" matches no entry (keys: "8080")"#),
            "{e}"
        );
    }

    #[test]
    fn required_supervisor_missing_is_an_error() {
        let listen = ListenConfig {
            source: Source::ServerStarter,
            ..ListenConfig::default()
        };
        let e = resolve(&Inheritance::default(), &listen, FALLBACK).unwrap_err();
        assert!(
            e.to_string().contains("SERVER_STARTER_PORT is not set"),
            "{e}"
        );
    }

    #[test]
    fn unsupervised_binds_the_configured_address() {
        let ls = resolve(&Inheritance::default(), &ListenConfig::default(), FALLBACK).unwrap();
        assert_eq!(ls.len(), 1);
        assert_eq!(ls[0].origin(), &Origin::Bound);
        assert!(ls[0].tcp_addr().unwrap().ip().is_loopback());
    }

    fn systemd(pid: &str, fds: &str) -> Inheritance {
        Inheritance {
            systemd: SystemdVars {
                listen_pid: Some(pid.into()),
                listen_fds: Some(fds.into()),
                listen_fdnames: None,
            },
            pid: 4242,
            ..Inheritance::default()
        }
    }

    #[test]
    fn systemd_comes_first_and_its_errors_are_startup_errors() {
        let listen = ListenConfig::default();
        // Meant for us and malformed: an error, even with SERVER_STARTER_PORT set.
        let mut inh = systemd("4242", "x");
        inh.server_starter_port = Some("8080=1000".into());
        let e = resolve(&inh, &listen, FALLBACK).unwrap_err();
        assert!(e.to_string().starts_with("LISTEN_FDS: \"x\""), "{e}");
        // Meant for another process: ignored, Server::Starter is next.
        let mut inh = systemd("1", "x");
        inh.server_starter_port = Some("8080=1000".into());
        let e = resolve(&inh, &listen, FALLBACK).unwrap_err();
        assert!(
            e.to_string().contains("fd 1000 (key \"8080\") is not open"),
            "{e}"
        );
        // Neither: bind.
        let ls = resolve(&systemd("1", "2"), &listen, FALLBACK).unwrap();
        assert_eq!(ls[0].origin(), &Origin::Bound);
    }

    #[test]
    fn forcing_systemd_without_activation_is_an_error() {
        let listen = ListenConfig {
            source: Source::Systemd,
            ..ListenConfig::default()
        };
        let e = resolve(&Inheritance::default(), &listen, FALLBACK).unwrap_err();
        assert!(e.to_string().contains("LISTEN_PID is not set"), "{e}");
        let e = resolve(&systemd("1", "1"), &listen, FALLBACK).unwrap_err();
        assert!(
            e.to_string()
                .contains("LISTEN_PID is 1, not this process (4242)"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_bind_list_removes_the_sockets_it_made() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.sock");
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listen = ListenConfig {
            bind: vec![
                BindAddress::Unix(first.clone()),
                BindAddress::Tcp {
                    host: "127.0.0.1".into(),
                    port: taken.local_addr().unwrap().port(),
                },
            ],
            ..ListenConfig::default()
        };
        let e = resolve(&Inheritance::default(), &listen, FALLBACK).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Bind);
        assert!(
            !first.exists(),
            "the socket bound before the failure is removed"
        );
    }
}
