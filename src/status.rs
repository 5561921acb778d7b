//! Where the drain stands, for metrics and dashboards: [`DrainStatus`].

use std::fmt;
use std::time::Duration;

use crate::connections::ConnectionKind;
use crate::reason::ForceReason;

/// The phase a server is in, from serving to stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Serving; no drain has started.
    Serving,
    /// Drain phase 1: still accepting while health checks report 503.
    LameDuck,
    /// Drain phase 2: accepting stops.
    StopAccepting,
    /// Drain phase 3: every response closes its connection; idle ones stay open.
    Linger,
    /// Drain phase 4: idle connections are closed; busy ones finish.
    Closing,
    /// The drain is over (gracefully, or forced).
    Stopped,
}

impl Phase {
    /// The phase's name, as metrics label it: `serving`, `lame_duck`,
    /// `stop_accepting`, `linger`, `closing`, `stopped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Serving => "serving",
            Phase::LameDuck => "lame_duck",
            Phase::StopAccepting => "stop_accepting",
            Phase::Linger => "linger",
            Phase::Closing => "closing",
            Phase::Stopped => "stopped",
        }
    }

    /// Every phase, in order.
    pub const ALL: [Phase; 6] = [
        Phase::Serving,
        Phase::LameDuck,
        Phase::StopAccepting,
        Phase::Linger,
        Phase::Closing,
        Phase::Stopped,
    ];
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of a server's drain and load, from
/// [`DrainToken::status`](crate::DrainToken::status).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DrainStatus {
    /// The phase now.
    pub phase: Phase,
    /// How long it has been in this phase.
    pub in_phase: Duration,
    /// How long ago the drain started, if it has.
    pub draining_for: Option<Duration>,
    /// Why the stop was forced, if it was.
    pub forced: Option<ForceReason>,
    /// `SERVER_STARTER_GENERATION` of this process, once it serves.
    pub generation: Option<u64>,
    /// Open connections by kind (HTTP/1, HTTP/2, upgraded).
    pub connections: Vec<(ConnectionKind, usize)>,
    /// Requests whose response has not finished.
    pub in_flight: usize,
    /// Requests that arrived so far, probes included.
    pub requests: u64,
    /// Health probes (requests for `health_path`) so far.
    pub probes: u64,
    /// Health probes answered 503 so far.
    pub probes_refused: u64,
}

impl DrainStatus {
    /// Open connections of every kind.
    pub fn open_connections(&self) -> usize {
        self.connections.iter().map(|(_, n)| n).sum()
    }
}
