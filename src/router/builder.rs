//! [`RouteBuilder`]: adding routes under a prefix and behind middleware
//! (Vapor's `RouteBuilder`), and [`RouteCollection`].

use std::fmt;
use std::sync::Arc;

use http::Method;

use super::{join, Router, ANY};
use crate::middleware::{wrap, Middleware, SharedMiddleware};
use crate::resource::Resource;
use crate::responder::{Responder, SharedResponder};
use crate::websocket::{SocketHandler, SocketRoute};

/// Adds routes to a [`Router`] under a path prefix and with middleware
/// (Vapor's `RouteBuilder`). Get one from [`Router::build`],
/// [`Router::builder`], or from a group.
pub struct RouteBuilder<'r> {
    router: &'r mut Router,
    prefix: String,
    middleware: Vec<SharedMiddleware>,
}

impl fmt::Debug for RouteBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteBuilder")
            .field("prefix", &self.prefix)
            .field("middleware", &self.middleware.len())
            .finish_non_exhaustive()
    }
}

impl<'r> RouteBuilder<'r> {
    /// A builder adding to `router` under `/`, with no middleware.
    pub(super) fn new(router: &'r mut Router) -> RouteBuilder<'r> {
        RouteBuilder {
            router,
            prefix: String::new(),
            middleware: Vec::new(),
        }
    }

    /// Adds `responder` for `method` and `path` (under this builder's prefix,
    /// behind its middleware). A conflict is kept for [`Router::check`].
    pub fn add(&mut self, method: Method, path: &str, responder: impl Responder) -> &mut Self {
        self.add_shared(method.as_str(), path, Arc::new(responder));
        self
    }

    pub(crate) fn add_shared(&mut self, method: &str, path: &str, responder: SharedResponder) {
        let full = join(&self.prefix, path);
        let responder = wrap(&self.middleware, responder);
        if let Err(e) = self.router.insert(method, full, responder) {
            self.router.conflicts.push(e);
        }
    }

    /// Adds a `GET` route (also answering `HEAD`).
    pub fn get(&mut self, path: &str, responder: impl Responder) -> &mut Self {
        self.add(Method::GET, path, responder)
    }

    /// Adds a socket route (a WebSocket on `GET path`; see [`Router::socket`]).
    pub fn socket(&mut self, path: &str, handler: impl SocketHandler) -> &mut Self {
        self.add(Method::GET, path, SocketRoute::new(handler))
    }

    /// Adds a `POST` route.
    pub fn post(&mut self, path: &str, responder: impl Responder) -> &mut Self {
        self.add(Method::POST, path, responder)
    }

    /// Adds a `PUT` route.
    pub fn put(&mut self, path: &str, responder: impl Responder) -> &mut Self {
        self.add(Method::PUT, path, responder)
    }

    /// Adds a `PATCH` route.
    pub fn patch(&mut self, path: &str, responder: impl Responder) -> &mut Self {
        self.add(Method::PATCH, path, responder)
    }

    /// Adds a `DELETE` route.
    pub fn delete(&mut self, path: &str, responder: impl Responder) -> &mut Self {
        self.add(Method::DELETE, path, responder)
    }

    /// Adds an `OPTIONS` route (instead of the router's automatic answer).
    pub fn options(&mut self, path: &str, responder: impl Responder) -> &mut Self {
        self.add(Method::OPTIONS, path, responder)
    }

    /// Adds a route for every method (Vapor's `all`); a route for the
    /// request's own method on the same path wins.
    pub fn any(&mut self, path: &str, responder: impl Responder) -> &mut Self {
        self.add_shared(ANY, path, Arc::new(responder));
        self
    }

    /// A builder for routes under `path` (Vapor's `grouped("v1")`).
    pub fn grouped(&mut self, path: &str) -> RouteBuilder<'_> {
        RouteBuilder {
            prefix: join(&self.prefix, path),
            middleware: self.middleware.clone(),
            router: self.router,
        }
    }

    /// A builder whose routes run behind `middleware` too, inside this
    /// builder's own (Vapor's `grouped(middleware)`).
    pub fn grouped_with(&mut self, middleware: impl Middleware) -> RouteBuilder<'_> {
        let mut list = self.middleware.clone();
        list.push(Arc::new(middleware));
        RouteBuilder {
            prefix: self.prefix.clone(),
            middleware: list,
            router: self.router,
        }
    }

    /// Adds the routes `build` adds under `path` (Vapor's `group("v1") { }`).
    pub fn group(&mut self, path: &str, build: impl FnOnce(&mut RouteBuilder<'_>)) -> &mut Self {
        build(&mut self.grouped(path));
        self
    }

    /// Adds the routes `build` adds behind `middleware`, which wraps those
    /// routes only (Vapor's `group(middleware) { }`).
    pub fn group_with(
        &mut self,
        middleware: impl Middleware,
        build: impl FnOnce(&mut RouteBuilder<'_>),
    ) -> &mut Self {
        build(&mut self.grouped_with(middleware));
        self
    }

    /// Adds a resource's routes under `path` (Vapor's `resource("posts", ...)`);
    /// see [`Resource`].
    pub fn resource<C, I>(&mut self, path: &str, resource: Resource<C, I>) -> &mut Self
    where
        C: Send + Sync + 'static,
        I: std::str::FromStr + Send + 'static,
    {
        for (method, route, responder) in resource.routes(path) {
            self.add_shared(method, &route, responder);
        }
        self
    }

    /// Adds the routes of `collection` (Vapor's `collection(_:)`).
    pub fn collection(&mut self, collection: &impl RouteCollection) -> &mut Self {
        collection.build(self);
        self
    }
}

/// A set of routes added together (Vapor's `RouteCollection`).
pub trait RouteCollection {
    /// Adds the routes to `routes`.
    fn build(&self, routes: &mut RouteBuilder<'_>);
}
