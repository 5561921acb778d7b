//! A small router: method + path (with `{param}` and `{*rest}` segments) to a
//! responder. The router is itself a [`Responder`].
//!
//! ```
//! use handover::{Body, Request, RequestExt, Response, Router};
//! let router = Router::new()
//!     .get("/", |_req: Request| async { Response::new(Body::from("home")) })?
//!     .get("/users/{id}", |req: Request| async move {
//!         let id = req.param("id").unwrap_or("");
//!         Response::new(Body::from(format!("user {id}")))
//!     })?;
//! # Ok::<(), handover::Error>(())
//! ```
//!
//! No match gives 404; a path that exists under other methods gives 405 with
//! `Allow`. `HEAD` falls back to the `GET` route (the server drops the body).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use http::{header, HeaderValue, Method, StatusCode};

use crate::error::{Error, ErrorKind};
use crate::responder::{status, text, Request, Responder, ResponseFuture, SharedResponder};

/// Path parameters of the matched route, stored in the request's extensions
/// when the route has any; read them with [`RequestExt::param`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the router adds to a request.
pub trait RequestExt {
    /// The value of path parameter `name` (`{name}` or `{*name}` in the
    /// route), if the matched route has it.
    fn param(&self, name: &str) -> Option<&str>;
}

impl<B> RequestExt for http::Request<B> {
    fn param(&self, name: &str) -> Option<&str> {
        self.extensions().get::<Params>()?.get(name)
    }
}

/// Method + path routing to responders.
#[derive(Default)]
pub struct Router {
    // BTreeMap keeps the `Allow` header in a stable order.
    routes: BTreeMap<String, matchit::Router<SharedResponder>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("methods", &self.routes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Router {
    /// An empty router: every request gets 404.
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds `responder` for `method` and `path`.
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
        let table = self.routes.entry(method.as_str().to_owned()).or_default();
        table
            .insert(path, Arc::new(responder))
            .map_err(|e| Error::new(ErrorKind::Route, format!("route {method} {path}: {e}")))?;
        Ok(self)
    }

    /// Adds a `GET` route.
    ///
    /// # Errors
    /// As [`Router::route`].
    pub fn get(self, path: &str, responder: impl Responder) -> Result<Router, Error> {
        self.route(Method::GET, path, responder)
    }

    /// Adds a `POST` route.
    ///
    /// # Errors
    /// As [`Router::route`].
    pub fn post(self, path: &str, responder: impl Responder) -> Result<Router, Error> {
        self.route(Method::POST, path, responder)
    }

    /// Adds a `PUT` route.
    ///
    /// # Errors
    /// As [`Router::route`].
    pub fn put(self, path: &str, responder: impl Responder) -> Result<Router, Error> {
        self.route(Method::PUT, path, responder)
    }

    /// Adds a `DELETE` route.
    ///
    /// # Errors
    /// As [`Router::route`].
    pub fn delete(self, path: &str, responder: impl Responder) -> Result<Router, Error> {
        self.route(Method::DELETE, path, responder)
    }

    fn lookup(&self, method: &str, path: &str) -> Option<(SharedResponder, Params)> {
        let table = self.routes.get(method)?;
        let found = table.at(path).ok()?;
        let params = found
            .params
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Some((found.value.clone(), Params(params)))
    }
}

impl Responder for Router {
    fn respond(&self, mut request: Request) -> ResponseFuture {
        let path = request.uri().path();
        let method = request.method();
        let found = self.lookup(method.as_str(), path).or_else(|| {
            (method == Method::HEAD)
                .then(|| self.lookup(Method::GET.as_str(), path))
                .flatten()
        });
        if let Some((responder, params)) = found {
            // Routes without parameters leave the extensions alone (no allocation).
            if !params.0.is_empty() {
                request.extensions_mut().insert(params);
            }
            return responder.respond(request);
        }
        let path = request.uri().path();
        let allowed: Vec<&str> = self
            .routes
            .iter()
            .filter(|(_, table)| table.at(path).is_ok())
            .map(|(m, _)| m.as_str())
            .collect();
        let response = if allowed.is_empty() {
            text(StatusCode::NOT_FOUND, "Not Found\n")
        } else {
            let mut r = status(StatusCode::METHOD_NOT_ALLOWED);
            if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            r
        };
        Box::pin(std::future::ready(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Body;
    use crate::drain::block_on;
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

    #[test]
    fn routes_by_method_and_path() {
        let r = router();
        let cases = [
            (Method::GET, "/", 200, "root"),
            (Method::GET, "/?x=1", 200, "root"),
            (Method::GET, "/users/42", 200, "user 42"),
            (Method::POST, "/users/42", 200, "posted"),
            (Method::HEAD, "/users/7", 200, "user 7"),
            (Method::GET, "/files/a/b.txt", 200, "a/b.txt"),
            (Method::GET, "/nope", 404, "Not Found\n"),
            (Method::GET, "/users", 404, "Not Found\n"),
        ];
        for (m, uri, code, want) in cases {
            let resp = call(&r, m.clone(), uri);
            assert_eq!(resp.status().as_u16(), code, "{m} {uri}");
            assert_eq!(body(resp), want, "{m} {uri}");
        }
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let resp = call(&router(), Method::DELETE, "/users/1");
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(resp.headers()[header::ALLOW], "GET, POST");
    }

    #[test]
    fn conflicting_routes_are_errors() {
        let ok = |_r: Request| async { Response::new(Body::empty()) };
        let e = Router::new()
            .get("/a", ok)
            .unwrap()
            .get("/a", ok)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Route);
        assert!(e.to_string().starts_with("route GET /a: "), "{e}");
    }
}
