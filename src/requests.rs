//! The requests a server sees: how many arrived, how many are in flight, and
//! which were health probes and how they were answered. The drain reads them
//! to tell when a load balancer has stopped sending work (the automatic lame
//! duck), and the app reads them for its metrics.
//!
//! A probe is a request for the configured `health_path`, whoever answers it
//! (the app's own route, or [`health`](crate::health)).

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

struct Counts {
    /// What probe times are counted from.
    epoch: Instant,
    /// When the last probe arrived, in nanoseconds after `epoch` plus one
    /// (0: none yet).
    last_probe: AtomicU64,
    /// The time between the last two probes, in nanoseconds (0: unknown).
    probe_gap: AtomicU64,
    /// Requests that arrived, probes included.
    arrived: AtomicU64,
    /// Requests whose response has not finished.
    in_flight: AtomicUsize,
    /// Probes that arrived.
    probes: AtomicU64,
    /// Probes answered 503.
    probes_refused: AtomicU64,
    health_path: OnceLock<Option<String>>,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            epoch: Instant::now(),
            last_probe: AtomicU64::new(0),
            probe_gap: AtomicU64::new(0),
            arrived: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            probes: AtomicU64::new(0),
            probes_refused: AtomicU64::new(0),
            health_path: OnceLock::new(),
        }
    }
}

/// When health probes arrive: how long ago the last one did, and the time
/// between the last two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probing {
    pub(crate) since_last: Duration,
    pub(crate) gap: Option<Duration>,
}

/// Counts a server's requests. Adapters call [`Requests::start`] for each
/// request (from `ServeContext::requests`) and keep the guard until its
/// response has been sent.
#[derive(Clone, Default)]
pub struct Requests {
    counts: Arc<Counts>,
}

impl fmt::Debug for Requests {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Requests")
            .field("arrived", &self.arrived())
            .field("in_flight", &self.in_flight())
            .field("probes", &self.probes())
            .finish()
    }
}

impl Requests {
    /// Sets the path whose requests are health probes, once (at start-up).
    pub(crate) fn set_health_path(&self, path: Option<String>) {
        // A second server in one process keeps the first setting.
        let _ = self.counts.health_path.set(path);
    }

    /// Counts a request for `path` as arrived and in flight until the guard drops.
    pub fn start(&self, path: &str) -> RequestGuard {
        let counts = &self.counts;
        counts.arrived.fetch_add(1, Ordering::Relaxed);
        counts.in_flight.fetch_add(1, Ordering::Relaxed);
        let probe = matches!(counts.health_path.get(), Some(Some(health)) if health == path);
        if probe {
            counts.probes.fetch_add(1, Ordering::Relaxed);
            let now = nanos(counts.epoch.elapsed()) + 1;
            let previous = counts.last_probe.swap(now, Ordering::Relaxed);
            if previous != 0 {
                counts
                    .probe_gap
                    .store(now.saturating_sub(previous), Ordering::Relaxed);
            }
        }
        RequestGuard {
            counts: self.counts.clone(),
            probe,
        }
    }

    /// Requests that arrived so far, probes included.
    pub fn arrived(&self) -> u64 {
        self.counts.arrived.load(Ordering::Relaxed)
    }

    /// Requests whose response has not finished.
    pub fn in_flight(&self) -> usize {
        self.counts.in_flight.load(Ordering::Relaxed)
    }

    /// Health probes that arrived so far.
    pub fn probes(&self) -> u64 {
        self.counts.probes.load(Ordering::Relaxed)
    }

    /// Health probes answered 503 so far.
    pub fn probes_refused(&self) -> u64 {
        self.counts.probes_refused.load(Ordering::Relaxed)
    }

    /// When probes arrive, if one has.
    pub(crate) fn probing(&self) -> Option<Probing> {
        let counts = &self.counts;
        let last = counts.last_probe.load(Ordering::Relaxed).checked_sub(1)?;
        let gap = counts.probe_gap.load(Ordering::Relaxed);
        let since_start = nanos(counts.epoch.elapsed());
        Some(Probing {
            since_last: Duration::from_nanos(since_start.saturating_sub(last)),
            gap: (gap > 0).then(|| Duration::from_nanos(gap)),
        })
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Keeps one request counted as in flight.
pub struct RequestGuard {
    counts: Arc<Counts>,
    probe: bool,
}

impl RequestGuard {
    /// Whether the request is a health probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Notes the status the request was answered with (only a probe's is kept).
    pub fn responded(&self, status: u16) {
        if self.probe && status == 503 {
            self.counts.probes_refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl fmt::Debug for RequestGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestGuard")
            .field("probe", &self.probe)
            .finish_non_exhaustive()
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.counts.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_probes_are_counted() {
        let requests = Requests::default();
        requests.set_health_path(Some("/healthz".to_owned()));
        let a = requests.start("/");
        let probe = requests.start("/healthz");
        assert!(probe.is_probe() && !a.is_probe());
        assert_eq!((requests.arrived(), requests.in_flight()), (2, 2));
        probe.responded(503);
        a.responded(503);
        assert_eq!((requests.probes(), requests.probes_refused()), (1, 1));
        drop((a, probe));
        assert_eq!(requests.in_flight(), 0);
        assert_eq!(requests.arrived(), 2);
    }

    #[test]
    fn probe_times_are_kept() {
        let requests = Requests::default();
        requests.set_health_path(Some("/healthz".to_owned()));
        assert_eq!(requests.probing(), None);
        drop(requests.start("/healthz"));
        let once = requests.probing().unwrap();
        assert_eq!(once.gap, None, "one probe gives no gap");
        std::thread::sleep(Duration::from_millis(2));
        drop(requests.start("/healthz"));
        let twice = requests.probing().unwrap();
        assert!(twice.gap.unwrap() >= Duration::from_millis(2));
        assert!(twice.since_last < twice.gap.unwrap() + Duration::from_secs(1));
    }

    #[test]
    fn without_a_health_path_nothing_is_a_probe() {
        let requests = Requests::default();
        requests.set_health_path(None);
        assert!(!requests.start("/healthz").is_probe());
        assert_eq!(requests.probes(), 0);
    }
}
