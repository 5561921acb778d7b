//! Idle and head timeouts at a per-connection cost of one timer, not one per
//! request: the connection's IO counts its reads and writes and notes when
//! bytes arrive between requests (a head is coming in), the service counts
//! requests in progress, and a periodic tick ([`Watchdog::check`]) closes a
//! connection
//!
//! * that moved no bytes for the idle period while no request was in
//!   progress (an idle keep-alive connection, a stalled head, a client that
//!   stopped reading), or
//! * whose head has been arriving for longer than the head limit, however
//!   steadily its bytes trickle in (a slowloris). A new connection's first
//!   head counts from the accept.
//!
//! On an HTTP/2 connection bytes are no sign of use (PINGs, SETTINGS and
//! WINDOW_UPDATEs flow on an idle one, and a header block still arriving
//! opens no stream), so it is idle when no stream was in progress or
//! started for the idle period, and has no head limit of its own.
//!
//! hyper's own `header_read_timeout` allocates and arms a timer for every
//! request; on a small response that was over a tenth of the adapter's
//! per-request instructions.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use handover::adapter::{ConnectionGuard, ConnectionKind, Connections};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::goaway::GoawayGate;
use crate::preface::Replay;

/// One request in progress, in [`Progress::requests`].
const ONE_IN_SERVICE: u64 = 1;
/// One request started, in [`Progress::requests`].
const ONE_STARTED: u64 = 1 << 32;

/// What the tick looks at, and what each response of the connection
/// needs; shared by the IO wrapper and the service wrapper of one
/// connection.
#[derive(Debug)]
pub(crate) struct Progress {
    transfers: AtomicU64,
    /// Requests in progress (the low 32 bits) and requests started so far
    /// (the high 32 bits, wrapping): one atomic per request and one per
    /// response. While the started count stays put, a head in progress is
    /// the same head.
    requests: AtomicU64,
    /// Whether a head is arriving: bytes came in while no request was in
    /// progress (or the connection is new) and no request started since.
    in_head: AtomicBool,
    /// An HTTP/1 connection's place in the drain's count: held here, so
    /// that it lasts as long as the connection's IO, also once an upgrade
    /// (a WebSocket) has taken the IO out of hyper's connection.
    counted: Mutex<Option<ConnectionGuard>>,
    /// The drain's connections, whose flag says responses close them.
    pub(crate) connections: Connections,
    /// The connection's GOAWAY, on HTTP/2.
    pub(crate) goaway: Option<Arc<GoawayGate>>,
}

impl Progress {
    /// A progress counter for one new connection, waiting for its first
    /// head; its responses are retired as `connections` says, on HTTP/2
    /// behind `goaway`.
    pub(crate) fn new(connections: Connections, goaway: Option<Arc<GoawayGate>>) -> Arc<Progress> {
        Arc::new(Progress {
            transfers: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            in_head: AtomicBool::new(true),
            counted: Mutex::new(None),
            connections,
            goaway,
        })
    }

    /// Keeps `counted` until the connection's IO and service are gone.
    pub(crate) fn hold(&self, counted: ConnectionGuard) {
        *self.counted.lock().unwrap_or_else(|p| p.into_inner()) = Some(counted);
    }

    /// The connection switched protocols: counted as upgraded from now on.
    fn upgraded(&self) {
        if let Some(counted) = &mut *self.counted.lock().unwrap_or_else(|p| p.into_inner()) {
            counted.set_kind(ConnectionKind::Upgraded);
        }
    }

    fn moved(&self) {
        self.transfers.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes arrived: part of a head unless a request is in progress (its
    /// body, or a pipelined request that waits for it).
    fn received(&self) {
        self.moved();
        if !self.busy() {
            self.in_head.store(true, Ordering::Relaxed);
        }
    }

    /// Counts a request as in progress until the guard drops; its head is
    /// complete.
    pub(crate) fn serving(self: &Arc<Self>) -> InService {
        self.requests
            .fetch_add(ONE_STARTED + ONE_IN_SERVICE, Ordering::Relaxed);
        self.in_head.store(false, Ordering::Relaxed);
        InService(self.clone())
    }

    /// Whether a head is arriving (no request has it yet).
    pub(crate) fn in_head(&self) -> bool {
        self.in_head.load(Ordering::Relaxed)
    }

    fn transfers(&self) -> u64 {
        self.transfers.load(Ordering::Relaxed)
    }

    pub(crate) fn busy(&self) -> bool {
        self.requests.load(Ordering::Relaxed) & (ONE_STARTED - 1) > 0
    }

    pub(crate) fn started(&self) -> u64 {
        self.requests.load(Ordering::Relaxed) >> 32
    }
}

/// Why the watchdog closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No bytes moved for this long with no request in progress.
    Idle(Duration),
    /// A head took longer than this.
    Head(Duration),
}

impl std::fmt::Display for Expired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expired::Idle(d) => write!(f, "no progress for {d:?}"),
            Expired::Head(d) => write!(f, "a request head not complete within {d:?}"),
        }
    }
}

