//! # handover-axum
//!
//! The axum adapter for [handover]: an [`axum::Router`] (or any tower
//! service taking axum's request type) served by `handover-hyper`'s
//! server, hyper 1.x on tokio, on the listeners handover resolved
//! (inherited from Server::Starter's `start_server` or systemd, or bound),
//! with handover's signals, drain, timeouts, HTTP/2 and readiness. An axum
//! app gains them by changing `main` only: `axum::serve(listener, app)`
//! becomes a [`Droplet`](handover::Droplet) with
//! `AxumFactory::new(app)` (see `examples/native_axum.rs`).
//!
//! * [`AxumFactory::new`] serves a router as it is; [`AxumFactory::from_service`]
//!   any `tower::Service<axum::extract::Request>`.
//! * [`AxumFactory::default`] serves the app's handover
//!   [`Responder`](handover::Responder) on the server axum runs on
//!   (hyper, as `axum::serve` does), with no axum router in between: an
//!   empty router would only hand every request to its fallback, at a cost;
//!   [`AxumFactory::with_responder_fallback`] sends what a router does not
//!   match to the responder, so axum routes and a handover `Router` can
//!   share one server.
//!
//! A handler extracts the drain token as [`Drain`]. As under
//! `axum::serve`, a handler gets [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo)
//! when the app asks for it: [`AxumFactory::with_connect_info`] is what
//! `into_make_service_with_connect_info::<SocketAddr>()` was (on TCP
//! listeners; a unix socket has no peer address, so a handler that extracts
//! it answers 500 there, as under `axum::serve`). Without it the extractor
//! answers 500, as axum's does, and no request pays for an extension it
//! does not read.
//!
//! `[http]`'s limits and timeouts apply to every connection (head size and
//! time, keep-alive, HTTP/2 limits, TLS); `body_limit` bounds what the
//! handover responder reads, while a router's own extractors keep axum's
//! `DefaultBodyLimit`.
//!
//! On drain, as on `handover-hyper`: accepting stops; during the linger
//! every HTTP/1 response carries `Connection: close` and every HTTP/2
//! connection's next response comes behind a graceful GOAWAY; then idle
//! connections close and busy ones close after their response, all within
//! `shutdown_timeout`. A streaming response (server-sent events) holds its
//! connection like a slow response: end the stream when [`Drain`] says the
//! drain started, or the deadline forces the stop (exit 3).
//!
//! WebSockets (`axum::extract::ws`, axum's `ws` feature) upgrade over
//! HTTP/1.1. An upgraded connection stays in the drain's connection count
//! (as `upgraded`) until the app drops the socket, so the drain waits for
//! it: close it when [`Drain`] says the drain started (a close frame with
//! code 1001, going away), or the deadline forces the stop. The adapter
//! sends no close frame itself.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use handover::{Config, Droplet};
//!
//! let app = Router::new().route("/", get(|| async { "Hello" }));
//! let mut config = Config::default();
//! config.server = handover_axum::NAME.to_owned();
//! let outcome = Droplet::new(config)
//!     .with_factory(handover_axum::AxumFactory::new(app))
//!     .run()?;
//! let status: std::process::ExitCode = outcome.into(); // return it from `main`
//! # Ok::<(), handover::Error>(())
//! ```

mod drain;
mod fallback;
mod service;

use std::net::SocketAddr;

use axum::Router;
use bytes::Bytes;
use handover::adapter::{Listener, ServeContext, Server, ServerFactory};
use handover::config::ServerConfig;
use handover::{BoxError, Error};
use handover_hyper::ResponderService;

pub use crate::drain::Drain;
use crate::fallback::ResponderFallback;
use crate::service::Connection;

/// The name the factory is registered under.
pub const NAME: &str = "axum";

/// Makes axum servers; registered as `"axum"`.
///
/// `S` is what is served: an [`axum::Router`] ([`AxumFactory::new`]), or
/// any tower service taking axum's request type ([`AxumFactory::from_service`]),
/// such as a router wrapped in tower layers.
#[derive(Clone)]
pub struct AxumFactory<S = Router> {
    service: S,
    /// Sends what the router does not match to the app's responder.
    fallback: Option<fn(S, ResponderFallback) -> S>,
    /// Serves the app's responder alone, without `service`.
    responder_only: bool,
    /// Gives every request its peer address as `ConnectInfo<SocketAddr>`.
    connect_info: bool,
}

impl<S> std::fmt::Debug for AxumFactory<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AxumFactory")
            .field("responder_fallback", &self.fallback.is_some())
            .field("responder_only", &self.responder_only)
            .field("connect_info", &self.connect_info)
            .finish_non_exhaustive()
    }
}

impl AxumFactory<Router> {
    /// A factory serving `router` on every connection, as `axum::serve`
    /// would; the app's handover responder is not used.
    pub fn new(router: Router) -> Self {
        AxumFactory {
            service: router,
            fallback: None,
            responder_only: false,
            connect_info: false,
        }
    }

