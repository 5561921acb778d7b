//! What the connection tasks serve: the handover responder or a native hyper
//! service, behind one trait, wrapped so that responses close their
//! connections once the drain's linger has begun.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use handover::adapter::{Connections, PeerAddr, RequestGuard, Requests, ServeContext};
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

/// A connection's service that gives each request its connection's peer
/// address (`PeerAddr`), when the app asked for it.
#[derive(Clone)]
pub(crate) struct WithPeer<S> {
    pub(crate) inner: S,
    pub(crate) peer: Option<std::net::SocketAddr>,
}

impl<S> hyper::service::Service<http::Request<Incoming>> for WithPeer<S>
where
    S: hyper::service::Service<http::Request<Incoming>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, mut request: http::Request<Incoming>) -> Self::Future {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(PeerAddr(peer));
        }
        self.inner.call(request)
    }
}

/// One connection's service: once the drain's linger has begun, adds
/// `Connection: close` to every HTTP/1 response, and on HTTP/2 holds the
/// next response until the connection's GOAWAY is started (see
/// `goaway`); counts requests in progress (HTTP/2 streams) for the watchdog
/// and for the drain.
pub(crate) struct Lingering<S> {
    pub(crate) inner: S,
    pub(crate) connections: Connections,
    pub(crate) requests: Requests,
    pub(crate) progress: Arc<Progress>,
    /// The connection's GOAWAY, on HTTP/2.
    pub(crate) goaway: Option<Arc<GoawayGate>>,
}

impl<S, B> hyper::service::Service<http::Request<Incoming>> for Lingering<S>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>,
    B: http_body::Body,
    S::Future: Unpin,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<Serving<B>>;
    type Error = BoxError;
    type Future = Closing<S::Future, B>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        // hyper leaves out the body of a HEAD response on HTTP/1 only.
        let head_only =
            request.method() == http::Method::HEAD && request.version() == http::Version::HTTP_2;
        let counted = self.requests.start(request.uri().path());
        Closing {
            head_only,
            serving: Some((self.progress.serving(), counted)),
            inner: self.inner.call(request),
            connections: self.connections.clone(),
            goaway: self.goaway.clone(),
            ready: None,
        }
    }
}

/// The response future of a service served by [`Http2`](crate::http2::Http2)
/// (a type hyper's executor sees; nothing to use directly).
pub struct Closing<F, B> {
    inner: F,
    /// An HTTP/2 HEAD request: the response goes without its body.
    head_only: bool,
    connections: Connections,
    goaway: Option<Arc<GoawayGate>>,
    serving: Option<(InService, RequestGuard)>,
    /// An HTTP/2 response waiting for its connection's GOAWAY (boxed: rare,
    /// and the future stays small).
    ready: Option<Box<http::Response<Serving<B>>>>,
}

// No field is pinned structurally: the inner future is `Unpin`, and a
// waiting response is only ever moved out whole.
impl<F: Unpin, B> Unpin for Closing<F, B> {}

impl<F, B, E> Future for Closing<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>> + Unpin,
    B: http_body::Body,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<Serving<B>>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.ready.is_some() {
            if let Some(Poll::Pending) = this.goaway.as_ref().map(|gate| gate.poll_sent(cx)) {
                return Poll::Pending;
            }
            if let Some(response) = this.ready.take() {
                return Poll::Ready(Ok(*response));
            }
        }
        let response = std::task::ready!(Pin::new(&mut this.inner).poll(cx)).map_err(Into::into)?;
        // The request stays in progress until its body has been sent (or dropped).
        let serving = this.serving.take();
        if let Some((_, counted)) = &serving {
            counted.responded(response.status().as_u16());
        }
        let head_only = this.head_only;
        let mut response = response.map(|inner| Serving {
            inner,
            head_only,
            _serving: serving,
        });
        if head_only && !response.headers().contains_key(header::CONTENT_LENGTH) {
            // The length a GET would have had, as HTTP/1 says it.
            if let Some(length) = response.body().inner_ref().size_hint().exact() {
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
            }
        }
        // Decided when the response is ready, so a request that started before
        // the linger still retires its connection.
        // A 101 hands the connection over: it must stay open (a WebSocket
        // closes with its own drain).
        if this.connections.close_after_response()
            && response.status() != http::StatusCode::SWITCHING_PROTOCOLS
        {
            match &this.goaway {
                None => {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Some(gate) => {
                    if gate.poll_sent(cx).is_pending() {
                        this.ready = Some(Box::new(response));
                        return Poll::Pending;
                    }
                }
            }
        }
        Poll::Ready(Ok(response))
    }
}

pin_project_lite::pin_project! {
    /// The response body of a service served by [`Http2`](crate::http2::Http2)
    /// (a type hyper's executor sees; nothing to use directly): it keeps
    /// its request counted as in progress, so the watchdog never closes a
    /// connection while a slow body is still streaming.
    pub struct Serving<B> {
        #[pin]
        inner: B,
        // The response to a HEAD request: its length, none of its bytes.
        head_only: bool,
        _serving: Option<(InService, RequestGuard)>,
    }
}

impl<B> Serving<B> {
    fn inner_ref(&self) -> &B {
        &self.inner
    }
}

impl<B: http_body::Body> http_body::Body for Serving<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = self.project();
        if *this.head_only {
            return Poll::Ready(None);
        }
        this.inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.head_only || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
