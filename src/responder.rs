//! Framework-agnostic request handling over `http` types (Vapor's `Responder`).
//!
//! A request arrives with its body already buffered (up to `body_limit`; the
//! adapter answers 413 beyond it). A response body is either whole bytes
//! ([`Body::Data`], Vapor's `.data`) or a stream of chunks ([`Body::Chunked`],
//! Vapor's `.chunked`).
//!
//! Any `Fn(Request) -> impl Future<Output = Response>` is a responder:
//!
//! ```
//! use handover::{Body, Request, Responder, Response};
//! let hello = |_req: Request| async { Response::new(Body::from("Hello")) };
//! fn takes_responder(_: impl Responder) {}
//! takes_responder(hello);
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_core::Stream;

use crate::error::BoxError;

/// A request with its body buffered.
pub type Request = http::Request<Bytes>;
/// A response with a [`Body`].
pub type Response = http::Response<Body>;
/// The boxed future a [`Responder`] returns.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;
/// A stream of body chunks for [`Body::Chunked`].
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send + 'static>>;
/// A responder shared between server threads.
pub type SharedResponder = Arc<dyn Responder>;

/// A response body.
#[non_exhaustive]
pub enum Body {
    /// The whole body at once (sent with `Content-Length`).
    Data(Bytes),
    /// A body produced chunk by chunk (sent with chunked transfer encoding on HTTP/1.1).
    /// An error from the stream aborts the response.
    Chunked(ChunkStream),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body::Data(Bytes::new())
    }

    /// A chunked body from a stream of chunks.
    pub fn chunked<S>(stream: S) -> Body
    where
        S: Stream<Item = Result<Bytes, BoxError>> + Send + 'static,
    {
        Body::Chunked(Box::pin(stream))
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Data(b) => f.debug_tuple("Data").field(&b.len()).finish(),
            Body::Chunked(_) => f.write_str("Chunked(..)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::Data(b)
    }
}
impl From<Vec<u8>> for Body {
    fn from(b: Vec<u8>) -> Self {
        Body::Data(Bytes::from(b))
    }
}
impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::Data(Bytes::from(s))
    }
}
impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::Data(Bytes::from_static(s.as_bytes()))
    }
}
impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::Data(Bytes::from_static(s))
    }
}

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
