//! WebSockets over an upgraded connection: tokio-tungstenite runs the
//! protocol (framing, masking, size limits, answering pings and Close
//! frames) and speaks handover's [`Message`] as a
//! [`Transport`](handover::adapter::Transport); the handler, the drain's
//! grace and Close, and the count are handover's
//! ([`AcceptedSocket::run`]). [`serve`] is public: an adapter for another
//! server on tokio IO can run its WebSockets with it.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use handover::adapter::AcceptedSocket;
use handover::{CloseFrame, Error, ErrorKind, Message};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::{frame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::watchdog::{Progress, Watched};

/// The bytes tungstenite reads at most at once.
const READ_BUFFER: usize = 8 * 1024;

/// Runs an accepted socket on `io`, the connection after its 101 response.
pub async fn serve<S>(io: S, socket: AcceptedSocket)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let transport = transport(io, Vec::new(), config(&socket), None).await;
    socket.run(transport).await;
}

/// Runs an accepted socket on the connection hyper upgraded, in a task of
/// its own, so that a message's wake polls the socket's future alone, not
/// the upgrade's around it. A clear-text TCP connection is taken back out
/// of hyper's and the watchdog's wrappers (the watchdog has stopped with
/// the HTTP connection), so the socket's every read and write goes straight
/// to the stream; any other is served through them.
pub(crate) async fn serve_upgraded(upgraded: Upgraded, socket: AcceptedSocket) {
    let parts = match upgraded.downcast::<TokioIo<Watched<TcpStream>>>() {
        Ok(parts) => parts,
        Err(upgraded) => {
            let transport =
                transport(TokioIo::new(upgraded), Vec::new(), config(&socket), None).await;
            tokio::spawn(socket.run(transport));
            return;
        }
    };
    match parts.io.into_inner().into_parts() {
        Ok((stream, mut ahead, progress)) => {
            // What the client sent after its request: the socket's first bytes.
            ahead.extend_from_slice(&parts.read_buf);
            let transport = transport(stream, ahead, config(&socket), Some(progress)).await;
            tokio::spawn(socket.run(transport));
        }
        Err(e) => log::debug!("hyper: websocket connection failed before it started: {e}"),
    }
}

/// tungstenite's settings for `socket`.
fn config(socket: &AcceptedSocket) -> WebSocketConfig {
    let limits = socket.config();
    WebSocketConfig::default()
        // tungstenite zero-fills up to its read buffer size (128 KiB by
        // default) before every read: with 8 KiB a small message costs a
        // fraction of that; a large one still gets the room it needs.
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(limits.max_message_size))
        .max_frame_size(Some(limits.max_frame_size))
}

/// tungstenite on `io`, which has read `ahead` already, as a transport
/// that holds `held` (the connection's count) while it lives.
async fn transport<S>(
    io: S,
    ahead: Vec<u8>,
    config: WebSocketConfig,
    held: Option<Arc<Progress>>,
) -> Tungstenite<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let inner = if ahead.is_empty() {
        WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await
    } else {
        WebSocketStream::from_partially_read(io, ahead, Role::Server, Some(config)).await
    };
    Tungstenite { inner, _held: held }
}

pin_project_lite::pin_project! {
    /// A tokio-tungstenite stream speaking handover's messages.
    struct Tungstenite<S> {
        #[pin]
        inner: WebSocketStream<S>,
        // The connection's count, when the connection was taken out of
        // the watchdog's wrapper that held it.
        _held: Option<Arc<Progress>>,
    }
}

fn error(e: WsError) -> Error {
    match e {
        WsError::Capacity(e) => Error::new(
            ErrorKind::MessageTooBig,
            format!("websocket message too big: {e}"),
        ),
        e => Error::new(ErrorKind::WebSocket, format!("websocket failed: {e}")),
    }
}

#[inline(always)]
fn from_ws(message: WsMessage) -> Option<Message> {
    Some(match message {
        WsMessage::Text(text) => Message::Text(text.into()),
        WsMessage::Binary(data) => Message::Binary(data),
        WsMessage::Ping(data) => Message::Ping(data),
        WsMessage::Pong(data) => Message::Pong(data),
        WsMessage::Close(frame) => Message::Close(frame.map(|frame| CloseFrame {
            code: frame.code.into(),
            reason: frame.reason.as_str().to_owned(),
        })),
        // Never read: raw frames are for writing.
        WsMessage::Frame(_) => return None,
    })
}

#[inline]
fn to_ws(message: Message) -> WsMessage {
    match message {
        Message::Text(text) => WsMessage::Text(text.into()),
        Message::Binary(data) => WsMessage::Binary(data),
        Message::Ping(data) => WsMessage::Ping(data),
        Message::Pong(data) => WsMessage::Pong(data),
        Message::Close(frame) => WsMessage::Close(frame.map(|frame| frame::CloseFrame {
            code: frame.code.into(),
            reason: frame.reason.into(),
        })),
        // `Message` may grow; nothing else is sent today.
        #[allow(unreachable_patterns)]
        _ => WsMessage::Pong(Default::default()),
    }
}

impl<S> Stream for Tungstenite<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Result<Message, Error>;

    #[inline]
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match std::task::ready!(self.as_mut().project().inner.poll_next(cx)) {
                None | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    Poll::Ready(None)
                }
                Some(Err(e)) => Poll::Ready(Some(Err(error(e)))),
                Some(Ok(message)) => match from_ws(message) {
                    Some(message) => Poll::Ready(Some(Ok(message))),
                    None => continue,
                },
            };
        }
    }
}

impl<S> Sink<Message> for Tungstenite<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Error = Error;

    #[inline]
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.project().inner.poll_ready(cx).map_err(error)
    }

    #[inline]
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        self.project().inner.start_send(to_ws(item)).map_err(error)
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.project().inner.poll_flush(cx).map_err(error)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match std::task::ready!(self.project().inner.poll_close(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(error(e))),
        }
    }
}
