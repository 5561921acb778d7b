//! # handover
//!
//! Hot-deploy a Rust HTTP server without dropping a request.
//!
//! handover is the contract between an app and the HTTP server it runs on,
//! modelled on Vapor's `ServerProtocol` / `ServerFactoryProtocol` pair, plus
//! what a hot deploy needs: listening sockets inherited from a supervisor
//! (Perl's `start_server`, whose `SERVER_STARTER_PORT` is parsed and every fd
//! checked before it is adopted, or systemd socket activation), a single
//! owner for signals, and a single owner for the drain, with a `Duration`
//! deadline and a forced stop.
//!
//! ## Two surfaces
//!
//! * **The crate root is what an app writes against**: [`Droplet`] (config +
//!   server factories by name + responder, then [`Droplet::run`]), [`Config`],
//!   [`Router`] and its [`RouteBuilder`] (groups, [`Resource`]s),
//!   [`Request`] / [`Response`] / [`Body`], [`RequestExt`] (parameters,
//!   JSON, query, form), [`ResponseRepresentable`] values ([`Json`],
//!   [`Redirect`], [`Abort`]), the [`DrainToken`] for long-lived handlers,
//!   socket routes ([`Router::socket`]: a [`WebSocket`] of [`Message`]s,
//!   closed in a drain with 1012 or 1001), server-sent events ([`sse`]),
//!   and the [`Outcome`] that `main` turns into the exit status. [`config`]
//!   holds the types of each config section, [`middleware`] the middleware.
//!   `docs/porting-from-vapor.md` maps each Vapor 2 concept to these.
//! * **[`adapter`] is what an adapter implements or needs**: the
//!   [`Server`](adapter::Server) / [`ServerFactory`](adapter::ServerFactory)
//!   pair, the [`ServeContext`](adapter::ServeContext) a server runs with,
//!   the [`DrainHooks`](adapter::DrainHooks) it gives the drain, the
//!   connection count, the listeners, TLS, and the WebSockets a socket
//!   route hands over ([`SocketUpgrade`](adapter::SocketUpgrade), run as an
//!   [`AcceptedSocket`](adapter::AcceptedSocket) over a
//!   [`Transport`](adapter::Transport)).
//!
//! Each public item has one path. This crate names no actix, hyper or tokio type.
//!
//! ```no_run
//! use std::process::ExitCode;
//! use handover::{http::StatusCode, text, Config, Droplet, Request, Router};
//! # fn factory() -> handover_hyper::HyperFactory { handover_hyper::HyperFactory::new() }
//!
//! fn main() -> Result<ExitCode, handover::Error> {
//!     let router = Router::new()
//!         .get("/", |_: Request| async { text(StatusCode::OK, "Hello, world!") })?;
//!     let outcome = Droplet::new(Config::load("app.toml")?)
//!         .with_factory(factory())
//!         .with_responder(router)
//!         .run()?;
//!     Ok(outcome.into()) // 0 graceful, 3 or 4 forced
//! }
//! ```
//!
//! ## Design decisions
//!
//! * `Server::run` blocks and each adapter owns its runtime: actix needs its own
//!   `System`, other servers their own runtime, and `main` stays synchronous.
//! * The drain has one owner: the sequence (lame duck, stop accepting,
//!   linger, close idle), its deadline and the forced stop run in the root
//!   crate for every adapter; an adapter supplies only the steps its
//!   framework alone can take.
//! * The supervisor environment is read by [`Droplet::run`] only; the library
//!   never changes the environment.
//! * Under a supervisor nothing is bound silently; a bad fd is an error that
//!   names the variable and the fd, and leaves the fd untouched.
//!
//! ## Module layering
//!
//! From the bottom up, each module uses only those below it: `alarm`,
//! `error`, `reason`, `connections`, `requests`; `status`; `body`, `identity`,
//! `readiness`, `shutdown`, `protocol`, `tls` (which uses `protocol`),
//! `listener`; `health` (which uses `responder`);
//! `responder`, `abort`, `input`, `response`, `sse`, `websocket`, `handler`,
//! `environment`, `middleware`, `resource`, `router`, `app`; `signal`, `drain`;
//! `settings` (the config file); `server`; `droplet`.
//! See `docs/architecture.md`.

