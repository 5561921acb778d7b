//! # handover-hyper
//!
//! The hyper adapter for [handover]: hyper 1.x (HTTP/1.1, and HTTP/2 by TLS
//! ALPN or with prior knowledge in clear text, as `http.versions` says) on a
//! tokio runtime, on the listeners handover resolved (inherited from a
//! supervisor or bound).
//!
//! * [`HyperFactory`] (named `"hyper"`) serves the app's handover
//!   [`Responder`](handover::Responder), like every other adapter.
//! * [`NativeFactory`] serves an existing hyper service instead, so a hyper app
//!   gains handover's listeners, signals, drain and readiness by changing
//!   `main` only (see `examples/native_hyper.rs`).
//! * [`server`] and [`ResponderService`] are for adapters built on hyper
//!   (`handover-axum`): this crate's whole server, serving a service made
//!   per connection, and the responder as a hyper service;
//!   [`current_drain`] is the drain token on the server's threads.
//!
//! HTTP/1 upgrades (a WebSocket: `Connection: upgrade` answered with 101)
//! are served: the upgraded IO goes to the app (`hyper::upgrade::on`), and
//! the connection stays in the drain's count, as `upgraded`, until the app
//! drops it. The drain waits for it like for any open connection, until
//! `shutdown_timeout`; closing it when the drain starts is the app's (the
//! drain token says when).
//!
//! On drain the accept loops stop and drop this process's copy of each
//! listener (the supervisor's copy, and a unix socket's path, are untouched);
//! during the linger every HTTP/1 response carries `Connection: close` and
//! every HTTP/2 connection's next response comes behind a graceful GOAWAY;
//! then idle connections are closed with hyper's `graceful_shutdown` (an
//! HTTP/2 one gets its GOAWAY) and busy ones close after their response. A
//! forced stop drops the runtime at once. The [`http2`] module serves one
//! HTTP/2 connection this way for other adapters too, and the [`websocket`]
//! module runs a socket route's WebSocket with tokio-tungstenite on any
//! upgraded connection (HTTP/1 connections are served with upgrades).
//!
//! Timeouts: a connection that moves no bytes for `keep_alive` (or
//! `request_timeout` with keep-alive off) while no request is in progress
//! (a handler running or a response body streaming counts as in progress) is
//! closed: an idle keep-alive connection, a half-sent head, a client that
//! stopped reading. A request head must be complete within `request_timeout`
//! of its first byte (a new connection's first head: of the accept), however
//! steadily it trickles in. Both are checked once per period (the shorter of
//! the two), so a limit is enforced to within one period. Request heads are
//! limited to 128 KiB, as on actix, and to hyper's default of 100 header
//! fields (431 beyond either). An HTTP/2 connection with no stream open for
//! `keep_alive` gets a GOAWAY; its limits are `[http.h2]`'s.
//!
//! ```no_run
//! use handover::{Body, Config, Droplet, Request, Response, Router};
//! let router = Router::new().get("/", |_: Request| async { Response::new(Body::from("Hello")) })?;
//! let mut config = Config::default();
//! config.server = "hyper".to_owned();
//! let outcome = Droplet::new(config)
//!     .with_factory(handover_hyper::HyperFactory::new())
//!     .with_responder(router)
//!     .run()?;
//! let status: std::process::ExitCode = outcome.into(); // return it from `main`
//! # Ok::<(), handover::Error>(())
//! ```

mod connection;
mod convert;
mod current;
mod goaway;
pub mod http2;
mod preface;
mod server;
mod service;
mod wait;
mod watchdog;
pub mod websocket;

use bytes::Bytes;
use handover::adapter::{tls_config, Listener, ServeContext, Server, ServerFactory};
use handover::config::ServerConfig;
use handover::{BoxError, Error, ErrorKind};
use hyper::body::Incoming;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

pub use crate::convert::ResponderService;
pub use crate::current::current_drain;
use crate::service::{FnSource, NativeService, ServiceSource};

/// The name both factories are registered under.
pub const NAME: &str = "hyper";

/// A hyper server named `name` serving what `source` makes, once the
/// listeners and the TLS files are checked, so that every problem is a
/// startup error.
fn new_server<S: ServiceSource>(
    name: &'static str,
    config: &ServerConfig,
    listeners: Vec<Listener>,
    source: S,
) -> Result<Box<dyn Server>, Error> {
    if listeners.is_empty() {
        return Err(Error::new(
            ErrorKind::Serve,
            format!("{name}: no listeners to serve"),
        ));
    }
    let tls = tls_config(&config.security_layer, &config.versions)?;
    let tls = tls.map(|tls| TlsAcceptor::from(Arc::new(tls)));
    Ok(Box::new(server::HyperServer::new(
        name,
        config.clone(),
        listeners,
        tls,
        source,
    )))
}

/// Makes hyper servers for the app's handover responder; registered as `"hyper"`.
#[derive(Debug, Clone, Default)]
pub struct HyperFactory {
    _private: (),
}

impl HyperFactory {
    /// The factory.
    pub fn new() -> Self {
        HyperFactory::default()
    }
}

impl ServerFactory for HyperFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn make_server(
        &self,
        config: &ServerConfig,
        listeners: Vec<Listener>,
    ) -> Result<Box<dyn Server>, Error> {
        responder_server(NAME, config, listeners)
    }
}

