//! Binding a listener ourselves, when no supervisor passes one.

use std::net::{SocketAddr, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

use super::{ListenSocket, Listener, Origin};
use crate::error::{Error, ErrorKind};

/// Binds `host:port` (the first address `host` resolves to) with `SO_REUSEADDR`,
/// listens with `backlog`, and returns a close-on-exec, non-blocking listener.
///
/// # Errors
/// [`ErrorKind::Bind`] naming the address when resolution, binding or listening fails.
pub fn bind_tcp(host: &str, port: u16, backlog: u32) -> Result<Listener, Error> {
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
}
