//! Phase 1 of the drain, the lame duck: still accepting while health checks
//! report 503, so a load balancer can stop sending work before the listener
//! closes. Fixed (`drain_delay = "1s"`) or automatic (`drain_delay = "auto"`).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use futures_timer::Delay;
use serde::{Deserialize, Deserializer};

use crate::error::{quoted, Error, ErrorKind};
use crate::requests::{Probing, Requests};

/// How long the lame duck lasts (`drain_delay`).
///
/// ```
/// use std::time::Duration;
/// use handover::config::DrainDelay;
/// assert_eq!("auto".parse::<DrainDelay>()?, DrainDelay::Auto);
/// assert_eq!("250ms".parse::<DrainDelay>()?, DrainDelay::Fixed(Duration::from_millis(250)));
/// # Ok::<(), handover::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DrainDelay {
    /// Exactly this long (`"0s"`: no lame duck).
    Fixed(Duration),
    /// Until the load balancer has visibly stopped sending work: no request
    /// but health probes for `drain_quiet`, and, while something probes the
    /// health route at a steady pace, at least one probe answered 503; at
    /// most `drain_delay_max`. Skipped when a supervisor holds every
    /// listener (its next generation takes the work at once). The default.
    #[default]
    Auto,
}

impl FromStr for DrainDelay {
    type Err = Error;

    /// `"auto"`, or a duration (`"0s"`, `"500ms"`, `"2s"`).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] naming the text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "auto" {
            return Ok(DrainDelay::Auto);
        }
        humantime::parse_duration(s)
            .map(DrainDelay::Fixed)
            .map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "drain_delay {} is neither \"auto\" nor a duration like \"1s\" ({e})",
                        quoted(s)
                    ),
                )
            })
    }
}

impl<'de> Deserialize<'de> for DrainDelay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        DrainDelay::from_str(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for DrainDelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DrainDelay::Fixed(d) => write!(f, "{}", humantime::format_duration(*d)),
            DrainDelay::Auto => f.write_str("auto"),
        }
    }
}

/// The automatic lame duck's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Auto {
    /// The longest it lasts.
    pub(crate) max: Duration,
    /// How long no request but probes must arrive.
    pub(crate) quiet: Duration,
}

/// Why the automatic lame duck ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutoEnd {
    /// No request but probes for the quiet period, and probes answered 503
    /// this many times (0: nothing was probing).
    Quiet { refused: u64 },
    /// The maximum passed first, with requests still arriving.
    Busy,
    /// The maximum passed first while probes went on and none was answered 503.
    Unanswered,
}

impl fmt::Display for AutoEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AutoEnd::Quiet { refused: 0 } => {
                f.write_str("no request arrived for the quiet period, and nothing probes health")
            }
            AutoEnd::Quiet { refused } => write!(
                f,
                "no request but health probes for the quiet period, {refused} probe(s) answered 503"
            ),
            AutoEnd::Busy => f.write_str("drain_delay_max reached while requests kept arriving"),
            AutoEnd::Unanswered => f.write_str(
                "drain_delay_max reached; health probes kept arriving but none was answered 503",
            ),
        }
    }
}

/// What the automatic lame duck watches, read at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    /// Requests that were not probes, so far.
    work: u64,
    /// Probes answered 503 so far.
    refused: u64,
    /// When probes arrive, if any has.
    probing: Option<Probing>,
}

impl Sample {
    fn of(requests: &Requests) -> Sample {
        Sample {
            work: requests.arrived().saturating_sub(requests.probes()),
            refused: requests.probes_refused(),
            probing: requests.probing(),
        }
    }

    /// Whether something probes the health route at a steady pace now: two
    /// probes or more, the last within twice the time between the last two.
    fn probed(&self) -> bool {
        match self.probing {
            Some(Probing {
                since_last,
                gap: Some(gap),
            }) => since_last <= gap.saturating_mul(2),
            _ => false,
        }
    }
}

/// The automatic lame duck's decision, fed samples over time; pure.
#[derive(Debug)]
struct Watch {
    auto: Auto,
    start: Instant,
    at_start: Sample,
    last_work: u64,
    quiet_since: Instant,
}

impl Watch {
    fn new(auto: Auto, sample: Sample, now: Instant) -> Watch {
        Watch {
            auto,
            start: now,
            at_start: sample,
            last_work: sample.work,
            quiet_since: now,
        }
    }