/// Serves the app's handover responder exactly as [`HyperFactory`] does,
/// under another adapter's `name` (its log lines and errors show it): for
/// an adapter built on hyper whose framework has nothing to add in front of
/// a handover app, as the axum adapter's default factory.
///
/// ```no_run
/// use handover::adapter::{Listener, Server, ServerFactory};
/// use handover::config::ServerConfig;
///
/// /// hyper's responder path under the name "mine".
/// struct Mine;
///
/// impl ServerFactory for Mine {
///     fn name(&self) -> &str {
///         "mine"
///     }
///
///     fn make_server(
///         &self,
///         config: &ServerConfig,
///         listeners: Vec<Listener>,
///     ) -> Result<Box<dyn Server>, handover::Error> {
///         handover_hyper::responder_server("mine", config, listeners)
///     }
/// }
/// ```
pub fn responder_server(
    name: &'static str,
    config: &ServerConfig,
    listeners: Vec<Listener>,
) -> Result<Box<dyn Server>, Error> {
    new_server(
        name,
        config,
        listeners,
        convert::ResponderSource {
            body_limit: config.body_limit,
        },
    )
}

/// Serves a native hyper service with handover's listeners, signals, drain and
/// readiness; registered as `"hyper"`. The app's handover responder is not used.
///
/// Any `hyper::service::Service` that is `Clone + Send + Sync` works, such as
/// [`hyper::service::service_fn`] over a function or a closure; a tower
/// service can be adapted with `hyper_util::service::TowerToHyperService`.
///
/// ```no_run
/// use std::convert::Infallible;
/// use handover::{Config, Droplet};
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response};
///
/// async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
///     Ok(Response::new(Full::new(Bytes::from("Hello"))))
/// }
///
/// let mut config = Config::default();
/// config.server = "hyper".to_owned();
/// let factory = handover_hyper::NativeFactory::new(hyper::service::service_fn(hello));
/// let outcome = Droplet::new(config).with_factory(factory).run()?;
/// let status: std::process::ExitCode = outcome.into(); // return it from `main`
/// # Ok::<(), handover::Error>(())
/// ```
#[derive(Clone)]
pub struct NativeFactory<S> {
    service: S,
}

impl<S> std::fmt::Debug for NativeFactory<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeFactory").finish_non_exhaustive()
    }
}

impl<S, B> NativeFactory<S>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    /// A factory serving `service` on every connection.
    pub fn new(service: S) -> Self {
        NativeFactory { service }
    }
}

impl<S, B> ServerFactory for NativeFactory<S>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    fn name(&self) -> &str {
        NAME
    }

    fn make_server(
        &self,
        config: &ServerConfig,
        listeners: Vec<Listener>,
    ) -> Result<Box<dyn Server>, Error> {
        new_server(NAME, config, listeners, NativeService(self.service.clone()))
    }
}

/// A server that serves, the way this crate's servers do (listeners, TLS,
/// HTTP/1.1 and HTTP/2, timeouts, the drain, readiness), services that
/// `make` makes: for an adapter built on hyper (`handover-axum` is one),
/// whose factory's `make_server` returns it.
///
/// `make` runs once the server runs, with its context (the app's
/// responder, the drain token, [`ServeContext::records_peer_addr`]), and
/// returns a function that makes each accepted connection's service from
/// the connection's peer address (`None` on a unix socket). `name` is the
/// adapter's, as its log lines and errors show it.
///
/// Each response is watched as [`NativeFactory`]'s are: `Connection: close`
/// on HTTP/1 once the drain's linger has begun, a GOAWAY on HTTP/2;
/// requests are counted; HTTP/1 upgrades (a 101 answer to
/// `Connection: upgrade`, a WebSocket) are served, and an upgraded
/// connection stays in the drain's count, as `upgraded`, until the app
/// drops its IO.
///
/// ```no_run
/// use std::convert::Infallible;
/// use handover::adapter::{Listener, Server, ServerFactory};
/// use handover::config::ServerConfig;
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
///
/// /// Says hello to each connection's peer.
/// struct Greeter;
///
/// impl ServerFactory for Greeter {
///     fn name(&self) -> &str {
///         "greeter"
///     }
///
///     fn make_server(
///         &self,
///         config: &ServerConfig,
///         listeners: Vec<Listener>,
///     ) -> Result<Box<dyn Server>, handover::Error> {
///         handover_hyper::server("greeter", config, listeners, |_ctx| {
///             |peer: Option<std::net::SocketAddr>| {
///                 hyper::service::service_fn(move |_: http::Request<Incoming>| async move {
///                     let hello = format!("Hello, {peer:?}\n");
///                     Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(hello))))
///                 })
///             }
///         })
///     }
/// }
/// ```
pub fn server<M, F, S, B>(
    name: &'static str,
    config: &ServerConfig,
    listeners: Vec<Listener>,
    make: M,
) -> Result<Box<dyn Server>, Error>
where
    M: FnOnce(&ServeContext) -> F + Send + 'static,
    F: Fn(Option<SocketAddr>) -> S + Clone + Send + Sync + 'static,
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    new_server(name, config, listeners, FnSource(make))
}

/// This crate's README example, compiled as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadmeDoctests;
