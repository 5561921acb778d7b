//! A listening socket handed to a server, and where it came from.

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, RawFd};
use std::os::unix::net::UnixListener;

use super::created::CreatedPath;
use super::starter::SERVER_STARTER_PORT;

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
    /// Bound by this process (or handed over by code that embeds it).
    Bound,
}

impl Origin {
    /// Whether a supervisor passed the socket: it must never be closed for
    /// others, shut down or unlinked.
    pub fn is_inherited(&self) -> bool {
        !matches!(self, Origin::Bound)
    }
}

/// A listening socket ready to be served, with its origin.
///
/// Code that embeds a server (`Droplet::serve`) hands over sockets it bound
/// itself, non-blocking:
///
/// ```
/// let std = std::net::TcpListener::bind("127.0.0.1:0")?;
/// std.set_nonblocking(true)?;
/// let listener = handover::adapter::Listener::from(std);
/// assert!(!listener.origin().is_inherited());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Listener {
    socket: ListenSocket,
    origin: Origin,
    created: Option<CreatedPath>,
}

impl Listener {
    /// Wraps a socket the caller created or was given.
    pub fn new(socket: ListenSocket, origin: Origin) -> Self {
        Listener {
            socket,
            origin,
            created: None,
        }
    }

    /// Records the socket file this process created for it, to remove when serving ends.
    pub(crate) fn with_created(mut self, created: CreatedPath) -> Self {
        self.created = Some(created);
        self
    }

    /// The socket file this process created for it.
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

impl From<TcpListener> for Listener {
    /// A TCP listener the caller bound ([`Origin::Bound`]).
    fn from(listener: TcpListener) -> Self {
        Listener::new(ListenSocket::Tcp(listener), Origin::Bound)
    }
}

impl From<UnixListener> for Listener {
    /// A unix listener the caller bound ([`Origin::Bound`]); its path is the caller's to remove.
    fn from(listener: UnixListener) -> Self {
        Listener::new(ListenSocket::Unix(listener), Origin::Bound)
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

/// Gives up listeners that will not be served, after a later start-up step
/// failed: an inherited fd is released without being closed (an error must
/// not close an inherited socket), a socket file this process created is
/// removed once its socket is closed, anything else is closed.
pub(crate) fn give_up(listeners: Vec<Listener>) {
    for listener in listeners {
        if listener.origin.is_inherited() {
            let _released: RawFd = match listener.socket {
                ListenSocket::Tcp(t) => t.into_raw_fd(),
                ListenSocket::Unix(u) => u.into_raw_fd(),
            };
        } else {
            let created = listener.created;
            drop(listener.socket);
            if let Some(path) = created {
                path.remove();
            }
        }
    }
}
