//! Socket routes (Vapor's `drop.socket`): the handshake's checks, the 101
//! answer, and the handler waiting on it for its [`WebSocket`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Version};

use super::session::{SocketFuture, SocketUpgrade};
use super::socket::WebSocket;
use crate::responder::{text, Request, Responder, Response, ResponseFuture};

/// What a socket handler's future may return: `()`, or a `Result` whose
/// error is logged (the server then closes with 1000, or with the code a
/// failure or the drain calls for).
pub trait SocketOutput: Send + 'static {
    /// The handler's result, its error written out.
    fn into_result(self) -> Result<(), String>;
}

impl SocketOutput for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display + Send + 'static> SocketOutput for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// A socket route's handler: any `Fn(Request, WebSocket) -> impl Future`
/// whose output is `()` or a `Result<(), E>` ([`SocketOutput`]).
pub trait SocketHandler: Send + Sync + 'static {
    /// Runs the handler for one accepted socket.
    fn call(&self, request: Request, socket: WebSocket) -> SocketFuture;
}

impl<F, Fut> SocketHandler for F
where
    F: Fn(Request, WebSocket) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: SocketOutput,
{
    fn call(&self, request: Request, socket: WebSocket) -> SocketFuture {
        Box::pin(Outcome {
            future: self(request, socket),
        })
    }
}

pin_project_lite::pin_project! {
    /// A handler's future, its output written out as it ends (what a
    /// `map` does, without the state a `map` keeps: this one is polled at
    /// every message).
    struct Outcome<F> {
        #[pin]
        future: F,
    }
}

impl<F> Future for Outcome<F>
where
    F: Future,
    F::Output: SocketOutput,
{
    type Output = Result<(), String>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        self.project()
            .future
            .poll(cx)
            .map(SocketOutput::into_result)
    }
}

/// The responder of a socket route: checks the handshake and answers 101
/// with the socket for the adapter, or a 4xx.
pub(crate) struct SocketRoute {
    handler: Arc<dyn SocketHandler>,
}

impl SocketRoute {
    pub(crate) fn new(handler: impl SocketHandler) -> SocketRoute {
        SocketRoute {
            handler: Arc::new(handler),
        }
    }
}

/// Whether `name`'s comma-separated values hold `token` (case-insensitive).
fn lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(token))
}

/// Whether a request asks for a WebSocket (`Upgrade: websocket` with
/// `Connection: upgrade`).
pub(crate) fn wants_websocket(headers: &HeaderMap) -> bool {
    lists(headers, header::CONNECTION, "upgrade") && lists(headers, header::UPGRADE, "websocket")
}

/// The answer to a request that is no WebSocket handshake.
fn refuse(status: StatusCode, what: &str) -> Response {
    let mut response = text(status, format!("{what}\n"));
    if status == StatusCode::UPGRADE_REQUIRED {
        response
            .headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    response
}

impl Responder for SocketRoute {
    fn respond(&self, request: Request) -> ResponseFuture {
        Box::pin(std::future::ready(self.answer(request)))
    }
}

impl SocketRoute {
    fn answer(&self, request: Request) -> Response {
        let headers = request.headers();
        if request.method() != Method::GET || !wants_websocket(headers) {
            return refuse(
                StatusCode::UPGRADE_REQUIRED,
                "this route takes WebSocket connections: a GET with Upgrade: websocket",
            );
        }
        if request.version() != Version::HTTP_11 {
            return refuse(
                StatusCode::UPGRADE_REQUIRED,
                "WebSocket connections are served over HTTP/1.1",
            );
        }
        if headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            return refuse(
                StatusCode::UPGRADE_REQUIRED,
                "unsupported Sec-WebSocket-Version; this server speaks 13",
            );
        }
        let Some(key) = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .filter(|key| key.len() == 24)
        else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "missing or malformed Sec-WebSocket-Key",
            );
        };
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let Ok(accept) = HeaderValue::from_str(&accept) else {
            return refuse(StatusCode::BAD_REQUEST, "malformed Sec-WebSocket-Key");
        };
        let handler = self.handler.clone();
        let upgrade = SocketUpgrade::new(Box::new(move |socket| handler.call(request, socket)));
        let mut response = Response::new(crate::body::Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        response.extensions_mut().insert(upgrade);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::block_on;
    use bytes::Bytes;

    fn route() -> SocketRoute {
        SocketRoute::new(|_req: Request, _ws: WebSocket| async {})
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::get("/ws");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Bytes::new()).unwrap()
    }

    const HANDSHAKE: [(&str, &str); 4] = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn a_handshake_gets_101_with_the_accept_key_and_the_socket() {
        let mut response = block_on(route().respond(request(&HANDSHAKE)));
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        // RFC 6455's own example.
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(SocketUpgrade::take(&mut response).is_some());
    }

    #[test]
    fn anything_else_gets_a_4xx() {
        let plain = block_on(route().respond(request(&[])));
        assert_eq!(plain.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(plain.headers()[header::UPGRADE], "websocket");
        let old = block_on(route().respond(request(&[
            HANDSHAKE[0],
            HANDSHAKE[1],
            ("sec-websocket-version", "8"),
            HANDSHAKE[3],
        ])));
        assert_eq!(old.status(), StatusCode::UPGRADE_REQUIRED);
        let keyless = block_on(route().respond(request(&HANDSHAKE[..3])));
        assert_eq!(keyless.status(), StatusCode::BAD_REQUEST);
        let mut post = request(&HANDSHAKE);
        *post.method_mut() = Method::POST;
        assert_eq!(
            block_on(route().respond(post)).status(),
            StatusCode::UPGRADE_REQUIRED
        );
    }
}
