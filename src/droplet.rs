//! The app: configuration, a registry of server factories, and a responder.

use std::sync::Arc;

use crate::drain::{describe, Drain};
use crate::error::{Error, ErrorKind};
use crate::identity::Identity;
use crate::listener::{self, Fallback, Inheritance, Listener, Origin};
use crate::middleware::{self, Middleware, SharedMiddleware};
use crate::responder::{Responder, SharedResponder};
use crate::router::Router;
use crate::server::{ServeContext, ServerFactory};
use crate::settings::Config;
use crate::shutdown::{DrainToken, DrainTrigger, Outcome};
use crate::signal;

/// An app in Vapor's style: config picks the server by name from the registered factories.
///
/// ```no_run
/// use std::process::ExitCode;
/// use handover::{Body, Config, Droplet, Request, Response, Router};
/// # use handover::adapter::{Listener, Server, ServerFactory};
/// # fn factory() -> impl ServerFactory { struct F; impl ServerFactory for F {
/// #   fn name(&self) -> &str { "actix" }
/// #   fn make_server(&self, _: &handover::config::ServerConfig, _: Vec<Listener>)
/// #     -> Result<Box<dyn Server>, handover::Error> {
/// #     Err(handover::Error::new(handover::ErrorKind::Serve, "example only")) } } F }
///
/// fn main() -> Result<ExitCode, handover::Error> {
///     let router = Router::new().get("/", |_: Request| async { Response::new(Body::from("Hello")) })?;
///     let outcome = Droplet::new(Config::default())
///         .with_factory(factory())
///         .with_responder(router)
///         .run()?;
///     Ok(outcome.into()) // 0 graceful, 3 or 4 forced
/// }
/// ```
pub struct Droplet {
    config: Config,
    factories: Vec<Arc<dyn ServerFactory>>,
    responder: SharedResponder,
    middleware: Vec<(String, SharedMiddleware)>,
    trigger: DrainTrigger,
}

impl std::fmt::Debug for Droplet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Droplet")
            .field("config", &self.config)
            .field("factories", &self.factory_names())
            .finish_non_exhaustive()
    }
}

impl Droplet {
    /// An app with `config`, no factories, and an empty router (404 for everything).
    pub fn new(config: Config) -> Droplet {
        Droplet {
            config,
            factories: Vec::new(),
            responder: Arc::new(Router::new()),
            middleware: Vec::new(),
            trigger: DrainTrigger::new(),
        }
    }

    /// The drain token, which handlers watch (`is_draining()`,
    /// `draining().await`) to end long polls and streams, or to fail health
    /// checks during the lame-duck phase. Fires when the drain starts.
    pub fn drain_token(&self) -> DrainToken {
        self.trigger.token()
    }

    /// The trigger that starts this app's drain or forces its stop (the signal
    /// owner uses it; code that embeds the app with [`Droplet::serve`] does too).
    pub fn trigger(&self) -> DrainTrigger {
        self.trigger.clone()
    }

    /// Registers a factory under its [`ServerFactory::name`]; a later
    /// registration with the same name replaces the earlier one.
    pub fn with_factory(mut self, factory: impl ServerFactory + 'static) -> Droplet {
        self.factories.retain(|f| f.name() != factory.name());
        self.factories.push(Arc::new(factory));
        self
    }

    /// Sets the responder (usually a [`Router`]).
    pub fn with_responder(mut self, responder: impl Responder) -> Droplet {
        self.responder = Arc::new(responder);
        self
    }

