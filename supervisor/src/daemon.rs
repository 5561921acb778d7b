//! `--daemonize`, as Perl's start_server does it: fork, `setsid`, fork, so
//! the supervisor runs in a session of its own, without a controlling
//! terminal, and the command that started it returns. Its stdin is then
//! `/dev/null` and its stdout and stderr the `--log-file` (a stream that a
//! `--port ...=FD` socket occupies is left alone).
//!
//! Unlike Perl's, the foreground process returns only once the background
//! one has written its pid to `--pid-file` (exit 0), so a script can use the
//! pid file at once; exit 1 if the background process died before that.
//! Everything that can fail at start-up (options, pid file lock, sockets,
//! log file) has been done by then, in the foreground, and its error is
//! reported there.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use crate::error::{Error, Result};
use crate::files::PidFile;
use crate::log::LogFile;
use crate::sockets::Listeners;
use crate::sys::{self, Fork};

/// Detaches: returns in the background process; the foreground one exits
/// here. `listeners` tells which standard streams hold a socket.
pub(crate) fn daemonize(pid_file: Option<&PidFile>, listeners: &Listeners) -> Result<()> {
    let (mut wait, mut tell) = UnixStream::pair().map_err(|e| Error::io("--daemonize", e))?;
    if let Fork::Parent(_) = sys::fork().map_err(|e| Error::io("--daemonize: fork", e))? {
        drop(tell);
        let mut byte = [0u8; 1];
        let code = match wait.read_exact(&mut byte) {
            Ok(()) => 0,
            Err(_) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "start_server: the background process exited during start-up (see the --log-file)"
                );
                1
            }
        };
        // Nothing of this process is torn down: the pid file, the sockets
        // and the log are the background process's now.
        sys::exit_now(code);
    }
    drop(wait);
    sys::setsid().map_err(|e| Error::io("--daemonize: setsid", e))?;
    if let Fork::Parent(_) = sys::fork().map_err(|e| Error::io("--daemonize: fork", e))? {
        sys::exit_now(0);
    }
    if let Some(pid_file) = pid_file {
        pid_file.rewrite()?;
    }
    redirect_stdio(listeners)?;
    tell.write_all(b"1")
        .map_err(|e| Error::io("--daemonize: telling the foreground process", e))?;
    Ok(())
}

/// Stdin from `/dev/null`, stdout and stderr to the log.
fn redirect_stdio(listeners: &Listeners) -> Result<()> {
    if !listeners.holds(0) {
        let null = File::open("/dev/null").map_err(|e| Error::io("/dev/null", e))?;
        sys::dup2(null.as_raw_fd(), 0)
            .map_err(|e| Error::io("--daemonize: stdin from /dev/null", e))?;
    }
    let Some(log) = LogFile::fd() else {
        return Err(Error::new(
            "--log-file option must be specified together with --daemonize",
        ));
    };
    for target in [1, 2] {
        if !listeners.holds(target) {
            sys::dup2(log, target)
                .map_err(|e| Error::io("--daemonize: stdout and stderr to the log", e))?;
        }
    }
    Ok(())
}
