//! What the connection tasks serve: the handover responder or a native hyper
//! service, behind one trait, wrapped so that responses close their
//! connections once the drain's linger has begun. No layer boxes a future:
//! a request goes from hyper to the app's service and back through
//! concrete types.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use handover::adapter::{PeerAddr, RequestGuard, Requests, ServeContext};
use handover::http::{header, HeaderValue};
use handover::BoxError;
use hyper::body::Incoming;

use crate::goaway::GoawayGate;
use crate::watchdog::{InService, Progress};

/// A service the server can run on every connection: a hyper service
/// whose future is `Send`.
pub(crate) trait HttpService:
    hyper::service::Service<
        http::Request<Incoming>,
        Response = http::Response<Self::Body>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Send
    + 'static
{
    /// The response body.
    type Body: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
}

/// Makes each accepted connection's service.
pub(crate) trait MakeService: Clone + Send + Sync + 'static {
    /// The service of one connection.
    type Service: HttpService;
    /// The service for a connection from `peer` (TCP; `None` on a unix socket).
    fn connection(&self, peer: Option<SocketAddr>) -> Self::Service;
    /// Whether the connection's wrapper gives each request its peer address
    /// (`PeerAddr`); a maker that does it itself says no.
    fn peer_addr(&self) -> bool {
        false
    }
}

/// Where a server's services come from once it runs and has the context.
pub(crate) trait ServiceSource: Send + 'static {
    /// What makes each connection's service.
    type Make: MakeService;
    /// Makes it for `ctx`.
    fn service(self, ctx: &ServeContext) -> Self::Make;
}

/// Makes each connection's service by cloning one service; the
/// connection's wrapper gives requests their peer address when the app
/// records it ([`ServeContext::records_peer_addr`]).
#[derive(Clone)]
pub(crate) struct Cloned<S> {
    pub(crate) service: S,
    pub(crate) record_peer: bool,
}

impl<S> MakeService for Cloned<S>
where
    S: HttpService + Clone + Sync,
{
    type Service = S;
    fn connection(&self, _: Option<SocketAddr>) -> S {
        self.service.clone()
    }
    fn peer_addr(&self) -> bool {
        self.record_peer
    }
}

/// A native hyper service, served as it is (its errors are boxed by the
/// connection's [`Lingering`] wrapper).
#[derive(Clone)]
pub(crate) struct NativeService<S>(pub(crate) S);

impl<S, B> hyper::service::Service<http::Request<Incoming>> for NativeService<S>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>,
{
    type Response = http::Response<B>;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        self.0.call(request)
    }
}

impl<S, B> HttpService for NativeService<S>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + 'static,
{
    type Body = B;
}

impl<S> ServiceSource for NativeService<S>
where
    S: Clone + Send + Sync + 'static,
    NativeService<S>: HttpService,
{
    type Make = Cloned<Self>;
    fn service(self, ctx: &ServeContext) -> Cloned<Self> {
        Cloned {
            service: self,
            record_peer: ctx.records_peer_addr(),
        }
    }
}

/// A service made for each connection by a function of its peer address,
/// from a function of the context (see [`crate::server`]).
pub(crate) struct FnSource<M>(pub(crate) M);

impl<M, F, S> ServiceSource for FnSource<M>
where
    M: FnOnce(&ServeContext) -> F + Send + 'static,
    F: Fn(Option<SocketAddr>) -> S + Clone + Send + Sync + 'static,
    NativeService<S>: HttpService,
{
    type Make = FnMake<F>;
    fn service(self, ctx: &ServeContext) -> FnMake<F> {
        FnMake((self.0)(ctx))
    }
}

/// Each connection's service from a function of its peer address.
#[derive(Clone)]
pub(crate) struct FnMake<F>(F);

impl<F, S> MakeService for FnMake<F>
where
    F: Fn(Option<SocketAddr>) -> S + Clone + Send + Sync + 'static,
    NativeService<S>: HttpService,
{
    type Service = NativeService<S>;
    fn connection(&self, peer: Option<SocketAddr>) -> NativeService<S> {
        NativeService((self.0)(peer))
    }
}

/// A connection's service that gives each request its connection's peer
/// address (`PeerAddr`), when the app asked for it.
#[derive(Clone)]
pub(crate) struct WithPeer<S> {
    pub(crate) inner: S,
    pub(crate) peer: Option<SocketAddr>,
}

