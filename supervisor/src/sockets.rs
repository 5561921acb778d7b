//! The listening sockets: `--port` and `--path` parsed, bound once for the
//! supervisor's whole life, placed at their fds, and described to the workers
//! in `SERVER_STARTER_PORT` (`8080=3;[::1]:8081=4;/run/app.sock=5`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::error::{Error, Result};
use crate::log::say;
use crate::sys;

/// One `--port` value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PortSpec {
    /// The key in `SERVER_STARTER_PORT`: the value as typed, without `u` and
    /// `=FD`, IPv6 hosts in brackets.
    pub(crate) key: String,
    /// `None`: every IPv4 address.
    host: Option<Host>,
    port: u16,
    udp: bool,
    /// `=FD`: the fd the socket must have in the workers.
    pub(crate) fd: Option<RawFd>,
}

#[derive(Debug, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

impl PortSpec {
    /// Parses `PORT`, `HOST:PORT`, `[V6]:PORT`, `V6:PORT`, a `u` before the
    /// port for UDP, and `=FD` after it.
    pub(crate) fn parse(value: &str) -> Result<PortSpec> {
        let bad = |why: &str| Error::new(format!("--port {value:?}: {why}"));
        let (main, fd) = match value.rsplit_once('=') {
            Some((main, fd)) => {
                let fd = fd
                    .trim()
                    .parse::<RawFd>()
                    .ok()
                    .filter(|fd| *fd >= 0)
                    .ok_or_else(|| bad("the part after '=' is not an fd number"))?;
                (main, Some(fd))
            }
            None => (value, None),
        };
        let main = main.trim();
        let (host, port) = match main.rsplit_once(':') {
            Some((host, port)) => (Some(host), port),
            None => (None, main),
        };
        let (udp, digits) = match port.strip_prefix('u') {
            Some(digits) => (true, digits),
            None => (false, port),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected [HOST:]PORT[=FD] with a numeric port"));
        }
        let port: u16 = digits.parse().map_err(|_| bad("the port is above 65535"))?;
        let host = match host {
            None => None,
            Some("") => return Err(bad("the host before ':' is empty")),
            Some(h) => {
                let inner = h
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(h);
                if inner.contains(':') {
                    let ip = inner
                        .parse::<std::net::Ipv6Addr>()
                        .map_err(|_| bad("the host is not an IPv6 address"))?;
                    Some(Host::Ip(IpAddr::V6(ip)))
                } else if let Ok(ip) = inner.parse::<Ipv4Addr>() {
                    Some(Host::Ip(IpAddr::V4(ip)))
                } else {
                    Some(Host::Name(inner.to_owned()))
                }
            }
        };
        let key = match (&host, main.rsplit_once(':')) {
            (Some(Host::Ip(IpAddr::V6(_))), Some((h, _))) => {
                let h = h.trim_start_matches('[').trim_end_matches(']');
                format!("[{h}]:{port}")
            }
            (Some(_), Some((h, _))) => format!("{h}:{port}"),
            _ => port.to_string(),
        };
        Ok(PortSpec {
            key,
            host,
            port,
            udp,
            fd,
        })
    }

    /// The address to bind: a hostname resolves to its first IPv4 address
    /// (as Perl's `gethostbyname`), else its first address.
    fn address(&self) -> Result<SocketAddr> {
        match &self.host {
            None => Ok(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), self.port)),
            Some(Host::Ip(ip)) => Ok(SocketAddr::new(*ip, self.port)),
            Some(Host::Name(name)) => {
                let all: Vec<SocketAddr> = (name.as_str(), self.port)
                    .to_socket_addrs()
                    .map_err(|e| Error::io(format!("--port {}: resolving {name}", self.key), e))?
                    .collect();
                all.iter()
                    .find(|a| a.is_ipv4())
                    .or(all.first())
                    .copied()
                    .ok_or_else(|| {
                        Error::new(format!("--port {}: {name} has no address", self.key))
                    })
            }
        }
    }
}

/// A bound socket the workers inherit.
#[derive(Debug)]
pub(crate) struct Listener {
    key: String,
    fd: OwnedFd,
    /// A `--path` socket file, with its inode: unlinked at exit only if the
    /// file there is still this socket.
    unix: Option<(PathBuf, u64)>,
}