/// One connection's timeouts, checked at each tick. A limit is enforced to
/// within one period: an idle connection lasts between `idle` and `idle`
/// plus a period, a head between `head` and `head` plus a period.
#[derive(Debug)]
pub(crate) struct Watchdog {
    progress: Arc<Progress>,
    idle: Option<Duration>,
    head: Option<Duration>,
    /// Transfers at the last tick that saw progress, and that tick.
    mark: u64,
    quiet_since: Instant,
    /// Whether a request was in progress at the last tick.
    was_busy: bool,
    /// The head in progress (requests started before it) and the tick that
    /// first saw it.
    head_seen: Option<(u64, Instant)>,
    /// HTTP/2, whose progress is streams started (and `mark` counts
    /// them), not bytes moved.
    http2: bool,
}

impl Watchdog {
    /// Watches `progress` of a connection accepted at `now`; a zero limit is none.
    pub(crate) fn new(
        progress: Arc<Progress>,
        idle: Duration,
        head: Duration,
        now: Instant,
    ) -> Watchdog {
        let head_seen = progress.in_head().then(|| (progress.started(), now));
        Watchdog {
            mark: progress.transfers(),
            progress,
            idle: (!idle.is_zero()).then_some(idle),
            head: (!head.is_zero()).then_some(head),
            quiet_since: now,
            was_busy: false,
            head_seen,
            http2: false,
        }
    }

    /// Watches `progress` of an HTTP/2 connection: idle once no stream was
    /// in progress or started for `idle` (zero: never); no head limit.
    pub(crate) fn http2(progress: Arc<Progress>, idle: Duration, now: Instant) -> Watchdog {
        let mut dog = Watchdog::new(progress, idle, Duration::ZERO, now);
        dog.head_seen = None;
        dog.mark = dog.progress.started();
        dog.http2 = true;
        dog
    }

    /// How often to check: the shorter limit; `None` without limits.
    pub(crate) fn period(&self) -> Option<Duration> {
        match (self.idle, self.head) {
            (Some(idle), Some(head)) => Some(idle.min(head)),
            (idle, head) => idle.or(head),
        }
    }

    /// Checks the limits at `now` (a tick); returns the one the connection
    /// went past, if any.
    pub(crate) fn check(&mut self, now: Instant) -> Option<Expired> {
        let transfers = if self.http2 {
            self.progress.started()
        } else {
            self.progress.transfers()
        };
        // A request that ended since the last tick ended at most a period ago.
        let busy = self.progress.busy();
        if transfers != self.mark || busy || self.was_busy {
            self.mark = transfers;
            self.quiet_since = now;
        } else if let Some(idle) = self.idle {
            if now.saturating_duration_since(self.quiet_since) >= idle {
                return Some(Expired::Idle(idle));
            }
        }
        self.was_busy = busy;
        let limit = self.head?;
        if !self.progress.in_head() {
            self.head_seen = None;
            return None;
        }
        let started = self.progress.started();
        match self.head_seen {
            Some((seen, since)) if seen == started => {
                if now.saturating_duration_since(since) >= limit {
                    return Some(Expired::Head(limit));
                }
            }
            _ => self.head_seen = Some((started, now)),
        }
        None
    }
}

/// Keeps a request counted as in progress.
#[derive(Debug)]
pub(crate) struct InService(Arc<Progress>);

impl InService {
    /// The request's response switched protocols (101): its connection
    /// now counts as upgraded.
    pub(crate) fn upgraded(&self) {
        self.0.upgraded();
    }

    /// The connection's progress.
    pub(crate) fn progress(&self) -> &Progress {
        &self.0
    }
}

impl Drop for InService {
    fn drop(&mut self) {
        self.0.requests.fetch_sub(ONE_IN_SERVICE, Ordering::Relaxed);
    }
}

/// A connection's IO, counting every read or write that moved bytes; its
/// first reads give back the bytes read to tell HTTP/2 from HTTP/1 (one
/// wrapper, not two, at every read).
pub(crate) struct Watched<I> {
    inner: I,
    progress: Arc<Progress>,
    replay: Replay,
}

impl<I> Watched<I> {
    /// `inner`, whose reads first yield `prefix`.
    pub(crate) fn new(inner: I, prefix: Vec<u8>, progress: Arc<Progress>) -> Self {
        Watched {
            inner,
            progress,
            replay: Replay::new(prefix),
        }
    }

