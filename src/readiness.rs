//! Readiness notifications to a supervisor (`sd_notify`), a no-op without `NOTIFY_SOCKET`.

/// A state to report.
#[derive(Debug, Clone, Copy)]
pub(crate) enum State {
    /// Every listener is served: `READY=1`.
    Ready,
    /// The drain started: `STOPPING=1`.
    Stopping,
}

/// Sends `state` to `$NOTIFY_SOCKET` if set; failures are logged, not fatal.
/// The environment is left as it is.
pub(crate) fn notify(state: State) {
    let s = match state {
        State::Ready => sd_notify::NotifyState::Ready,
        State::Stopping => sd_notify::NotifyState::Stopping,
    };
    if let Err(e) = sd_notify::notify(&[s]) {
        log::warn!("sd_notify {state:?} failed: {e}");
    }
}
