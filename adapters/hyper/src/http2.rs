//! Serving one HTTP/2 connection with hyper under handover's drain and
//! timeouts: what `handover-hyper` does with each h2 connection, public so
//! that an adapter whose framework cannot drain HTTP/2 (`handover-actix`)
//! serves its h2 connections the same way.
//!
//! | when | what the connection gets |
//! | --- | --- |
//! | the linger begins (accepting has stopped) | its next response waits for a graceful GOAWAY, then follows it |
//! | the linger ends | a graceful GOAWAY, if it has none yet |
//! | no stream for `keep_alive` | a graceful GOAWAY |
//! | a GOAWAY not answered within the grace, with no stream in progress | closed |
//!
//! A graceful GOAWAY is hyper's (h2's) two-step one: a GOAWAY with the
//! largest stream id and a PING; once the PING is answered (every stream
//! the client opened before it saw the first GOAWAY has arrived), a GOAWAY
//! with the last stream id processed. Streams up to it finish; streams
//! above it are never processed (RFC 9113, section 6.8: the client knows to
//! retry them); the connection closes when its last stream ends.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use handover::adapter::{Alarm, ConnectionGuard, ConnectionKind, Connections, Requests};
use handover::config::ServerConfig;
use handover::BoxError;
use hyper::body::Incoming;
use hyper::rt::bounds::Http2ServerConnExec;
use hyper::server::conn::http2;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

use crate::goaway::GoawayGate;
pub use crate::preface::{sniff, Prefixed, Sniffed, PREFACE};
pub use crate::service::{Closing, Serving};
use crate::wait::{closing, ticks};

use crate::service::Lingering;
use crate::watchdog::{Progress, Watchdog, Watched};

/// Once the linger has begun, how long an HTTP/2 connection must go without
/// a new stream before its GOAWAY: the client has read every response sent
/// before (it would otherwise have opened streams in their place).
const QUIET: Duration = Duration::from_millis(20);

/// How HTTP/2 connections are served: hyper's builder with `[http.h2]`'s
/// limits, and the timeouts from `[http]`.
#[derive(Clone)]
pub struct Http2<E> {
    builder: http2::Builder<E>,
    /// No stream for this long: a GOAWAY (zero: never).
    idle: Duration,
    /// How long a GOAWAY's PING may go unanswered on a connection with no
    /// stream in progress before it is closed.
    grace: Option<Duration>,
}

impl<E: Clone> Http2<E> {
    /// HTTP/2 with `config`'s limits, spawning streams on `exec`; `idle` is
    /// how long a connection may have no stream open before its GOAWAY
    /// (`keep_alive`, or `request_timeout` with keep-alive off; zero: no limit).
    ///
    /// Its other protections are h2's own: at most 20 streams reset by the
    /// client before the server saw them (rapid reset), a header block
    /// bounded by `max_header_list_size` (CONTINUATION flood), and no more
    /// SETTINGS or PING acknowledgements owed than can be written (floods
    /// of either).
    pub fn new(exec: E, config: &ServerConfig, idle: Duration) -> Self {
        let h2 = &config.h2;
        let mut builder = http2::Builder::new(exec);
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(h2.max_concurrent_streams)
            .initial_stream_window_size(h2.initial_stream_window_size)
            .initial_connection_window_size(h2.initial_connection_window_size)
            .max_header_list_size(h2.max_header_list_size);
        if !h2.ping_interval.is_zero() {
            builder
                .keep_alive_interval(h2.ping_interval)
                .keep_alive_timeout(h2.ping_timeout);
        }
        let grace = [config.request_timeout, idle]
            .into_iter()
            .find(|d| !d.is_zero());
        Http2 {
            builder,
            idle,
            grace,
        }
    }

