//! One worker process as the state machine sees it: its pid and generation,
//! where it is in its life, and the stop signal it was sent. The process
//! itself (its `Child`, its notify socket) belongs to the main loop.

use std::time::Instant;

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
    /// When the first stop signal was sent: `--kill-timeout` counts from here.
    pub(crate) at: Instant,
    pub(crate) killed: bool,
}

/// A started worker.
#[derive(Clone, Debug)]
pub(crate) struct Worker {
    pub(crate) pid: u32,
    pub(crate) generation: u64,
    pub(crate) phase: Phase,
    /// Accepted as current once, so listed in the status file.
    pub(crate) accepted: bool,
    pub(crate) stop: Option<Stop>,
}
