//! The router: method + path to responders, with Vapor's route builder
//! (groups, middleware per group, resources, collections). The router is
//! itself a [`Responder`].
//!
//! ```
//! use handover::{Json, Request, RequestExt, Router, Abort};
//! let router = Router::build(|r| {
//!     r.get("hello", |_: Request| async { Json(serde_json::json!({"hello": "world"})) });
//!     r.group("v1", |v1| {
//!         v1.get("users/:id", |req: Request| async move {
//!             let id: u64 = req.parameter("id")?; // 404 when not a number
//!             Ok::<_, Abort>(format!("user {id}"))
//!         });
//!     });
//! });
//! assert!(router.check().is_ok());
//! let listed: Vec<(&str, &str)> = router.routes().collect();
//! assert_eq!(listed, [("GET", "/hello"), ("GET", "/v1/users/{id}")]);
//! ```
//!
//! Paths are written `"users/:id"` (Vapor) or `"/users/{id}"`; a last
//! segment `*` (or `{*name}`) takes the rest of the path, read as
//! `req.param("path")` for `*`. Static segments win over parameters, which
//! win over catch-alls. A trailing slash and empty segments are ignored, on
//! routes and on requests.
//!
//! Answers the router gives itself: `HEAD` falls back to the `GET` route
//! (the server drops the body); `OPTIONS` on a path that has routes under
//! other methods answers 200 with `Allow`; another method on such a path
//! answers 405 with `Allow`; anything else is 404 (which the `file`
//! middleware may answer from the public directory). 404 and 405 are made
//! from an [`Abort`](crate::Abort), so the `error` middleware renders them.
//!
//! Two ways to add routes: [`Router::build`] collects routes with a
//! [`RouteBuilder`] and reports conflicts once, from
//! [`Router::check`] (which [`Droplet::run`](crate::Droplet::run) calls
//! before serving); the chained [`Router::get`] and friends check each route
//! at once and return the conflict as an error.

use std::fmt;
use std::sync::Arc;

use http::{header, HeaderValue, Method, StatusCode};

use crate::abort::{route_missing_response, Abort};
use crate::error::{Error, ErrorKind};
use crate::input::Params;
use crate::responder::{Request, Responder, ResponseFuture, SharedResponder};
use crate::websocket::{SocketHandler, SocketRoute};

mod builder;

pub use builder::{RouteBuilder, RouteCollection};

/// The key of routes that take any method.
const ANY: &str = "*";

/// One method's routes: every route in matchit's tree, and the paths
/// without parameters once more, sorted, to be found by a binary search
/// (what the tree would find for them: a static path wins over a
/// parameter in it, at a fraction of the tree's cost).
#[derive(Default)]
struct Table {
    exact: Vec<(Box<str>, SharedResponder)>,
    tree: matchit::Router<SharedResponder>,
}

impl Table {
    fn insert(&mut self, path: &str, responder: SharedResponder) -> Result<(), String> {
        self.tree
            .insert(path, responder.clone())
            .map_err(|e| e.to_string())?;
        if !path.contains(['{', '}']) {
            // The tree refused a duplicate above, so the path is new here.
            let at = self.exact.partition_point(|(p, _)| p.as_ref() < path);
            self.exact.insert(at, (path.into(), responder));
        }
        Ok(())
    }

    fn exact(&self, path: &str) -> Option<&SharedResponder> {
        // A few paths: compared by length first, most differ there.
        if self.exact.len() <= 16 {
            return self
                .exact
                .iter()
                .find(|(p, _)| p.len() == path.len() && p.as_ref() == path)
                .map(|(_, r)| r);
        }
        let at = self
            .exact
            .binary_search_by(|(p, _)| p.as_ref().cmp(path))
            .ok()?;
        Some(&self.exact[at].1)
    }

    fn find(&self, path: &str) -> Option<(&SharedResponder, Params)> {
        if let Some(responder) = self.exact(path) {
            return Some((responder, Params(Vec::new())));
        }
        let found = self.tree.at(path).ok()?;
        // A route without parameters allocates nothing.
        let params = if found.params.is_empty() {
            Vec::new()
        } else {
            found
                .params
                .iter()
                .map(|(k, v)| {
                    let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                    (k.to_owned(), v.into_owned())
                })
                .collect()
        };
        Some((found.value, Params(params)))
    }
}