    /// Serves `service` on `io` (after the client's preface has been seen
    /// or ALPN chose `h2`) until the connection ends: counted in `counted`
    /// as HTTP/2, each stream counted in `requests`, retired as the table above says once `connections` says
    /// the linger has begun (`Connections::close_after_response`) or
    /// `close_idle` is set (the adapter's `close_idle` hook).
    pub async fn serve<I, S, B>(
        &self,
        io: I,
        service: S,
        connections: Connections,
        requests: Requests,
        close_idle: watch::Receiver<bool>,
        counted: ConnectionGuard,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + 'static,
        S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>> + 'static,
        S::Future: 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + 'static,
        B::Error: Into<BoxError>,
        E: Http2ServerConnExec<Closing<S::Future, B>, Serving<B>>,
    {
        self.serve_prefixed(
            (io, Vec::new()),
            service,
            connections,
            requests,
            close_idle,
            counted,
        )
        .await;
    }

    /// [`Http2::serve`] on an IO whose first bytes were read already (to
    /// tell HTTP/2 from HTTP/1): `(io, prefix)`, the bytes given back by the
    /// IO wrapper that counts bytes for the watchdog.
    pub(crate) async fn serve_prefixed<I, S, B>(
        &self,
        (io, prefix): (I, Vec<u8>),
        service: S,
        connections: Connections,
        requests: Requests,
        mut close_idle: watch::Receiver<bool>,
        mut counted: ConnectionGuard,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + 'static,
        S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>> + 'static,
        S::Future: 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + 'static,
        B::Error: Into<BoxError>,
        E: Http2ServerConnExec<Closing<S::Future, B>, Serving<B>>,
    {
        counted.set_kind(ConnectionKind::Http2);
        let gate = GoawayGate::new();
        let progress = Progress::new(connections, Some(gate.clone()));
        let mut watchdog = Watchdog::http2(progress.clone(), self.idle, Instant::now().into_std());
        let service = Lingering {
            inner: service,
            peer: None,
            requests,
            progress: progress.clone(),
        };
        let io = TokioIo::new(Watched::new(io, prefix, progress.clone()));
        let mut conn = pin!(self.builder.serve_connection(io, service));
        let mut interval = ticks(watchdog.period());
        let mut going_away = false;
        // A response waits for the GOAWAY: streams started so far, and when
        // the connection will have been quiet long enough.
        let mut quieting: Option<(u64, Pin<Box<Sleep>>)> = None;
        // While the GOAWAY's PING is unanswered: when to give up on it.
        let mut answer_by: Option<Pin<Box<Sleep>>> = None;
        // Starts the graceful GOAWAY; the responses waiting for it go on.
        macro_rules! goaway {
            ($why:expr) => {{
                log::debug!("hyper: GOAWAY to an HTTP/2 connection: {}", $why);
                conn.as_mut().graceful_shutdown();
                gate.started();
                going_away = true;
                answer_by = self.grace.map(|grace| Box::pin(tokio::time::sleep(grace)));
            }};
        }
        // The drain's flags, the GOAWAY gate, the sleeps and the tick are
        // polled only when one of them woke the task (see `alarm`); hyper's
        // connection at every wake.
        let (alarm, alarm_waker) = Alarm::new();
        let mut registered = None;
        let mut close = pin!(closing(&mut close_idle));
        let mut asked = pin!(gate.asked());
        let result = poll_fn(|cx| loop {
            if let Poll::Ready(result) = conn.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            if !alarm.rang(cx, &mut registered) {
                return Poll::Pending;
            }
            let mut alarms = Context::from_waker(&alarm_waker);
            // Set when the connection or an alarm future must be polled
            // again at once (a GOAWAY started, a sleep reset).
            let mut again = false;
            if !going_away {
                // A response waits: hold every response until the client
                // has opened no stream for QUIET (it has read what was sent
                // and waits for the held ones), then the GOAWAY, then them.
                if quieting.is_none() && asked.as_mut().poll(&mut alarms).is_ready() {
                    asked.set(gate.asked());
                    quieting = Some((progress.started(), Box::pin(tokio::time::sleep(QUIET))));
                }
                if let Some((mark, sleep)) = &mut quieting {
                    if sleep.as_mut().poll(&mut alarms).is_ready() {
                        let started = progress.started();
                        if *mark != started {
                            *mark = started;
                            sleep.as_mut().reset(Instant::now() + QUIET);
                        } else {
                            quieting = None;
                            goaway!("the drain's linger began");
                        }
                        again = true;
                    }
                }
            }
            if !going_away && close.as_mut().poll(&mut alarms).is_ready() {
                goaway!("the drain's linger ended");
                again = true;
            }
            if let Some(sleep) = &mut answer_by {
                if sleep.as_mut().poll(&mut alarms).is_ready() {
                    answer_by = None;
                    if !progress.busy() {
                        log::debug!(
                            "hyper: closing an HTTP/2 connection that left its GOAWAY unanswered"
                        );
                        return Poll::Ready(Ok(()));
                    }
                    // Streams still run: they end the connection, or the watchdog does.
                }
            }
            if let Some(interval) = &mut interval {
                // Polled until pending, so that the next tick wakes the alarm.
                while interval.poll_tick(&mut alarms).is_ready() {
                    if let Some(expired) = watchdog.check(Instant::now().into_std()) {
                        if going_away {
                            log::debug!(
                                "hyper: closing an HTTP/2 connection after its GOAWAY: {expired}"
                            );
                            return Poll::Ready(Ok(()));
                        }
                        goaway!(expired);
                        again = true;
                    }
                }
            }
            if !again {
                return Poll::Pending;
            }
            // Polled again: the connection acts on its shutdown, a new
            // sleep or gate registers the alarm.
            alarm.ring();
        })
        .await;
        // Nothing waits for a GOAWAY of a connection that has ended.
        gate.started();
        if let Err(e) = result {
            log::debug!("hyper: HTTP/2 connection ended: {e}");
        }
    }
}
