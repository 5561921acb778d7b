//! # handover-actix
//!
//! The actix-web adapter for [handover]: a [`ServerFactory`] named `"actix"`
//! that serves a handover [`Responder`](handover::Responder) with actix-web on the
//! listeners handover resolved (inherited from a supervisor or bound).
//!
//! * actix's own signal handling is off; handover's signal owner drives the stop.
//! * On drain: actix stops accepting (`pause`), then in-flight requests finish
//!   (`stop(true)`); a forced stop returns at once and open connections are cut.
//! * Inherited unix sockets are served with `listen_uds`, never `bind_uds`, so
//!   no path is ever unlinked.
//!
//! ```no_run
//! use handover::{Body, Config, Droplet, Request, Response, Router};
//! let router = Router::new().get("/", |_: Request| async { Response::new(Body::from("Hello")) })?;
//! let outcome = Droplet::new(Config::default())
//!     .with_factory(handover_actix::ActixFactory::new())
//!     .with_responder(router)
//!     .run()?;
//! std::process::exit(outcome.exit_code());
//! # Ok::<(), handover::Error>(())
//! ```

mod convert;
mod server;

use handover::{Error, ErrorKind, Listener, SecurityLayer, Server, ServerConfig, ServerFactory};

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
        if listeners.is_empty() {
            return Err(Error::new(ErrorKind::Serve, "actix: no listeners to serve"));
        }
        match config.security_layer {
            SecurityLayer::None => {}
            other => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("actix: security layer {other:?} is not supported"),
                ))
            }
        }
        Ok(Box::new(server::ActixServer::new(
            config.clone(),
            listeners,
        )))
    }
}

/// The README's example, compiled as a doctest.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
