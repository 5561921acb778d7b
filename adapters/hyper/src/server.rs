//! The hyper server: one accept loop per listener on a tokio runtime, one task
//! per connection (see `connection`), and the drain's hooks into both.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};
use std::time::Duration;

use handover::adapter::{DrainHooks, HookFuture, ListenSocket, Listener, ServeContext, Server};
use handover::config::{HttpVersion, ServerConfig};
use handover::{Error, ErrorKind, Outcome};
use hyper::server::conn::http1;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::connection::{connection, Shared};
use crate::current;
use crate::http2::Http2;
use crate::service::{MakeService, ServiceSource};
use crate::wait::closing;

/// After an accept error caused by resource exhaustion (out of fds, say), the
/// loop waits this long before accepting again instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves the service from `service` on `listeners` with `config` when run.
pub(crate) struct HyperServer<S> {
    /// The adapter's name, for the log and errors.
    name: &'static str,
    config: ServerConfig,
    listeners: Vec<Listener>,
    tls: Option<TlsAcceptor>,
    service: S,
}

impl<S> HyperServer<S> {
    pub(crate) fn new(
        name: &'static str,
        config: ServerConfig,
        listeners: Vec<Listener>,
        tls: Option<TlsAcceptor>,
        service: S,
    ) -> Self {
        HyperServer {
            name,
            config,
            listeners,
            tls,
            service,
        }
    }
}

fn serve_error(name: &str, what: &str, e: io::Error) -> Error {
    Error::new(ErrorKind::Serve, format!("{name}: {what}")).with_source(e)
}

/// A listening socket the accept loop can poll.
trait Acceptor: Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + AsRawFd + Unpin + Send + 'static;
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
    S: MakeService,
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
    S: MakeService,
    I: AsyncRead + AsyncWrite + AsRawFd + Unpin + Send + 'static,
{
    // Counted from the accept on, before the task first runs.
    let counted = shared.connections.open();
    let mut shared = shared.clone();
    shared.peer = peer;
    shared.fd = Some(io.as_raw_fd());
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

fn http1_builder(config: &ServerConfig) -> http1::Builder {
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
    name: &'static str,
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
        http1: config
            .serves(HttpVersion::Http1)
            .then(|| http1_builder(&config)),
        http2: config
            .serves(HttpVersion::Http2)
            .then(|| Http2::new(TokioExecutor::new(), &config, idle_period(&config))),
        connections: connections.clone(),
        requests: ctx.requests().clone(),
        close_idle: close_idle_rx,
        idle: idle_period(&config),
        head: config.request_timeout,
        tls,
        handshake_timeout: config.handshake_timeout(),
        peer: None,
        fd: None,
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
                    .map_err(|e| serve_error(name, &format!("cannot serve {shown}"), e))?;
                tokio::spawn(accept_loop(tcp, own, shown, shared, stop))
            }
            ListenSocket::Unix(unix) => {
                let unix = UnixListener::from_std(unix)
                    .map_err(|e| serve_error(name, &format!("cannot serve {shown}"), e))?;
                tokio::spawn(accept_loop(unix, own, shown, shared, stop))
            }
            other => {
                return Err(Error::new(
                    ErrorKind::Serve,
                    format!("{name}: cannot serve {other:?}"),
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
    let versions: Vec<String> = config.versions.iter().map(ToString::to_string).collect();
    ctx.ready(&format!(
        "{name} serving {count} listener(s){secure}, {}",
        versions.join(" and ")
    ));
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
            name,
            config,
            listeners,
            tls,
            service,
        } = *self;
        let mut runtime = tokio::runtime::Builder::new_multi_thread();
        let token = ctx.token();
        runtime
            .enable_all()
            .thread_name(format!("{name}-worker"))
            // `current_drain` on every thread the runtime starts.
            .on_thread_start(move || current::give(token.clone()));
        if config.workers > 0 {
            runtime.worker_threads(config.workers);
        }
        let runtime = runtime
            .build()
            .map_err(|e| serve_error(name, "cannot start the tokio runtime", e))?;
        // And on this one while it runs the server.
        let entered = current::enter(ctx.token());
        let outcome = runtime.block_on(serve(name, config, listeners, tls, service, ctx));
        drop(entered);
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
