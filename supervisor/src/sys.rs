//! The few system calls std does not wrap, each behind a safe function.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Sets or clears close-on-exec on `fd`.
pub(crate) fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFD/F_SETFD only read and write the descriptor's flags; an
    // fd that is not open gives EBADF, nothing else.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let flags = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags) }).map(drop)
}

/// Duplicates `fd` to the lowest free fd at or above `min`, close-on-exec.
pub(crate) fn dup_at_or_above(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC creates a new descriptor and touches no memory.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: `new` was just created by this call and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Duplicates `fd` onto `target` (closing whatever `target` was),
/// close-on-exec, and adopts `target`.
pub(crate) fn dup_onto(fd: RawFd, target: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: dup3 touches no memory. The caller chose `target` from the
    // command line (`--port PORT=FD`): replacing what was there is the point.
    check(unsafe { libc::dup3(fd, target, libc::O_CLOEXEC) })?;
    // SAFETY: dup3 made `target` a copy of our socket; from now on it is ours
    // and nothing else in this process refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(target) })
}

/// Duplicates `fd` onto `target` (closing whatever `target` was), without
/// close-on-exec: for the standard streams, which children inherit.
pub(crate) fn dup2(fd: RawFd, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 touches no memory. The caller replaces one of its own
    // standard streams on purpose; nothing in this process owns that fd as
    // an `OwnedFd`.
    check(unsafe { libc::dup2(fd, target) }).map(drop)
}

/// Which side of a [`fork`] this process is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fork {
    /// The original process; the child has this pid.
    Parent(u32),
    /// The new process.
    Child,
}

/// fork(2). The supervisor calls it only while it has one thread (it never
/// starts another), so the child may run any code.
pub(crate) fn fork() -> io::Result<Fork> {
    // SAFETY: fork touches no memory of ours. In a multi-threaded process
    // the child could find locks held by threads that no longer exist; the
    // supervisor is single-threaded, so nothing is held.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Fork::Child),
        // A pid returned by fork is positive.
        pid => Ok(Fork::Parent(pid.unsigned_abs())),
    }
}

/// setsid(2): a new session and process group, without a controlling terminal.
pub(crate) fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments and touches no memory.
    check(unsafe { libc::setsid() }).map(drop)
}

/// Ends this process at once with `code`: no destructors, no exit handlers,
/// no buffers flushed (they belong to the other side of a fork).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit only ends the process; it is always safe to call.
    unsafe { libc::_exit(code) }
}

/// Sends `signal` to process `pid`.
pub(crate) fn kill(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill touches no memory; pid is a single positive process id.
    check(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// Waits until one of `fds` is readable or `timeout` passes; returns which
/// were readable. EINTR counts as a wake-up with nothing readable.
pub(crate) fn poll_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut set: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.map_or(-1, |t| {
        // Round up, so a deadline 0.4 ms away does not spin.
        let ms = t.as_micros().div_ceil(1000);
        libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
    });
    // SAFETY: `set` is a valid, exclusively borrowed array of `set.len()`
    // pollfd structs for the duration of the call.
    let ret = unsafe { libc::poll(set.as_mut_ptr(), set.len() as libc::nfds_t, ms) };
    if ret == -1 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(set.iter().map(|p| p.revents != 0).collect())
}

/// Marks every open fd above 2 close-on-exec, so that nothing this process
/// inherited (from a shell, a test harness, an init) leaks into the workers.
/// Returns how many fds were changed.
pub(crate) fn close_inherited_on_exec() -> io::Result<usize> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Some(fd) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        {
            fds.push(fd);
        }
    }
    let mut changed = 0;
    for fd in fds.into_iter().filter(|fd| *fd > 2) {
        // SAFETY: F_GETFD only reads the descriptor's flags; the directory fd
        // read_dir used is closed by now and gives EBADF.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            set_cloexec(fd, true)?;
            changed += 1;
        }
    }
    Ok(changed)
}
