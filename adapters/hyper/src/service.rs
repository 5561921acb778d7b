//! What the connection tasks serve: the handover responder or a native hyper
//! service, behind one trait, wrapped so that responses close their
//! connections once the drain's linger has begun.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use handover::adapter::{Connections, ServeContext};
use handover::http::{header, HeaderValue};
use handover::BoxError;
use hyper::body::Incoming;

use crate::goaway::GoawayGate;
use crate::watchdog::{InService, Progress};

/// A boxed response future.
pub(crate) type BoxFuture<B> =
    Pin<Box<dyn Future<Output = Result<http::Response<B>, BoxError>> + Send + 'static>>;

/// A service the server can run on every connection: a hyper service
/// whose future is boxed (`Unpin`, so the closing wrapper needs no
/// projection) and `Send`.
pub(crate) trait HttpService:
    hyper::service::Service<
        http::Request<Incoming>,
        Response = http::Response<Self::Body>,
        Error = BoxError,
        Future = BoxFuture<Self::Body>,
    > + Clone
    + Send
    + Sync
    + 'static
{
    /// The response body.
    type Body: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
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

impl<S, B> hyper::service::Service<http::Request<Incoming>> for NativeService<S>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<B>;
    type Error = BoxError;
    type Future = BoxFuture<B>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let future = self.0.call(request);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}

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

/// One connection's service: once the drain's linger has begun, adds
/// `Connection: close` to every HTTP/1 response, and on HTTP/2 holds the
/// next response until the connection's GOAWAY is started (see
/// `goaway`); counts requests in progress (HTTP/2 streams) for the watchdog.
pub(crate) struct Lingering<S> {
    pub(crate) inner: S,
    pub(crate) connections: Connections,
    pub(crate) progress: Arc<Progress>,
    /// The connection's GOAWAY, on HTTP/2.
    pub(crate) goaway: Option<Arc<GoawayGate>>,
}

impl<S, B> hyper::service::Service<http::Request<Incoming>> for Lingering<S>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>,
    S::Future: Unpin,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<Serving<B>>;
    type Error = BoxError;
    type Future = Closing<S::Future, B>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        Closing {
            serving: Some(self.progress.serving()),
            inner: self.inner.call(request),
            connections: self.connections.clone(),
            goaway: self.goaway.clone(),
            ready: None,
        }
    }
}

/// The response future of [`Lingering`].
pub(crate) struct Closing<F, B> {
    inner: F,
    connections: Connections,
    goaway: Option<Arc<GoawayGate>>,
    serving: Option<InService>,
    /// An HTTP/2 response waiting for its connection's GOAWAY.
    ready: Option<http::Response<Serving<B>>>,
}

// No field is pinned structurally: the inner future is `Unpin`, and a
// waiting response is only ever moved out whole.
impl<F: Unpin, B> Unpin for Closing<F, B> {}

impl<F, B, E> Future for Closing<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>> + Unpin,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<Serving<B>>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Some(response) = this.ready.take() {
            return match this.goaway.as_ref().map(|gate| gate.poll_sent(cx)) {
                Some(Poll::Pending) => {
                    this.ready = Some(response);
                    Poll::Pending
                }
                _ => Poll::Ready(Ok(response)),
            };
        }
        let response = std::task::ready!(Pin::new(&mut this.inner).poll(cx)).map_err(Into::into)?;
        // The request stays in progress until its body has been sent (or dropped).
        let serving = this.serving.take();
        let mut response = response.map(|inner| Serving {
            inner,
            _serving: serving,
        });
        // Decided when the response is ready, so a request that started before
        // the linger still retires its connection.
        if this.connections.close_after_response() {
            match &this.goaway {
                None => {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Some(gate) => {
                    if gate.poll_sent(cx).is_pending() {
                        this.ready = Some(response);
                        return Poll::Pending;
                    }
                }
            }
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
        _serving: Option<InService>,
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
