//! Translation between actix-web (http 0.2 types) and handover (http 1 types).

use actix_web::http::header::{HeaderName as AxName, HeaderValue as AxValue};
use actix_web::http::{StatusCode as AxStatus, Version as AxVersion};
use actix_web::{web, HttpRequest, HttpResponse};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use handover::{http, Body, Request, Response};
use http_body::Body as _;

/// Why a request could not be handed to the responder.
pub(crate) enum Reject {
    TooLarge,
    BadRequest,
}

impl Reject {
    pub(crate) fn response(&self) -> HttpResponse {
        match self {
            Reject::TooLarge => HttpResponse::PayloadTooLarge()
                .content_type("text/plain; charset=utf-8")
                .body("Payload Too Large\n"),
            Reject::BadRequest => HttpResponse::BadRequest()
                .content_type("text/plain; charset=utf-8")
                .body("Bad Request\n"),
        }
    }
}

/// The standard header names requests and responses carry most, mapped
/// between the two `http` crates by comparison instead of parsing the name
/// again; any other name is parsed (it was valid in the other crate, under
/// the same rules).
macro_rules! common_names {
    ($($name:ident),* $(,)?) => {
        /// actix's header name as `http` 1's.
        pub(crate) fn name_from_actix(name: &AxName) -> Option<http::HeaderName> {
            $(
                if *name == actix_web::http::header::$name {
                    return Some(http::header::$name);
                }
            )*
            http::HeaderName::from_bytes(name.as_str().as_bytes()).ok()
        }

        /// `http` 1's header name as actix's.
        pub(crate) fn name_to_actix(name: &http::HeaderName) -> Option<AxName> {
            $(
                if *name == http::header::$name {
                    return Some(actix_web::http::header::$name);
                }
            )*
            AxName::from_bytes(name.as_str().as_bytes()).ok()
        }
    };
}

common_names!(
    HOST,
    CONTENT_TYPE,
    USER_AGENT,
    ACCEPT,
    ACCEPT_ENCODING,
    ACCEPT_LANGUAGE,
    CONTENT_LENGTH,
    COOKIE,
    SET_COOKIE,
    CACHE_CONTROL,
    DATE,
    LOCATION,
    ETAG,
    LAST_MODIFIED,
    CONTENT_ENCODING,
    AUTHORIZATION,
    REFERER,
    ORIGIN,
    VARY,
    ALLOW,
);

fn version(v: AxVersion) -> http::Version {
    match v {
        AxVersion::HTTP_09 => http::Version::HTTP_09,
        AxVersion::HTTP_10 => http::Version::HTTP_10,
        AxVersion::HTTP_2 => http::Version::HTTP_2,
        AxVersion::HTTP_3 => http::Version::HTTP_3,
        _ => http::Version::HTTP_11,
    }
}

/// Buffers the body up to `limit` bytes. A single-chunk body is kept as is (no copy).
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, Reject> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Reject::TooLarge);
    }
    let mut first: Option<Bytes> = None;
    let mut rest = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Reject::BadRequest)?;
        let have = first.as_ref().map_or(0, Bytes::len) + rest.len();
        if have + chunk.len() > limit {
            return Err(Reject::TooLarge);
        }
        match &first {
            None if rest.is_empty() => first = Some(chunk),
            _ => {
                if let Some(f) = first.take() {
                    rest.extend_from_slice(&f);
                }
                rest.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| rest.freeze()))
}

/// Builds the handover request from actix's head and the buffered body.
/// With `peer_addr`, the connection's peer goes in the request's extensions.
pub(crate) fn request(req: &HttpRequest, body: Bytes, peer_addr: bool) -> Result<Request, Reject> {
    let method = http::Method::from_bytes(req.method().as_str().as_bytes())
        .map_err(|_| Reject::BadRequest)?;
    let uri = req.uri();
    let uri = if uri.scheme().is_none() && uri.authority().is_none() {
        // Origin form, the usual case: parse the path and query only.
        http::Uri::try_from(uri.path_and_query().map_or("/", |pq| pq.as_str()))
    } else {
        http::Uri::try_from(uri.to_string())
    }
    .map_err(|_| Reject::BadRequest)?;
    let mut out = http::Request::new(body);
    *out.method_mut() = method;
    *out.uri_mut() = uri;
    *out.version_mut() = version(req.version());
    let headers = out.headers_mut();
    for (name, value) in req.headers() {
        let name = name_from_actix(name).ok_or(Reject::BadRequest)?;
        let value =
            http::HeaderValue::from_bytes(value.as_bytes()).map_err(|_| Reject::BadRequest)?;
        headers.append(name, value);
    }
    if let Some(peer) = req.peer_addr().filter(|_| peer_addr) {
        out.extensions_mut()
            .insert(handover::adapter::PeerAddr(peer));
    }
    Ok(out)
}

/// Hop-by-hop and framing headers are actix's to write.
fn framing(name: &http::HeaderName) -> bool {
    name == http::header::CONTENT_LENGTH
        || name == http::header::TRANSFER_ENCODING
        || name == http::header::CONNECTION
}

/// Builds actix's response; whole bodies move without a copy.
pub(crate) fn response(resp: Response) -> HttpResponse {
    let (parts, body) = resp.into_parts();
    let status =
        AxStatus::from_u16(parts.status.as_u16()).unwrap_or(AxStatus::INTERNAL_SERVER_ERROR);
    let body = match body.try_into_bytes() {
        Ok(bytes) => BoxBody::new(bytes),
        Err(body) => BoxBody::new(Frames { body }),
    };
    let mut out = HttpResponse::with_body(status, body);
    let headers = out.headers_mut();
    for (name, value) in &parts.headers {
        if framing(name) {
            continue;
        }
        if let (Some(n), Ok(v)) = (name_to_actix(name), AxValue::from_bytes(value.as_bytes())) {
            headers.append(n, v);
        }
    }
    out
}

/// A handover body that is not whole bytes, as an actix body: its data
/// frames in order, sized when the body knows its length (trailers, which
/// actix cannot send, are dropped).
struct Frames {
    body: Body,
}

impl MessageBody for Frames {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        match self.body.size_hint().exact() {
            Some(n) => BodySize::Sized(n),
            None => BodySize::Stream,
        }
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        loop {
            match std::task::ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => return Poll::Ready(None),
                Some(Err(e)) => return Poll::Ready(Some(Err(e as Self::Error))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
    }
}
