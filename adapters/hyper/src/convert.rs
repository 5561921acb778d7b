//! The handover responder as a hyper service: requests are buffered up to the
//! body limit; a [`handover::Body`] is an `http_body::Body`, sent as it is.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use handover::adapter::{ServeContext, SharedResponder};
use handover::http::{header, HeaderValue, StatusCode};
use handover::{text, Body, BoxError, Request, Response, ResponseFuture};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::service::{HttpService, ServiceSource};

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
        }
    }
}

/// The handover responder as a service.
#[derive(Clone)]
pub(crate) struct ResponderService {
    pub(crate) responder: SharedResponder,
    pub(crate) body_limit: usize,
}

impl HttpService for ResponderService {
    type Body = Body;
}

impl hyper::service::Service<http::Request<Incoming>> for ResponderService {
    type Response = Response;
    type Error = BoxError;
    type Future = Answer;

    fn call(&self, request: http::Request<Incoming>) -> Answer {
        // A request without a body (most of them) goes to the responder at
        // once: nothing to read, nothing more to allocate.
        if http_body::Body::is_end_stream(request.body()) {
            let (parts, _) = request.into_parts();
            return Answer(
                self.responder
                    .respond(Request::from_parts(parts, Bytes::new())),
            );
        }
        let this = self.clone();
        Answer(Box::pin(async move {
            let (parts, body) = request.into_parts();
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            match read_body(body, declared, this.body_limit).await {
                Ok(bytes) => {
                    this.responder
                        .respond(Request::from_parts(parts, bytes))
                        .await
                }
                Err(reject) => reject.response(),
            }
        }))
    }
}

/// The responder's answer to one request: the responder's own future, or,
/// when there is a body to read first, one that reads it and then awaits
/// the responder's.
pub(crate) struct Answer(ResponseFuture);

impl Future for Answer {
    type Output = Result<Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().0.as_mut().poll(cx).map(Ok)
    }
}
