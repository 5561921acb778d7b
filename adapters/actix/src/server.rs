//! The actix-web server: serve, then drain in order when handover says so.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::KeepAlive;
use actix_web::rt::net::{TcpStream, UnixStream};
use futures_util::future::{select, Either};
use handover::adapter::{DrainHooks, HookFuture, ListenSocket, Listener, ServeContext, Server};
use handover::config::{HttpVersion, ServerConfig};
use handover::{Error, ErrorKind, Outcome};
use handover_hyper::http2::Http2;
use socket2::SockRef;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::bridge::LocalExec;
use crate::connection::{worker, Http1, Mode, Plain, Settings, Tls};
use crate::responder::Responding;
use crate::watchdog::Limits;

pub(crate) struct ActixServer {
    config: ServerConfig,
    listeners: Vec<Listener>,
    tls: Option<rustls::ServerConfig>,
}

impl ActixServer {
    pub(crate) fn new(
        config: ServerConfig,
        listeners: Vec<Listener>,
        tls: Option<rustls::ServerConfig>,
    ) -> Self {
        ActixServer {
            config,
            listeners,
            tls,
        }
    }
}

/// actix counts its graceful budget in whole seconds; ours is a `Duration` and
/// forces the stop itself, so actix's budget is set just past ours.
fn actix_shutdown_secs(timeout: Duration) -> u64 {
    timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0) + 1
}

fn serve_error(what: &str, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Serve, format!("actix: {what}")).with_source(e)
}

/// After actix stops accepting, connections its acceptor took just before
/// may still be on their way to a worker, not yet counted; they are given
/// this long to arrive.
const SETTLE: Duration = Duration::from_millis(20);

/// The drain's hooks into actix.
struct ActixControl {
    handle: ServerHandle,
    close_idle: watch::Sender<bool>,
    /// A second descriptor of each listener this process bound itself:
    /// actix keeps its own open until it exits, so this one is used to stop
    /// the socket listening once actix has stopped accepting.
    own: Vec<OwnedFd>,
}

impl DrainHooks for ActixControl {
    fn stop_accepting(&self) -> HookFuture<'_> {
        Box::pin(async {
            // Deregisters our listeners from actix's acceptor; the sockets stay open.
            self.handle.pause().await;
            // A listener of our own stops listening: later connections are
            // refused (a balancer retries them safely) instead of queueing
            // until the exit resets them. Never an inherited one.
            for fd in &self.own {
                if let Err(e) = SockRef::from(fd).shutdown(Shutdown::Read) {
                    log::warn!("actix: cannot stop a listener of our own listening: {e}");
                }
            }
            actix_rt::time::sleep(SETTLE).await;
        })
    }

    fn close_idle(&self) {
        // HTTP/2 connections without their GOAWAY get it now; actix's
        // graceful stop closes idle HTTP/1 connections and lets the busy
        // ones finish. Completion is watched through our own connection
        // count, which sees every connection from the moment a worker has it.
        self.close_idle.send_replace(true);
        let stop = self.handle.stop(true);
        actix_rt::spawn(stop);
    }
}

