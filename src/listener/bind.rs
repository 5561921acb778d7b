//! Binding listeners ourselves, when no supervisor passes them: TCP, and unix
//! sockets with a mode, whose paths are removed again when the server stops.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
#[cfg(test)]
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use serde::{Deserialize, Deserializer};

use super::created::{probe, CreatedPath, Probe};
use super::socket::{ListenSocket, Listener, Origin};
use super::starter::{classify, StarterKey};
use crate::error::{quoted, Error, ErrorKind};

/// One address to bind (an entry of `[listen] bind`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindAddress {
    /// `host:port` or `[v6]:port`.
    Tcp {
        /// Host name or address, without brackets.
        host: String,
        /// Port (0 for any free port).
        port: u16,
    },
    /// A unix socket path (any text containing `/`: `/run/app.sock`, `./app.sock`).
    Unix(PathBuf),
}

impl FromStr for BindAddress {
    type Err = Error;

    /// `host:port`, `[v6]:port`, or a unix path (text containing `/`).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for a bare port or a word that is neither.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.contains('/') {
            return Ok(BindAddress::Unix(PathBuf::from(s)));
        }
        let bad = |problem: String| {
            Error::new(
                ErrorKind::Config,
                format!("bind address {} {problem}", quoted(s)),
            )
        };
        match classify(s) {
            StarterKey::HostPort { host, port } => Ok(BindAddress::Tcp { host, port }),
            StarterKey::Port(port) => Err(bad(format!(
                "is a bare port; write host:port, like 127.0.0.1:{port} or [::]:{port}"
            ))),
            StarterKey::Path(_) => Err(bad(
                "is neither host:port nor a unix path (a path contains '/', like ./app.sock)"
                    .to_owned(),
            )),
        }
    }
}

impl<'de> Deserialize<'de> for BindAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        BindAddress::from_str(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for BindAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindAddress::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            BindAddress::Tcp { host, port } => write!(f, "{host}:{port}"),
            BindAddress::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Binds `address`: TCP with [`bind_tcp`], a unix path with [`bind_unix`].
///
/// # Errors
/// As those functions.
pub(crate) fn bind(
    address: &BindAddress,
    backlog: u32,
    unix_mode: Option<u32>,
) -> Result<Listener, Error> {
    match address {
        BindAddress::Tcp { host, port } => bind_tcp(host, *port, backlog),
        BindAddress::Unix(path) => bind_unix(path, unix_mode, backlog),
    }
}

/// Sets the permission bits of the socket file at `path` without following a
/// symlink: the file is opened with `O_PATH | O_NOFOLLOW`, checked to be a
/// socket, and changed through that descriptor.
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
        .open(path)?;
    if !file.metadata()?.file_type().is_socket() {
        return Err(io::Error::other("the path was replaced by something else"));
    }
    let through = format!("/proc/self/fd/{}", file.as_raw_fd());
    std::fs::set_permissions(through, std::fs::Permissions::from_mode(mode))
}

/// Binds a unix stream socket at `path`, sets its mode, and listens.
///
/// A socket file left at `path` by a process that is gone (nothing accepts on
/// it) is replaced; a socket someone still accepts on is an error, and so is
/// any other kind of file, which is never removed. With `mode`, the
/// permissions are set before `listen`, so no client connects earlier.
///
/// # Errors
/// [`ErrorKind::Bind`] naming the path.
pub(crate) fn bind_unix(path: &Path, mode: Option<u32>, backlog: u32) -> Result<Listener, Error> {
    let shown = path.display();
    let fail = |what: &str, e: io::Error| {
        Error::new(
            ErrorKind::Bind,
            format!("cannot {what} unix socket {shown}"),
        )
        .with_source(e)
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(Error::new(
                ErrorKind::Bind,
                format!("cannot bind unix socket {shown}: the path exists and is not a socket (left as it is)"),
            ));
        }
        Ok(_) => match probe(path).map_err(|e| fail("probe the existing", e))? {
            Probe::Accepting => {
                return Err(Error::new(
                    ErrorKind::Bind,
                    format!("cannot bind unix socket {shown}: another process is accepting on it"),
                ))
            }
            Probe::Refused => {
                log::info!("removing stale unix socket {shown} (nothing accepts on it)");
                std::fs::remove_file(path).map_err(|e| fail("remove the stale", e))?;
            }
            Probe::Gone => {}
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail("inspect the path of", e)),
    }
    let addr = SockAddr::unix(path).map_err(|e| fail("make an address for", e))?;
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|e| fail("create", e))?;
    socket.bind(&addr).map_err(|e| fail("bind", e))?;
    // From here the file is ours (we just bound it): on failure, remove it.
    let abandon = |e: Error| {
        let _ = std::fs::remove_file(path);
        e
    };
    if let Some(mode) = mode {
        set_mode(path, mode).map_err(|e| abandon(fail(&format!("set mode {mode:#o} on"), e)))?;
    }
    // Recorded after the mode is set, which changes the file's change time.
    let created = CreatedPath::of(path).map_err(|e| abandon(fail("inspect the new", e)))?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket
        .listen(backlog)
        .map_err(|e| abandon(fail("listen on", e)))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| abandon(fail("set O_NONBLOCK on", e)))?;
    Ok(Listener::new(ListenSocket::Unix(socket.into()), Origin::Bound).with_created(created))
}

