//! The hyper server: one accept loop per listener on a tokio runtime, one task
//! per connection, and the drain's hooks into both.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

use handover::adapter::{
    ConnectionGuard, Connections, DrainHooks, HookFuture, ListenSocket, Listener, Requests,
    ServeContext, Server,
};
use handover::config::ServerConfig;
use handover::{Error, ErrorKind, Outcome};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_rustls::TlsAcceptor;

use crate::service::{HttpService, Lingering, ServiceSource};
use crate::watchdog::{Progress, Watchdog, Watched};

/// After an accept error caused by resource exhaustion (out of fds, say), the
/// loop waits this long before accepting again instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves the service from `service` on `listeners` with `config` when run.
pub(crate) struct HyperServer<S> {
    config: ServerConfig,
    listeners: Vec<Listener>,
    tls: Option<TlsAcceptor>,
    service: S,
}

impl<S> HyperServer<S> {
    pub(crate) fn new(
        config: ServerConfig,
        listeners: Vec<Listener>,
        tls: Option<TlsAcceptor>,
        service: S,
    ) -> Self {
        HyperServer {
            config,
            listeners,
            tls,
            service,
        }
    }
}

fn serve_error(what: &str, e: io::Error) -> Error {
    Error::new(ErrorKind::Serve, format!("hyper: {what}")).with_source(e)
}

/// A listening socket the accept loop can poll.
trait Acceptor: Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A connection and, for TCP, its peer's address.
    fn poll_accept(&self, cx: &mut Context<'_>)
        -> Poll<io::Result<(Self::Io, Option<SocketAddr>)>>;
}

impl Acceptor for TcpListener {
    type Io = tokio::net::TcpStream;
    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Io, Option<SocketAddr>)>> {
        TcpListener::poll_accept(self, cx).map_ok(|(stream, peer)| {
            // Responses are written whole; do not wait to coalesce them.
            if let Err(e) = stream.set_nodelay(true) {
                log::debug!("hyper: TCP_NODELAY: {e}");
            }
            (stream, Some(peer))
        })
    }
}

impl Acceptor for UnixListener {
    type Io = tokio::net::UnixStream;
    fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(Self::Io, Option<SocketAddr>)>> {
        UnixListener::poll_accept(self, cx).map_ok(|(stream, _)| (stream, None))
    }
}

/// Errors that say nothing about the listener: the peer gave up, or the process
/// is out of a resource for now. The loop goes on after them.
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// What every connection task shares.
#[derive(Clone)]
struct Shared<S> {
    service: S,
    builder: http1::Builder,
    connections: Connections,
    requests: Requests,
    close_idle: watch::Receiver<bool>,
    /// The watchdog's limits (zero: none): no progress with no request in
    /// progress, and a request head arriving.
    idle: Duration,
    head: Duration,
    tls: Option<TlsAcceptor>,
    handshake_timeout: Option<Duration>,
    /// Whether requests carry their connection's peer address.
    record_peer: bool,
    /// The connection's peer (set per connection; TCP only).
    peer: Option<SocketAddr>,
}

/// Resolves once `flag` is set (never, if its sender is gone without setting it).
async fn closing(flag: &mut watch::Receiver<bool>) {
    if flag.wait_for(|set| *set).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The watchdog's next tick, or never without one.
async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Serves one accepted connection, after its TLS handshake when there is TLS.
async fn connection<S, I>(io: I, shared: Shared<S>, counted: ConnectionGuard)
where
    S: HttpService,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(acceptor) = shared.tls.clone() else {
        return serve_connection(io, shared, counted).await;
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
        Some(Ok(stream)) => serve_connection(stream, shared, counted).await,
        Some(Err(e)) => log::debug!("hyper: TLS handshake failed: {e}"),
        None => log::debug!(
            "hyper: closing a connection whose TLS handshake took longer than {:?}",
            limit.unwrap_or_default()
        ),
    }
}