    /// The IO back, for an upgraded connection the watchdog no longer
    /// watches: the stream, the bytes read ahead and not given back yet,
    /// and the progress, which holds the connection's count (keep it while
    /// the stream lives). An error met past the read-ahead bytes, not given
    /// back yet, is returned instead.
    pub(crate) fn into_parts(self) -> io::Result<(I, Vec<u8>, Arc<Progress>)> {
        let rest = self.replay.into_rest()?;
        Ok((self.inner, rest, self.progress))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = if this.replay.active() {
            this.replay.poll_read(&mut this.inner, cx, buf)
        } else {
            Pin::new(&mut this.inner).poll_read(cx, buf)
        };
        if buf.filled().len() > before {
            this.progress.received();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.progress.moved();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.progress.moved();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// A connection accepted at `t0` that has sent its first head and been answered.
    fn answered(idle: Duration, head: Duration) -> (Arc<Progress>, Watchdog, Instant) {
        let progress = Progress::new(Connections::default(), None);
        let t0 = Instant::now();
        let dog = Watchdog::new(progress.clone(), idle, head, t0);
        progress.received();
        drop(progress.serving());
        (progress, dog, t0)
    }

    #[test]
    fn idle_only_without_progress_or_requests() {
        let (progress, mut dog, t0) = answered(SECOND, Duration::ZERO);
        assert_eq!(dog.period(), Some(SECOND));
        assert_eq!(dog.check(t0 + SECOND), None, "bytes moved since the start");
        let serving = progress.serving();
        assert_eq!(dog.check(t0 + 3 * SECOND), None, "a request is in progress");
        drop(serving);
        assert_eq!(dog.check(t0 + 4 * SECOND), None, "it just ended");
        progress.moved();
        assert_eq!(dog.check(t0 + 5 * SECOND), None, "bytes moved");
        assert_eq!(dog.check(t0 + 6 * SECOND), Some(Expired::Idle(SECOND)));
    }

    #[test]
    fn a_trickling_head_expires_though_bytes_move() {
        let limit = Duration::from_millis(500);
        let (progress, mut dog, t0) = answered(30 * SECOND, limit);
        assert_eq!(dog.period(), Some(limit));
        assert_eq!(dog.check(t0 + limit), None, "idle between requests");
        progress.received();
        assert_eq!(dog.check(t0 + 2 * limit), None, "the head is first seen");
        progress.received();
        assert_eq!(dog.check(t0 + 3 * limit), Some(Expired::Head(limit)));
    }

    #[test]
    fn a_new_connection_owes_its_first_head_from_the_accept() {
        let limit = Duration::from_millis(500);
        let progress = Progress::new(Connections::default(), None);
        let t0 = Instant::now();
        let mut dog = Watchdog::new(progress.clone(), 30 * SECOND, limit, t0);
        progress.received();
        assert_eq!(dog.check(t0 + limit), Some(Expired::Head(limit)));
    }

    #[test]
    fn a_head_that_completes_resets_the_limit() {
        let limit = Duration::from_millis(500);
        let (progress, mut dog, t0) = answered(30 * SECOND, limit);
        progress.received();
        assert_eq!(dog.check(t0 + limit), None);
        // Served and answered between two ticks; the next head starts.
        drop(progress.serving());
        progress.received();
        assert_eq!(dog.check(t0 + 2 * limit), None, "a new head");
        // Body bytes of a request in progress are no head.
        let serving = progress.serving();
        progress.received();
        assert!(!progress.in_head());
        assert_eq!(dog.check(t0 + 10 * limit), None);
        drop(serving);
    }

    #[test]
    fn http2_is_idle_without_streams_whatever_bytes_move() {
        let progress = Progress::new(Connections::default(), None);
        let t0 = Instant::now();
        let mut dog = Watchdog::http2(progress.clone(), SECOND, t0);
        assert_eq!(dog.period(), Some(SECOND));
        // PINGs and SETTINGS move bytes; no stream, so no use.
        progress.received();
        progress.moved();
        assert_eq!(dog.check(t0 + SECOND), Some(Expired::Idle(SECOND)));
        let mut dog = Watchdog::http2(progress.clone(), SECOND, t0);
        let stream = progress.serving();
        assert_eq!(dog.check(t0 + SECOND), None, "a stream is open");
        assert_eq!(dog.check(t0 + 5 * SECOND), None, "still open");
        drop(stream);
        assert_eq!(dog.check(t0 + 6 * SECOND), None, "it just ended");
        // A stream started and ended between two ticks is use too.
        drop(progress.serving());
        assert_eq!(dog.check(t0 + 7 * SECOND), None);
        assert_eq!(dog.check(t0 + 8 * SECOND), Some(Expired::Idle(SECOND)));
    }

    #[test]
    fn zero_limits_are_off() {
        let progress = Progress::new(Connections::default(), None);
        let dog = Watchdog::new(progress, Duration::ZERO, Duration::ZERO, Instant::now());
        assert_eq!(dog.period(), None);
        let (_, dog, _) = answered(Duration::ZERO, SECOND);
        assert_eq!(dog.period(), Some(SECOND));
    }
}
