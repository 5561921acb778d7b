//! What [`ActixFactory`](crate::ActixFactory) serves: the handover
//! responder as a bare actix-http service, without actix-web's `App`. One
//! service does what the app's layers would: counts each request for the
//! watchdog and the drain, buffers its body (up to the body limit), hands
//! it to the responder, marks the response `Connection: close` during the
//! drain's linger, keeps the request counted until the response body has
//! been sent, and runs the WebSocket a socket route accepts. A request
//! without a body gets no box of the adapter's: the service's future holds
//! the responder's own. HTTP/2 connections are served by hyper's layer
//! straight to the responder (`handover_hyper::ResponderService`), with
//! no actix types in between.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_http::{ConnectionType, Payload};
use actix_service::{fn_factory, Service, ServiceFactory};
use actix_web::dev::AppConfig;
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;
use handover::adapter::{
    ConnectionGuard, Connections, PeerAddr, Requests, ServeContext, SharedResponder, SocketUpgrade,
    WebSockets,
};
use handover::ResponseFuture;
use handover_hyper::http2::{Http2, Prefixed};
use handover_hyper::ResponderService;
use hyper::body::Incoming;

use crate::bridge::LocalExec;
use crate::connection::{H2Serve, Mode, Settings, Socket};
use crate::convert::{self, Out, Spare};
use crate::tracked::{closes_after, Held, Tracked};
use crate::websocket;

/// The responder, as each worker serves it.
#[derive(Clone)]
pub(crate) struct Responding {
    responder: SharedResponder,
    body_limit: usize,
    peer_addr: bool,
    websockets: WebSockets,
    connections: Connections,
    requests: Requests,
    /// HTTP/2's service.
    h2: ResponderService,
}

impl Responding {
    /// Serves `ctx`'s responder, with bodies up to `body_limit` bytes.
    pub(crate) fn new(ctx: &ServeContext, body_limit: usize) -> Self {
        Responding {
            responder: ctx.responder().clone(),
            body_limit,
            peer_addr: ctx.records_peer_addr(),
            websockets: ctx.websockets(),
            connections: ctx.connections().clone(),
            requests: ctx.requests().clone(),
            h2: ResponderService::new(ctx, body_limit),
        }
    }
}

impl Mode for Responding {
    type Response = actix_http::Response<Tracked<Out>>;
    type Body = Tracked<Out>;
    type Error = Infallible;

    fn http1(
        self,
        _: AppConfig,
    ) -> impl ServiceFactory<
        actix_http::Request,
        Config = (),
        Response = Self::Response,
        Error = Self::Error,
        InitError = (),
    > + 'static {
        fn_factory(move || {
            std::future::ready(Ok::<_, ()>(Http1Service(Rc::new(Worker {
                state: self.clone(),
                spare: Spare::default(),
            }))))
        })
    }

    async fn http2(self, _: AppConfig) -> Result<impl H2Serve, ()> {
        Ok(ResponderH2 {
            service: self.h2,
            peer_addr: self.peer_addr,
        })
    }
}

/// The HTTP/1 service of one worker.
pub(crate) struct Http1Service(Rc<Worker>);

/// What the HTTP/1 requests of one worker share.
struct Worker {
    state: Responding,
    spare: Spare,
}

impl Service<actix_http::Request> for Http1Service {
    type Response = actix_http::Response<Tracked<Out>>;
    type Error = Infallible;
    type Future = Reply;

    actix_service::always_ready!();

    fn call(&self, mut req: actix_http::Request) -> Reply {
        let worker = &self.0;
        let state = &worker.state;
        // Counted for the watchdog and the drain until the response body
        // has been sent.
        let held = Held::start(&req, &state.requests);
        // Without a body (actix-http gives a WebSocket upgrade a payload:
        // the socket's bytes), the responder's own future answers.
        let step = if matches!(req.payload(), Payload::None) {
            match convert::request(req.head(), Bytes::new(), state.peer_addr, &worker.spare) {
                Ok(request) => Step::Respond(state.responder.respond(request)),
                Err(reject) => Step::Long(Box::pin(std::future::ready(reject.response()))),
            }
        } else if req.head().upgrade() {
            // Its payload is the socket's bytes, never buffered as a body.
            Step::Long(Box::pin(handshake(worker.clone(), req)))
        } else {
            Step::Long(Box::pin(with_body(worker.clone(), req)))
        };
        Reply {
            step,
            held: Some(held),
            worker: worker.clone(),
        }
    }
}