async fn serve_connection<S, I>(io: I, shared: Shared<S>, _counted: ConnectionGuard)
where
    S: HttpService,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Shared {
        service,
        builder,
        connections,
        requests,
        mut close_idle,
        idle,
        head,
        peer,
        ..
    } = shared;
    let progress = Progress::new();
    let mut watchdog = Watchdog::new(progress.clone(), idle, head, Instant::now().into_std());
    let service = Lingering {
        inner: service,
        connections,
        requests,
        progress: progress.clone(),
        peer,
    };
    let io = TokioIo::new(Watched::new(io, progress.clone()));
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut interval = watchdog.period().map(|period| {
        let mut interval = tokio::time::interval_at(Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
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

/// Accepts on `listener` until `stop`. A listener this process bound
/// (`own`) is then emptied of the connections already queued on it, which
/// are served, and closed, so later ones are refused (a balancer retries a
/// refused connection safely) instead of waiting in a queue that the exit
/// resets.
async fn accept_loop<A, S>(
    listener: A,
    own: bool,
    shown: String,
    shared: Shared<S>,
    mut stop: watch::Receiver<bool>,
) where
    A: Acceptor,
    S: HttpService,
{
    loop {
        let accepted = tokio::select! {
            biased;
            _ = closing(&mut stop) => break,
            accepted = poll_fn(|cx| listener.poll_accept(cx)) => accepted,
        };
        match accepted {
            Ok((io, peer)) => spawn_connection(io, peer, &shared),
            Err(e) if transient(&e) => log::debug!("hyper: accept on {shown}: {e}"),
            Err(e) => {
                log::warn!("hyper: accept on {shown}: {e}; retrying in {ACCEPT_BACKOFF:?}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    if own {
        // What is queued now was sent to us: serve it. Stops at the first
        // would-block (an empty queue) or error.
        while let Some(Ok((io, peer))) =
            poll_fn(|cx| Poll::Ready(ready_now(listener.poll_accept(cx)))).await
        {
            spawn_connection(io, peer, &shared);
        }
    }
    // Dropping the listener closes this process's copy only: a supervisor's or
    // another generation's copy keeps the socket open, and no path is
    // unlinked. Our own listener has no other copy: it closes.
    drop(listener);
}

/// `Some` of what is ready, `None` for pending.
fn ready_now<T>(poll: Poll<T>) -> Option<T> {
    match poll {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}

fn spawn_connection<S, I>(io: I, peer: Option<SocketAddr>, shared: &Shared<S>)
where
    S: HttpService,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // Counted from the accept on, before the task first runs.
    let counted = shared.connections.open();
    let mut shared = shared.clone();
    shared.peer = peer.filter(|_| shared.record_peer);
    tokio::spawn(connection(io, shared, counted));
}

/// The drain's hooks into the accept loops and connection tasks.
struct HyperControl {
    stop: watch::Sender<bool>,
    close_idle: watch::Sender<bool>,
    loops: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl DrainHooks for HyperControl {
    fn stop_accepting(&self) -> HookFuture<'_> {
        self.stop.send_replace(true);
        let loops = std::mem::take(&mut *self.loops.lock().unwrap_or_else(|p| p.into_inner()));
        Box::pin(async move {
            for handle in loops {
                if let Err(e) = handle.await {
                    log::error!("hyper: accept loop failed: {e}");
                }
            }
        })
    }

    fn close_idle(&self) {
        self.close_idle.send_replace(true);
    }
}

/// The largest request head (request line and headers) served, in bytes;
/// a larger one gets 431 and the connection is closed. actix-http's fixed
/// limit, so that every adapter refuses the same heads (hyper's own default
/// is its ~400 KiB read buffer).
const MAX_HEAD_SIZE: usize = 128 * 1024;

fn builder(config: &ServerConfig) -> http1::Builder {
    let mut builder = http1::Builder::new();
    if config.keep_alive.is_zero() {
        builder.keep_alive(false);
    }
    builder.max_header_size(MAX_HEAD_SIZE);
    // hyper's default of 100 header fields is kept (431 beyond): setting any
    // `max_headers`, even 96 to match actix-http, makes hyper initialise its
    // header arrays element by element, ~1,700 instructions per request.
    // Timeouts, the head's included, are the watchdog's (see `watchdog.rs`),
    // one timer per connection.
    builder.header_read_timeout(None::<Duration>);
    builder
}

/// How long a connection may go without progress while no request is in
/// progress: the keep-alive timeout, or `request_timeout` with keep-alive off
/// (zero: no limit). A head's own limit is `request_timeout`.
fn idle_period(config: &ServerConfig) -> Duration {
    if config.keep_alive.is_zero() {
        config.request_timeout
    } else {
        config.keep_alive
    }
}

async fn serve<S: ServiceSource>(
    config: ServerConfig,
    listeners: Vec<Listener>,
    tls: Option<TlsAcceptor>,
    source: S,
    ctx: ServeContext,
) -> Result<Outcome, Error> {
    let secure = if tls.is_some() { " with TLS" } else { "" };
    let service = source.service(&ctx);
    let connections = ctx.connections().clone();
    let (stop, stop_rx) = watch::channel(false);
    let (close_idle, close_idle_rx) = watch::channel(false);
    let shared = Shared {
        service,
        builder: builder(&config),
        connections: connections.clone(),
        requests: ctx.requests().clone(),
        close_idle: close_idle_rx,
        idle: idle_period(&config),
        head: config.request_timeout,
        tls,
        handshake_timeout: config.handshake_timeout(),
        record_peer: ctx.records_peer_addr(),
        peer: None,
    };
    let count = listeners.len();
    let mut loops = Vec::with_capacity(count);
    for listener in listeners {
        let shown = listener.to_string();
        let own = !listener.origin().is_inherited();
        let (shared, stop) = (shared.clone(), stop_rx.clone());
        let handle = match listener.into_socket() {
            ListenSocket::Tcp(tcp) => {
                let tcp = TcpListener::from_std(tcp)
                    .map_err(|e| serve_error(&format!("cannot serve {shown}"), e))?;
                tokio::spawn(accept_loop(tcp, own, shown, shared, stop))
            }
            ListenSocket::Unix(unix) => {
                let unix = UnixListener::from_std(unix)
                    .map_err(|e| serve_error(&format!("cannot serve {shown}"), e))?;
                tokio::spawn(accept_loop(unix, own, shown, shared, stop))
            }
            other => {
                return Err(Error::new(
                    ErrorKind::Serve,
                    format!("hyper: cannot serve {other:?}"),
                ))
            }
        };
        loops.push(handle);
    }
    let control = HyperControl {
        stop,
        close_idle,
        loops: std::sync::Mutex::new(loops),
    };
    ctx.ready(&format!("hyper serving {count} listener(s){secure}"));
    let outcome = ctx.drain(&control).await;
    // A stop forced before accepting stopped leaves the loops running: end
    // them here, so our copies of the listeners are closed before `run`
    // returns (socket files we bound are removed only once nothing accepts).
    control.stop_accepting().await;
    Ok(outcome)
}

impl<S: ServiceSource> Server for HyperServer<S> {
    fn run(self: Box<Self>, ctx: ServeContext) -> Result<Outcome, Error> {
        let HyperServer {
            config,
            listeners,
            tls,
            service,
        } = *self;
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        runtime.enable_all().thread_name("hyper-worker");
        if config.workers > 0 {
            runtime.worker_threads(config.workers);
        }
        let runtime = runtime
            .build()
            .map_err(|e| serve_error("cannot start the tokio runtime", e))?;
        let outcome = runtime.block_on(serve(config, listeners, tls, service, ctx));
        // Whatever is still running was cut by a forced stop: do not wait for it.
        runtime.shutdown_background();
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_peer_and_interrupt_errors_are_transient() {
        assert!(transient(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        assert!(transient(&io::Error::from(io::ErrorKind::Interrupted)));
        assert!(!transient(&io::Error::from(io::ErrorKind::OutOfMemory)));
        assert!(!transient(&io::Error::other("too many open files")));
    }

    #[test]
    fn the_idle_limit_is_keep_alive_or_else_the_request_timeout() {
        let mut config = ServerConfig::default();
        config.keep_alive = Duration::from_secs(7);
        config.request_timeout = Duration::from_secs(3);
        assert_eq!(idle_period(&config), Duration::from_secs(7));
        // With keep-alive off, a connection still may not sit silent for ever.
        config.keep_alive = Duration::ZERO;
        assert_eq!(idle_period(&config), Duration::from_secs(3));
        config.request_timeout = Duration::ZERO;
        assert_eq!(idle_period(&config), Duration::ZERO, "no limit at all");
    }
}
