//! What connection tasks wait on besides their IO: the drain's flags and
//! the watchdog's ticks.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// Resolves once `flag` is set (never, if its sender is gone without setting it).
pub(crate) async fn closing(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// An interval ticking every `period` from one period on, or none.
pub(crate) fn ticks(period: Option<Duration>) -> Option<Interval> {
    period.map(|period| {
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    })
}