/// Every socket, in `SERVER_STARTER_PORT` order.
#[derive(Debug, Default)]
pub(crate) struct Listeners(Vec<Listener>);

impl Listeners {
    /// Binds every `--port` (in order) and then every `--path`, and places
    /// `=FD` sockets at their fds without ever overwriting another of ours.
    /// The fds stay close-on-exec until [`Listeners::inheritable`].
    pub(crate) fn bind(ports: &[String], paths: &[PathBuf], backlog: i32) -> Result<Listeners> {
        let specs = ports
            .iter()
            .map(|p| PortSpec::parse(p))
            .collect::<Result<Vec<_>>>()?;
        let mut targets = BTreeSet::new();
        for spec in &specs {
            if let Some(fd) = spec.fd {
                if !targets.insert(fd) {
                    return Err(Error::new(format!(
                        "--port {}={fd}: fd {fd} is already asked for by another --port",
                        spec.key
                    )));
                }
            }
        }
        // Sockets are first moved above every requested fd, so that placing
        // one at its fd never closes another (Perl's pitfall: `--port A
        // --port B=4` could put A at fd 4 and then dup B over it).
        let floor = targets.last().map_or(3, |max| max.saturating_add(1)).max(3);
        let mut out = Vec::new();
        for spec in &specs {
            let socket = bind_port(spec, backlog)?;
            let fd = park(socket.into(), floor)
                .map_err(|e| Error::io(format!("--port {}: moving its fd", spec.key), e))?;
            out.push((spec.key.clone(), fd, None, spec.fd));
        }
        for path in paths {
            let (socket, ino) = bind_path(path, backlog)?;
            let fd = park(socket.into(), floor)
                .map_err(|e| Error::io(format!("--path {}: moving its fd", path.display()), e))?;
            out.push((
                path.display().to_string(),
                fd,
                Some((path.clone(), ino)),
                None,
            ));
        }
        let mut listeners = Vec::new();
        for (key, fd, unix, target) in out {
            let fd = match target {
                Some(target) => {
                    let placed = sys::dup_onto(fd.as_raw_fd(), target).map_err(|e| {
                        Error::io(format!("--port {key}: placing it at fd {target}"), e)
                    })?;
                    say!("socket is duplicated to file descriptor {target}");
                    placed
                }
                None => fd,
            };
            listeners.push(Listener { key, fd, unix });
        }
        Ok(Listeners(listeners))
    }

    /// Clears close-on-exec on every socket: from now on every child inherits them.
    pub(crate) fn inheritable(&self) -> Result<()> {
        for l in &self.0 {
            sys::set_cloexec(l.fd.as_raw_fd(), false)
                .map_err(|e| Error::io(format!("{}: clearing close-on-exec", l.key), e))?;
        }
        Ok(())
    }

    /// The value of `SERVER_STARTER_PORT`.
    pub(crate) fn env_value(&self) -> String {
        self.0
            .iter()
            .map(|l| format!("{}={}", l.key, l.fd.as_raw_fd()))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Whether one of the sockets is at fd `fd` (`--port PORT=0`, say).
    pub(crate) fn holds(&self, fd: RawFd) -> bool {
        self.0.iter().any(|l| l.fd.as_raw_fd() == fd)
    }

    /// Removes the `--path` socket files that are still ours.
    fn unlink_paths(&self) {
        for (path, ino) in self.0.iter().filter_map(|l| l.unix.as_ref()) {
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.ino() == *ino => {
                    if let Err(e) = std::fs::remove_file(path) {
                        say!("could not remove {}: {e}", path.display());
                    }
                }
                _ => say!("{} is no longer our socket; left in place", path.display()),
            }
        }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.unlink_paths();
    }
}

/// Moves `fd` to the lowest free fd at or above `floor` (close-on-exec).
fn park(fd: OwnedFd, floor: RawFd) -> std::io::Result<OwnedFd> {
    if fd.as_raw_fd() >= floor {
        return Ok(fd);
    }
    sys::dup_at_or_above(fd.as_raw_fd(), floor)
}

