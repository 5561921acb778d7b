//! The server contract: Vapor's `ServerProtocol` / `ServerFactoryProtocol` pair.
//!
//! A [`ServerFactory`] has a name (the config key, like Vapor's `"engine"`) and
//! makes a [`Server`] from the [`ServerConfig`] and the listeners handover
//! resolved. [`Server::run`] blocks: it serves the responder on every listener
//! and hands the drain to [`ServeContext::drain`], which runs it to its end.
//! Each adapter owns its runtime, so `main` stays synchronous and the root
//! crate names no runtime type.
//!
//! ```
//! use handover::adapter::{DrainHooks, HookFuture, Listener, ServeContext, Server, ServerFactory};
//! use handover::config::ServerConfig;
//! use handover::{Error, Outcome};
//!
//! /// A server that serves nothing: it says it is ready, then drains.
//! struct Idle;
//! impl DrainHooks for Idle {
//!     fn stop_accepting(&self) -> HookFuture<'_> { Box::pin(async {}) }
//!     fn close_idle(&self) {}
//! }
//! impl Server for Idle {
//!     fn run(self: Box<Self>, ctx: ServeContext) -> Result<Outcome, Error> {
//!         ctx.ready("idle server");
//!         Ok(ctx.drain_blocking(&*self))
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

use crate::connections::Connections;
use crate::drain::{block_on, Drain, DrainHooks};
use crate::error::Error;
use crate::identity::Identity;
use crate::listener::Listener;
use crate::readiness::{notify, NotifyState};
use crate::requests::Requests;
use crate::responder::SharedResponder;
use crate::settings::ServerConfig;
use crate::shutdown::{DrainToken, Outcome};
use crate::websocket::{WebSocketConfig, WebSockets};

/// Serves a responder on listeners until shutdown, then drains (Vapor's `ServerProtocol`).
pub trait Server: Send {
    /// Serves `ctx.responder()` on the listeners it was made with, says
    /// [`ServeContext::ready`], and once the drain starts hands it to
    /// [`ServeContext::drain`] with the adapter's [`DrainHooks`], returning
    /// the [`Outcome`] that gives. Anything still open when it returns is cut.
    /// Blocks the calling thread.
    ///
    /// # Errors
    /// When the server cannot start or fails while serving.
    fn run(self: Box<Self>, ctx: ServeContext) -> Result<Outcome, Error>;
}

/// Makes a [`Server`] by name (Vapor's `ServerFactoryProtocol`). Usable as `dyn`.
pub trait ServerFactory: Send + Sync {
    /// The name config uses to pick this factory (`server = "actix"`).
    fn name(&self) -> &str;

    /// Makes a server for `config` that will serve `listeners`. Checks what
    /// it can (no listeners, a setting it cannot honour) without touching
    /// the sockets.
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

/// What a running server gets: the responder, the drain, and who we are.
#[derive(Clone)]
pub struct ServeContext {
    responder: SharedResponder,
    drain: Drain,
    peer_addr: bool,
    websocket: WebSocketConfig,
}

impl std::fmt::Debug for ServeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeContext")
            .field("drain", &self.drain)
            .finish_non_exhaustive()
    }
}

impl ServeContext {
    pub(crate) fn new(responder: SharedResponder, drain: Drain) -> Self {
        ServeContext {
            responder,
            drain,
            peer_addr: false,
            websocket: WebSocketConfig::default(),
        }
    }

    /// Sets the `[http.websocket]` settings [`ServeContext::websockets`] gives.
    pub(crate) fn with_websocket(mut self, config: WebSocketConfig) -> Self {
        self.websocket = config;
        self
    }

    /// What a server needs to run the WebSockets socket routes accept (a
    /// 101 response carrying a [`SocketUpgrade`](crate::adapter::SocketUpgrade)):
    /// the drain token, the count, `[http.websocket]`, and the drain's close
    /// code. Cheap to clone; take it once per server.
    pub fn websockets(&self) -> WebSockets {
        WebSockets::new(
            self.drain.token(),
            self.drain.connections().clone(),
            self.websocket,
            self.drain.supervised(),
        )
    }

    /// Sets [`ServeContext::records_peer_addr`].
    pub(crate) fn with_peer_addr(mut self, record: bool) -> Self {
        self.peer_addr = record;
        self
    }

    /// Whether the app reads peer addresses (`[app] peer_addr = true`):
    /// when true, the server puts a [`PeerAddr`](crate::adapter::PeerAddr)
    /// in each request's extensions (TCP connections). Off by default: the
    /// extension costs allocations on every request.
    pub fn records_peer_addr(&self) -> bool {
        self.peer_addr
    }

    /// The app's responder.
    pub fn responder(&self) -> &SharedResponder {
        &self.responder
    }

    /// The drain token: `draining()` resolves when the drain starts.
    pub fn token(&self) -> DrainToken {
        self.drain.token()
    }

    /// The pid and generation of this process.
    pub fn identity(&self) -> Identity {
        self.drain.identity()
    }

    /// The connection count: call [`Connections::open`] for every accepted
    /// connection and keep the guard while it is open, and check
    /// [`Connections::close_after_response`] as each response is ready.
    pub fn connections(&self) -> &Connections {
        self.drain.connections()
    }

    /// The request count: call [`Requests::start`] as each request starts,
    /// [`RequestGuard::responded`](crate::adapter::RequestGuard::responded)
    /// with its status, and keep the guard until its response has been sent.
    /// The drain's automatic lame duck and the app's metrics read it.
    pub fn requests(&self) -> &Requests {
        self.drain.requests()
    }

    /// Called by the server once every listener is being served: logs it and
    /// sends `READY=1` to the supervisor (a no-op without `NOTIFY_SOCKET`).
    pub fn ready(&self, what: &str) {
        log::info!("{}: ready: {what}", self.identity());
        notify(NotifyState::Ready);
    }

    /// Waits for the drain to start, then runs it through `hooks` to its
    /// end: lame duck, stop accepting, linger, close idle, all under the
    /// `shutdown_timeout` deadline. Await it on the server's own runtime.
    pub async fn drain(&self, hooks: &dyn DrainHooks) -> Outcome {
        self.drain.run(hooks).await
    }

    /// [`ServeContext::drain`] for a server without a runtime: blocks the
    /// calling thread until the drain has ended.
    pub fn drain_blocking(&self, hooks: &dyn DrainHooks) -> Outcome {
        block_on(self.drain.run(hooks))
    }
}
