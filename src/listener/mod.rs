//! Listening sockets: inherited from a supervisor, or bound when unsupervised.
//!
//! Sources, in the order [`Source::Auto`] tries them:
//!
//! 1. **Server::Starter**: `SERVER_STARTER_PORT` (`8080=4;/run/app.sock=5`). Each
//!    selected fd is checked (socket, stream, listening, known family), made
//!    close-on-exec and non-blocking, and adopted exactly once. An fd that is not
//!    selected is left alone. A present but empty value means "supervised, no
//!    sockets", which is an error for a server rather than a reason to bind.
//! 2. **Plain bind** of `hostname:port` with `SO_REUSEADDR` and the configured backlog.
//!
//! Under a supervisor nothing is bound silently: with [`Source::Auto`] the
//! inherited sockets are the only ones served.
//!
//! Note: `O_NONBLOCK` belongs to the open file description, which the
//! supervisor and sibling generations share; it is harmless for polling
//! servers (and for Perl `start_server`, which never accepts).

mod adopt;
mod bind;
mod starter;

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::str::FromStr;

use crate::config::{ListenConfig, ServerConfig, Source};
use crate::error::{Error, ErrorKind};

pub use bind::bind_tcp;
pub use starter::{
    parse_generation, parse_server_starter_port, StarterEntry, StarterKey,
    SERVER_STARTER_GENERATION, SERVER_STARTER_PORT,
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
}

impl Listener {
    /// Wraps a socket the caller created (for embedding and tests).
    pub fn new(socket: ListenSocket, origin: Origin) -> Self {
        Listener { socket, origin }
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
            Origin::Bound => write!(f, "{addr} (bound by this process)"),
        }
    }
}

/// Picks inherited sockets by their `SERVER_STARTER_PORT` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Every entry on this port (`"8080"` matches `8080` and `127.0.0.1:8080`).
    Port(u16),
    /// The entry for this host and port (`"127.0.0.1:8080"`, `"[::1]:8080"`).
    HostPort {
        /// Host, without brackets.
        host: String,
        /// Port.
        port: u16,
    },
    /// The entry for this unix socket path.
    Path(PathBuf),
}

