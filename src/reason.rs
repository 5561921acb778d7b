//! Why a drain started and why a stop was forced: the words the drain,
//! the signal owner and the status share.

use std::fmt;

/// Why a graceful drain started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DrainReason {
    /// A signal (its number) asked for a graceful stop.
    Signal(i32),
    /// Code asked for it through [`DrainTrigger::drain`](crate::DrainTrigger::drain).
    Requested,
}

/// Why the stop was forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForceReason {
    /// The drain outlived `shutdown_timeout`.
    Deadline,
    /// A stop signal (its number) arrived during the drain, or a forcing signal.
    Signal(i32),
    /// Code asked for it through [`DrainTrigger::force`](crate::DrainTrigger::force).
    Requested,
}

/// The name of a signal, for logs.
pub(crate) fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGTERM => "SIGTERM".to_owned(),
        libc::SIGINT => "SIGINT".to_owned(),
        libc::SIGQUIT => "SIGQUIT".to_owned(),
        libc::SIGHUP => "SIGHUP".to_owned(),
        other => format!("signal {other}"),
    }
}

impl fmt::Display for DrainReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DrainReason::Signal(s) => f.write_str(&signal_name(*s)),
            DrainReason::Requested => f.write_str("request"),
        }
    }
}

impl fmt::Display for ForceReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForceReason::Deadline => f.write_str("shutdown_timeout reached"),
            ForceReason::Signal(s) => write!(f, "{} during drain", signal_name(*s)),
            ForceReason::Requested => f.write_str("request"),
        }
    }
}
