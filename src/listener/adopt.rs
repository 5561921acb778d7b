//! Adopting an inherited file descriptor as a listening socket, after checking it.

use std::io;
use std::net::TcpListener;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;

use socket2::{Domain, SockRef, Type};

use super::socket::ListenSocket;

/// Why an fd cannot be adopted. Every variant leaves the fd exactly as it was.
#[derive(Debug)]
pub(crate) enum Refusal {
    NotOpen,
    Stat(io::Error),
    NotSocket(&'static str),
    Query(&'static str, io::Error),
    NotStream(&'static str),
    NotListening,
    Family(String),
    Flags(io::Error),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotOpen => f.write_str("is not open"),
            Refusal::Stat(e) => write!(f, "cannot be inspected (fstat: {e})"),
            Refusal::NotSocket(what) => write!(f, "is not a socket (it is {what})"),
            Refusal::Query(what, e) => write!(f, "cannot be inspected ({what}: {e})"),
            Refusal::NotStream(what) => {
                write!(f, "is a {what} socket, not a stream (TCP or unix) listener")
            }
            Refusal::NotListening => f.write_str(
                "is a stream socket that is not listening (listen() was never called on it)",
            ),
            Refusal::Family(family) => write!(f, "has unsupported address family {family}"),
            Refusal::Flags(e) => write!(f, "cannot be made close-on-exec and non-blocking ({e})"),
        }
    }
}

fn file_kind(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a pipe",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symbolic link",
        _ => "not a socket",
    }
}

fn set_flags(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an fd we checked is open; F_GETFD/F_SETFD/F_GETFL/F_SETFL
    // take and return plain integers and touch no memory of ours.
    unsafe {
        let fd_flags = libc::fcntl(fd, libc::F_GETFD);
        if fd_flags < 0 || libc::fcntl(fd, libc::F_SETFD, fd_flags | libc::FD_CLOEXEC) < 0 {
            return Err(io::Error::last_os_error());
        }
        let fl_flags = libc::fcntl(fd, libc::F_GETFL);
        if fl_flags < 0 || libc::fcntl(fd, libc::F_SETFL, fl_flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// What [`check`] learnt about a usable fd.
#[derive(Debug)]
pub(crate) struct Checked {
    /// An internet (TCP) socket, rather than a unix one.
    pub(crate) is_inet: bool,
    /// Its local address.
    pub(crate) local: socket2::SockAddr,
}

/// Checks that `fd` is an open, listening stream socket of a known family,
/// without changing anything.
///
/// # Safety
/// `fd` must not be closed by another thread while this runs.
pub(crate) unsafe fn check(fd: RawFd) -> Result<Checked, Refusal> {
    // SAFETY: F_GETFD only reads the descriptor table entry.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(Refusal::NotOpen);
    }
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` points to writable memory of the right size; the fd is open.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } < 0 {
        return Err(Refusal::Stat(io::Error::last_os_error()));
    }
    // SAFETY: fstat returned 0, so it filled the whole struct.
    let stat = unsafe { stat.assume_init() };
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(Refusal::NotSocket(file_kind(stat.st_mode)));
    }
    // SAFETY: the fd is open (checked above) and the caller keeps it open for
    // this borrow, which ends when this function returns.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = SockRef::from(&borrowed);
    let ty = sock.r#type().map_err(|e| Refusal::Query("SO_TYPE", e))?;
    if ty != Type::STREAM {
        let what = if ty == Type::DGRAM {
            "datagram (UDP)"
        } else if ty == Type::SEQPACKET {
            "seqpacket"
        } else {
            "non-stream"
        };
        return Err(Refusal::NotStream(what));
    }
    if !sock
        .is_listener()
        .map_err(|e| Refusal::Query("SO_ACCEPTCONN", e))?
    {
        return Err(Refusal::NotListening);
    }
    let local = sock
        .local_addr()
        .map_err(|e| Refusal::Query("getsockname", e))?;
    let domain = local.domain();
    let is_inet = domain == Domain::IPV4 || domain == Domain::IPV6;
    if !is_inet && domain != Domain::UNIX {
        return Err(Refusal::Family(format!("{}", i32::from(domain))));
    }
    Ok(Checked { is_inet, local })
}

/// Checks `fd` as [`check`] does, sets `FD_CLOEXEC` and `O_NONBLOCK` on it, and
/// only then takes ownership of it.
///
/// On any refusal the fd is left open and untouched (no flag changed, not closed).
///
/// # Safety
/// `fd` must not be owned by anything else in this process, and must not be used
/// or closed through its number after this call returns `Ok`: the returned socket
/// owns it. Call this at most once per fd.
pub(crate) unsafe fn adopt(fd: RawFd) -> Result<ListenSocket, Refusal> {
    // SAFETY: nothing else owns the fd (caller's contract), so nothing closes it meanwhile.
    let is_inet = unsafe { check(fd) }?.is_inet;
    set_flags(fd).map_err(Refusal::Flags)?;
    // SAFETY: the fd is open, is a listening stream socket, and the caller
    // guarantees nothing else owns it; from here the OwnedFd is its only owner.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(if is_inet {
        ListenSocket::Tcp(TcpListener::from(owned))
    } else {
        ListenSocket::Unix(UnixListener::from(owned))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, IntoRawFd};

    fn cloexec(fd: RawFd) -> bool {
        unsafe { libc::fcntl(fd, libc::F_GETFD) & libc::FD_CLOEXEC != 0 }
    }

    #[test]
    fn adopts_a_listening_tcp_socket() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let fd = l.into_raw_fd();
        let sock = unsafe { adopt(fd) }.unwrap();
        match sock {
            ListenSocket::Tcp(t) => {
                assert_eq!(t.local_addr().unwrap(), addr);
                assert!(cloexec(t.as_raw_fd()));
            }
            ListenSocket::Unix(_) => panic!("tcp expected"),
        }
    }

    #[test]
    fn refuses_without_touching_the_fd() {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = unsafe { adopt(udp.as_raw_fd()) }.unwrap_err();
        assert!(r.to_string().contains("datagram (UDP)"), "{r}");
        assert!(udp.local_addr().is_ok(), "fd must stay open");

        let bound = socket2::Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        bound
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        let r = unsafe { adopt(bound.as_raw_fd()) }.unwrap_err();
        assert!(r.to_string().contains("not listening"), "{r}");

        let file = std::fs::File::open("/proc/self/status").unwrap();
        let r = unsafe { adopt(file.as_raw_fd()) }.unwrap_err();
        assert_eq!(r.to_string(), "is not a socket (it is a regular file)");

        let r = unsafe { adopt(-1) }.unwrap_err();
        assert_eq!(r.to_string(), "is not open");
    }
}
