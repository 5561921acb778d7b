//! Translation between actix-http (http 0.2 types) and handover (http 1 types).

use std::cell::Cell;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::header::{HeaderName as AxName, HeaderValue as AxValue};
use actix_http::{Payload, RequestHead, StatusCode as AxStatus, Version as AxVersion};
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
    pub(crate) fn response(&self) -> actix_http::Response<Out> {
        let (status, text) = match self {
            Reject::TooLarge => (AxStatus::PAYLOAD_TOO_LARGE, "Payload Too Large\n"),
            Reject::BadRequest => (AxStatus::BAD_REQUEST, "Bad Request\n"),
        };
        text_response(status, text)
    }
}

/// A plain-text response.
pub(crate) fn text_response(status: AxStatus, text: &'static str) -> actix_http::Response<Out> {
    let mut out =
        actix_http::Response::with_body(status, Out::Whole(Bytes::from_static(text.as_bytes())));
    out.headers_mut().insert(
        actix_http::header::CONTENT_TYPE,
        AxValue::from_static("text/plain; charset=utf-8"),
    );
    out
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
                if *name == actix_http::header::$name {
                    return Some(http::header::$name);
                }
            )*
            http::HeaderName::from_bytes(name.as_str().as_bytes()).ok()
        }

        /// `http` 1's header name as actix's.
        pub(crate) fn name_to_actix(name: &http::HeaderName) -> Option<AxName> {
            $(
                if *name == http::header::$name {
                    return Some(actix_http::header::$name);
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

/// actix's method as `http` 1's: the standard ones by comparison, any
/// other parsed (valid in one crate is valid in the other).
fn method(method: &actix_http::Method) -> Option<http::Method> {
    use actix_http::Method as Ax;
    Some(match *method {
        Ax::GET => http::Method::GET,
        Ax::HEAD => http::Method::HEAD,
        Ax::POST => http::Method::POST,
        Ax::PUT => http::Method::PUT,
        Ax::DELETE => http::Method::DELETE,
        Ax::PATCH => http::Method::PATCH,
        Ax::OPTIONS => http::Method::OPTIONS,
        _ => return http::Method::from_bytes(method.as_str().as_bytes()).ok(),
    })
}

/// Response header values common enough to be written without a copy.
const COMMON_VALUES: [&str; 5] = [
    "text/plain; charset=utf-8",
    "application/json",
    "text/html; charset=utf-8",
    "text/event-stream",
    "no-cache",
];

/// `http` 1's header value as actix's: a common one as a static value (no
/// allocation), any other copied.
pub(crate) fn value_to_actix(value: &http::HeaderValue) -> Option<AxValue> {
    let bytes = value.as_bytes();
    for common in COMMON_VALUES {
        if bytes == common.as_bytes() {
            return Some(AxValue::from_static(common));
        }
    }
    AxValue::from_bytes(bytes).ok()
}

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
    head: &RequestHead,
    mut payload: Payload,
    limit: usize,
) -> Result<Bytes, Reject> {
    let declared = head
        .headers
        .get(actix_http::header::CONTENT_LENGTH)
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

/// What one worker's conversions keep from one request to the next, so as
/// not to allocate again what is the same each time.
#[derive(Default)]
pub(crate) struct Spare {
    /// The header map of the last response, emptied, for the next request.
    headers: Cell<Option<http::HeaderMap>>,
    /// The last request's `Host` (most requests to a server name the same).
    host: Cell<Option<http::HeaderValue>>,
}

impl Spare {
    /// `value` as `http` 1's; the `Host` of the previous request again
    /// when it is the same (shared, not copied).
    fn host(&self, value: &AxValue) -> Option<http::HeaderValue> {
        let bytes = value.as_bytes();
        let last = self.host.take();
        let host = match last {
            Some(last) if last.as_bytes() == bytes => last,
            _ => http::HeaderValue::from_bytes(bytes).ok()?,
        };
        self.host.set(Some(host.clone()));
        Some(host)
    }
}

/// Builds the handover request from actix's head and the buffered body.
/// With `peer_addr`, the connection's peer goes in the request's extensions.
pub(crate) fn request(
    head: &RequestHead,
    body: Bytes,
    peer_addr: bool,
    spare: &Spare,
) -> Result<Request, Reject> {
    let method = method(&head.method).ok_or(Reject::BadRequest)?;
    let uri = &head.uri;
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
    *out.version_mut() = version(head.version);
    let mut headers = spare.headers.take().unwrap_or_default();
    for (name, value) in head.headers.iter() {
        let name = name_from_actix(name).ok_or(Reject::BadRequest)?;
        let value = if name == http::header::HOST {
            spare.host(value)
        } else {
            http::HeaderValue::from_bytes(value.as_bytes()).ok()
        };
        headers.append(name, value.ok_or(Reject::BadRequest)?);
    }
    *out.headers_mut() = headers;
    if let Some(peer) = head.peer_addr.filter(|_| peer_addr) {
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

/// Builds actix's response; whole bodies move without a copy. The
/// response's own header map, emptied, is kept in `spare` for a next request.
pub(crate) fn response(resp: Response, spare: &Spare) -> actix_http::Response<Out> {
    let (parts, body) = resp.into_parts();
    let status =
        AxStatus::from_u16(parts.status.as_u16()).unwrap_or(AxStatus::INTERNAL_SERVER_ERROR);
    let body = match body.try_into_bytes() {
        Ok(bytes) => Out::Whole(bytes),
        Err(body) => Out::Frames(Frames { body }),
    };
    let mut out = actix_http::Response::with_body(status, body);
    let headers = out.headers_mut();
    for (name, value) in &parts.headers {
        if framing(name) {
            continue;
        }
        if let (Some(n), Some(v)) = (name_to_actix(name), value_to_actix(value)) {
            headers.append(n, v);
        }
    }
    let mut emptied = parts.headers;
    emptied.clear();
    spare.headers.set(Some(emptied));
    out
}

/// A response body for actix: whole bytes (most responses), a handover
/// body's frames, or any other (a WebSocket's stream).
pub(crate) enum Out {
    Whole(Bytes),
    Frames(Frames),
    Boxed(BoxBody),
}

impl MessageBody for Out {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        match self {
            Out::Whole(bytes) => BodySize::Sized(bytes.len() as u64),
            Out::Frames(frames) => frames.size(),
            Out::Boxed(body) => body.size(),
        }
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        match self.get_mut() {
            Out::Whole(bytes) => {
                if bytes.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Ok(std::mem::take(bytes))))
                }
            }
            Out::Frames(frames) => Pin::new(frames).poll_next(cx),
            Out::Boxed(body) => Pin::new(body).poll_next(cx),
        }
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        match self {
            Out::Whole(bytes) => Ok(bytes),
            other => Err(other),
        }
    }
}

/// A handover body that is not whole bytes, as an actix body: its data
/// frames in order, sized when the body knows its length (trailers, which
/// actix cannot send, are dropped).
pub(crate) struct Frames {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn head(path: &str, headers: &[(&'static str, &str)]) -> RequestHead {
        let mut head = RequestHead::default();
        head.uri = path.parse().unwrap();
        for (name, value) in headers {
            head.headers
                .append(AxName::from_static(name), AxValue::from_str(value).unwrap());
        }
        head
    }

    #[test]
    fn methods_map_to_the_same_method() {
        for name in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "PURGE",
        ] {
            let ax = actix_http::Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(method(&ax).unwrap().as_str(), name);
        }
    }

    #[test]
    fn common_response_values_are_kept_as_they_were() {
        for value in COMMON_VALUES.iter().copied().chain(["text/plain", "x"]) {
            let converted = value_to_actix(&http::HeaderValue::from_static(value)).unwrap();
            assert_eq!(converted.as_bytes(), value.as_bytes());
        }
    }

    #[test]
    fn a_host_is_reused_only_while_it_is_the_same() {
        let spare = Spare::default();
        for host in ["a.example:80", "a.example:80", "b.example", "a.example:80"] {
            let request = request(
                &head("/x?y=1", &[("host", host)]),
                Bytes::new(),
                false,
                &spare,
            );
            let request = request.ok().unwrap();
            assert_eq!(request.headers()["host"], host);
            assert_eq!(request.uri(), "/x?y=1");
        }
    }

    #[test]
    fn a_response_header_map_comes_back_empty_for_the_next_request() {
        let spare = Spare::default();
        let mut answer = Response::new(Body::from("hi"));
        for (name, value) in [("x-one", "1"), ("set-cookie", "a=1"), ("set-cookie", "b=2")] {
            answer
                .headers_mut()
                .append(name, http::HeaderValue::from_static(value));
        }
        answer
            .headers_mut()
            .insert("content-length", http::HeaderValue::from_static("2"));
        let out = response(answer, &spare);
        assert_eq!(out.headers().get_all("set-cookie").count(), 2);
        assert_eq!(out.headers().get("x-one").unwrap(), "1");
        assert!(
            out.headers().get("content-length").is_none(),
            "actix writes the framing"
        );
        let kept = spare.headers.take().unwrap();
        assert!(
            kept.is_empty() && kept.capacity() > 0,
            "emptied, its allocation kept"
        );
        spare.headers.set(Some(kept));
        let next = request(
            &head("/", &[("accept", "*/*")]),
            Bytes::new(),
            false,
            &spare,
        );
        let next = next.ok().unwrap();
        assert_eq!(next.headers().len(), 1, "nothing of the response's headers");
        assert_eq!(next.headers()["accept"], "*/*");
        assert!(
            spare.headers.take().is_none(),
            "the map went to the request"
        );
    }
}
