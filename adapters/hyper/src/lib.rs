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
mod goaway;
pub mod http2;
mod preface;
mod server;
mod service;
mod watchdog;
pub mod websocket;

use bytes::Bytes;
use handover::adapter::{tls_config, Listener, Server, ServerFactory};
use handover::config::ServerConfig;
use handover::{BoxError, Error, ErrorKind};
use hyper::body::Incoming;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

use crate::service::NativeService;

/// The name both factories are registered under.
pub const NAME: &str = "hyper";

/// Checks what the server is asked to do and loads the TLS files, so that
/// every problem is a startup error.
fn prepare(config: &ServerConfig, listeners: &[Listener]) -> Result<Option<TlsAcceptor>, Error> {
    if listeners.is_empty() {
        return Err(Error::new(ErrorKind::Serve, "hyper: no listeners to serve"));
    }
    let tls = tls_config(&config.security_layer, &config.versions)?;
    Ok(tls.map(|tls| TlsAcceptor::from(Arc::new(tls))))
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
        let tls = prepare(config, &listeners)?;
        Ok(Box::new(server::HyperServer::new(
            config.clone(),
            listeners,
            tls,
            convert::ResponderSource {
                body_limit: config.body_limit,
            },
        )))
    }
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
        let tls = prepare(config, &listeners)?;
        Ok(Box::new(server::HyperServer::new(
            config.clone(),
            listeners,
            tls,
            NativeService(self.service.clone()),
        )))
    }
}

/// This crate's README example, compiled as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadmeDoctests;
