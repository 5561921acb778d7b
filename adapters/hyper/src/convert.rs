//! The handover responder as a hyper service: requests are buffered up to the
//! body limit; a [`handover::Body`] is an `http_body::Body`, sent as it is.
//! Public as [`ResponderService`] for adapters built on hyper.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use handover::adapter::{ServeContext, SharedResponder, SocketUpgrade, WebSockets};
use handover::http::{header, HeaderValue, StatusCode};
use handover::{text, Body, BoxError, Request, Response, ResponseFuture};
use http_body_util::{BodyExt, Limited};

use crate::service::{Cloned, HttpService, ServiceSource};

/// Why a request could not be handed to the responder.
enum Reject {
    TooLarge,
    BadRequest,
}

impl Reject {
    fn response(self) -> Response {
        let mut response = match self {
            Reject::TooLarge => text(StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large\n"),
            Reject::BadRequest => text(StatusCode::BAD_REQUEST, "Bad Request\n"),
        };
        // The rest of the body is not read: the connection cannot be reused.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

async fn read_body<B>(body: B, declared: Option<u64>, limit: usize) -> Result<Bytes, Reject>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Reject::TooLarge);
    }
    if http_body::Body::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Reject::TooLarge),
        Err(_) => Err(Reject::BadRequest),
    }
}

/// Makes a [`ResponderService`] from the context's responder.
pub(crate) struct ResponderSource {
    pub(crate) body_limit: usize,
}

impl ServiceSource for ResponderSource {
    type Make = Cloned<ResponderService>;
    fn service(self, ctx: &ServeContext) -> Cloned<ResponderService> {
        Cloned {
            service: ResponderService::new(ctx, self.body_limit),
            record_peer: ctx.records_peer_addr(),
        }
    }
}

/// The app's handover responder as a hyper service, over any request body:
/// the body is read whole, up to `body_limit` (413 beyond it, a declared
/// `Content-Length` over it refused unread; 400 when reading it fails;
/// both with `Connection: close`), and handed to the responder as a
/// [`handover::Request`]; its [`handover::Response`] goes back as it is.
/// It never fails: every error is an answer.
///
/// What [`HyperFactory`](crate::HyperFactory) serves, public for adapters
/// built on hyper: `handover-axum` serves it as an axum fallback.
///
/// ```
/// # fn make(ctx: &handover::adapter::ServeContext) {
/// let service = handover_hyper::ResponderService::new(ctx, 1024 * 1024);
/// # let _ = service;
/// # }
/// ```
#[derive(Clone)]
pub struct ResponderService {
    responder: SharedResponder,
    body_limit: usize,
    websockets: WebSockets,
}

impl std::fmt::Debug for ResponderService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponderService")
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl ResponderService {
    /// Serves `ctx`'s responder (and its socket routes' WebSockets),
    /// reading request bodies up to `body_limit` bytes (usually
    /// [`ServerConfig::body_limit`](handover::config::ServerConfig)).
    pub fn new(ctx: &ServeContext, body_limit: usize) -> Self {
        ResponderService {
            responder: ctx.responder().clone(),
            body_limit,
            websockets: ctx.websockets(),
        }
    }
}

impl HttpService for ResponderService {
    type Body = Body;
}

impl<B> hyper::service::Service<http::Request<B>> for ResponderService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = BoxError;
    type Future = Answer;

    fn call(&self, request: http::Request<B>) -> Answer {
        // A request without a body (most of them) goes to the responder at
        // once: nothing to read, nothing more to allocate. One that asks for
        // an upgrade (hyper gave it an `OnUpgrade`) takes the long way.
        if http_body::Body::is_end_stream(request.body())
            && request
                .extensions()
                .get::<hyper::upgrade::OnUpgrade>()
                .is_none()
        {
            let (parts, _) = request.into_parts();
            return Answer(
                self.responder
                    .respond(Request::from_parts(parts, Bytes::new())),
            );
        }
        let this = self.clone();
        Answer(Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            // hyper puts it in a request that asks for an upgrade only.
            let on_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let mut answer = match read_body(body, declared, this.body_limit).await {
                Ok(bytes) => {
                    this.responder
                        .respond(Request::from_parts(parts, bytes))
                        .await
                }
                Err(reject) => reject.response(),
            };
            match SocketUpgrade::take(&mut answer) {
                None => answer,
                Some(socket) => upgrade(answer, socket, on_upgrade, &this.websockets),
            }
        }))
    }
}

/// Runs the socket a socket route accepted once hyper has sent the 101 and
/// handed the connection over. The connection stays counted (as upgraded)
/// while its IO lives, so the socket is not counted again.
fn upgrade(
    answer: Response,
    socket: SocketUpgrade,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    websockets: &WebSockets,
) -> Response {
    let (Some(on_upgrade), Some(socket)) = (on_upgrade, socket.accept_on_counted(websockets))
    else {
        // HTTP/2 (no upgrade there), or an answer given twice.
        return text(StatusCode::UPGRADE_REQUIRED, "Upgrade Required\n");
    };
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => crate::websocket::serve_upgraded(upgraded, socket).await,
            Err(e) => log::debug!("hyper: websocket upgrade failed: {e}"),
        }
    });
    answer
}

/// The response future of [`ResponderService`] (nothing to use directly):
/// the responder's own future, or, when there is a body to read first, one
/// that reads it and then awaits the responder's.
pub struct Answer(ResponseFuture);

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Answer")
    }
}

impl Future for Answer {
    type Output = Result<Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().0.as_mut().poll(cx).map(Ok)
    }
}