    /// Whether the lame duck is over at `now`, given a fresh `sample`.
    fn over(&mut self, sample: Sample, now: Instant) -> Option<AutoEnd> {
        if sample.work != self.last_work {
            self.last_work = sample.work;
            self.quiet_since = now;
        }
        let refused = sample.refused - self.at_start.refused;
        // Something that probes health at a steady pace (a balancer's
        // checks) must have been told, by a 503, before the lame duck ends.
        let told = refused > 0 || !sample.probed();
        let quiet = now.saturating_duration_since(self.quiet_since) >= self.auto.quiet;
        if told && quiet {
            return Some(AutoEnd::Quiet { refused });
        }
        if now.saturating_duration_since(self.start) >= self.auto.max {
            return Some(if quiet {
                AutoEnd::Unanswered
            } else {
                AutoEnd::Busy
            });
        }
        None
    }
}

/// Runs the automatic lame duck over `requests`; returns why it ended.
pub(crate) async fn auto(auto: Auto, requests: &Requests) -> AutoEnd {
    let tick = (auto.quiet / 5).clamp(Duration::from_millis(5), Duration::from_millis(50));
    let mut watch = Watch::new(auto, Sample::of(requests), Instant::now());
    loop {
        Delay::new(tick).await;
        if let Some(end) = watch.over(Sample::of(requests), Instant::now()) {
            return end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn sample(work: u64, refused: u64) -> Sample {
        Sample {
            work,
            refused,
            probing: None,
        }
    }

    /// A sample while probes arrive every `gap` ms, the last `since` ms ago.
    fn probed(work: u64, refused: u64, since: u64, gap: u64) -> Sample {
        Sample {
            probing: Some(Probing {
                since_last: ms(since),
                gap: Some(ms(gap)),
            }),
            ..sample(work, refused)
        }
    }

    fn watch(at_start: Sample) -> (Watch, Instant) {
        let t0 = Instant::now();
        let auto = Auto {
            max: 10_000 * MS,
            quiet: 500 * MS,
        };
        (Watch::new(auto, at_start, t0), t0)
    }

    #[test]
    fn without_probes_quiet_is_enough() {
        let (mut w, t0) = watch(sample(10, 0));
        assert_eq!(w.over(sample(11, 0), t0 + 100 * MS), None, "work arrived");
        assert_eq!(w.over(sample(11, 0), t0 + 500 * MS), None, "quiet 400 ms");
        assert_eq!(
            w.over(sample(11, 0), t0 + 600 * MS),
            Some(AutoEnd::Quiet { refused: 0 })
        );
    }

    #[test]
    fn while_something_probes_a_503_must_have_been_answered() {
        let (mut w, t0) = watch(probed(10, 0, 50, 200));
        // Quiet, but the balancer probing every 200 ms has not had its 503.
        assert_eq!(w.over(probed(10, 0, 100, 200), t0 + 900 * MS), None);
        assert_eq!(
            w.over(probed(10, 1, 10, 200), t0 + 1000 * MS),
            Some(AutoEnd::Quiet { refused: 1 })
        );
    }

    #[test]
    fn probes_that_stopped_or_came_once_do_not_hold_it() {
        // A single probe (someone ran curl once): no steady pace.
        let once = Sample {
            probing: Some(Probing {
                since_last: ms(30_000),
                gap: None,
            }),
            ..sample(0, 0)
        };
        let (mut w, t0) = watch(once);
        assert_eq!(
            w.over(once, t0 + 600 * MS),
            Some(AutoEnd::Quiet { refused: 0 })
        );
        // Probes every 200 ms that stopped 500 ms ago.
        let (mut w, t0) = watch(probed(0, 0, 500, 200));
        assert_eq!(
            w.over(probed(0, 0, 1100, 200), t0 + 600 * MS),
            Some(AutoEnd::Quiet { refused: 0 })
        );
    }

    #[test]
    fn the_maximum_ends_it_and_says_why() {
        let (mut w, t0) = watch(sample(0, 0));
        for i in 1..100 {
            let end = w.over(sample(i, 0), t0 + i as u32 * 100 * MS);
            assert_eq!(end, None, "not before 10 s");
        }
        assert_eq!(
            w.over(sample(100, 0), t0 + 10_000 * MS),
            Some(AutoEnd::Busy)
        );
        let (mut w, t0) = watch(probed(0, 0, 10, 200));
        assert_eq!(
            w.over(probed(0, 0, 10, 200), t0 + 10_000 * MS),
            Some(AutoEnd::Unanswered)
        );
    }

    #[test]
    fn parses_auto_or_a_duration() {
        assert_eq!("auto".parse::<DrainDelay>().unwrap(), DrainDelay::Auto);
        assert_eq!(
            " 1s ".parse::<DrainDelay>().unwrap(),
            DrainDelay::Fixed(Duration::from_secs(1))
        );
        let e = "soon".parse::<DrainDelay>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().starts_with("drain_delay \"soon\""), "{e}");
        assert_eq!(DrainDelay::Fixed(250 * MS).to_string(), "250ms");
    }
}