/// Serves what `mode` says (built once per worker) on `listeners`, with
/// TLS on each when `tls` is given, then drains when handover says so.
/// Every HTTP/1 response carries `Connection: close` once the drain's
/// linger has begun.
pub(crate) async fn serve<M: Mode + Send>(
    config: ServerConfig,
    listeners: Vec<Listener>,
    tls: Option<rustls::ServerConfig>,
    ctx: ServeContext,
    mode: M,
) -> Result<Outcome, Error> {
    let keep_alive = if config.keep_alive.is_zero() {
        KeepAlive::Disabled
    } else {
        KeepAlive::Timeout(config.keep_alive)
    };
    let mut builder = actix_server::Server::build()
        .disable_signals()
        .shutdown_timeout(actix_shutdown_secs(config.shutdown_timeout));
    if config.workers > 0 {
        builder = builder.workers(config.workers);
    }
    let (close_idle, close_idle_rx) = watch::channel(false);
    let idle = if config.keep_alive.is_zero() {
        config.request_timeout
    } else {
        config.keep_alive
    };
    let settings = Arc::new(Settings {
        connections: ctx.connections().clone(),
        requests: ctx.requests().clone(),
        close_idle: close_idle_rx,
        tls: tls.map(|tls| TlsAcceptor::from(Arc::new(tls))),
        // With both timeouts off, a handshake keeps actix-web's old default.
        handshake_timeout: Some(config.handshake_timeout().unwrap_or(Duration::from_secs(3))),
        sniff_limit: config.handshake_timeout(),
        http1: config.serves(HttpVersion::Http1).then(|| Http1 {
            keep_alive,
            request_timeout: config.request_timeout,
            limits: Limits::new(config.keep_alive, config.request_timeout),
            graceful: builder.graceful_shutdown_signal(),
        }),
        http2: config
            .serves(HttpVersion::Http2)
            .then(|| Http2::new(LocalExec, &config, idle)),
    });
    let secure = if settings.tls.is_some() {
        " with TLS"
    } else {
        ""
    };
    let count = listeners.len();
    let mut own = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let shown = listener.to_string();
        if !listener.origin().is_inherited() {
            let fd = listener
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| serve_error(&format!("cannot keep a descriptor of {shown}"), e))?;
            own.push(fd);
        }
        let name = format!("handover-listener-{i}");
        let settings = settings.clone();
        let mode = mode.clone();
        let tls = settings.tls.clone();
        builder = match listener.into_socket() {
            ListenSocket::Tcp(tcp) => {
                let local = tcp
                    .local_addr()
                    .map_err(|e| serve_error(&format!("cannot serve {shown}"), e))?;
                match tls {
                    None => builder.listen(name, tcp, move || {
                        worker::<TcpStream, _, _>(settings.clone(), Plain, mode.clone(), local)
                    }),
                    Some(tls) => builder.listen(name, tcp, move || {
                        worker::<TcpStream, _, _>(
                            settings.clone(),
                            Tls(tls.clone()),
                            mode.clone(),
                            local,
                        )
                    }),
                }
            }
            ListenSocket::Unix(unix) => {
                // actix-web's own placeholder address for a unix socket's app config.
                let local = SocketAddr::from(([127, 0, 0, 1], 8080));
                match tls {
                    None => builder.listen_uds(name, unix, move || {
                        worker::<UnixStream, _, _>(settings.clone(), Plain, mode.clone(), local)
                    }),
                    Some(tls) => builder.listen_uds(name, unix, move || {
                        worker::<UnixStream, _, _>(
                            settings.clone(),
                            Tls(tls.clone()),
                            mode.clone(),
                            local,
                        )
                    }),
                }
            }
            other => {
                return Err(Error::new(
                    ErrorKind::Serve,
                    format!("actix: cannot serve {other:?}"),
                ))
            }
        }
        .map_err(|e| serve_error(&format!("cannot serve {shown}"), e))?;
    }
    let server = builder.run();
    let control = ActixControl {
        handle: server.handle(),
        close_idle,
        own,
    };
    let mut running = actix_rt::spawn(server);
    let versions: Vec<String> = config.versions.iter().map(ToString::to_string).collect();
    ctx.ready(&format!(
        "actix-web serving {count} listener(s){secure}, {}",
        versions.join(" and ")
    ));

    if let Either::Left((result, _)) = select(&mut running, pin!(ctx.token().draining())).await {
        return Err(match result {
            Ok(Ok(())) => Error::new(ErrorKind::Serve, "actix: server stopped on its own"),
            Ok(Err(e)) => serve_error("server failed", e),
            Err(e) => Error::new(ErrorKind::Serve, format!("actix: server task failed: {e}")),
        });
    }
    Ok(ctx.drain(&control).await)
}

/// Runs `serve` on a new actix system, blocking.
pub(crate) fn block_on<Fut>(serve: Fut) -> Result<Outcome, Error>
where
    Fut: std::future::Future<Output = Result<Outcome, Error>>,
{
    actix_rt::System::new().block_on(serve)
}

impl Server for ActixServer {
    fn run(self: Box<Self>, ctx: ServeContext) -> Result<Outcome, Error> {
        let ActixServer {
            config,
            listeners,
            tls,
        } = *self;
        let mode = Responding::new(&ctx, config.body_limit);
        block_on(serve(config, listeners, tls, ctx, mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actix_budget_is_past_ours() {
        assert_eq!(actix_shutdown_secs(Duration::ZERO), 1);
        assert_eq!(actix_shutdown_secs(Duration::from_millis(1)), 2);
        assert_eq!(actix_shutdown_secs(Duration::from_secs(30)), 31);
        assert_eq!(actix_shutdown_secs(Duration::from_millis(2500)), 4);
    }
}
