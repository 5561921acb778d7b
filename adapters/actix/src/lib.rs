//! # handover-actix
//!
//! The actix-web adapter for [handover]: a [`ServerFactory`] named `"actix"`
//! that serves a handover [`Responder`](handover::Responder) with actix-web on the
//! listeners handover resolved (inherited from a supervisor or bound).
//!
//! * actix-server accepts and runs the workers; each connection is counted,
//!   its TLS handshake done (tokio-rustls) and its version picked (ALPN, or
//!   the HTTP/2 preface in clear text) by the adapter, as `http.versions`
//!   says. HTTP/1.1 is actix-http's own dispatcher, calling the responder
//!   through one service of the adapter's (no actix-web `App`: no routing,
//!   no middleware, no boxed future for a request without a body); HTTP/2
//!   is hyper's (`handover_hyper::http2`) straight to the responder,
//!   because actix-http's HTTP/2 cannot drain with a GOAWAY. actix-web's
//!   `HttpServer` is not used.
//! * actix's own signal handling is off; handover's signal owner drives the stop.
//! * On drain: actix stops accepting (`pause`); during the linger HTTP/1
//!   responses carry `Connection: close` and HTTP/2 ones come behind a
//!   graceful GOAWAY; then in-flight requests finish (`stop(true)`); a
//!   forced stop returns at once and open connections are cut.
//! * Inherited unix sockets are served with `listen_uds`, never `bind_uds`, so
//!   no path is ever unlinked; TLS works on them too.
//! * Timeouts: actix's own (`keep_alive`, and `request_timeout` for a
//!   connection's first head, 408), plus a check actix lacks: a connection
//!   on which no request has started within `keep_alive` + `request_timeout`
//!   of the previous response is closed, so a head that trickles in (or
//!   stalls) after a keep-alive request cannot hold it for ever. Request
//!   heads are limited to 128 KiB and 96 header fields (431 beyond).
//! * [`NativeFactory`] serves an existing actix-web `App` instead of a handover
//!   responder, so an actix app gains handover's listeners, signals, drain and
//!   readiness by changing `main` only (see `examples/native_actix.rs`);
//!   there HTTP/2 is hyper's in front of the same `App`.
//!
//! ```no_run
//! use handover::{Body, Config, Droplet, Request, Response, Router};
//! let router = Router::new().get("/", |_: Request| async { Response::new(Body::from("Hello")) })?;
//! let outcome = Droplet::new(Config::default())
//!     .with_factory(handover_actix::ActixFactory::new())
//!     .with_responder(router)
//!     .run()?;
//! let status: std::process::ExitCode = outcome.into(); // return it from `main`
//! # Ok::<(), handover::Error>(())
//! ```

mod bridge;
mod connection;
mod convert;
mod native;
mod responder;
mod server;
mod tracked;
mod watchdog;
mod websocket;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::App;
use handover::adapter::{tls_config, Listener, ServeContext, Server, ServerFactory};
use handover::config::ServerConfig;
use handover::{Error, ErrorKind, Outcome};

/// Makes actix-web servers; registered under the name `"actix"`.
#[derive(Debug, Clone, Default)]
pub struct ActixFactory {
    _private: (),
}

impl ActixFactory {
    /// The factory.
    pub fn new() -> Self {
        ActixFactory::default()
    }
}

/// The name this factory is registered under.
pub const NAME: &str = "actix";

impl ServerFactory for ActixFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn make_server(
        &self,
        config: &ServerConfig,
        listeners: Vec<Listener>,
    ) -> Result<Box<dyn Server>, Error> {
        let tls = prepare(config, &listeners)?;
        Ok(Box::new(server::ActixServer::new(
            config.clone(),
            listeners,
            tls,
        )))
    }
}

/// Checks what the server is asked to do and loads the TLS files, so that
/// every problem is a startup error.
fn prepare(
    config: &ServerConfig,
    listeners: &[Listener],
) -> Result<Option<rustls::ServerConfig>, Error> {
    if listeners.is_empty() {
        return Err(Error::new(ErrorKind::Serve, "actix: no listeners to serve"));
    }
    tls_config(&config.security_layer, &config.versions)
}

/// Serves a native actix-web [`App`] with handover's listeners, signals, drain
/// and readiness; registered as `"actix"`. The app's handover responder is not used.
///
/// `make_app` is what you would pass to `HttpServer::new`: it builds the `App`
/// once per worker. handover wraps the app's service (outside the `App`,
/// at actix-http's level, so no actix-web middleware is added): it counts
/// each HTTP/1 request for the drain and marks responses `Connection: close`
/// during the drain's linger. Handlers can extract `web::Data<DrainToken>`.
///
/// ```no_run
/// use actix_web::{web, App, HttpResponse};
/// use handover::{Config, Droplet};
///
/// let factory = handover_actix::NativeFactory::new(|| {
///     App::new().route("/", web::get().to(|| async { HttpResponse::Ok().body("Hello") }))
/// });
/// let outcome = Droplet::new(Config::default()).with_factory(factory).run()?;
/// let status: std::process::ExitCode = outcome.into(); // return it from `main`
/// # Ok::<(), handover::Error>(())
/// ```
#[derive(Clone)]
pub struct NativeFactory<F> {
    make_app: F,
}

impl<F> std::fmt::Debug for NativeFactory<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeFactory").finish_non_exhaustive()
    }
}

impl<F, T, B> NativeFactory<F>
where
    F: Fn() -> App<T> + Send + Sync + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    /// A factory serving the apps `make_app` builds.
    pub fn new(make_app: F) -> Self {
        NativeFactory { make_app }
    }
}

impl<F, T, B> ServerFactory for NativeFactory<F>
where
    F: Fn() -> App<T> + Send + Sync + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    fn name(&self) -> &str {
        NAME
    }

    fn make_server(
        &self,
        config: &ServerConfig,
        listeners: Vec<Listener>,
    ) -> Result<Box<dyn Server>, Error> {
        let tls = prepare(config, &listeners)?;
        Ok(Box::new(NativeServer {
            config: config.clone(),
            listeners,
            tls,
            make_app: self.make_app.clone(),
        }))
    }
}

struct NativeServer<F> {
    config: ServerConfig,
    listeners: Vec<Listener>,
    tls: Option<rustls::ServerConfig>,
    make_app: F,
}

impl<F, T, B> Server for NativeServer<F>
where
    F: Fn() -> App<T> + Send + Sync + Clone + 'static,
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    fn run(self: Box<Self>, ctx: ServeContext) -> Result<Outcome, Error> {
        let NativeServer {
            config,
            listeners,
            tls,
            make_app,
        } = *self;
        let mode = native::Native::new(make_app, &ctx);
        server::block_on(server::serve(config, listeners, tls, ctx, mode))
    }
}

/// The README's example, compiled as a doctest.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// This crate's README example, compiled as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadmeDoctests;
