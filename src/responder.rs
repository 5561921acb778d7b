//! Framework-agnostic request handling over `http` types (Vapor's `Responder`).
//!
//! A request arrives with its body already buffered (up to `body_limit`; the
//! adapter answers 413 beyond it). A response's [`Body`] is whole bytes
//! (Vapor's `.data`), a stream of chunks (Vapor's `.chunked`), or any other
//! `http_body::Body`.
//!
//! Any `Fn(Request) -> impl Future<Output = T>` is a responder, where `T`
//! is a [`Response`] or anything else that converts into one
//! ([`ResponseRepresentable`]):
//!
//! ```
//! use handover::{Body, Request, Responder, Response};
//! let hello = |_req: Request| async { Response::new(Body::from("Hello")) };
//! let text = |_req: Request| async { "Hello" };
//! fn takes_responder(_: impl Responder) {}
//! takes_responder(hello);
//! takes_responder(text);
//! ```
//!
//! A handler closure that panics (while it is called or while its future
//! runs) answers 500 (an [`Abort`](crate::Abort) whose debug reason is the
//! panic message) instead of taking down the connection or the process. The
//! check costs no allocation; a [`Responder`] you implement yourself is
//! covered by the `error` middleware instead. (The closures' implementation
//! lives in the `handler` module.)

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::body::Body;
use crate::error::Error;

/// A request with its body buffered.
pub type Request = http::Request<Bytes>;
/// A response with a [`Body`].
pub type Response = http::Response<Body>;
/// The boxed future a [`Responder`] returns.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;
/// A responder shared between server threads.
pub type SharedResponder = Arc<dyn Responder>;

/// Turns requests into responses (Vapor's `Responder`). Implemented for
/// closures and [`Router`](crate::Router).
pub trait Responder: Send + Sync + 'static {
    /// Answers one request.
    fn respond(&self, request: Request) -> ResponseFuture;

    /// Reports what is wrong with this responder before it serves: a
    /// [`Router`](crate::Router) returns its route conflicts here. The
    /// [`Droplet`](crate::Droplet) calls it once, before taking any socket.
    ///
    /// # Errors
    /// [`ErrorKind::Route`](crate::ErrorKind::Route) naming every conflict.
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// A response with `status` and a plain-text body.
pub fn text(status: http::StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// An empty response with `status`.
pub fn status(status: http::StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}
