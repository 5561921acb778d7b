//! One worker process as the supervisor sees it: its generation, where it is
//! in its life, and the stop signal it was sent.

use std::process::Child;
use std::time::Instant;

use crate::readiness::NotifySocket;
use crate::signals::Signal;

/// Where a worker is in its life.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Phase {
    /// Started, not yet judged ready.
    Starting { since: Instant },
    /// The generation new connections are for.
    Current,
    /// Superseded; gets `--signal-on-hup` at `signal_at` (if not yet sent).
    Retiring { signal_at: Instant },
    /// A new generation that failed to become ready, being stopped.
    Failed,
}

/// A signal sent to a worker to stop it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stop {
    pub(crate) signal: Signal,
    pub(crate) at: Instant,
    pub(crate) killed: bool,
}

/// A started worker.
pub(crate) struct Worker {
    pub(crate) child: Child,
    pub(crate) pid: u32,
    pub(crate) generation: u64,
    pub(crate) phase: Phase,
    /// Accepted as current once, so listed in the status file.
    pub(crate) accepted: bool,
    pub(crate) notify: Option<NotifySocket>,
    pub(crate) stop: Option<Stop>,
}