    /// Sends every request that no route of the router matches to the
    /// app's handover responder (the droplet's `with_responder`), in place
    /// of the router's own fallback: the responder answers it as on any
    /// adapter, its body read up to `body_limit`.
    ///
    /// ```no_run
    /// use axum::{routing::get, Router};
    /// use handover::{Body, Config, Droplet, Request, Response};
    ///
    /// let axum_routes = Router::new().route("/new", get(|| async { "from axum" }));
    /// let handover_routes = handover::Router::new()
    ///     .get("/old", |_: Request| async { Response::new(Body::from("from handover")) })?;
    /// let mut config = Config::default();
    /// config.server = handover_axum::NAME.to_owned();
    /// let factory = handover_axum::AxumFactory::new(axum_routes).with_responder_fallback();
    /// Droplet::new(config)
    ///     .with_factory(factory)
    ///     .with_responder(handover_routes)
    ///     .run()?;
    /// # Ok::<(), handover::Error>(())
    /// ```
    pub fn with_responder_fallback(mut self) -> Self {
        self.fallback = Some(|router, responder| router.fallback_service(responder));
        self
    }
}

impl Default for AxumFactory<Router> {
    /// Serves the app's handover responder on the server axum runs on
    /// (`handover-hyper`'s, with its drain, timeouts, HTTP/2 and
    /// WebSockets), with no axum router in between: it answers as
    /// `AxumFactory::new(Router::new()).with_responder_fallback()` would,
    /// without an empty router's dispatch and the conversion to axum's
    /// request type. What `demo-app --server axum` runs. Put axum routes in
    /// front of the responder with [`AxumFactory::with_responder_fallback`].
    ///
    /// ```no_run
    /// use handover::{Body, Config, Droplet, Request, Response, Router};
    /// let router = Router::new().get("/", |_: Request| async { Response::new(Body::from("Hello")) })?;
    /// let mut config = Config::default();
    /// config.server = "axum".to_owned();
    /// let outcome = Droplet::new(config)
    ///     .with_factory(handover_axum::AxumFactory::default())
    ///     .with_responder(router)
    ///     .run()?;
    /// # Ok::<(), handover::Error>(())
    /// ```
    fn default() -> Self {
        AxumFactory {
            responder_only: true,
            ..AxumFactory::new(Router::new()).with_responder_fallback()
        }
    }
}

impl<S> AxumFactory<S> {
    /// A factory serving any tower service that takes axum's request type,
    /// called once ready for each request, as `axum::serve` would: a router
    /// with layers around it, say
    /// (`tower::ServiceBuilder::new().layer(..).service(router)`).
    pub fn from_service<B>(service: S) -> Self
    where
        S: tower::Service<axum::extract::Request, Response = http::Response<B>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
    {
        AxumFactory {
            service,
            fallback: None,
            responder_only: false,
            connect_info: false,
        }
    }

    /// Gives every request on a TCP listener its peer address as
    /// [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo), as
    /// `app.into_make_service_with_connect_info::<SocketAddr>()` does under
    /// `axum::serve`. Off by default, as there: each request then pays
    /// for one more extension, an allocation (about 300 instructions per
    /// request in `bench/instructions.py`'s native-axum row while it was
    /// always on).
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    /// use axum::{extract::ConnectInfo, routing::get, Router};
    /// use handover::{Config, Droplet};
    ///
    /// async fn peer(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
    ///     peer.to_string()
    /// }
    /// let app = Router::new().route("/", get(peer));
    /// let mut config = Config::default();
    /// config.server = handover_axum::NAME.to_owned();
    /// Droplet::new(config)
    ///     .with_factory(handover_axum::AxumFactory::new(app).with_connect_info())
    ///     .run()?;
    /// # Ok::<(), handover::Error>(())
    /// ```
    pub fn with_connect_info(mut self) -> Self {
        self.connect_info = true;
        self
    }
}

impl<S, B> ServerFactory for AxumFactory<S>
where
    S: tower::Service<axum::extract::Request, Response = http::Response<B>>
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
        if self.responder_only {
            return handover_hyper::responder_server(NAME, config, listeners);
        }
        let service = self.service.clone();
        let fallback = self.fallback;
        let connect_info = self.connect_info;
        let body_limit = config.body_limit;
        handover_hyper::server(NAME, config, listeners, move |ctx: &ServeContext| {
            let app = match fallback {
                Some(fallback) => fallback(
                    service,
                    ResponderFallback(ResponderService::new(ctx, body_limit)),
                ),
                None => service,
            };
            let record_peer = ctx.records_peer_addr();
            move |peer: Option<SocketAddr>| Connection {
                app: app.clone(),
                peer,
                connect_info,
                record_peer,
            }
        })
    }
}

/// This crate's README example, compiled as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadmeDoctests;
