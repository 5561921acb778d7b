//! What the supervisor's state machine ([`crate::machine`]) is told
//! ([`Event`]) and what it asks the main loop to do ([`Action`]). Plain
//! values: the machine never touches a process, a file or the clock.

use std::time::Duration;

use crate::signals::Signal;

/// Something that happened, told to [`crate::machine::Machine::handle`]
/// with the time it is handled at.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Event {
    /// The supervisor is set up: start the first generation.
    Start,
    /// A signal to the supervisor.
    Signal(Signal),
    /// [`Action::Spawn`] started generation `generation` as process `pid`.
    Spawned { generation: u64, pid: u32 },
    /// [`Action::Spawn`] could not start generation `generation`; `reason`
    /// is the line to log (`failed to exec app: ...`).
    SpawnFailed { generation: u64, reason: String },
    /// Worker `pid` exited with the raw wait status `status` (Perl logs it raw).
    Exited { pid: u32, status: i32 },
    /// Worker `pid` said `READY=1` on its `NOTIFY_SOCKET`.
    Ready { pid: u32 },
    /// Worker `pid` said `STOPPING=1` on its `NOTIFY_SOCKET`.
    Stopping { pid: u32 },
    /// The environment was read again (the envdir may have changed).
    Environment(EnvSettings),
    /// A wake-up: the deadline of [`crate::machine::Machine::next_wake`]
    /// (or an earlier one) has come.
    Timer,
}

/// Something the main loop must do, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Action {
    /// Start generation `generation` (after reading the environment); the
    /// loop answers at once with [`Event::Spawned`] or [`Event::SpawnFailed`].
    Spawn { generation: u64 },
    /// Send `signal` to worker `pid`.
    Signal { pid: u32, signal: Signal },
    /// Write one line to the log.
    Log(String),
    /// Rewrite the status file: `(generation, pid)` of every accepted live
    /// worker, in numeric order.
    WriteStatus(Vec<(u64, u32)>),
    /// Record the state of the latest deploy in the deploy file.
    WriteDeploy { generation: u64, state: DeployState },
    /// Send this message to the supervisor's own `NOTIFY_SOCKET` (systemd),
    /// if it has one.
    NotifyUpstream(String),
    /// Remove the status and deploy files.
    RemoveStatus,
    /// Return from the main loop; the process exits with `code`.
    Exit { code: u8 },
}

/// The state of the latest deploy, as the deploy file records it for
/// `--restart`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeployState {
    /// Started, not yet judged.
    Starting,
    /// Accepted as the current generation.
    Ready,
    /// Failed; nothing more is tried for it.
    Failed,
    /// Failed; another generation is started after `--interval`.
    Retrying,
}

impl DeployState {
    /// The word in the deploy file.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeployState::Starting => "starting",
            DeployState::Ready => "ready",
            DeployState::Failed => "failed",
            DeployState::Retrying => "retrying",
        }
    }
}

/// The settings the supervisor reads from its environment (inherited,
/// command line, envdir) every time the environment is read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EnvSettings {
    /// `ENABLE_AUTO_RESTART` is set (to anything but empty or `0`).
    pub(crate) auto_restart: bool,
    /// `AUTO_RESTART_INTERVAL`.
    pub(crate) auto_restart_interval: Seconds,
    /// `KILL_OLD_DELAY`.
    pub(crate) kill_old_delay: Seconds,
}

impl Default for EnvSettings {
    /// None of the variables set.
    fn default() -> EnvSettings {
        EnvSettings {
            auto_restart: false,
            auto_restart_interval: Seconds::Unset,
            kill_old_delay: Seconds::Unset,
        }
    }
}

/// A variable holding a number of seconds, as read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Seconds {
    /// Not set.
    Unset,
    /// Set to a valid number of seconds.
    Set(Duration),
    /// Set to this text, which is not a number of seconds (ignored, with a
    /// log line, where it is used).
    Invalid(String),
}
