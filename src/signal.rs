//! The one owner of process signals (through signal-hook).
//!
//! | signal | when running | during a drain |
//! | --- | --- | --- |
//! | `SIGTERM` | graceful drain, deadline `shutdown_timeout` | forces the stop (`repeat_signal = "force"`) or is logged and ignored (`"ignore"`); `"auto"` (the default) ignores it under Server::Starter and forces otherwise |
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
/// Perl `start_server` sends TERM to every old worker at each deploy, so
/// with deploys in quick succession a worker still draining gets a second
/// one: a deploy, not an operator's "stop now". `auto` tells them apart by
/// where the listeners came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RepeatSignal {
    /// `ignore` when the listeners came from Server::Starter
    /// (`SERVER_STARTER_PORT`), `force` otherwise (the default).
    #[default]
    Auto,
    /// The second signal forces the stop.
    Force,
    /// The second signal is logged and ignored; only the deadline (or
    /// SIGQUIT) forces.
    Ignore,
}

impl RepeatSignal {
    /// `Force` or `Ignore`: what `Auto` means for a process whose listeners
    /// came from Server::Starter (`under_server_starter`) or not.
    pub(crate) fn resolve(self, under_server_starter: bool) -> RepeatSignal {
        match self {
            RepeatSignal::Auto if under_server_starter => RepeatSignal::Ignore,
            RepeatSignal::Auto => RepeatSignal::Force,
            other => other,
        }
    }
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
        RepeatSignal::Ignore => {
            log::info!("{who}: {name} during drain ignored (repeat_signal; SIGQUIT forces)");
        }
        _ => {
            if trigger.force_because(ForceReason::Signal(sig)) {
                log::warn!("{who}: {name} during drain: forcing the stop");
            }
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
        assert_eq!(RepeatSignal::Auto.resolve(true), RepeatSignal::Ignore);
        assert_eq!(RepeatSignal::Auto.resolve(false), RepeatSignal::Force);
        for fixed in [RepeatSignal::Force, RepeatSignal::Ignore] {
            assert_eq!(fixed.resolve(true), fixed);
            assert_eq!(fixed.resolve(false), fixed);
        }
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
