//! One accepted connection: its TLS handshake, the choice of HTTP version
//! (ALPN, or the HTTP/2 preface without it), and serving it with hyper's
//! HTTP/1 or HTTP/2 connection under the watchdog and the drain's signals.

use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use handover::adapter::{ConnectionGuard, Connections, Requests};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_rustls::TlsAcceptor;

use crate::http2::Http2;
use crate::preface::{sniff, Prefixed, Sniffed};
use crate::service::{HttpService, Lingering, WithPeer};
use crate::watchdog::{Progress, Watchdog, Watched};

/// What every connection task shares.
#[derive(Clone)]
pub(crate) struct Shared<S> {
    pub(crate) service: S,
    /// HTTP/1.1's connection builder, when `http.versions` lists it.
    pub(crate) http1: Option<http1::Builder>,
    /// HTTP/2's, when `http.versions` lists `h2`.
    pub(crate) http2: Option<Http2<TokioExecutor>>,
    pub(crate) connections: Connections,
    pub(crate) requests: Requests,
    /// Set after the linger: idle connections close.
    pub(crate) close_idle: watch::Receiver<bool>,
    /// The watchdog's limits (zero: none): no progress with no request in
    /// progress, and a request head arriving.
    pub(crate) idle: Duration,
    pub(crate) head: Duration,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) handshake_timeout: Option<Duration>,
    /// Whether requests carry their connection's peer address.
    pub(crate) record_peer: bool,
    /// The connection's peer (set per connection; TCP only).
    pub(crate) peer: Option<SocketAddr>,
}

/// Resolves once `flag` is set (never, if its sender is gone without setting it).
pub(crate) async fn closing(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The watchdog's next tick, or never without one.
pub(crate) async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
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

/// Serves one accepted connection, after its TLS handshake when there is TLS.
pub(crate) async fn connection<S, I>(io: I, shared: Shared<S>, counted: ConnectionGuard)
where
    S: HttpService,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(acceptor) = shared.tls.clone() else {
        return choose(io, None, shared, counted).await;
    };
    let mut close_idle = shared.close_idle.clone();
    let handshake = acceptor.accept(io);
    let limit = shared.handshake_timeout;
    let result = tokio::select! {
        biased;
        // A handshake still running when idle connections close has no request yet.
        _ = closing(&mut close_idle) => return,
        result = async move {
            match limit {
                Some(limit) => tokio::time::timeout(limit, handshake).await.ok(),
                None => Some(handshake.await),
            }
        } => result,
    };
    match result {
        Some(Ok(stream)) => {
            let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            choose(stream, alpn, shared, counted).await;
        }
        Some(Err(e)) => log::debug!("hyper: TLS handshake failed: {e}"),
        None => log::debug!(
            "hyper: closing a connection whose TLS handshake took longer than {:?}",
            limit.unwrap_or_default()
        ),
    }
}

/// Picks the connection's HTTP version: the one ALPN chose, or, without
/// ALPN and with HTTP/2 served, what its first bytes say.
async fn choose<S, I>(mut io: I, alpn: Option<Vec<u8>>, shared: Shared<S>, counted: ConnectionGuard)
where
    S: HttpService,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sniffed, read) = match alpn.as_deref() {
        Some(b"h2") => (Sniffed::Http2, Vec::new()),
        Some(_) => (Sniffed::Http1, Vec::new()),
        None if shared.http2.is_none() => (Sniffed::Http1, Vec::new()),
        None => {
            // The first bytes are a head (or the preface): bounded like one.
            let limit = [shared.head, shared.idle]
                .into_iter()
                .find(|d| !d.is_zero());
            let mut close_idle = shared.close_idle.clone();
            let sniffing = sniff(&mut io);
            let result = tokio::select! {
                biased;
                // Nothing was asked yet: closed with the idle connections.
                _ = closing(&mut close_idle) => return,
                result = async move {
                    match limit {
                        Some(limit) => tokio::time::timeout(limit, sniffing).await.ok(),
                        None => Some(sniffing.await),
                    }
                } => result,
            };
            match result {
                Some(Ok(sniffed)) => sniffed,
                Some(Err(e)) => return log::debug!("hyper: connection ended: {e}"),
                None => {
                    return log::debug!(
                        "hyper: closing a connection that sent no request within {:?}",
                        limit.unwrap_or_default()
                    )
                }
            }
        }
    };
    let io = Prefixed::new(io, read);
    match sniffed {
        Sniffed::Http2 => {
            if let Some(http2) = &shared.http2 {
                http2
                    .serve(
                        io,
                        WithPeer {
                            inner: shared.service,
                            peer: shared.peer,
                        },
                        shared.connections,
                        shared.requests,
                        shared.close_idle,
                        counted,
                    )
                    .await;
            }
        }
        Sniffed::Http1 if shared.http1.is_some() => serve_http1(io, shared, counted).await,
        Sniffed::Http1 => {
            log::debug!("hyper: closing an HTTP/1 connection: http.versions serves h2 only");
        }
        Sniffed::Closed => {}
    }
}

async fn serve_http1<S, I>(io: I, shared: Shared<S>, _counted: ConnectionGuard)
where
    S: HttpService,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Shared {
        service,
        http1: Some(builder),
        connections,
        requests,
        mut close_idle,
        idle,
        head,
        peer,
        ..
    } = shared
    else {
        return;
    };
    let progress = Progress::new();
    let mut watchdog = Watchdog::new(progress.clone(), idle, head, Instant::now().into_std());
    let service = Lingering {
        inner: WithPeer {
            inner: service,
            peer,
        },
        connections,
        requests,
        progress: progress.clone(),
        goaway: None,
    };
    let io = TokioIo::new(Watched::new(io, progress.clone()));
    let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());
    let mut interval = ticks(watchdog.period());
    let mut shutting_down = false;
    let result = loop {
        tokio::select! {
            biased;
            result = conn.as_mut() => break result,
            _ = closing(&mut close_idle), if !shutting_down => {
                // A head still arriving has no request yet: closed now, as
                // hyper itself does after a connection's first request.
                if progress.in_head() {
                    break Ok(());
                }
                // Closes the connection now if it is idle, otherwise after the
                // response in progress (with `Connection: close`).
                conn.as_mut().graceful_shutdown();
                shutting_down = true;
            }
            _ = tick(&mut interval) => {
                if let Some(expired) = watchdog.check(Instant::now().into_std()) {
                    log::debug!("hyper: closing a connection: {expired}");
                    // Dropping the connection closes it.
                    break Ok(());
                }
            }
        }
    };
    if let Err(e) = result {
        log::debug!("hyper: connection ended: {e}");
    }
}
