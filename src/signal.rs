//! The one owner of process signals (through signal-hook).
//!
//! | signal | when running | during a drain |
//! | --- | --- | --- |
//! | `SIGTERM` | graceful drain, deadline `shutdown_timeout` | forces the stop (`repeat_signal = "force"`) or is logged and ignored (`"ignore"`) |
//! | `SIGINT` | graceful drain, like `SIGTERM` | like `SIGTERM` |
//! | `SIGQUIT` | forced stop at once | forced stop at once |
//!
//! Adapters must switch their framework's own signal handling off.

use std::thread::JoinHandle;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use crate::config::RepeatSignal;
use crate::error::{Error, ErrorKind};
use crate::process::Identity;
use crate::shutdown::{signal_name, DrainReason, ForceReason, Shutdown, ShutdownTrigger};

/// Keeps the signal and deadline threads alive; dropping it stops both.
#[derive(Debug)]
pub struct SignalGuard {
    handle: Handle,
    trigger: ShutdownTrigger,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        self.handle.close();
        self.trigger.close();
        for t in self.threads.drain(..) {
            // A helper thread that panicked has nothing left to clean up.
            let _ = t.join();
        }
    }
}

/// Installs the handlers for SIGTERM, SIGINT and SIGQUIT and starts the
/// deadline watcher, which forces the stop `shutdown_timeout` after the drain
/// starts.
///
/// # Errors
/// [`ErrorKind::Serve`] if the handlers or threads cannot be set up.
pub fn install(
    trigger: &ShutdownTrigger,
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
    let signal_thread = {
        let trigger = trigger.clone();
        let shutdown = trigger.subscribe();
        std::thread::Builder::new()
            .name("handover-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    on_signal(sig, &trigger, &shutdown, repeat, who, shutdown_timeout);
                }
            })
            .map_err(|e| fail("start the signal thread", e))?
    };
    let deadline_thread = {
        let trigger = trigger.clone();
        let shutdown = trigger.subscribe();
        std::thread::Builder::new()
            .name("handover-deadline".into())
            .spawn(move || watch_deadline(&trigger, &shutdown, shutdown_timeout, who))
            .map_err(|e| fail("start the deadline thread", e))?
    };
    Ok(SignalGuard {
        handle,
        trigger: trigger.clone(),
        threads: vec![signal_thread, deadline_thread],
    })
}

fn on_signal(
    sig: i32,
    trigger: &ShutdownTrigger,
    shutdown: &Shutdown,
    repeat: RepeatSignal,
    who: Identity,
    timeout: Duration,
) {
    let name = signal_name(sig);
    if sig == SIGQUIT {
        if trigger.force(ForceReason::Signal(sig)) {
            log::warn!("{who}: {name}: forcing the stop now");
        }
        return;
    }
    if !shutdown.is_draining() {
        log::info!("{who}: {name}: draining (stop accepting, finish in-flight requests; forced after {timeout:?})");
        trigger.drain(DrainReason::Signal(sig));
        return;
    }
    match repeat {
        RepeatSignal::Force => {
            if trigger.force(ForceReason::Signal(sig)) {
                log::warn!("{who}: {name} during drain: forcing the stop");
            }
        }
        RepeatSignal::Ignore => {
            log::info!("{who}: {name} during drain ignored (repeat_signal = \"ignore\")");
        }
    }
}

fn watch_deadline(
    trigger: &ShutdownTrigger,
    shutdown: &Shutdown,
    timeout: Duration,
    who: Identity,
) {
    if !shutdown.wait_draining() {
        return;
    }
    let elapsed = shutdown
        .drain_started()
        .map_or(Duration::ZERO, |(_, at)| at.elapsed());
    let remaining = timeout.saturating_sub(elapsed);
    if shutdown.wait_forced_or_closed(remaining) && trigger.force(ForceReason::Deadline) {
        log::warn!(
            "{who}: drain still running after shutdown_timeout {timeout:?}: forcing the stop"
        );
    }
}