/// Method + path routing to responders.
#[derive(Default)]
pub struct Router {
    /// Each method's routes, methods in the order first routed (found by
    /// comparing `Method`s: a standard one compares as a number).
    routes: Vec<(Method, Table)>,
    /// The routes that take any method.
    any: Option<Table>,
    listing: Vec<(String, String)>,
    conflicts: Vec<String>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.listing)
            .field("conflicts", &self.conflicts)
            .finish()
    }
}

impl Router {
    /// An empty router: every request gets 404.
    pub fn new() -> Router {
        Router::default()
    }

    /// A router with the routes `build` adds. Conflicts are kept and reported
    /// once by [`Router::check`].
    pub fn build(build: impl FnOnce(&mut RouteBuilder<'_>)) -> Router {
        let mut router = Router::new();
        build(&mut router.builder());
        router
    }

    /// A builder adding routes to this router (prefix `/`, no middleware).
    pub fn builder(&mut self) -> RouteBuilder<'_> {
        RouteBuilder::new(self)
    }

    /// Adds `responder` for `method` and `path`, checking the route at once.
    ///
    /// # Errors
    /// [`ErrorKind::Route`] naming the route when the path is malformed or
    /// conflicts with one already added.
    pub fn route(
        mut self,
        method: Method,
        path: &str,
        responder: impl Responder,
    ) -> Result<Router, Error> {
        let path = join("", path);
        match self.insert(method.as_str(), path, Arc::new(responder)) {
            Ok(()) => Ok(self),
            Err(e) => Err(Error::new(ErrorKind::Route, e)),
        }
    }

    /// Adds a `GET` route, checking it at once.
    ///
    /// # Errors
    /// As [`Router::route`].
    pub fn get(self, path: &str, responder: impl Responder) -> Result<Router, Error> {
        self.route(Method::GET, path, responder)
    }

    /// Adds a `POST` route, checking it at once.
    ///
    /// # Errors
    /// As [`Router::route`].
    pub fn post(self, path: &str, responder: impl Responder) -> Result<Router, Error> {
        self.route(Method::POST, path, responder)
    }

    /// Adds a `PUT` route, checking it at once.
    ///
    /// # Errors
    /// As [`Router::route`].
    pub fn put(self, path: &str, responder: impl Responder) -> Result<Router, Error> {
        self.route(Method::PUT, path, responder)
    }

    /// Adds a `DELETE` route, checking it at once.
    ///
    /// # Errors
    /// As [`Router::route`].
    pub fn delete(self, path: &str, responder: impl Responder) -> Result<Router, Error> {
        self.route(Method::DELETE, path, responder)
    }

    /// Adds a socket route (Vapor's `drop.socket`): a WebSocket handshake
    /// on `GET path` is answered 101 and `handler` gets the request and the
    /// [`WebSocket`](crate::WebSocket); any other request gets 426 (400 for
    /// a malformed key). Checked at once.
    ///
    /// # Errors
    /// As [`Router::route`].
    pub fn socket(self, path: &str, handler: impl SocketHandler) -> Result<Router, Error> {
        self.route(Method::GET, path, SocketRoute::new(handler))
    }

