//! Middleware (Vapor's `Middleware.respond(to:chainingTo:)`): code that runs
//! around a responder, sees the request first and the response last.
//!
//! A list of middleware is ordered outermost first: the first one sees the
//! request first. Install them on the whole app (the config's
//! `[app] middleware` list, and [`Droplet::with_middleware`](crate::Droplet::with_middleware)
//! for your own), or on a group of routes only
//! ([`RouteBuilder::group_with`](crate::RouteBuilder::group_with)). With
//! none installed, requests go straight to the router: nothing is added.
//!
//! Built in, by the names the config uses:
//!
//! | name | type | does |
//! | --- | --- | --- |
//! | `error` | [`ErrorMiddleware`] | renders [`Abort`](crate::Abort)s as JSON (HTML when `Accept` prefers it), with debug detail outside production; turns panics into 500 |
//! | `date` | [`DateMiddleware`] | sets `Date` (RFC 1123) when missing |
//! | `file` | [`FileMiddleware`] | serves the public directory for paths no route matched |
//! | `cors` | [`CorsMiddleware`] | answers preflights, adds `Access-Control-*` headers |
//!
//! Writing one:
//!
//! ```
//! use handover::http::HeaderValue;
//! use handover::middleware::{Middleware, Next};
//! use handover::{Request, ResponseFuture};
//!
//! /// Adds `X-Powered-By` to every response.
//! struct PoweredBy;
//!
//! impl Middleware for PoweredBy {
//!     fn respond(&self, request: Request, next: Next) -> ResponseFuture {
//!         Box::pin(async move {
//!             let mut response = next.respond(request).await;
//!             response
//!                 .headers_mut()
//!                 .insert("x-powered-by", HeaderValue::from_static("handover"));
//!             response
//!         })
//!     }
//! }
//!
//! // The same as a closure:
//! let powered_by = handover::middleware::from_fn(|request, next: Next| async move {
//!     let mut response = next.respond(request).await;
//!     response.headers_mut().insert("x-powered-by", HeaderValue::from_static("handover"));
//!     response
//! });
//! # let _ = powered_by;
//! ```

pub(crate) mod cors;
mod date;
mod error;
mod file;

pub use cors::CorsMiddleware;
pub use date::DateMiddleware;
pub use error::ErrorMiddleware;
pub use file::FileMiddleware;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::error::Error;
use crate::responder::{Request, Responder, Response, ResponseFuture, SharedResponder};

/// Code that runs around a responder: it may answer itself, change the
/// request, call [`Next::respond`] (the rest of the chain), and change the
/// response.
pub trait Middleware: Send + Sync + 'static {
    /// Answers `request`, usually by passing it on to `next`.
    fn respond(&self, request: Request, next: Next) -> ResponseFuture;
}

impl<M: Middleware + ?Sized> Middleware for Arc<M> {
    fn respond(&self, request: Request, next: Next) -> ResponseFuture {
        (**self).respond(request, next)
    }
}

/// The rest of the chain after a middleware: further middleware, then the
/// responder.
pub struct Next {
    inner: SharedResponder,
}

impl Next {
    /// Passes `request` on.
    pub fn respond(self, request: Request) -> ResponseFuture {
        self.inner.respond(request)
    }
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Next(..)")
    }
}

/// A middleware from a closure taking the request and [`Next`].
pub fn from_fn<F, Fut>(f: F) -> FromFn<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    FromFn(f)
}

/// The middleware [`from_fn`] makes.
#[derive(Clone)]
pub struct FromFn<F>(F);

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FromFn(..)")
    }
}

impl<F, Fut> Middleware for FromFn<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn respond(&self, request: Request, next: Next) -> ResponseFuture {
        Box::pin((self.0)(request, next))
    }
}

/// A shared middleware, as lists of them hold it.
pub(crate) type SharedMiddleware = Arc<dyn Middleware>;

/// One middleware in front of a responder.
struct Chained {
    middleware: SharedMiddleware,
    next: SharedResponder,
}

impl Responder for Chained {
    fn respond(&self, request: Request) -> ResponseFuture {
        self.middleware.respond(
            request,
            Next {
                inner: self.next.clone(),
            },
        )
    }

    fn check(&self) -> Result<(), Error> {
        self.next.check()
    }
}

/// `responder` wrapped in `middleware`, the first outermost; `responder`
/// itself when the list is empty.
pub(crate) fn wrap(middleware: &[SharedMiddleware], responder: SharedResponder) -> SharedResponder {
    middleware.iter().rev().fold(responder, |next, m| {
        Arc::new(Chained {
            middleware: m.clone(),
            next,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::block_on;
    use http::HeaderValue;

    /// Appends its name to `x-trace` on the way in (request) and out (response).
    fn tracer(name: &'static str) -> SharedMiddleware {
        Arc::new(from_fn(move |mut req: Request, next: Next| async move {
            let seen = req
                .headers()
                .get("x-trace")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            req.headers_mut().insert(
                "x-trace",
                HeaderValue::from_str(&format!("{seen}>{name}")).unwrap(),
            );
            let mut resp = next.respond(req).await;
            let out = resp
                .headers()
                .get("x-trace")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            resp.headers_mut().insert(
                "x-trace",
                HeaderValue::from_str(&format!("{out}<{name}")).unwrap(),
            );
            resp
        }))
    }

    #[test]
    fn first_is_outermost() {
        let inner: SharedResponder = Arc::new(|req: Request| async move {
            let seen = req.headers()["x-trace"].to_str().unwrap().to_owned();
            let mut r = Response::new(crate::Body::from(seen));
            r.headers_mut()
                .insert("x-trace", HeaderValue::from_static("h"));
            r
        });
        let chain = wrap(&[tracer("a"), tracer("b")], inner);
        let resp = block_on(chain.respond(Request::new(bytes::Bytes::new())));
        assert_eq!(resp.headers()["x-trace"], "h<b<a");
        let body = resp.into_body().try_into_bytes().unwrap();
        assert_eq!(body, ">a>b");
    }

    #[test]
    fn an_empty_list_is_the_responder_itself() {
        let inner: SharedResponder = Arc::new(|_: Request| async { "x" });
        let same = wrap(&[], inner.clone());
        assert!(Arc::ptr_eq(&inner, &same));
    }
}
