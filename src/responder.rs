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
//! covered by the `error` middleware instead.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::abort::Abort;
use crate::body::Body;
use crate::error::Error;
use crate::response::ResponseRepresentable;

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

impl<F, Fut> Responder for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: ResponseRepresentable,
{
    fn respond(&self, request: Request) -> ResponseFuture {
        match catch_unwind(AssertUnwindSafe(|| self(request))) {
            Ok(future) => Box::pin(Guarded { inner: future }),
            Err(panic) => Box::pin(std::future::ready(panicked(panic))),
        }
    }
}

pin_project_lite::pin_project! {
    /// A handler's future, converted into a response, with a panic turned into a 500.
    struct Guarded<F> {
        #[pin]
        inner: F,
    }
}

impl<F> Future for Guarded<F>
where
    F: Future,
    F::Output: ResponseRepresentable,
{
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(value.into_response()),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(panicked(panic)),
        }
    }
}

/// A handler panicked: the message, as an error.
#[derive(Debug)]
pub(crate) struct Panicked(pub(crate) String);

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "handler panicked: {}", self.0)
    }
}

impl std::error::Error for Panicked {}

/// The 500 for a panic whose payload is `panic`.
pub(crate) fn panicked(panic: Box<dyn Any + Send>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_owned());
    log::error!("handler panicked ({message}); answering 500");
    Abort::server_error()
        .with_source(Panicked(message))
        .into_response()
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
