//! Readiness notifications to a supervisor (`sd_notify`), a no-op without `NOTIFY_SOCKET`.

pub(crate) use sd_notify::NotifyState;

/// Sends `state` (`READY=1`, `STOPPING=1`, ...) to `$NOTIFY_SOCKET` if set;
/// failures are logged, not fatal. The environment is left as it is.
pub(crate) fn notify(state: NotifyState) {
    if let Err(e) = sd_notify::notify(std::slice::from_ref(&state)) {
        log::warn!("sd_notify {state:?} failed: {e}");
    }
}
