//! One accepted connection: its TLS handshake, the choice of HTTP version
//! (ALPN, or the HTTP/2 preface without it), and serving it with hyper's
//! HTTP/1 or HTTP/2 connection under the watchdog and the drain's signals.

use std::future::{poll_fn, Future};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use handover::adapter::{Alarm, ConnectionGuard, Connections, Requests};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::http2::Http2;
use crate::preface::{sniff, Sniffed};
use crate::service::{Lingering, MakeService, WithPeer};
use crate::wait::{closing, ticks};
use crate::watchdog::{Progress, Watchdog, Watched};

/// What every connection task shares.
#[derive(Clone)]
pub(crate) struct Shared<S> {
    /// Makes each connection's service.
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
    /// The connection's peer (set per connection; TCP only).
    pub(crate) peer: Option<SocketAddr>,
    /// The connection's socket (set per connection), owned by its IO for
    /// as long as the connection is served.
    pub(crate) fd: Option<RawFd>,
}

/// Whether bytes the server has not read yet wait on the socket `fd`: a
/// request the client sent to a connection that looked idle.
///
/// `fd` must be the socket of an IO that is alive for the whole call.
fn unread_input(fd: RawFd) -> bool {
    // SAFETY: the caller passes the socket of a connection it is serving,
    // whose IO (the fd's owner) lives until the connection task ends, after
    // this call; the borrow ends with this function.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let mut byte = [MaybeUninit::<u8>::uninit()];
    // The socket is non-blocking (tokio's): no data is `WouldBlock`.
    matches!(socket2::SockRef::from(&fd).peek(&mut byte), Ok(n) if n > 0)
}

/// Serves one accepted connection, after its TLS handshake when there is TLS.
pub(crate) async fn connection<S, I>(io: I, shared: Shared<S>, counted: ConnectionGuard)
where
    S: MakeService,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match shared.tls.clone() {
        None => choose(io, None, shared, counted).await,
        // Boxed: the handshake and the TLS stream are several KiB, and
        // unboxed they would size the task every connection starts in,
        // clear-text ones included (`bench/idle_rss.py`).
        Some(acceptor) => Box::pin(tls(io, acceptor, shared, counted)).await,
    }
}

/// Serves a connection after its TLS handshake.
async fn tls<S, I>(io: I, acceptor: TlsAcceptor, shared: Shared<S>, counted: ConnectionGuard)
where
    S: MakeService,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
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
    S: MakeService,
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
    // The bytes read to choose are given back by the connection's IO
    // wrapper (see `Watched`).
    match sniffed {
        Sniffed::Http2 => {
            if let Some(http2) = &shared.http2 {
                // Boxed: hyper's HTTP/2 connection is several KiB, and unboxed
                // it would size the task every connection starts in, HTTP/1
                // ones included (`bench/idle_rss.py`).
                Box::pin(http2.serve_prefixed(
                    (io, read),
                    WithPeer {
                        inner: shared.service.connection(shared.peer),
                        peer: shared.peer.filter(|_| shared.service.peer_addr()),
                    },
                    shared.connections,
                    shared.requests,
                    shared.close_idle,
                    counted,
                ))
                .await;
            }
        }
        Sniffed::Http1 if shared.http1.is_some() => {
            // A task of its own: the accept, TLS and version choice above
            // are done, and the connection's every wake would otherwise go
            // through their futures too.
            tokio::spawn(serve_http1(io, read, shared, counted));
        }
        Sniffed::Http1 => {
            log::debug!("hyper: closing an HTTP/1 connection: http.versions serves h2 only");
        }
        Sniffed::Closed => {}
    }
}

async fn serve_http1<S, I>(io: I, read: Vec<u8>, shared: Shared<S>, counted: ConnectionGuard)
where
    S: MakeService,
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
        fd,
        ..
    } = shared
    else {
        return;
    };
    let progress = Progress::new(connections, None);
    // Counted while the IO lives: past the end of this task when a request
    // upgrades the connection (a WebSocket) and takes the IO.
    progress.hold(counted);
    let mut watchdog = Watchdog::new(progress.clone(), idle, head, Instant::now().into_std());
    let service = Lingering {
        inner: service.connection(peer),
        peer: peer.filter(|_| service.peer_addr()),
        requests,
        progress: progress.clone(),
    };
    let io = TokioIo::new(Watched::new(io, read, progress.clone()));
    // Upgrades (`Connection: upgrade` and a 101) hand the IO to the app.
    let mut conn = pin!(builder.serve_connection(io, service).with_upgrades());
    let mut interval = ticks(watchdog.period());
    let mut shutting_down = false;
    // The close flag and the tick are polled only when one of them woke
    // the task (see `alarm`); hyper's connection at every wake.
    let (alarm, alarm_waker) = Alarm::new();
    let mut registered = None;
    let mut close = pin!(closing(&mut close_idle));
    let result = poll_fn(|cx| loop {
        if let Poll::Ready(result) = conn.as_mut().poll(cx) {
            return Poll::Ready(result);
        }
        if !alarm.rang(cx, &mut registered) {
            return Poll::Pending;
        }
        let mut alarms = Context::from_waker(&alarm_waker);
        let mut shut_down_now = false;
        if !shutting_down && close.as_mut().poll(&mut alarms).is_ready() {
            // A head still arriving has no request yet: closed now, as
            // hyper itself does after a connection's first request.
            if progress.in_head() {
                return Poll::Ready(Ok(()));
            }
            shutting_down = true;
            if fd.is_some_and(unread_input) {
                // A request the client sent while the connection looked
                // idle, not read yet: closing now would reset it (a close
                // with unread data sends RST). hyper reads it, and its
                // response, sent in the linger, carries `Connection: close`.
                log::debug!(
                    "hyper: a request arrived as idle connections close: answering it first"
                );
            } else {
                // Closes the connection now if it is idle, otherwise after
                // the response in progress (with `Connection: close`).
                conn.as_mut().graceful_shutdown();
                shut_down_now = true;
            }
        }
        if let Some(interval) = &mut interval {
            // Polled until pending, so that the next tick wakes the alarm.
            while interval.poll_tick(&mut alarms).is_ready() {
                if let Some(expired) = watchdog.check(Instant::now().into_std()) {
                    log::debug!("hyper: closing a connection: {expired}");
                    // Dropping the connection closes it.
                    return Poll::Ready(Ok(()));
                }
            }
        }
        if !shut_down_now {
            return Poll::Pending;
        }
        // The connection is polled again to act on its shutdown.
    })
    .await;
    if let Err(e) = result {
        log::debug!("hyper: connection ended: {e}");
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::unread_input;

    #[test]
    fn unread_input_sees_bytes_waiting_and_only_them() {
        let (mut client, mut server) = UnixStream::pair().unwrap();
        server.set_nonblocking(true).unwrap();
        assert!(!unread_input(server.as_raw_fd()), "nothing sent yet");
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(unread_input(server.as_raw_fd()), "a request waits");
        assert!(unread_input(server.as_raw_fd()), "peeking leaves it there");
        let mut buf = [0; 64];
        let n = server.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
        assert!(!unread_input(server.as_raw_fd()), "all read");
        drop(client);
        assert!(
            !unread_input(server.as_raw_fd()),
            "the end of input is not a request"
        );
    }
}
