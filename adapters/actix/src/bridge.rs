//! HTTP/2 for a native actix-web `App` (`NativeFactory`'s): hyper's HTTP/2
//! connection (which drains with a graceful GOAWAY, where actix-http's h2
//! dispatcher has no way to) in front of the `App`. Each stream becomes an
//! actix-http `Request` (method, URI, headers, peer address, body as a stream) for
//! the app's service, and its `ServiceResponse` goes back as the stream's
//! response; the types move between `http` 1 (hyper) and `http` 0.2
//! (actix-http).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{HeaderName as AxName, HeaderValue as AxValue};
use actix_web::http::{Method as AxMethod, Uri as AxUri, Version as AxVersion};
use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::Stream;
use handover::http;
use handover::BoxError;
use http_body::Body as _;
use hyper::body::Incoming;

/// Spawns hyper's stream tasks on the worker's own (single-threaded)
/// runtime: the app's futures are not `Send`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, future: F) {
        actix_rt::spawn(async move {
            future.await;
        });
    }
}

/// The app's service, for one HTTP/2 connection.
pub(crate) struct Bridge<S> {
    pub(crate) app: Rc<S>,
    pub(crate) peer: Option<SocketAddr>,
}

impl<S, B> hyper::service::Service<http::Request<Incoming>> for Bridge<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>
        + 'static,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    type Response = http::Response<ActixBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>>>>;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        let answer = to_actix(request, self.peer).map(|request| self.app.call(request));
        Box::pin(async move {
            let response = match answer {
                Ok(future) => match future.await {
                    Ok(response) => response.into_parts().1.map_into_boxed_body(),
                    Err(e) => e.error_response(),
                },
                Err(BadHead) => bad_request(),
            };
            Ok(from_actix(response))
        })
    }
}

/// A request head actix cannot take (a method or URI `http` 0.2 refuses).
struct BadHead;

/// The answer to a [`BadHead`].
fn bad_request() -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/plain; charset=utf-8")
        .body("Bad Request\n")
}

/// hyper's request as an actix-http request, its body streamed.
fn to_actix(
    request: http::Request<Incoming>,
    peer: Option<SocketAddr>,
) -> Result<actix_http::Request, BadHead> {
    let (parts, body) = request.into_parts();
    let method = AxMethod::from_bytes(parts.method.as_str().as_bytes()).map_err(|_| BadHead)?;
    let uri = AxUri::try_from(uri_text(&parts.uri)).map_err(|_| BadHead)?;
    let payload: actix_http::BoxedPayloadStream = Box::pin(Incoming2(body));
    let mut out = actix_http::Request::with_payload(Payload::from(payload));
    let head = out.head_mut();
    head.method = method;
    head.uri = uri;
    head.version = AxVersion::HTTP_2;
    head.peer_addr = peer;
    for (name, value) in &parts.headers {
        // Valid in `http` 1 is valid in `http` 0.2: the same rules, the same bytes.
        if let (Some(name), Ok(value)) = (
            crate::convert::name_to_actix(name),
            AxValue::from_bytes(value.as_bytes()),
        ) {
            head.headers.append(name, value);
        }
    }
    Ok(out)
}

/// The URI as text, as its `Display` writes it, without the formatting
/// machinery (a tenth of the cost); actix parses it again.
fn uri_text(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str();
    let authority = uri.authority().map(http::uri::Authority::as_str);
    let query = uri.query();
    let mut text = String::with_capacity(
        scheme.map_or(0, |s| s.len() + 3)
            + authority.map_or(0, str::len)
            + uri.path().len()
            + query.map_or(0, |q| q.len() + 1),
    );
    if let Some(scheme) = scheme {
        text.push_str(scheme);
        text.push_str("://");
    }
    if let Some(authority) = authority {
        text.push_str(authority);
    }
    text.push_str(uri.path());
    if let Some(query) = query {
        text.push('?');
        text.push_str(query);
    }
    text
}

/// Headers that belong to an HTTP/1 connection, never sent on HTTP/2.
fn connection_specific(name: &AxName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
    )
}

/// actix's response as hyper's; hyper frames its body (`content-length`
/// from the body's size when it has one).
fn from_actix(response: HttpResponse) -> http::Response<ActixBody> {
    let (head, body) = response.into_parts();
    let mut out = http::Response::new(ActixBody(body));
    *out.status_mut() =
        http::StatusCode::from_u16(head.status().as_u16()).unwrap_or(http::StatusCode::OK);
    let headers = out.headers_mut();
    for (name, value) in head.headers() {
        if connection_specific(name) {
            continue;
        }
        if let (Some(name), Ok(value)) = (
            crate::convert::name_from_actix(name),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    out
}

/// A request body from hyper as actix's payload stream.
struct Incoming2(Incoming);

impl Stream for Incoming2 {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let frame = std::task::ready!(Pin::new(&mut self.0).poll_frame(cx));
            return Poll::Ready(match frame {
                None => None,
                Some(Err(e)) => Some(Err(PayloadError::Io(std::io::Error::other(e)))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => Some(Ok(data)),
                    // Trailers: not part of actix's payload.
                    Err(_) => continue,
                },
            });
        }
    }
}

/// An actix response body as hyper's.
pub(crate) struct ActixBody(BoxBody);

impl http_body::Body for ActixBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.0).poll_next(cx).map(|next| {
            next.map(|chunk| {
                chunk
                    .map(http_body::Frame::data)
                    .map_err(|e| BoxError::from(e.to_string()))
            })
        })
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.0.size(), BodySize::None | BodySize::Sized(0))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.0.size() {
            BodySize::None => http_body::SizeHint::with_exact(0),
            BodySize::Sized(n) => http_body::SizeHint::with_exact(n),
            BodySize::Stream => http_body::SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_written_as_display_writes_them() {
        for uri in [
            "http://example.com/a/b?x=1&y=2",
            "https://user@example.com:8443/",
            "/only/a/path",
            "/path?q",
            "*",
            "http://[::1]:80/x",
        ] {
            let uri: http::Uri = uri.parse().unwrap();
            assert_eq!(uri_text(&uri), uri.to_string());
        }
    }

    #[test]
    fn responses_keep_status_and_headers_but_not_http1_ones() {
        let response = HttpResponse::Created()
            .insert_header(("x-one", "1"))
            .append_header(("set-cookie", "a=1"))
            .append_header(("set-cookie", "b=2"))
            .insert_header(("connection", "close"))
            .insert_header(("keep-alive", "timeout=5"))
            .body("made");
        let out = from_actix(response);
        assert_eq!(out.status(), http::StatusCode::CREATED);
        assert_eq!(out.headers()["x-one"], "1");
        assert_eq!(out.headers().get_all("set-cookie").iter().count(), 2);
        assert!(out.headers().get("connection").is_none());
        assert!(out.headers().get("keep-alive").is_none());
        assert_eq!(http_body::Body::size_hint(out.body()).exact(), Some(4));
    }
}
