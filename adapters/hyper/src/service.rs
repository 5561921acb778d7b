//! What the connection tasks serve: the handover responder or a native hyper
//! service, behind one trait, wrapped so that responses close their
//! connections once the drain's linger has begun.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use handover::adapter::{Connections, RequestGuard, Requests, ServeContext};
use handover::http::{header, HeaderValue};
use handover::BoxError;
use hyper::body::Incoming;

use crate::watchdog::{InService, Progress};

/// A boxed response future.
pub(crate) type BoxFuture<B> =
    Pin<Box<dyn Future<Output = Result<http::Response<B>, BoxError>> + Send + 'static>>;

/// A service the server can run on every connection.
pub(crate) trait HttpService: Clone + Send + Sync + 'static {
    /// The response body.
    type Body: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
    /// The response future; `Unpin` so the closing wrapper needs no projection.
    type Future: Future<Output = Result<http::Response<Self::Body>, BoxError>>
        + Send
        + Unpin
        + 'static;
    /// Answers one request.
    fn call(&self, request: http::Request<Incoming>) -> Self::Future;
}

/// Where a server's service comes from once it runs and has the context.
pub(crate) trait ServiceSource: Send + 'static {
    /// The service served.
    type Service: HttpService;
    /// Makes the service for `ctx`.
    fn service(self, ctx: &ServeContext) -> Self::Service;
}

/// A native hyper service, its futures boxed.
#[derive(Clone)]
pub(crate) struct NativeService<S>(pub(crate) S);

impl<S, B> HttpService for NativeService<S>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    type Body = B;
    type Future = BoxFuture<B>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let future = self.0.call(request);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}

impl<S> ServiceSource for NativeService<S>
where
    NativeService<S>: HttpService,
{
    type Service = Self;
    fn service(self, _: &ServeContext) -> Self {
        self
    }
}

/// One connection's service: adds `Connection: close` to every response once
/// the linger has begun, and counts requests in progress for the watchdog
/// and for the drain.
pub(crate) struct Lingering<S> {
    pub(crate) inner: S,
    pub(crate) connections: Connections,
    pub(crate) requests: Requests,
    pub(crate) progress: Arc<Progress>,
    /// The connection's peer, given to each request as `PeerAddr`.
    pub(crate) peer: Option<std::net::SocketAddr>,
}

impl<S: HttpService> hyper::service::Service<http::Request<Incoming>> for Lingering<S> {
    type Response = http::Response<Serving<S::Body>>;
    type Error = BoxError;
    type Future = Closing<S::Future>;

    fn call(&self, mut request: http::Request<Incoming>) -> Self::Future {
        let counted = self.requests.start(request.uri().path());
        if let Some(peer) = self.peer {
            request
                .extensions_mut()
                .insert(handover::adapter::PeerAddr(peer));
        }
        Closing {
            serving: Some((self.progress.serving(), counted)),
            inner: self.inner.call(request),
            connections: self.connections.clone(),
        }
    }
}

/// The response future of [`Lingering`].
pub(crate) struct Closing<F> {
    inner: F,
    connections: Connections,
    serving: Option<(InService, RequestGuard)>,
}

impl<F, B> Future for Closing<F>
where
    F: Future<Output = Result<http::Response<B>, BoxError>> + Unpin,
{
    type Output = Result<http::Response<Serving<B>>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = std::task::ready!(Pin::new(&mut self.inner).poll(cx))?;
        // The request stays in progress until its body has been sent (or dropped).
        let serving = self.serving.take();
        if let Some((_, counted)) = &serving {
            counted.responded(response.status().as_u16());
        }
        let mut response = response.map(|inner| Serving {
            inner,
            _serving: serving,
        });
        // Decided when the response is ready, so a request that started before
        // the linger still closes its connection.
        if self.connections.close_after_response() {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        Poll::Ready(Ok(response))
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in progress, so the
    /// watchdog never closes a connection while a slow body is still streaming.
    pub(crate) struct Serving<B> {
        #[pin]
        inner: B,
        _serving: Option<(InService, RequestGuard)>,
    }
}

impl<B: http_body::Body> http_body::Body for Serving<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