impl<S> hyper::service::Service<http::Request<Incoming>> for WithPeer<S>
where
    S: hyper::service::Service<http::Request<Incoming>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn call(&self, mut request: http::Request<Incoming>) -> Self::Future {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(PeerAddr(peer));
        }
        self.inner.call(request)
    }
}

impl<S: HttpService> HttpService for WithPeer<S> {
    type Body = S::Body;
}

/// One connection's service: once the drain's linger has begun, adds
/// `Connection: close` to every HTTP/1 response, and on HTTP/2 holds the
/// next response until the connection's GOAWAY is started (see
/// `goaway`); counts requests in progress (HTTP/2 streams) for the watchdog
/// and for the drain.
pub(crate) struct Lingering<S> {
    pub(crate) inner: S,
    /// The connection's peer, given to each request (`PeerAddr`) when the
    /// app asked for it (HTTP/1; on HTTP/2 the inner service does it).
    pub(crate) peer: Option<std::net::SocketAddr>,
    pub(crate) requests: Requests,
    /// The connection's progress, with the drain's connections and, on
    /// HTTP/2, its GOAWAY.
    pub(crate) progress: Arc<Progress>,
}

impl<S, B> hyper::service::Service<http::Request<Incoming>> for Lingering<S>
where
    S: hyper::service::Service<http::Request<Incoming>, Response = http::Response<B>>,
    B: http_body::Body,
    S::Error: Into<BoxError>,
{
    type Response = http::Response<Serving<B>>;
    type Error = BoxError;
    type Future = Closing<S::Future, B>;

    #[inline]
    fn call(&self, mut request: http::Request<Incoming>) -> Self::Future {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(PeerAddr(peer));
        }
        // hyper leaves out the body of a HEAD response on HTTP/1 only.
        let head_only =
            request.version() == http::Version::HTTP_2 && request.method() == http::Method::HEAD;
        let counted = self.requests.start(request.uri().path());
        Closing {
            head_only,
            serving: Some((self.progress.serving(), counted)),
            inner: self.inner.call(request),
            ready: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a service served by [`Http2`](crate::http2::Http2)
    /// (a type hyper's executor sees; nothing to use directly).
    pub struct Closing<F, B> {
        #[pin]
        inner: F,
        // An HTTP/2 HEAD request: the response goes without its body.
        head_only: bool,
        // The request's place in the watchdog's and the drain's counts (and,
        // through the watchdog's, the connection's drain flag and GOAWAY),
        // moved into the response body once the response is ready.
        serving: Option<(InService, RequestGuard)>,
        // An HTTP/2 response waiting for its connection's GOAWAY (boxed:
        // rare, and the future stays small).
        ready: Option<Box<http::Response<Serving<B>>>>,
    }
}

impl<F, B, E> Future for Closing<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: http_body::Body,
    E: Into<BoxError>,
{
    type Output = Result<http::Response<Serving<B>>, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(held) = this.ready.as_ref() {
            if let Some(gate) = held.body().goaway() {
                std::task::ready!(gate.poll_sent(cx));
            }
            if let Some(response) = this.ready.take() {
                return Poll::Ready(Ok(*response));
            }
        }
        let response = std::task::ready!(this.inner.poll(cx)).map_err(Into::into)?;
        // The request stays in progress until its body has been sent (or dropped).
        let serving = this.serving.take();
        let switching = response.status() == http::StatusCode::SWITCHING_PROTOCOLS;
        // Decided when the response is ready, so a request that started
        // before the linger still retires its connection. A 101's
        // `Connection: upgrade` stays: the connection goes on as what it
        // upgraded to, counted until its IO is dropped.
        let mut close = false;
        if let Some((in_service, counted)) = &serving {
            counted.responded(response.status().as_u16());
            if switching {
                in_service.upgraded();
            } else {
                close = in_service.progress().connections.close_after_response();
            }
        }
        let head_only = *this.head_only;
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
        if close {
            match response.body().goaway() {
                None => {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Some(gate) => {
                    if gate.poll_sent(cx).is_pending() {
                        *this.ready = Some(Box::new(response));
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

    /// The GOAWAY of the response's connection, on HTTP/2.
    fn goaway(&self) -> Option<&GoawayGate> {
        let (in_service, _) = self._serving.as_ref()?;
        in_service.progress().goaway.as_deref()
    }
}

impl<B: http_body::Body> http_body::Body for Serving<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
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
