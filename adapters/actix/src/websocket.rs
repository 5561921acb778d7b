//! WebSockets on actix-http's HTTP/1, with actix-http's own WebSocket codec:
//! a socket route's 101 goes out as an upgrade response whose body streams
//! the frames the server writes, while the request's payload streams what
//! the client sends (actix-http hands an upgrade's bytes to the service
//! this way). The frames are decoded from the payload's chunks with
//! `actix_http::ws::Codec` (server mode: a client's unmasked frame is a
//! protocol error) and encoded with its frame writer straight into the
//! buffer the body streams, so handover runs the handler and the drain
//! ([`AcceptedSocket::run`](handover::adapter::AcceptedSocket::run)) with
//! no copy, pipe or task of its own in between (see `transport.rs`).
//!
//! One difference stays: once the socket has closed (Close frames
//! exchanged, the 101's body ended), actix-http keeps the TCP connection
//! until the client closes it or its disconnect timeout (1 s) passes, while
//! a WebSocket client waits for the server to close first. The client has
//! its Close at once; the connection, and a drain waiting on it, end up to
//! a second later (docs/benchmarks.md measures it).

#[cfg(test)]
mod tests;
mod transport;

use handover::adapter::{SocketUpgrade, WebSockets};
use handover::Response;

use actix_http::body::BoxBody;
use actix_http::header::{HeaderName as AxName, HeaderValue as AxValue};
use actix_http::{ConnectionType, Payload, StatusCode as AxStatus};

use crate::convert::{text_response, Out};

/// Runs the accepted socket behind the 101 `answer`.
pub(crate) fn upgrade(
    answer: Response,
    socket: SocketUpgrade,
    payload: Payload,
    sockets: &WebSockets,
) -> actix_http::Response<Out> {
    // The connection stays counted by the worker while the 101 streams.
    let Some(socket) = socket.accept_on_counted(sockets) else {
        return text_response(AxStatus::UPGRADE_REQUIRED, "Upgrade Required\n");
    };
    let (transport, body) = transport::open(payload, socket.config());
    actix_rt::spawn(socket.run(transport));
    // The socket's frames, to the client, as the 101's body; it ends when
    // the socket closes, and the connection with it.
    let body = Out::Boxed(BoxBody::new(body));
    let mut out = actix_http::Response::with_body(AxStatus::SWITCHING_PROTOCOLS, body);
    out.head_mut().set_connection_type(ConnectionType::Upgrade);
    let headers = out.headers_mut();
    headers.insert(
        actix_http::header::UPGRADE,
        AxValue::from_static("websocket"),
    );
    for (name, value) in answer.headers() {
        if name == handover::http::header::CONNECTION || name == handover::http::header::UPGRADE {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            AxName::from_bytes(name.as_str().as_bytes()),
            AxValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
    out
}