    /// Every route, as (method, path) in the order added; `*` is any method
    /// (what `api-template --routes` prints, like `vapor run routes`).
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.listing.iter().map(|(m, p)| (m.as_str(), p.as_str()))
    }

    /// The conflicts and malformed paths met while building, all in one error.
    ///
    /// # Errors
    /// [`ErrorKind::Route`] naming each bad route, `; `-separated.
    pub fn check(&self) -> Result<(), Error> {
        if self.conflicts.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Route,
            format!(
                "{} bad route(s): {}",
                self.conflicts.len(),
                self.conflicts.join("; ")
            ),
        ))
    }

    fn insert(
        &mut self,
        method: &str,
        path: String,
        responder: SharedResponder,
    ) -> Result<(), String> {
        let table = if method == ANY {
            self.any.get_or_insert_with(Table::default)
        } else {
            let parsed = Method::from_bytes(method.as_bytes())
                .map_err(|e| format!("route {method} {path}: {e}"))?;
            let at = match self.routes.iter().position(|(m, _)| *m == parsed) {
                Some(at) => at,
                None => {
                    self.routes.push((parsed, Table::default()));
                    self.routes.len() - 1
                }
            };
            &mut self.routes[at].1
        };
        table
            .insert(&path, responder)
            .map_err(|e| format!("route {method} {path}: {e}"))?;
        self.listing.push((method.to_owned(), path));
        Ok(())
    }

    fn table(&self, method: &Method) -> Option<&Table> {
        self.routes
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, t)| t)
    }

    fn find(&self, method: &Method, path: &str) -> Option<(&SharedResponder, Params)> {
        self.table(method)
            .and_then(|t| t.find(path))
            .or_else(|| {
                (method == Method::HEAD)
                    .then(|| self.table(&Method::GET))
                    .flatten()
                    .and_then(|t| t.find(path))
            })
            .or_else(|| self.any.as_ref().and_then(|t| t.find(path)))
    }

    /// The answer when no route takes the method: 200 with `Allow` for
    /// `OPTIONS`, 405 with `Allow`, or 404.
    fn unrouted(&self, method: &Method, path: &str) -> crate::responder::Response {
        let mut allowed: Vec<&str> = self
            .routes
            .iter()
            .filter(|(_, table)| table.tree.at(path).is_ok())
            .map(|(m, _)| m.as_str())
            .collect();
        if allowed.is_empty() {
            return route_missing_response();
        }
        if allowed.contains(&"GET") && !allowed.contains(&"HEAD") {
            allowed.push("HEAD");
        }
        if !allowed.contains(&"OPTIONS") {
            allowed.push("OPTIONS");
        }
        allowed.sort_unstable();
        let allow = HeaderValue::from_str(&allowed.join(", ")).ok();
        let mut response = if method == Method::OPTIONS {
            crate::responder::status(StatusCode::OK)
        } else {
            Abort::new(StatusCode::METHOD_NOT_ALLOWED).into_response()
        };
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
        response
    }
}

/// Whether a request path needs a trailing slash or empty segments removed.
fn untidy(path: &str) -> bool {
    path.len() > 1 && (path.ends_with('/') || path.contains("//"))
}

impl Responder for Router {
    fn respond(&self, mut request: Request) -> ResponseFuture {
        let tidied;
        let mut path = request.uri().path();
        if untidy(path) {
            tidied = tidy(path);
            path = &tidied;
        }
        if let Some((responder, params)) = self.find(request.method(), path) {
            // Routes without parameters leave the extensions alone (no allocation).
            if !params.0.is_empty() {
                request.extensions_mut().insert(params);
            }
            return responder.respond(request);
        }
        let response = self.unrouted(request.method(), path);
        Box::pin(std::future::ready(response))
    }

    fn check(&self) -> Result<(), Error> {
        Router::check(self)
    }
}