fn bind_port(spec: &PortSpec, backlog: i32) -> Result<Socket> {
    let addr = spec.address()?;
    let what = |doing: &str| format!("--port {}: {doing} {addr}", spec.key);
    let kind = if spec.udp { Type::DGRAM } else { Type::STREAM };
    let socket = Socket::new(Domain::for_address(addr), kind, None)
        .map_err(|e| Error::io(what("creating a socket for"), e))?;
    socket
        .set_reuse_address(true)
        .map_err(|e| Error::io(what("SO_REUSEADDR on"), e))?;
    if addr.is_ipv6() {
        socket
            .set_only_v6(true)
            .map_err(|e| Error::io(what("IPV6_V6ONLY on"), e))?;
    }
    socket
        .bind(&addr.into())
        .map_err(|e| Error::io(what("binding"), e))?;
    if !spec.udp {
        socket
            .listen(backlog)
            .map_err(|e| Error::io(what("listening on"), e))?;
    }
    Ok(socket)
}

/// Binds a unix stream socket at `path` with mode 0777, as Perl does. A
/// socket file nobody listens on is removed first; anything else there is an
/// error, never deleted.
fn bind_path(path: &Path, backlog: i32) -> Result<(Socket, u64)> {
    let what = |doing: &str| format!("--path {}: {doing}", path.display());
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(what("checking it"), e)),
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(Error::new(what(
                "exists and is not a socket; not removing it",
            )));
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(Error::new(what(
                    "a server is already listening on this socket",
                )))
            }
            Err(_) => {
                say!("removing stale socket file {}", path.display());
                std::fs::remove_file(path).map_err(|e| Error::io(what("removing it"), e))?;
            }
        },
    }
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)
        .map_err(|e| Error::io(what("creating a socket"), e))?;
    let addr = SockAddr::unix(path).map_err(|e| Error::io(what("address"), e))?;
    socket
        .bind(&addr)
        .map_err(|e| Error::io(what("binding"), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777))
        .map_err(|e| Error::io(what("chmod 0777"), e))?;
    socket
        .listen(backlog)
        .map_err(|e| Error::io(what("listening"), e))?;
    let ino = std::fs::symlink_metadata(path)
        .map_err(|e| Error::io(what("checking it"), e))?
        .ino();
    Ok((socket, ino))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key_fd(v: &str) -> (String, Option<RawFd>, bool) {
        let s = PortSpec::parse(v).unwrap();
        (s.key, s.fd, s.udp)
    }

    #[test]
    fn every_perl_port_form() {
        let k = |k: &str, fd: Option<RawFd>, udp: bool| (k.to_owned(), fd, udp);
        assert_eq!(key_fd("8080"), k("8080", None, false));
        assert_eq!(key_fd("127.0.0.1:8081"), k("127.0.0.1:8081", None, false));
        assert_eq!(key_fd("[::1]:8082"), k("[::1]:8082", None, false));
        assert_eq!(key_fd("::1:8082"), k("[::1]:8082", None, false));
        assert_eq!(key_fd("localhost:8083"), k("localhost:8083", None, false));
        assert_eq!(key_fd("u8084"), k("8084", None, true));
        assert_eq!(key_fd("127.0.0.1:u8085"), k("127.0.0.1:8085", None, true));
        assert_eq!(key_fd("8086=20"), k("8086", Some(20), false));
        assert_eq!(key_fd(" 28098 =30 "), k("28098", Some(30), false));
        assert_eq!(key_fd("[::]:8087=5"), k("[::]:8087", Some(5), false));
        assert_eq!(key_fd("0"), k("0", None, false));
    }

    #[test]
    fn bad_ports_name_the_value() {
        let e = |v: &str| PortSpec::parse(v).unwrap_err().to_string();
        assert_eq!(
            e("foo"),
            "--port \"foo\": expected [HOST:]PORT[=FD] with a numeric port"
        );
        assert_eq!(e("70000"), "--port \"70000\": the port is above 65535");
        assert_eq!(
            e("80=x"),
            "--port \"80=x\": the part after '=' is not an fd number"
        );
        assert_eq!(e(":80"), "--port \":80\": the host before ':' is empty");
        assert_eq!(
            e("[::g]:80"),
            "--port \"[::g]:80\": the host is not an IPv6 address"
        );
    }
}
