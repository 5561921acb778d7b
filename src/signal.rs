//! The one owner of process signals (through signal-hook).
//!
//! | signal | when running | during a drain |
//! | --- | --- | --- |
//! | `SIGTERM` | graceful drain, deadline `shutdown_timeout` | forces the stop (`repeat_signal = "force"`) or is logged and ignored (`"ignore"`) |
//! | `SIGINT` | graceful drain, like `SIGTERM` | like `SIGTERM` |
//! | `SIGQUIT` | forced stop at once | forced stop at once |
//!
//! The signal thread only moves the [`DrainTrigger`]; the drain itself, its
//! deadline included, belongs to the drain owner. Adapters must switch their
//! framework's own signal handling off.

use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;
use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use crate::error::{Error, ErrorKind};
use crate::identity::Identity;
use crate::reason::{signal_name, DrainReason, ForceReason};
use crate::shutdown::{DrainToken, DrainTrigger};

/// What a second SIGTERM/SIGINT does while a drain is running.
///
/// Perl `start_server` sends its HUP signal again to workers that are still
/// draining when HUPs come quickly; choose `ignore` if your deploys do that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RepeatSignal {
    /// The second signal forces the stop (the default).
    #[default]
    Force,
    /// The second signal is logged and ignored; only the deadline forces.
    Ignore,
}

/// Keeps the signal thread alive; dropping it stops the thread.
#[derive(Debug)]
pub(crate) struct SignalGuard {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            // A helper thread that panicked has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

/// Installs the handlers for SIGTERM, SIGINT and SIGQUIT, which move `trigger`.
/// `shutdown_timeout` is only named in the log line of a drain's start.
///
/// # Errors
/// [`ErrorKind::Serve`] if the handlers or the thread cannot be set up.
pub(crate) fn install(
    trigger: &DrainTrigger,
    shutdown_timeout: Duration,
    repeat: RepeatSignal,
    who: Identity,
) -> Result<SignalGuard, Error> {
    let fail = |what: &str, e: std::io::Error| {
        Error::new(ErrorKind::Serve, format!("cannot {what}")).with_source(e)
    };
    let mut signals =
        Signals::new([SIGTERM, SIGINT, SIGQUIT]).map_err(|e| fail("install signal handlers", e))?;
    let handle = signals.handle();
    let trigger = trigger.clone();
    let token = trigger.token();
    let thread = std::thread::Builder::new()
        .name("handover-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                on_signal(sig, &trigger, &token, repeat, who, shutdown_timeout);
            }
        })
        .map_err(|e| fail("start the signal thread", e))?;
    Ok(SignalGuard {
        handle,
        thread: Some(thread),
    })
}

fn on_signal(
    sig: i32,
    trigger: &DrainTrigger,
    token: &DrainToken,
    repeat: RepeatSignal,
    who: Identity,
    timeout: Duration,
) {
    let name = signal_name(sig);
    if sig == SIGQUIT {
        if trigger.force_because(ForceReason::Signal(sig)) {
            log::warn!("{who}: {name}: forcing the stop now");
        }
        return;
    }
    if !token.is_draining() {
        log::info!("{who}: {name}: draining (stop accepting, finish in-flight requests; forced after {timeout:?})");
        trigger.drain_because(DrainReason::Signal(sig));
        return;
    }
    match repeat {
        RepeatSignal::Force => {
            if trigger.force_because(ForceReason::Signal(sig)) {
                log::warn!("{who}: {name} during drain: forcing the stop");
            }
        }
        RepeatSignal::Ignore => {
            log::info!("{who}: {name} during drain ignored (repeat_signal = \"ignore\")");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who() -> Identity {
        Identity::unsupervised()
    }

    #[test]
    fn the_signal_table() {
        let second = Duration::from_secs(1);
        // TERM drains; a second TERM forces, or is ignored.
        for (repeat, forced) in [
            (RepeatSignal::Force, Some(ForceReason::Signal(SIGTERM))),
            (RepeatSignal::Ignore, None),
        ] {
            let trigger = DrainTrigger::new();
            let token = trigger.token();
            on_signal(SIGTERM, &trigger, &token, repeat, who(), second);
            assert_eq!(
                token.drain_started().map(|(r, _)| r),
                Some(DrainReason::Signal(SIGTERM))
            );
            assert_eq!(token.forced_reason(), None);
            on_signal(SIGINT, &trigger, &token, repeat, who(), second);
            let forced = forced.map(|_| ForceReason::Signal(SIGINT));
            assert_eq!(token.forced_reason(), forced, "{repeat:?}");
        }
        // QUIT forces at once.
        let trigger = DrainTrigger::new();
        let token = trigger.token();
        on_signal(
            SIGQUIT,
            &trigger,
            &token,
            RepeatSignal::Ignore,
            who(),
            second,
        );
        assert_eq!(token.forced_reason(), Some(ForceReason::Signal(SIGQUIT)));
    }
}
