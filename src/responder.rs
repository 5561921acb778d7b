//! Framework-agnostic request handling over `http` types (Vapor's `Responder`).
//!
//! A request arrives with its body already buffered (up to `body_limit`; the
//! adapter answers 413 beyond it). A response's [`Body`] is whole bytes
//! (Vapor's `.data`), a stream of chunks (Vapor's `.chunked`), or any other
//! `http_body::Body`.
//!
//! Any `Fn(Request) -> impl Future<Output = Response>` is a responder:
//!
//! ```
//! use handover::{Body, Request, Responder, Response};
//! let hello = |_req: Request| async { Response::new(Body::from("Hello")) };
//! fn takes_responder(_: impl Responder) {}
//! takes_responder(hello);
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::body::Body;

/// A request with its body buffered.
pub type Request = http::Request<Bytes>;
/// A response with a [`Body`].
pub type Response = http::Response<Body>;
/// The boxed future a [`Responder`] returns.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;
/// A responder shared between server threads.
pub type SharedResponder = Arc<dyn Responder>;

/// Turns requests into responses. Implemented for closures and [`Router`](crate::Router).
pub trait Responder: Send + Sync + 'static {
    /// Answers one request.
    fn respond(&self, request: Request) -> ResponseFuture;
}

impl<F, Fut> Responder for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn respond(&self, request: Request) -> ResponseFuture {
        Box::pin(self(request))
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
