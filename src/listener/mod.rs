//! Listening sockets: inherited from a supervisor, or bound when unsupervised.
//!
//! Sources, in the order [`Source::Auto`] tries them:
//!
//! 1. **systemd socket activation**: `LISTEN_PID` names this process;
//!    `LISTEN_FDS` sockets from fd 3, named by `LISTEN_FDNAMES`. Variables
//!    whose `LISTEN_PID` names another process were meant for a parent and are
//!    ignored (their fds are left alone).
//! 2. **Server::Starter**: `SERVER_STARTER_PORT` (`8080=4;/run/app.sock=5`). A
//!    present but empty value means "supervised, no sockets", which is an
//!    error for a server rather than a reason to bind.
//! 3. **Plain bind** of `[listen] bind` (default `http.hostname:http.port`):
//!    TCP with `SO_REUSEADDR`, unix sockets with `[listen] unix_mode`.
//!
//! `[listen] source` forces one of them. Under a supervisor nothing is bound
//! silently: with [`Source::Auto`] the inherited sockets are the only ones
//! served. Every inherited fd that is selected is checked (socket, stream,
//! listening, known family) before any is adopted, then made close-on-exec
//! (so child processes of the app never hold it) and non-blocking, and adopted
//! exactly once. An fd that is not selected is left as it was. The
//! environment is read once ([`Inheritance::from_env`]) and never changed.
//!
//! Note: `O_NONBLOCK` belongs to the open file description, which the
//! supervisor and sibling generations share; it is harmless for polling
//! servers (and for Perl `start_server`, which never accepts).

mod adopt;
mod bind;
mod inherit;
mod select;
mod starter;
mod systemd;

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, RawFd};
use std::os::unix::net::UnixListener;

use crate::config::{ListenConfig, ServerConfig, Source};
use crate::error::{Error, ErrorKind};

pub(crate) use bind::CreatedPath;
pub use bind::{bind, bind_tcp, bind_unix, BindAddress};
use inherit::{inherit_starter, inherit_systemd};
pub use select::Selector;
pub use starter::{
    parse_generation, parse_server_starter_port, StarterEntry, StarterKey,
    SERVER_STARTER_GENERATION, SERVER_STARTER_PORT,
};
pub use systemd::{
    parse_listen_fds, Activation, SystemdEntry, SystemdVars, LISTEN_FDNAMES, LISTEN_FDS,
    LISTEN_FDS_START, LISTEN_PID,
};

/// A listening socket of a supported kind, as a std type.
#[derive(Debug)]
#[non_exhaustive]
pub enum ListenSocket {
    /// A TCP listener (IPv4 or IPv6).
    Tcp(TcpListener),
    /// A unix stream listener.
    Unix(UnixListener),
}

/// Where a listener came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// Passed by systemd socket activation (`LISTEN_FDS`).
    Systemd {
        /// The fd number.
        fd: RawFd,
        /// Its `LISTEN_FDNAMES` name, if names were passed.
        name: Option<String>,
    },
    /// Inherited through `SERVER_STARTER_PORT`.
    ServerStarter {
        /// The entry's key.
        key: String,
        /// The inherited fd number.
        fd: RawFd,
    },
    /// Bound by this process.
    Bound,
}

/// A listening socket ready to be served, with its origin.
#[derive(Debug)]
pub struct Listener {
    socket: ListenSocket,
    origin: Origin,
    created: Option<CreatedPath>,
}

impl Listener {
    /// Wraps a socket the caller created (for embedding and tests).
    pub fn new(socket: ListenSocket, origin: Origin) -> Self {
        Listener {
            socket,
            origin,
            created: None,
        }
    }

    /// The socket file this process created for it, to remove when serving ends.
    pub(crate) fn created_path(&self) -> Option<&CreatedPath> {
        self.created.as_ref()
    }

    /// Where it came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The socket.
    pub fn socket(&self) -> &ListenSocket {
        &self.socket
    }

    /// Gives up the wrapper, for the adapter that serves it.
    pub fn into_socket(self) -> ListenSocket {
        self.socket
    }

    /// The local address as text: `127.0.0.1:8080`, `[::1]:8080` or `unix:/path`.
    pub fn local_addr_text(&self) -> String {
        match &self.socket {
            ListenSocket::Tcp(t) => t
                .local_addr()
                .map_or_else(|e| format!("tcp:?({e})"), |a| a.to_string()),
            ListenSocket::Unix(u) => match u.local_addr() {
                Ok(a) => match a.as_pathname() {
                    Some(p) => format!("unix:{}", p.display()),
                    None => "unix:(unnamed)".to_owned(),
                },
                Err(e) => format!("unix:?({e})"),
            },
        }
    }

    /// The TCP address, if this is a TCP listener.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match &self.socket {
            ListenSocket::Tcp(t) => t.local_addr().ok(),
            ListenSocket::Unix(_) => None,
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.socket {
            ListenSocket::Tcp(t) => t.as_fd(),
            ListenSocket::Unix(u) => u.as_fd(),
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr = self.local_addr_text();
        match &self.origin {
            Origin::ServerStarter { key, fd } => {
                write!(
                    f,
                    "{addr} (inherited fd {fd}, {SERVER_STARTER_PORT} key {key:?})"
                )
            }
            Origin::Systemd {
                fd,
                name: Some(name),
            } => {
                write!(f, "{addr} (inherited fd {fd} from systemd, name {name:?})")
            }
            Origin::Systemd { fd, name: None } => {
                write!(f, "{addr} (inherited fd {fd} from systemd)")
            }
            Origin::Bound => write!(f, "{addr} (bound by this process)"),
        }
    }
}

