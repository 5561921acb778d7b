//! Signal names, and the signals the supervisor receives: each handler sets a
//! flag and wakes the main loop through a self-pipe, so nothing but the loop
//! acts on a signal and none is lost while the loop is busy.

use std::io::Read;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use libc::c_int;

use crate::error::{Error, Result};

/// A signal number with its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Signal(pub(crate) c_int);

const NAMES: &[(&str, c_int)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ABRT", libc::SIGABRT),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

impl Signal {
    pub(crate) const TERM: Signal = Signal(libc::SIGTERM);
    pub(crate) const KILL: Signal = Signal(libc::SIGKILL);

    /// Parses `TERM`, `term`, `SIGTERM` or `15`, as Perl's `kill` does.
    pub(crate) fn parse(option: &str, value: &str) -> Result<Signal> {
        let upper = value.trim().to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some(&(_, number)) = NAMES.iter().find(|(n, _)| *n == name) {
            return Ok(Signal(number));
        }
        match name.parse::<c_int>() {
            Ok(number) if (1..=64).contains(&number) => Ok(Signal(number)),
            _ => Err(Error::new(format!(
                "--{option}: {value:?} is not a signal name"
            ))),
        }
    }

    /// `TERM`, `USR1`, ... (Perl's log lines use the bare name).
    pub(crate) fn name(self) -> String {
        NAMES
            .iter()
            .find(|(_, n)| *n == self.0)
            .map_or_else(|| self.0.to_string(), |(name, _)| (*name).to_owned())
    }
}

/// The signals the main loop handles, in the order it handles them when
/// several arrive together: stopping comes first, reaping last.
pub(crate) const HANDLED: [c_int; 8] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGCHLD,
];

/// The flags and the read end of the self-pipe.
pub(crate) struct Receiver {
    wake: UnixStream,
    flags: Vec<(c_int, Arc<AtomicBool>)>,
}

impl Receiver {
    /// Installs the handlers for every signal in [`HANDLED`].
    pub(crate) fn install() -> Result<Receiver> {
        let (wake, write) = UnixStream::pair().map_err(|e| Error::io("signal pipe", e))?;
        wake.set_nonblocking(true)
            .map_err(|e| Error::io("signal pipe", e))?;
        write
            .set_nonblocking(true)
            .map_err(|e| Error::io("signal pipe", e))?;
        // One write end for every handler, never closed: a handler may run
        // at any moment until the process exits, so its fd must stay valid
        // (and never be reused for something else).
        let write = write.into_raw_fd();
        let mut flags = Vec::new();
        for signal in HANDLED {
            let flag = Arc::new(AtomicBool::new(false));
            let failed = |e| {
                Error::io(
                    format!("installing the {} handler", Signal(signal).name()),
                    e,
                )
            };
            signal_hook::flag::register(signal, flag.clone()).map_err(failed)?;
            signal_hook::low_level::pipe::register_raw(signal, write).map_err(failed)?;
            flags.push((signal, flag));
        }
        Ok(Receiver { wake, flags })
    }

    /// The fd to poll for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// The signals received since the last call, in [`HANDLED`] order; a
    /// signal received several times is reported once.
    pub(crate) fn take(&mut self) -> Vec<Signal> {
        let mut sink = [0u8; 64];
        while matches!((&self.wake).read(&mut sink), Ok(n) if n > 0) {}
        self.flags
            .iter()
            .filter(|(_, flag)| flag.swap(false, Ordering::SeqCst))
            .map(|(signal, _)| Signal(*signal))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_numbers_and_prefixes() {
        for text in ["TERM", "term", "SIGTERM", "sigterm", "15", " TERM "] {
            assert_eq!(Signal::parse("x", text).unwrap(), Signal::TERM, "{text}");
        }
        assert_eq!(Signal::parse("x", "usr1").unwrap().name(), "USR1");
        assert!(Signal::parse("x", "FOO").is_err());
        assert!(Signal::parse("x", "0").is_err());
        assert!(Signal::parse("x", "").is_err());
    }
}
