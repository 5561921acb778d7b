//! The actix-web server: serve, then drain in order when handover says so.

use std::net::Shutdown;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::pin;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{ConnectionType, KeepAlive};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::future::{select, Either};
use handover::adapter::{
    DrainHooks, HookFuture, ListenSocket, Listener, ServeContext, Server, SharedResponder,
};
use handover::config::ServerConfig;
use handover::{Error, ErrorKind, Outcome};
use socket2::SockRef;

use crate::convert;
use crate::tracked::Tracked;
use crate::watchdog::{self, Limits, Watched};

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

#[derive(Clone)]
struct AppState {
    responder: SharedResponder,
    body_limit: usize,
    peer_addr: bool,
}

async fn handle(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    match convert::read_body(&req, payload, state.body_limit).await {
        Ok(body) => match convert::request(&req, body, state.peer_addr) {
            Ok(request) => convert::response(state.responder.respond(request).await),
            Err(reject) => reject.response(),
        },
        Err(reject) => reject.response(),
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
/// may still be on their way to a worker, not yet counted by `on_connect`;
/// they are given this long to arrive.
const SETTLE: Duration = Duration::from_millis(20);

/// The drain's hooks into actix.
struct ActixControl {
    handle: ServerHandle,
    /// A second descriptor of each listener this process bound itself:
    /// actix keeps its own open until it exits, so this one is used to stop
    /// the socket listening once actix has stopped accepting.
    own: Vec<OwnedFd>,
    /// With TLS, `on_connect` (our count) runs only after the handshake,
    /// which actix-server runs first; actix's own graceful stop waits for it.
    tls: bool,
    stopping: std::cell::RefCell<Option<actix_rt::task::JoinHandle<()>>>,
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
        // actix's graceful stop closes idle keep-alive connections and lets the
        // busy ones finish; completion is watched through our own connection
        // count (and, with TLS, through this stop: see `finish`).
        let stop = self.handle.stop(true);
        *self.stopping.borrow_mut() = Some(actix_rt::spawn(stop));
    }

    fn counts_every_connection(&self) -> bool {
        !self.tls
    }

    fn finish(&self) -> HookFuture<'_> {
        let stopping = self.stopping.borrow_mut().take();
        Box::pin(async move {
            if let (true, Some(stopping)) = (self.tls, stopping) {
                // Resolves once every actix worker has finished its
                // connections, handshakes included.
                if let Err(e) = stopping.await {
                    log::warn!("actix: graceful stop failed: {e}");
                }
            }
        })
    }
}

/// Serves the app `make_app` builds (once per worker) on `listeners`, with
/// TLS on each when `tls` is given, then drains when handover says so. Every
/// response carries `Connection: close` once the drain's linger has begun.
pub(crate) async fn serve<F, T, B>(
    config: ServerConfig,
    listeners: Vec<Listener>,
    tls: Option<rustls::ServerConfig>,
    ctx: ServeContext,
    make_app: F,
) -> Result<Outcome, Error>
where
    F: Fn() -> App<T> + Send + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    let keep_alive = if config.keep_alive.is_zero() {
        KeepAlive::Disabled
    } else {
        KeepAlive::Timeout(config.keep_alive)
    };
    let counter = ctx.connections().clone();
    let lingering = ctx.connections().clone();
    let requests = ctx.requests().clone();
    let limits = Limits::new(config.keep_alive, config.request_timeout);
    let mut builder = HttpServer::new(move || {
        let (lingering, requests) = (lingering.clone(), requests.clone());
        make_app().wrap_fn(move |request, service| {
            // Counted for the watchdog and the drain until the response body
            // has been sent.
            let busy = request.conn_data::<Watched>().map(Watched::start);
            let counted = requests.start(request.path());
            let response = service.call(request);
            let lingering = lingering.clone();
            async move {
                let mut response = response.await?;
                counted.responded(response.status().as_u16());
                // Decided when the response is ready, so a request that started
                // before the linger still closes its connection.
                if lingering.close_after_response() {
                    response
                        .response_mut()
                        .head_mut()
                        .set_connection_type(ConnectionType::Close);
                }
                Ok(response.map_body(|_, body| Tracked::new(body, (busy, counted))))
            }
        })
    })
    // The guard lives in the connection's data and drops when actix drops the connection.
    .on_connect(move |io, data| {
        data.insert(counter.open());
        // actix times a connection's first request head only; see `watchdog`.
        if let Some(limits) = limits {
            watchdog::watch(io, data, limits);
        }
    })
    .disable_signals()
    .keep_alive(keep_alive)
    .client_request_timeout(config.request_timeout)
    .shutdown_timeout(actix_shutdown_secs(config.shutdown_timeout));
    if config.workers > 0 {
        builder = builder.workers(config.workers);
    }
    // With both timeouts off, actix keeps its own handshake limit (3 s).
    if let Some(limit) = config.handshake_timeout() {
        builder = builder.tls_handshake_timeout(limit);
    }
    let count = listeners.len();
    let mut own = Vec::new();
    for listener in listeners {
        let shown = listener.to_string();
        if !listener.origin().is_inherited() {
            let fd = listener
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| serve_error(&format!("cannot keep a descriptor of {shown}"), e))?;
            own.push(fd);
        }
        builder = match (listener.into_socket(), &tls) {
            (ListenSocket::Tcp(tcp), None) => builder.listen(tcp),
            (ListenSocket::Tcp(tcp), Some(tls)) => builder.listen_rustls_0_23(tcp, tls.clone()),
            // `prepare` refused TLS with unix sockets.
            (ListenSocket::Unix(unix), None) => builder.listen_uds(unix),
            (other, _) => {
                return Err(Error::new(
                    ErrorKind::Serve,
                    format!("actix: cannot serve {other:?} with this security layer"),
                ))
            }
        }
        .map_err(|e| serve_error(&format!("cannot serve {shown}"), e))?;
    }
    let server = builder.run();
    let control = ActixControl {
        handle: server.handle(),
        own,
        tls: tls.is_some(),
        stopping: std::cell::RefCell::new(None),
    };
    let mut running = actix_rt::spawn(server);
    let secure = if tls.is_some() { " with TLS" } else { "" };
    ctx.ready(&format!("actix-web serving {count} listener(s){secure}"));

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
        let state = AppState {
            responder: ctx.responder().clone(),
            body_limit: config.body_limit,
            peer_addr: ctx.records_peer_addr(),
        };
        let make_app = move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .default_service(web::to(handle))
        };
        block_on(serve(config, listeners, tls, ctx, make_app))
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
