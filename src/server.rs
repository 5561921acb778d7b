//! The server contract: Vapor's `ServerProtocol` / `ServerFactoryProtocol` pair.
//!
//! A [`ServerFactory`] has a name (the config key, like Vapor's `"engine"`) and
//! makes a [`Server`] from the [`ServerConfig`] and the listeners handover
//! resolved. [`Server::run`] blocks: it serves the responder on every listener
//! until the drain starts, stops accepting, finishes in-flight requests, and
//! returns how it stopped. Each adapter owns its runtime, so `main` stays
//! synchronous and the root crate names no runtime type.
//!
//! ```
//! use handover::{Error, Listener, Outcome, Server, ServerConfig, ServerFactory, ServeContext};
//!
//! /// A server that serves nothing and stops as soon as the drain starts.
//! struct Idle;
//! impl Server for Idle {
//!     fn run(self: Box<Self>, ctx: ServeContext) -> Result<Outcome, Error> {
//!         ctx.ready("idle server");
//!         ctx.shutdown().wait_draining();
//!         Ok(Outcome::Graceful)
//!     }
//! }
//! struct IdleFactory;
//! impl ServerFactory for IdleFactory {
//!     fn name(&self) -> &str { "idle" }
//!     fn make_server(&self, _: &ServerConfig, _: Vec<Listener>) -> Result<Box<dyn Server>, Error> {
//!         Ok(Box::new(Idle))
//!     }
//! }
//! ```

use crate::config::ServerConfig;
use crate::error::Error;
use crate::listener::Listener;
use crate::process::Identity;
use crate::responder::SharedResponder;
use crate::shutdown::{Outcome, Shutdown};

/// Serves a responder on listeners until shutdown, then drains (Vapor's `ServerProtocol`).
pub trait Server: Send {
    /// Serves `ctx.responder()` until `ctx.shutdown()` starts the drain, then
    /// stops accepting, lets in-flight requests finish, and returns
    /// [`Outcome::Graceful`]; returns [`Outcome::Forced`] as soon as the stop is
    /// forced. Blocks the calling thread.
    ///
    /// # Errors
    /// When the server cannot start or fails while serving.
    fn run(self: Box<Self>, ctx: ServeContext) -> Result<Outcome, Error>;
}

/// Makes a [`Server`] by name (Vapor's `ServerFactoryProtocol`). Usable as `dyn`.
pub trait ServerFactory: Send + Sync {
    /// The name config uses to pick this factory (`server = "actix"`).
    fn name(&self) -> &str;

    /// Makes a server for `config` that will serve `listeners`.
    ///
    /// # Errors
    /// When `config` asks for something this server cannot do.
    fn make_server(
        &self,
        config: &ServerConfig,
        listeners: Vec<Listener>,
    ) -> Result<Box<dyn Server>, Error>;
}

impl<F: ServerFactory + ?Sized> ServerFactory for Box<F> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn make_server(
        &self,
        config: &ServerConfig,
        listeners: Vec<Listener>,
    ) -> Result<Box<dyn Server>, Error> {
        (**self).make_server(config, listeners)
    }
}

impl<F: ServerFactory + ?Sized> ServerFactory for std::sync::Arc<F> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn make_server(
        &self,
        config: &ServerConfig,
        listeners: Vec<Listener>,
    ) -> Result<Box<dyn Server>, Error> {
        (**self).make_server(config, listeners)
    }
}

/// What a running server gets: the responder, the shutdown state, and who we are.
#[derive(Clone)]
pub struct ServeContext {
    responder: SharedResponder,
    shutdown: Shutdown,
    identity: Identity,
}

impl std::fmt::Debug for ServeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeContext")
            .field("shutdown", &self.shutdown)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl ServeContext {
    /// A context for serving `responder` under `shutdown`.
    pub fn new(responder: SharedResponder, shutdown: Shutdown, identity: Identity) -> Self {
        ServeContext {
            responder,
            shutdown,
            identity,
        }
    }

    /// The app's responder.
    pub fn responder(&self) -> &SharedResponder {
        &self.responder
    }

    /// The shutdown state: `draining()` says when to stop accepting, `forced()` when to give up.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The pid and generation of this process.
    pub fn identity(&self) -> Identity {
        self.identity
    }

    /// Called by the server once every listener is being served: logs it and
    /// sends `READY=1` to the supervisor (a no-op without `NOTIFY_SOCKET`).
    pub fn ready(&self, what: &str) {
        log::info!("{}: ready: {what}", self.identity);
        crate::readiness::notify(crate::readiness::NotifyState::Ready);
    }

    /// Called when the drain starts: sends `STOPPING=1` (a no-op without `NOTIFY_SOCKET`).
    pub fn notify_stopping(&self) {
        crate::readiness::notify(crate::readiness::NotifyState::Stopping);
    }

    /// Logs the start or end of a drain phase, with pid and generation.
    pub fn phase(&self, what: &str) {
        log::info!("{}: {what}", self.identity);
    }
}