/// A request path without empty segments or a trailing slash (its segments
/// otherwise as they are: a request's `:x` or `*` is no parameter).
fn tidy(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `prefix` and `path` as one route path: `/`-separated, no empty segments,
/// Vapor's `:name` as `{name}` and a last `*` as `{*path}`.
pub(crate) fn join(prefix: &str, path: &str) -> String {
    let mut out = String::new();
    for segment in prefix.split('/').chain(path.split('/')) {
        if segment.is_empty() {
            continue;
        }
        out.push('/');
        match segment.strip_prefix(':') {
            Some(name) if !name.is_empty() => {
                out.push('{');
                out.push_str(name);
                out.push('}');
            }
            _ if segment == "*" => out.push_str("{*path}"),
            _ => out.push_str(segment),
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Body;
    use crate::drain::block_on;
    use crate::input::RequestExt;
    use crate::middleware::{from_fn, Middleware, Next};
    use crate::responder::Response;

    fn call(r: &Router, method: Method, uri: &str) -> Response {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(bytes::Bytes::new())
            .unwrap();
        block_on(r.respond(req))
    }

    fn body(r: Response) -> String {
        let bytes = r.into_body().try_into_bytes().expect("whole bytes");
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn router() -> Router {
        Router::new()
            .get("/", |_r: Request| async {
                Response::new(Body::from("root"))
            })
            .unwrap()
            .get("/users/{id}", |r: Request| async move {
                let id = r.param("id").unwrap().to_owned();
                Response::new(Body::from(format!("user {id}")))
            })
            .unwrap()
            .post("/users/{id}", |_r: Request| async {
                Response::new(Body::from("posted"))
            })
            .unwrap()
            .get("/files/{*rest}", |r: Request| async move {
                assert_eq!(r.param("nope"), None);
                let rest = r.param("rest").unwrap().to_owned();
                Response::new(Body::from(rest))
            })
            .unwrap()
    }

    const NOT_FOUND: &str = r#"{"error":true,"reason":"Not Found"}"#;

    #[test]
    fn routes_by_method_and_path() {
        let r = router();
        let cases = [
            (Method::GET, "/", 200, "root"),
            (Method::GET, "/?x=1", 200, "root"),
            (Method::GET, "/users/42", 200, "user 42"),
            (Method::GET, "/users/42/", 200, "user 42"),
            (Method::GET, "//users//42", 200, "user 42"),
            (Method::GET, "/users/:x/", 200, "user :x"),
            (Method::GET, "/files/a//*/", 200, "a/*"),
            (Method::GET, "/users/a%20b", 200, "user a b"),
            (Method::POST, "/users/42", 200, "posted"),
            (Method::HEAD, "/users/7", 200, "user 7"),
            (Method::GET, "/files/a/b.txt", 200, "a/b.txt"),
            (Method::GET, "/nope", 404, NOT_FOUND),
            (Method::GET, "/users", 404, NOT_FOUND),
        ];
        for (m, uri, code, want) in cases {
            let resp = call(&r, m.clone(), uri);
            assert_eq!(resp.status().as_u16(), code, "{m} {uri}");
            assert_eq!(body(resp), want, "{m} {uri}");
        }
    }

    #[test]
    fn static_paths_are_found_exactly_next_to_parameters() {
        let text = |t: &'static str| move |_: Request| async move { Response::new(Body::from(t)) };
        let r = Router::new()
            .get("/posts/{id}", |r: Request| async move {
                Response::new(Body::from(format!("post {}", r.param("id").unwrap())))
            })
            .unwrap()
            .get("/posts/new", text("new form"))
            .unwrap()
            .get("/posts", text("index"))
            .unwrap()
            .get("/a", text("a"))
            .unwrap()
            .get("/b", text("b"))
            .unwrap()
            .post("/posts", text("stored"))
            .unwrap();
        let cases = [
            (Method::GET, "/posts/new", 200, "new form"),
            (Method::GET, "/posts/7", 200, "post 7"),
            (Method::GET, "/posts", 200, "index"),
            (Method::GET, "/posts/", 200, "index"),
            (Method::HEAD, "/posts", 200, "index"),
            (Method::GET, "/a", 200, "a"),
            (Method::GET, "/b", 200, "b"),
            (Method::POST, "/posts", 200, "stored"),
            (Method::POST, "/posts/new", 405, ""),
            (Method::GET, "/c", 404, NOT_FOUND),
        ];
        for (m, uri, code, want) in cases {
            let resp = call(&r, m.clone(), uri);
            assert_eq!(resp.status().as_u16(), code, "{m} {uri}");
            if code != 405 {
                assert_eq!(body(resp), want, "{m} {uri}");
            }
        }
    }

    #[test]
    fn wrong_method_is_405_and_options_200_with_allow() {
        let resp = call(&router(), Method::DELETE, "/users/1");
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()[header::ALLOW], "GET, HEAD, OPTIONS, POST");
        let resp = call(&router(), Method::OPTIONS, "/users/1");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::ALLOW], "GET, HEAD, OPTIONS, POST");
        assert_eq!(body(resp), "");
        let resp = call(&router(), Method::OPTIONS, "/nowhere");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert!(crate::abort::route_missing(&resp));
    }

    #[test]
    fn conflicting_routes_are_errors_at_once_in_the_chained_form() {
        let ok = |_r: Request| async { Response::new(Body::empty()) };
        let e = Router::new()
            .get("/a", ok)
            .unwrap()
            .get("/a/", ok)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Route);
        assert!(e.to_string().starts_with("route GET /a: "), "{e}");
    }

    #[test]
    fn the_builder_collects_conflicts_for_check() {
        let ok = |_r: Request| async { "" };
        let r = Router::build(|r| {
            r.get("a", ok);
            r.get("/a", ok);
            r.get("b/:x", ok);
            r.get("b/:y", ok);
            r.post("a", ok);
        });
        let e = r.check().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Route);
        let text = e.to_string();
        assert!(text.starts_with("2 bad route(s): route GET /a: "), "{text}");
        assert!(text.contains("; route GET /b/{y}: "), "{text}");
        assert_eq!(
            r.routes().collect::<Vec<_>>(),
            [("GET", "/a"), ("GET", "/b/{x}"), ("POST", "/a")]
        );
        assert!(Router::new().check().is_ok());
    }

    #[test]
    fn paths_in_vapor_and_matchit_syntax() {
        let cases = [
            ("", "", "/"),
            ("", "hello", "/hello"),
            ("v1", "/users/:id/", "/v1/users/{id}"),
            ("/v1/", "files/*", "/v1/files/{*path}"),
            ("", "a//{b}", "/a/{b}"),
        ];
        for (prefix, path, want) in cases {
            assert_eq!(join(prefix, path), want, "{prefix:?} {path:?}");
        }
    }

    fn tag(name: &'static str) -> impl Middleware {
        from_fn(move |req: Request, next: Next| async move {
            let mut resp = next.respond(req).await;
            resp.headers_mut()
                .append("x-mw", HeaderValue::from_static(name));
            resp
        })
    }

    fn tags(r: &Response) -> Vec<&str> {
        r.headers()
            .get_all("x-mw")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn groups_scope_prefixes_and_middleware() {
        let ok = |_r: Request| async { "ok" };
        let r = Router::build(|r| {
            r.get("open", ok);
            r.group("v1", |v1| {
                v1.get("open", ok);
                v1.group_with(tag("auth"), |auth| {
                    auth.get("me", ok);
                    auth.group_with(tag("inner"), |inner| {
                        inner.patch("deep", ok);
                    });
                });
                v1.grouped_with(tag("other")).options("x", ok);
            });
            r.grouped("v2").grouped("x").any("all", ok);
        });
        r.check().unwrap();
        assert!(tags(&call(&r, Method::GET, "/open")).is_empty());
        assert!(tags(&call(&r, Method::GET, "/v1/open")).is_empty());
        assert_eq!(tags(&call(&r, Method::GET, "/v1/me")), ["auth"]);
        // Inner middleware runs inside outer: its header is added first.
        assert_eq!(
            tags(&call(&r, Method::PATCH, "/v1/deep")),
            ["inner", "auth"]
        );
        assert_eq!(tags(&call(&r, Method::OPTIONS, "/v1/x")), ["other"]);
        for m in [Method::GET, Method::POST, Method::DELETE, Method::PATCH] {
            assert_eq!(call(&r, m, "/v2/x/all").status(), StatusCode::OK);
        }
        assert_eq!(call(&r, Method::GET, "/me").status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_panicking_handler_is_500() {
        let r = Router::build(|r| {
            r.get("boom", |_: Request| async {
                if true {
                    panic!("boom");
                }
                "never"
            });
            r.get("now", |_: Request| -> std::future::Ready<&'static str> {
                panic!("at once")
            });
        });
        for uri in ["/boom", "/now"] {
            let resp = call(&r, Method::GET, uri);
            assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
            assert_eq!(
                body(resp),
                r#"{"error":true,"reason":"Internal Server Error"}"#
            );
        }
    }
}