/// Binds `host:port` (the first address `host` resolves to) with `SO_REUSEADDR`,
/// listens with `backlog`, and returns a close-on-exec, non-blocking listener.
///
/// # Errors
/// [`ErrorKind::Bind`] naming the address when resolution, binding or listening fails.
pub(crate) fn bind_tcp(host: &str, port: u16, backlog: u32) -> Result<Listener, Error> {
    let shown = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let fail = |what: &str, e: std::io::Error| {
        Error::new(ErrorKind::Bind, format!("cannot {what} {shown}")).with_source(e)
    };
    let addr: SocketAddr = (host, port)
        .to_socket_addrs()
        .map_err(|e| fail("resolve", e))?
        .next()
        .ok_or_else(|| Error::new(ErrorKind::Bind, format!("{shown} resolves to no address")))?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| fail("create a socket for", e))?;
    socket
        .set_reuse_address(true)
        .map_err(|e| fail("set SO_REUSEADDR for", e))?;
    socket.bind(&addr.into()).map_err(|e| fail("bind", e))?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket.listen(backlog).map_err(|e| fail("listen on", e))?;
    socket
        .set_nonblocking(true)
        .map_err(|e| fail("set O_NONBLOCK on", e))?;
    Ok(Listener::new(
        ListenSocket::Tcp(socket.into()),
        Origin::Bound,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_an_ephemeral_port() {
        let l = bind_tcp("127.0.0.1", 0, 16).unwrap();
        assert_ne!(l.tcp_addr().unwrap().port(), 0);
    }

    #[test]
    fn bind_failure_names_the_address() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        // SO_REUSEADDR does not allow two listeners on one port.
        let e = bind_tcp("127.0.0.1", port, 16).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Bind);
        assert_eq!(e.to_string(), format!("cannot bind 127.0.0.1:{port}"));
        let e = bind_tcp("no-such-host.invalid", 1, 16).unwrap_err();
        assert!(e.to_string().contains("no-such-host.invalid:1"), "{e}");
    }

    #[test]
    fn bind_addresses_parse_or_explain() {
        assert_eq!(
            "127.0.0.1:80".parse::<BindAddress>().unwrap(),
            BindAddress::Tcp {
                host: "127.0.0.1".into(),
                port: 80
            }
        );
        assert_eq!(
            "[::]:80".parse::<BindAddress>().unwrap().to_string(),
            "[::]:80"
        );
        assert_eq!(
            "./app.sock".parse::<BindAddress>().unwrap(),
            BindAddress::Unix("./app.sock".into())
        );
        let e = "8080".parse::<BindAddress>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("bare port"), "{e}");
        let e = "app.sock".parse::<BindAddress>().unwrap_err();
        assert!(e.to_string().contains("./app.sock"), "{e}");
    }

    fn mode_of(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn unix_socket_gets_its_mode_and_is_removed_only_while_it_is_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sock");
        let l = bind_unix(&path, Some(0o640), 8).unwrap();
        assert_eq!(mode_of(&path), 0o640);
        assert_eq!(l.local_addr_text(), format!("unix:{}", path.display()));
        UnixStream::connect(&path).expect("listening");
        let created = l.created_path().unwrap().clone();
        drop(l);
        created.remove();
        assert!(!path.exists());

        // A file that replaced ours is not removed.
        let l = bind_unix(&path, None, 8).unwrap();
        let created = l.created_path().unwrap().clone();
        drop(l);
        std::fs::remove_file(&path).unwrap();
        let newer = std::os::unix::net::UnixListener::bind(&path).unwrap();
        created.remove();
        assert!(path.exists(), "a newer socket at the path is left alone");
        drop(newer);
    }

    #[test]
    fn unix_bind_replaces_stale_sockets_and_refuses_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("stale.sock");
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        assert!(stale.exists());
        let l = bind_unix(&stale, None, 8).unwrap();
        UnixStream::connect(&stale).expect("the new socket listens");
        drop(l);

        let live = dir.path().join("live.sock");
        let _live = std::os::unix::net::UnixListener::bind(&live).unwrap();
        let e = bind_unix(&live, None, 8).unwrap_err();
        assert!(
            e.to_string().contains("another process is accepting"),
            "{e}"
        );
        UnixStream::connect(&live).expect("the live socket is untouched");

        // A live listener with a full backlog is still "accepting", and the
        // probe does not wait for room in it.
        let full = dir.path().join("full.sock");
        let busy = socket2::Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        busy.bind(&SockAddr::unix(&full).unwrap()).unwrap();
        busy.listen(0).unwrap();
        let _queued: Vec<_> = (0..4)
            .filter_map(|_| {
                let c = socket2::Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
                c.set_nonblocking(true).unwrap();
                c.connect(&SockAddr::unix(&full).unwrap()).ok().map(|_| c)
            })
            .collect();
        let e = bind_unix(&full, None, 8).unwrap_err();
        assert!(
            e.to_string().contains("another process is accepting"),
            "{e}"
        );

        let file = dir.path().join("data.txt");
        std::fs::write(&file, "keep me").unwrap();
        let e = bind_unix(&file, None, 8).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "cannot bind unix socket {}: the path exists and is not a socket (left as it is)",
                file.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");

        let e = bind_unix(&dir.path().join("no/such/dir.sock"), None, 8).unwrap_err();
        assert!(e.to_string().starts_with("cannot bind unix socket"), "{e}");
    }

    #[test]
    fn mode_is_never_set_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("secret.txt");
        std::fs::write(&target, "x").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("app.sock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(set_mode(&link, 0o666).is_err());
        assert_eq!(mode_of(&target), 0o600, "the symlink's target is unchanged");
    }
}