/// The supervisor variables, read once at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inheritance {
    /// The raw `SERVER_STARTER_PORT`, if set.
    pub server_starter_port: Option<String>,
    /// The raw systemd variables.
    pub systemd: SystemdVars,
    /// This process's pid when the variables were read (compared with `LISTEN_PID`).
    pub pid: u32,
}

impl Inheritance {
    /// Reads the supervisor variables from the process environment. Call it once,
    /// in `main`, before other threads start. Nothing is removed from the
    /// environment: `LISTEN_PID` already keeps child processes from taking
    /// systemd's variables as theirs.
    pub fn from_env() -> Self {
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
pub fn resolve(
    inheritance: &Inheritance,
    listen: &ListenConfig,
    server: &ServerConfig,
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
            bind_all(listen, server)
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
                    None => bind_all(listen, server),
                }
            }
        },
    }
}

/// Gives up listeners that will not be served, after a later start-up step
/// failed: an inherited fd is released without being closed (an error must
/// not close an inherited socket), a socket file this process created is
/// removed once its socket is closed, anything else is closed.
pub(crate) fn give_up(listeners: Vec<Listener>) {
    for listener in listeners {
        match listener.origin {
            Origin::ServerStarter { .. } | Origin::Systemd { .. } => {
                let _released: RawFd = match listener.socket {
                    ListenSocket::Tcp(t) => t.into_raw_fd(),
                    ListenSocket::Unix(u) => u.into_raw_fd(),
                };
            }
            Origin::Bound => {
                let created = listener.created;
                drop(listener.socket);
                if let Some(path) = created {
                    path.remove();
                }
            }
        }
    }
}

/// Binds every `[listen] bind` address, or `hostname:port` when there is none.
fn bind_all(listen: &ListenConfig, server: &ServerConfig) -> Result<Vec<Listener>, Error> {
    if listen.bind.is_empty() {
        return Ok(vec![bind_tcp(
            &server.hostname,
            server.port,
            server.backlog,
        )?]);
    }
    let mut listeners: Vec<Listener> = Vec::with_capacity(listen.bind.len());
    for address in &listen.bind {
        match bind(address, server.backlog, listen.unix_mode) {
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

    #[test]
    fn empty_variable_is_an_error_not_a_bind() {
        let inh = Inheritance {
            server_starter_port: Some(String::new()),
            ..Inheritance::default()
        };
        let e = resolve(&inh, &ListenConfig::default(), &ServerConfig::default()).unwrap_err();
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
        let e = resolve(&inh, &listen, &ServerConfig::default()).unwrap_err();
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
        let e = resolve(&Inheritance::default(), &listen, &ServerConfig::default()).unwrap_err();
        assert!(
            e.to_string().contains("SERVER_STARTER_PORT is not set"),
            "{e}"
        );
    }

    #[test]
    fn unsupervised_binds_the_configured_address() {
        let server = ServerConfig {
            port: 0,
            ..ServerConfig::default()
        };
        let ls = resolve(&Inheritance::default(), &ListenConfig::default(), &server).unwrap();
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

    fn local_server() -> ServerConfig {
        ServerConfig {
            port: 0,
            ..ServerConfig::default()
        }
    }

    #[test]
    fn systemd_comes_first_and_its_errors_are_startup_errors() {
        let listen = ListenConfig::default();
        // Meant for us and malformed: an error, even with SERVER_STARTER_PORT set.
        let mut inh = systemd("4242", "x");
        inh.server_starter_port = Some("8080=1000".into());
        let e = resolve(&inh, &listen, &local_server()).unwrap_err();
        assert!(e.to_string().starts_with("LISTEN_FDS: \"x\""), "{e}");
        // Meant for another process: ignored, Server::Starter is next.
        let mut inh = systemd("1", "x");
        inh.server_starter_port = Some("8080=1000".into());
        let e = resolve(&inh, &listen, &local_server()).unwrap_err();
        assert!(
            e.to_string().contains("fd 1000 (key \"8080\") is not open"),
            "{e}"
        );
        // Neither: bind.
        let ls = resolve(&systemd("1", "2"), &listen, &local_server()).unwrap();
        assert_eq!(ls[0].origin(), &Origin::Bound);
    }

    #[test]
    fn forcing_systemd_without_activation_is_an_error() {
        let listen = ListenConfig {
            source: Source::Systemd,
            ..ListenConfig::default()
        };
        let e = resolve(&Inheritance::default(), &listen, &local_server()).unwrap_err();
        assert!(e.to_string().contains("LISTEN_PID is not set"), "{e}");
        let e = resolve(&systemd("1", "1"), &listen, &local_server()).unwrap_err();
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
        let e = resolve(&Inheritance::default(), &listen, &local_server()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Bind);
        assert!(
            !first.exists(),
            "the socket bound before the failure is removed"
        );
    }
}
