//! The handover responder as a hyper service: requests are buffered up to the
//! body limit, responses stream from a [`handover::Body`].

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use handover::http::{header, HeaderValue, StatusCode};
use handover::{
    text, Body, BoxError, ChunkStream, Request, Response, ServeContext, SharedResponder,
};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::server::ServiceSource;
use crate::service::{BoxFuture, HttpService};

/// A response body hyper can send: whole bytes, or a stream of chunks.
pub(crate) enum ResponseBody {
    Data(Option<Bytes>),
    Chunked(ChunkStream),
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ResponseBody::Data(data) => Poll::Ready(data.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Chunked(stream) => stream
                .as_mut()
                .poll_next(cx)
                .map(|chunk| chunk.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Data(data) => data.as_ref().is_none_or(Bytes::is_empty),
            ResponseBody::Chunked(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Data(data) => {
                SizeHint::with_exact(data.as_ref().map_or(0, |b| b.len() as u64))
            }
            ResponseBody::Chunked(_) => SizeHint::default(),
        }
    }
}

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

/// Turns a handover response into one hyper can send.
pub(crate) fn response(response: Response) -> http::Response<ResponseBody> {
    let (parts, body) = response.into_parts();
    let body = match body {
        Body::Data(data) => ResponseBody::Data(Some(data)),
        Body::Chunked(stream) => ResponseBody::Chunked(stream),
        other => {
            log::error!("hyper: cannot send a {other:?} body; answering 500");
            return http::Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .body(ResponseBody::Data(None))
                .unwrap_or_else(|_| http::Response::new(ResponseBody::Data(None)));
        }
    };
    http::Response::from_parts(parts, body)
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
    type Body = ResponseBody;
    type Future = BoxFuture<ResponseBody>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let answer = match read_body(body, declared, this.body_limit).await {
                Ok(bytes) => {
                    this.responder
                        .respond(Request::from_parts(parts, bytes))
                        .await
                }
                Err(reject) => reject.response(),
            };
            Ok(response(answer))
        })
    }
}