    /// Registers app-wide middleware under `name` (Vapor's
    /// `config.addConfigurable(middleware:name:)`); a later registration
    /// with the same name, or a built-in one's name, replaces it.
    ///
    /// With `[app] middleware` set in the config, that list picks and
    /// orders the middleware by name (outermost first) and a registered one
    /// it does not name is not used (a warning says so); without it, every
    /// registered middleware runs, the first registered outermost.
    pub fn with_middleware(mut self, name: &str, middleware: impl Middleware) -> Droplet {
        self.middleware.retain(|(n, _)| n != name);
        self.middleware
            .push((name.to_owned(), Arc::new(middleware)));
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The registered names, in registration order.
    pub fn factory_names(&self) -> Vec<&str> {
        self.factories.iter().map(|f| f.name()).collect()
    }

    /// The factory named by `config.server`.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownServer`] listing the registered names.
    pub fn factory(&self) -> Result<&dyn ServerFactory, Error> {
        let wanted = self.config.server.as_str();
        self.factories
            .iter()
            .find(|f| f.name() == wanted)
            .map(|f| &**f as &dyn ServerFactory)
            .ok_or_else(|| {
                let names = self.factory_names();
                let known = if names.is_empty() {
                    "none are registered".to_owned()
                } else {
                    format!("registered: {}", names.join(", "))
                };
                Error::new(
                    ErrorKind::UnknownServer,
                    format!("unknown server {wanted:?} ({known})"),
                )
            })
    }

    /// Runs the app: picks the factory, checks the responder (a router's
    /// route conflicts are reported here, all at once) and builds the
    /// app-wide middleware, reads the supervisor variables once, takes the
    /// listeners, installs the signal owner, and serves until the drain
    /// ends. Call it from `main` before starting other threads.
    ///
    /// # Errors
    /// Unknown server, bad routes or middleware, bad supervisor variables or
    /// fds, bind failures, and server failures; an inherited socket is never
    /// closed by an error here.
    pub fn run(self) -> Result<Outcome, Error> {
        let identity = Identity::from_env()?;
        let inheritance = Inheritance::from_env();
        self.factory()?;
        let responder = self.app()?;
        let http = &self.config.http;
        // Bad TLS files fail here, before any inherited fd is adopted; the
        // adapter loads them again when it makes the server.
        crate::tls::tls_config(&http.security_layer, &http.versions)?;
        // Inherited fds are checked before this process opens any of its own
        // (the signal thread's socket pair would take the lowest free number):
        // an fd the supervisor named but did not pass must read as "not open",
        // never as one of ours.
        //
        // A TERM that arrives before the owner is installed (during these
        // checks) ends the process by the default action: it has served
        // nothing yet.
        let fallback = Fallback {
            hostname: &http.hostname,
            port: http.port,
            backlog: http.backlog,
        };
        let listeners = listener::resolve(&inheritance, &self.config.listen, fallback)?;
        let under_server_starter = listeners
            .iter()
            .any(|l| matches!(l.origin(), Origin::ServerStarter { .. }));
        let installed = signal::install(
            &self.trigger,
            http.shutdown_timeout,
            http.repeat_signal.resolve(under_server_starter),
            identity,
        );
        let _signals = match installed {
            Ok(signals) => signals,
            Err(e) => {
                listener::give_up(listeners);
                return Err(e);
            }
        };
        self.serve_app(responder, listeners, identity)
    }

    /// The responder with the app-wide middleware around it, once the
    /// responder's own check (route conflicts) has passed.
    fn app(&self) -> Result<SharedResponder, Error> {
        self.responder.check()?;
        let stack = self.config.app.stack(&self.middleware)?;
        if !stack.is_empty() {
            log::info!(
                "middleware, outermost first: {}",
                self.config
                    .app
                    .middleware
                    .clone()
                    .unwrap_or_else(|| self.middleware.iter().map(|(n, _)| n.clone()).collect())
                    .join(", ")
            );
        }
        Ok(middleware::wrap(&stack, self.responder.clone()))
    }

    /// Serves on `listeners` without reading the environment or installing
    /// signal handlers: for embedding and tests. Start its drain through
    /// [`Droplet::trigger`]; the drain runs as under [`Droplet::run`],
    /// `shutdown_timeout` included.
    ///
    /// # Errors
    /// Unknown server, bad routes or middleware, and server failures.
    pub fn serve(self, listeners: Vec<Listener>, identity: Identity) -> Result<Outcome, Error> {
        let responder = match self.factory().and_then(|_| self.app()) {
            Ok(responder) => responder,
            Err(e) => {
                listener::give_up(listeners);
                return Err(e);
            }
        };
        self.serve_app(responder, listeners, identity)
    }

    fn serve_app(
        self,
        responder: SharedResponder,
        listeners: Vec<Listener>,
        identity: Identity,
    ) -> Result<Outcome, Error> {
        let factory = self.factory()?;
        for l in &listeners {
            log::info!("{identity}: listening on {l}");
        }
        // Socket files we bound are removed when serving ends, however it ends.
        let _created = RemoveOnDrop(
            listeners
                .iter()
                .filter_map(Listener::created_path)
                .cloned()
                .collect(),
        );
        // A listener this process bound is its own to stop; one a supervisor
        // holds passes new connections to the next generation.
        let bound = listeners.iter().any(|l| !l.origin().is_inherited());
        self.trigger
            .requests()
            .set_health_path(self.config.http.health_path.clone());
        let server = factory.make_server(&self.config.http, listeners)?;
        let drain = Drain::new(
            self.config.http.drain_plan(),
            self.trigger.clone(),
            identity,
            bound,
        );
        let ctx = ServeContext::new(responder, drain)
            .with_peer_addr(self.config.app.peer_addr)
            .with_websocket(self.config.http.websocket);
        log::info!("{identity}: serving with {:?}", factory.name());
        let outcome = server.run(ctx)?;
        let drained = self
            .trigger
            .token()
            .drain_started()
            .map(|(_, at)| at.elapsed())
            .unwrap_or_default();
        match outcome {
            Outcome::Graceful => {
                log::info!("{identity}: stopped gracefully; drain took {drained:?}")
            }
            Outcome::Forced { reason, cut } => log::warn!(
                "{identity}: {} after {drained:?} of draining",
                describe(reason, cut)
            ),
        }
        Ok(outcome)
    }
}

/// Removes the unix socket files this process bound when dropped. Inherited
/// paths are never in it.
struct RemoveOnDrop(Vec<crate::listener::CreatedPath>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        for created in &self.0 {
            created.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Server;
    use crate::settings::ServerConfig;

    struct Named(&'static str);
    impl ServerFactory for Named {
        fn name(&self) -> &str {
            self.0
        }
        fn make_server(
            &self,
            _: &ServerConfig,
            _: Vec<Listener>,
        ) -> Result<Box<dyn Server>, Error> {
            Err(Error::new(ErrorKind::Serve, format!("made by {}", self.0)))
        }
    }

    fn droplet(server: &str, names: &[&'static str]) -> Droplet {
        let config = Config {
            server: server.to_owned(),
            ..Config::default()
        };
        names
            .iter()
            .fold(Droplet::new(config), |d, n| d.with_factory(Named(n)))
    }

    #[test]
    fn factory_selection() {
        let cases: &[(&str, &[&'static str], Result<&str, &str>)] = &[
            ("actix", &["actix"], Ok("actix")),
            ("hyper", &["actix", "hyper"], Ok("hyper")),
            (
                "engine",
                &["actix", "hyper"],
                Err("unknown server \"engine\" (registered: actix, hyper)"),
            ),
            (
                "actix",
                &[],
                Err("unknown server \"actix\" (none are registered)"),
            ),
            (
                "Actix",
                &["actix"],
                Err("unknown server \"Actix\" (registered: actix)"),
            ),
        ];
        for (server, names, want) in cases {
            let d = droplet(server, names);
            match (d.factory(), want) {
                (Ok(f), Ok(name)) => assert_eq!(f.name(), *name),
                (Err(e), Err(msg)) => {
                    assert_eq!(e.kind(), ErrorKind::UnknownServer);
                    assert_eq!(e.to_string(), *msg);
                }
                (got, want) => panic!(
                    "{server}: got {:?}, want {want:?}",
                    got.map(|f| f.name().to_owned())
                ),
            }
        }
    }

    #[test]
    fn route_conflicts_and_bad_middleware_fail_before_serving() {
        let identity = Identity::unsupervised();
        let ok = |_: crate::responder::Request| async { "" };
        let conflicting = Router::build(|r| {
            r.get("a", ok);
            r.get("/a/", ok);
            r.post("b/:x", ok);
            r.post("b/:y", ok);
        });
        let e = droplet("actix", &["actix"])
            .with_responder(conflicting)
            .serve(Vec::new(), identity)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Route);
        let text = e.to_string();
        assert!(text.starts_with("2 bad route(s): route GET /a: "), "{text}");
        assert!(text.contains("; route POST /b/{y}: "), "{text}");

        let mut config = Config::default();
        config.app.middleware = Some(vec!["error".into(), "nope".into()]);
        let e = Droplet::new(config)
            .with_factory(Named("actix"))
            .serve(Vec::new(), identity)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("unknown middleware \"nope\""), "{e}");
    }

    #[test]
    fn re_registering_a_name_replaces_it() {
        let d = droplet("actix", &["actix", "hyper", "actix"]);
        assert_eq!(d.factory_names(), ["hyper", "actix"]);
    }

    #[test]
    fn unknown_server_fails_before_serving() {
        let identity = Identity::unsupervised();
        let e = droplet("nope", &["actix"])
            .serve(Vec::new(), identity)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownServer);
        let e = droplet("actix", &["actix"])
            .serve(Vec::new(), identity)
            .unwrap_err();
        assert_eq!(e.to_string(), "made by actix");
    }
}
