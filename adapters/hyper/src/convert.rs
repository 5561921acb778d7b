//! The handover responder as a hyper service: requests are buffered up to the
//! body limit; a [`handover::Body`] is an `http_body::Body`, sent as it is.

use bytes::Bytes;
use handover::adapter::{ServeContext, SharedResponder, SocketUpgrade, WebSockets};
use handover::http::{header, HeaderValue, StatusCode};
use handover::{text, Body, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::service::{BoxFuture, HttpService, ServiceSource};

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

async fn read_body(body: Incoming, declared: Option<u64>, limit: usize) -> Result<Bytes, Reject> {
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
    type Service = ResponderService;
    fn service(self, ctx: &ServeContext) -> ResponderService {
        ResponderService {
            responder: ctx.responder().clone(),
            body_limit: self.body_limit,
            websockets: ctx.websockets(),
        }
    }
}

/// The handover responder as a service.
#[derive(Clone)]
pub(crate) struct ResponderService {
    pub(crate) responder: SharedResponder,
    pub(crate) body_limit: usize,
    pub(crate) websockets: WebSockets,
}

impl HttpService for ResponderService {
    type Body = Body;
}

impl hyper::service::Service<http::Request<Incoming>> for ResponderService {
    type Response = Response;
    type Error = handover::BoxError;
    type Future = BoxFuture<Body>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
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
                None => Ok(answer),
                Some(socket) => Ok(upgrade(answer, socket, on_upgrade, &this.websockets)),
            }
        })
    }
}

/// Runs the socket a socket route accepted once hyper has sent the 101 and
/// handed the connection over; counted from now, before the HTTP
/// connection's own count ends.
fn upgrade(
    answer: Response,
    socket: SocketUpgrade,
    on_upgrade: Option<hyper::upgrade::OnUpgrade>,
    websockets: &WebSockets,
) -> Response {
    let (Some(on_upgrade), Some(socket)) = (on_upgrade, socket.accept(websockets)) else {
        // HTTP/2 (no upgrade there), or an answer given twice.
        return text(StatusCode::UPGRADE_REQUIRED, "Upgrade Required\n");
    };
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                crate::websocket::serve(hyper_util::rt::TokioIo::new(upgraded), socket).await;
            }
            Err(e) => log::debug!("hyper: websocket upgrade failed: {e}"),
        }
    });
    answer
}