impl FromStr for Selector {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an inherit selector is empty; give a port, host:port or path".to_owned());
        }
        Ok(match starter::classify(s) {
            StarterKey::Port(p) => Selector::Port(p),
            StarterKey::HostPort { host, port } => Selector::HostPort { host, port },
            StarterKey::Path(p) => Selector::Path(p),
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Port(p) => write!(f, "{p}"),
            Selector::HostPort { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Selector::HostPort { host, port } => write!(f, "{host}:{port}"),
            Selector::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Selector {
    /// Whether this selector picks `entry`.
    pub fn matches(&self, entry: &StarterEntry) -> bool {
        match (self, entry.parsed_key()) {
            (Selector::Port(want), StarterKey::Port(p)) => *want == p,
            (Selector::Port(want), StarterKey::HostPort { port, .. }) => *want == port,
            (Selector::HostPort { host, port }, StarterKey::HostPort { host: h, port: p }) => {
                *port == p && starter::same_host(host, &h)
            }
            (Selector::Path(want), StarterKey::Path(p)) => *want == p,
            _ => false,
        }
    }
}

/// The supervisor variables, read once at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inheritance {
    /// The raw `SERVER_STARTER_PORT`, if set.
    pub server_starter_port: Option<String>,
}

impl Inheritance {
    /// Reads the supervisor variables from the process environment. Call it once,
    /// in `main`, before other threads start.
    pub fn from_env() -> Self {
        Inheritance {
            server_starter_port: std::env::var_os(SERVER_STARTER_PORT)
                .map(|v| v.to_string_lossy().into_owned()),
        }
    }
}

/// Chooses the source and returns the listeners to serve.
///
/// # Errors
/// [`ErrorKind::Inherit`] for a malformed variable, an unusable fd (naming the
/// variable and the fd), or selectors that match nothing; [`ErrorKind::Bind`]
/// when binding fails. Nothing inherited is closed on error.
pub fn resolve(
    inheritance: &Inheritance,
    listen: &ListenConfig,
    server: &ServerConfig,
) -> Result<Vec<Listener>, Error> {
    match (listen.source, &inheritance.server_starter_port) {
        (Source::Auto | Source::ServerStarter, Some(value)) => inherit(value, &listen.inherit),
        (Source::ServerStarter, None) => Err(Error::new(
            ErrorKind::Inherit,
            format!("{SERVER_STARTER_PORT} is not set, but [listen] source = \"server-starter\" requires it"),
        )),
        (Source::Bind, Some(_)) => {
            log::warn!(
                "{SERVER_STARTER_PORT} is set but [listen] source = \"bind\": binding {}:{} instead of using the supervisor's sockets",
                server.hostname,
                server.port
            );
            Ok(vec![bind_tcp(&server.hostname, server.port, server.backlog)?])
        }
        (Source::Auto | Source::Bind, None) => {
            Ok(vec![bind_tcp(&server.hostname, server.port, server.backlog)?])
        }
    }
}

fn inherit(value: &str, selectors: &[Selector]) -> Result<Vec<Listener>, Error> {
    let entries = parse_server_starter_port(value)?;
    if entries.is_empty() {
        return Err(Error::new(
            ErrorKind::Inherit,
            format!("{SERVER_STARTER_PORT} is set but empty: the supervisor passed no sockets, and handover does not bind its own under a supervisor"),
        ));
    }
    for selector in selectors {
        if !entries.iter().any(|e| selector.matches(e)) {
            let keys: Vec<&str> = entries.iter().map(|e| e.key.as_str()).collect();
            return Err(Error::new(
                ErrorKind::Inherit,
                format!(
                    "{SERVER_STARTER_PORT}: [listen] inherit selector {:?} matches no entry (keys: {})",
                    selector.to_string(),
                    keys.join(", ")
                ),
            ));
        }
    }
    let chosen: Vec<&StarterEntry> = entries
        .iter()
        .filter(|e| selectors.is_empty() || selectors.iter().any(|s| s.matches(e)))
        .collect();
    // Check every chosen fd before adopting any, so an error leaves all of them untouched.
    for entry in &chosen {
        if let Err(refusal) = check_only(entry.fd) {
            return Err(refusal_error(entry, &refusal));
        }
    }
    let mut listeners = Vec::with_capacity(chosen.len());
    for entry in chosen {
        // SAFETY: the parser rejected duplicate fds, so each fd is adopted once;
        // the fds come from our supervisor and nothing else in this process owns them.
        let socket = unsafe { adopt::adopt(entry.fd) }.map_err(|r| refusal_error(entry, &r))?;
        listeners.push(Listener {
            socket,
            origin: Origin::ServerStarter {
                key: entry.key.clone(),
                fd: entry.fd,
            },
        });
    }
    Ok(listeners)
}

/// Runs the checks of [`adopt::adopt`] without taking ownership or changing flags.
fn check_only(fd: RawFd) -> Result<(), adopt::Refusal> {
    // SAFETY: fds named by SERVER_STARTER_PORT are owned by no object of ours
    // yet, so no other thread closes them while they are checked.
    unsafe { adopt::check(fd) }.map(|_| ())
}

fn refusal_error(entry: &StarterEntry, refusal: &adopt::Refusal) -> Error {
    Error::new(
        ErrorKind::Inherit,
        format!(
            "{SERVER_STARTER_PORT}: fd {} (key {:?}) {refusal}",
            entry.fd, entry.key
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> StarterEntry {
        StarterEntry {
            key: key.to_owned(),
            fd: 9,
        }
    }

    #[test]
    fn selectors_match_keys() {
        let cases = [
            ("8080", "8080", true),
            ("8080", "127.0.0.1:8080", true),
            ("8080", "[::1]:8080", true),
            ("8080", "8081", false),
            ("8080", "/run/8080", false),
            ("127.0.0.1:8080", "127.0.0.1:8080", true),
            ("127.0.0.1:8080", "8080", false),
            ("127.0.0.1:8080", "127.0.0.2:8080", false),
            ("[::1]:8080", "[0:0:0:0:0:0:0:1]:8080", true),
            ("localhost:8080", "LOCALHOST:8080", true),
            ("/run/app.sock", "/run/app.sock", true),
            ("/run/app.sock", "/run/other.sock", false),
        ];
        for (sel, key, want) in cases {
            let s: Selector = sel.parse().unwrap();
            assert_eq!(s.matches(&entry(key)), want, "{sel} vs {key}");
        }
    }

    #[test]
    fn selector_round_trips_through_display() {
        for text in ["8080", "127.0.0.1:80", "[::1]:80", "/run/a.sock"] {
            assert_eq!(text.parse::<Selector>().unwrap().to_string(), text);
        }
        assert!("".parse::<Selector>().is_err());
    }

    #[test]
    fn empty_variable_is_an_error_not_a_bind() {
        let inh = Inheritance {
            server_starter_port: Some(String::new()),
        };
        let e = resolve(&inh, &ListenConfig::default(), &ServerConfig::default()).unwrap_err();
        assert!(e.to_string().contains("set but empty"), "{e}");
    }

    #[test]
    fn selector_matching_nothing_is_an_error() {
        let inh = Inheritance {
            server_starter_port: Some("8080=1000".into()),
        };
        let listen = ListenConfig {
            inherit: vec!["9090".parse().unwrap()],
            ..ListenConfig::default()
        };
        let e = resolve(&inh, &listen, &ServerConfig::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"9090\" matches no entry (keys: 8080)"),
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
}
