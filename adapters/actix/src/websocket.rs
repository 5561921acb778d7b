//! WebSockets on actix-http's HTTP/1: a socket route's 101 goes out as an
//! upgrade response whose body streams what the server writes, while the
//! request's payload streams what the client sends (actix-http hands an
//! upgrade's bytes to the service this way). A duplex pipe joins the two
//! to `handover_hyper::websocket`, so tokio-tungstenite runs the protocol
//! and handover the handler and the drain, as on hyper.
//!
//! One difference stays: once the socket has closed (Close frames
//! exchanged, the 101's body ended), actix-http keeps the TCP connection
//! until the client closes it or its disconnect timeout (1 s) passes, while
//! a WebSocket client waits for the server to close first. The client has
//! its Close at once; the connection, and a drain waiting on it, end up to
//! a second later (docs/benchmarks.md measures it).

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use handover::adapter::{SocketUpgrade, WebSockets};
use handover::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use actix_http::body::{BodyStream, BoxBody};
use actix_http::header::{HeaderName as AxName, HeaderValue as AxValue};
use actix_http::{ConnectionType, Payload, StatusCode as AxStatus};

use crate::convert::{text_response, Out};

/// Bytes in flight in each direction of the pipe.
const PIPE: usize = 64 * 1024;

/// Runs the accepted socket behind the 101 `answer`.
pub(crate) fn upgrade(
    answer: Response,
    socket: SocketUpgrade,
    mut payload: Payload,
    sockets: &WebSockets,
) -> actix_http::Response<Out> {
    // The connection stays counted by the worker while the 101 streams.
    let Some(socket) = socket.accept_on_counted(sockets) else {
        return text_response(AxStatus::UPGRADE_REQUIRED, "Upgrade Required\n");
    };
    let (ours, theirs) = tokio::io::duplex(PIPE);
    let (from_socket, mut to_socket) = tokio::io::split(theirs);
    // The client's bytes, into the socket.
    let pump = actix_rt::spawn(async move {
        while let Some(Ok(chunk)) = payload.next().await {
            if to_socket.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to_socket.shutdown().await;
    });
    actix_rt::spawn(async move {
        handover_hyper::websocket::serve(ours, socket).await;
        // Nothing more to copy; actix-http discards what still comes.
        pump.abort();
    });
    // The socket's bytes, to the client, as the 101's body; it ends when
    // the socket closes, and the connection with it.
    let body = futures_util::stream::unfold(Some(from_socket), |reader| async move {
        let mut reader = reader?;
        let mut buf = BytesMut::with_capacity(16 * 1024);
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(_) => Some((Ok::<Bytes, std::io::Error>(buf.freeze()), Some(reader))),
        }
    });
    let body = Out::Boxed(BoxBody::new(BodyStream::new(body)));
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