/// A request with a body: read whole (up to the limit), then answered.
async fn with_body(worker: Rc<Worker>, mut req: actix_http::Request) -> actix_http::Response<Out> {
    let state = &worker.state;
    let payload = req.take_payload();
    match convert::read_body(req.head(), payload, state.body_limit).await {
        Ok(body) => match convert::request(req.head(), body, state.peer_addr, &worker.spare) {
            Ok(request) => convert::response(state.responder.respond(request).await, &worker.spare),
            Err(reject) => reject.response(),
        },
        Err(reject) => reject.response(),
    }
}

/// A request asking for an upgrade: its payload is the socket's bytes, kept
/// for the socket when the responder accepts one.
async fn handshake(worker: Rc<Worker>, mut req: actix_http::Request) -> actix_http::Response<Out> {
    let state = &worker.state;
    match convert::request(req.head(), Bytes::new(), state.peer_addr, &worker.spare) {
        Ok(request) => {
            let mut answer = state.responder.respond(request).await;
            match SocketUpgrade::take(&mut answer) {
                Some(socket) => {
                    websocket::upgrade(answer, socket, req.take_payload(), &state.websockets)
                }
                None => convert::response(answer, &worker.spare),
            }
        }
        Err(reject) => reject.response(),
    }
}

/// Where a request's answer comes from.
enum Step {
    /// The responder's own future (a request without a body).
    Respond(ResponseFuture),
    /// Reading a body first, a handshake, or a refusal.
    Long(LocalBoxFuture<'static, actix_http::Response<Out>>),
}

/// The response future of the HTTP/1 service.
pub(crate) struct Reply {
    step: Step,
    held: Option<Held>,
    worker: Rc<Worker>,
}

impl Future for Reply {
    type Output = Result<actix_http::Response<Tracked<Out>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut response = match &mut this.step {
            Step::Respond(future) => convert::response(
                std::task::ready!(future.as_mut().poll(cx)),
                &this.worker.spare,
            ),
            Step::Long(future) => std::task::ready!(future.as_mut().poll(cx)),
        };
        let held = this.held.take();
        let status = response.status();
        if let Some(held) = &held {
            held.responded(status);
        }
        if closes_after(status, &this.worker.state.connections) {
            response
                .head_mut()
                .set_connection_type(ConnectionType::Close);
        }
        Poll::Ready(Ok(response.map_body(|_, body| Tracked::new(body, held))))
    }
}

/// HTTP/2 connections, served by hyper's layer straight to the responder.
struct ResponderH2 {
    service: ResponderService,
    peer_addr: bool,
}

impl H2Serve for ResponderH2 {
    async fn serve<C: Socket>(
        &self,
        conn: Prefixed<C>,
        peer: Option<SocketAddr>,
        settings: &Settings,
        http2: &Http2<LocalExec>,
        counted: ConnectionGuard,
    ) {
        let service = WithPeer {
            inner: self.service.clone(),
            peer: peer.filter(|_| self.peer_addr),
        };
        http2
            .serve(
                conn,
                service,
                settings.connections.clone(),
                settings.requests.clone(),
                settings.close_idle.clone(),
                counted,
            )
            .await;
    }
}

/// Gives each request its connection's peer address, when the app asked
/// for it.
struct WithPeer {
    inner: ResponderService,
    peer: Option<SocketAddr>,
}

impl hyper::service::Service<handover::http::Request<Incoming>> for WithPeer {
    type Response =
        <ResponderService as hyper::service::Service<handover::http::Request<Incoming>>>::Response;
    type Error =
        <ResponderService as hyper::service::Service<handover::http::Request<Incoming>>>::Error;
    type Future =
        <ResponderService as hyper::service::Service<handover::http::Request<Incoming>>>::Future;

    fn call(&self, mut request: handover::http::Request<Incoming>) -> Self::Future {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(PeerAddr(peer));
        }
        hyper::service::Service::call(&self.inner, request)
    }
}