mod abort;
mod alarm;
mod app;
mod body;
mod connections;
mod drain;
mod droplet;
mod environment;
mod error;
mod handler;
mod health;
mod identity;
mod input;
mod listener;
pub mod middleware;
mod protocol;
mod readiness;
mod reason;
mod requests;
mod resource;
mod responder;
mod response;
mod router;
mod server;
mod settings;
mod shutdown;
mod signal;
pub mod sse;
mod status;
mod tls;
#[cfg(test)]
mod wake_count;
mod websocket;

pub use abort::Abort;
pub use body::Body;
pub use droplet::Droplet;
pub use error::{BoxError, Error, ErrorKind};
pub use health::{health, Health};
pub use identity::Identity;
pub use input::RequestExt;
pub use reason::{DrainReason, ForceReason};
pub use resource::Resource;
pub use responder::{status, text, Request, Responder, Response, ResponseFuture};
pub use response::{Json, Redirect, ResponseRepresentable};
pub use router::{RouteBuilder, RouteCollection, Router};
pub use settings::Config;
pub use shutdown::{DrainToken, DrainTrigger, Outcome};
pub use status::{DrainStatus, Phase};
pub use websocket::{CloseFrame, Message, SocketHandler, SocketOutput, Utf8Bytes, WebSocket};

/// Re-exported so adapters and apps use the same `http` and `bytes` versions.
pub use bytes;
pub use http;

pub mod config {
    //! The sections of a [`Config`](crate::Config) and the types of their values.

    pub use crate::app::AppConfig;
    pub use crate::drain::DrainDelay;
    pub use crate::environment::Environment;
    pub use crate::listener::{BindAddress, ListenConfig, Selector, Source};
    pub use crate::middleware::cors::{AllowedOrigin, CorsConfig};
    pub use crate::protocol::{H2Config, HttpVersion};
    pub use crate::settings::ServerConfig;
    pub use crate::signal::RepeatSignal;
    pub use crate::tls::{SecurityLayer, TlsConfig};
    pub use crate::websocket::WebSocketConfig;
}

pub mod adapter {
    //! What an adapter implements or needs: the server contract, the drain's
    //! hooks and connection count, listeners, and TLS.
    //!
    //! An adapter crate implements [`ServerFactory`] and [`Server`]; its
    //! `Server::run` serves [`ServeContext::responder`] on the listeners, counts
    //! connections in [`ServeContext::connections`], and hands the drain to
    //! [`ServeContext::drain`] with its [`DrainHooks`]. See
    //! `docs/writing-an-adapter.md`.

    pub use crate::alarm::Alarm;
    pub use crate::connections::{ConnectionGuard, ConnectionKind, Connections};
    pub use crate::drain::{DrainHooks, HookFuture};
    pub use crate::input::PeerAddr;
    pub use crate::listener::{ListenSocket, Listener, Origin};
    pub use crate::requests::{RequestGuard, Requests};
    pub use crate::responder::SharedResponder;
    pub use crate::server::{ServeContext, Server, ServerFactory};
    pub use crate::tls::tls_config;
    pub use crate::websocket::{AcceptedSocket, SocketUpgrade, Transport, WebSockets};

    /// Re-exported so adapters build TLS with the rustls version [`tls_config`] returns.
    pub use rustls;
}

/// The Rust snippets of `docs/porting-from-vapor.md`, compiled as doctests.
#[doc = include_str!("../docs/porting-from-vapor.md")]
#[cfg(doctest)]
pub struct PortingGuideDoctests;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    //! Parsers of the supervisor variables, for the fuzz targets only
    //! (feature `fuzzing`); not part of the API.

    pub use crate::identity::parse_generation;
    pub use crate::listener::{
        parse_listen_fds, parse_server_starter_port, Activation, StarterEntry, StarterKey,
        SystemdVars, LISTEN_FDS_START,
    };
}
