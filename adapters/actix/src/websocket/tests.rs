//! The transport over an in-memory payload, the client's frames written by
//! actix-http's own codec in client mode (masked), the server's read back
//! with it: what the conformance suite's clients do not send.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_codec::{Decoder, Encoder};
use actix_http::body::MessageBody;
use actix_http::ws::{self, CloseCode, CloseReason, Codec, Item};
use bytes::{Bytes, BytesMut};
use futures_util::task::noop_waker_ref;
use futures_util::{Sink, Stream};
use handover::config::WebSocketConfig;
use handover::{CloseFrame, ErrorKind, Message};

use super::transport::{open, ActixSocket, SocketBody};

struct Peer {
    /// Feeds the payload (`None` once the client's side has ended).
    sender: Box<dyn FnMut(Option<Bytes>)>,
    socket: ActixSocket,
    body: SocketBody,
    client: Codec,
}

fn cx() -> Context<'static> {
    Context::from_waker(noop_waker_ref())
}

fn limits(max: usize) -> WebSocketConfig {
    let mut limits = WebSocketConfig::default();
    limits.max_message_size = max;
    limits.max_frame_size = max;
    limits
}

impl Peer {
    fn new(max: usize) -> Peer {
        let (mut sender, payload) = actix_http::h1::Payload::create(false);
        let (socket, body) = open(payload.into(), &limits(max));
        Peer {
            sender: Box::new(move |chunk| match chunk {
                Some(chunk) => sender.feed_data(chunk),
                None => sender.feed_eof(),
            }),
            socket,
            body,
            client: Codec::new().client_mode(),
        }
    }

    /// Sends `message` as the client does (masked).
    fn send(&mut self, message: ws::Message) {
        let mut buf = BytesMut::new();
        self.client.encode(message, &mut buf).unwrap();
        (self.sender)(Some(buf.freeze()));
    }

    fn raw(&mut self, bytes: &[u8]) {
        (self.sender)(Some(Bytes::copy_from_slice(bytes)));
    }

    fn recv(&mut self) -> Poll<Option<Result<Message, handover::Error>>> {
        Pin::new(&mut self.socket).poll_next(&mut cx())
    }

    fn error(&mut self) -> ErrorKind {
        match self.recv() {
            Poll::Ready(Some(Err(e))) => e.kind(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// The frames the server wrote so far, decoded as the client does.
    fn frames(&mut self) -> Vec<ws::Frame> {
        let mut bytes = BytesMut::new();
        while let Poll::Ready(Some(Ok(chunk))) = Pin::new(&mut self.body).poll_next(&mut cx()) {
            bytes.extend_from_slice(&chunk);
        }
        let mut frames = Vec::new();
        while let Some(frame) = self.client.decode(&mut bytes).unwrap() {
            frames.push(frame);
        }
        assert!(bytes.is_empty(), "a partial frame: {bytes:?}");
        frames
    }

    fn write(&mut self, message: Message) -> Poll<Result<(), handover::Error>> {
        let mut socket = Pin::new(&mut self.socket);
        match socket.as_mut().poll_ready(&mut cx()) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        socket.as_mut().start_send(message)?;
        socket.poll_flush(&mut cx())
    }
}

#[test]
fn a_fragmented_text_message_arrives_whole_with_a_ping_answered_between() {
    let mut peer = Peer::new(1024);
    peer.send(ws::Message::Continuation(Item::FirstText("hel".into())));
    peer.send(ws::Message::Ping(Bytes::from_static(b"p1")));
    peer.send(ws::Message::Continuation(Item::Continue("lo, ".into())));
    assert!(
        matches!(peer.recv(), Poll::Ready(Some(Ok(Message::Ping(p)))) if p == "p1"),
        "the ping between the fragments is read"
    );
    assert!(
        peer.recv().is_pending(),
        "no message before the last fragment"
    );
    peer.send(ws::Message::Continuation(Item::Last("wörld".into())));
    assert!(matches!(peer.recv(), Poll::Ready(Some(Ok(Message::Text(t)))) if t == "hello, wörld"));
    assert_eq!(
        peer.frames(),
        vec![ws::Frame::Pong(Bytes::from_static(b"p1"))],
        "the ping is answered by the transport"
    );
    // Binary fragments too.
    peer.send(ws::Message::Continuation(Item::FirstBinary(
        Bytes::from_static(&[0, 1]),
    )));
    peer.send(ws::Message::Continuation(Item::Last(Bytes::from_static(
        &[254, 255],
    ))));
    assert!(
        matches!(peer.recv(), Poll::Ready(Some(Ok(Message::Binary(b)))) if b[..] == [0, 1, 254, 255])
    );
}

#[test]
fn invalid_utf8_in_a_text_message_is_a_protocol_error_and_reading_ends() {
    let mut peer = Peer::new(1024);
    peer.send(ws::Message::Continuation(Item::FirstText(
        Bytes::from_static(b"ok "),
    )));
    peer.send(ws::Message::Continuation(Item::Last(Bytes::from_static(
        &[0xc3, 0x28],
    ))));
    peer.send(ws::Message::Binary(Bytes::from_static(b"after")));
    assert_eq!(peer.error(), ErrorKind::WebSocket);
    assert!(matches!(peer.recv(), Poll::Ready(None)));
}

#[test]
fn a_received_close_is_answered_with_its_code_and_nothing_more_is_read() {
    let mut peer = Peer::new(1024);
    peer.send(ws::Message::Close(Some(CloseReason {
        code: CloseCode::Other(4001),
        description: Some("bye".into()),
    })));
    peer.send(ws::Message::Text("late".into()));
    let close = CloseFrame::new(4001, "bye");
    assert!(matches!(peer.recv(), Poll::Ready(Some(Ok(Message::Close(Some(c))))) if c == close));
    assert!(matches!(peer.recv(), Poll::Ready(None)));
    let frames = peer.frames();
    assert!(
        matches!(&frames[..], [ws::Frame::Close(Some(r))] if r.code == CloseCode::Other(4001)),
        "{frames:?}"
    );
    // Nothing is sent after the Close; closing the sink ends the body.
    assert!(matches!(peer.write("x".into()), Poll::Ready(Err(_))));
    assert!(Pin::new(&mut peer.socket).poll_close(&mut cx()).is_ready());
    assert!(matches!(
        Pin::new(&mut peer.body).poll_next(&mut cx()),
        Poll::Ready(None)
    ));
}

#[test]
fn sizes_over_the_limits_are_too_big_and_an_oversized_frame_is_not_buffered_whole() {
    let mut peer = Peer::new(16);
    peer.send(ws::Message::Binary(Bytes::from(vec![7; 16])));
    assert!(matches!(peer.recv(), Poll::Ready(Some(Ok(Message::Binary(b)))) if b.len() == 16));
    // Fragments adding up to more than the message limit.
    peer.send(ws::Message::Continuation(Item::FirstBinary(Bytes::from(
        vec![1; 10],
    ))));
    peer.send(ws::Message::Continuation(Item::Last(Bytes::from(vec![
        1;
        10
    ]))));
    assert_eq!(peer.error(), ErrorKind::MessageTooBig);
    assert!(matches!(peer.recv(), Poll::Ready(None)));

    // A frame announcing 1 MiB: refused once more than the limit (and
    // its header) has arrived, not when it is all in.
    let mut peer = Peer::new(16);
    let mut whole = BytesMut::new();
    peer.client
        .encode(
            ws::Message::Binary(Bytes::from(vec![1; 1 << 20])),
            &mut whole,
        )
        .unwrap();
    peer.raw(&whole[..20]);
    assert!(peer.recv().is_pending());
    peer.raw(&whole[20..40]);
    assert_eq!(peer.error(), ErrorKind::MessageTooBig);
}

#[test]
fn an_unmasked_client_frame_is_a_protocol_error() {
    let mut peer = Peer::new(1024);
    let mut buf = BytesMut::new();
    // The server's codec writes unmasked frames.
    Codec::new()
        .encode(ws::Message::Text("hi".into()), &mut buf)
        .unwrap();
    peer.raw(&buf);
    assert_eq!(peer.error(), ErrorKind::WebSocket);
}

#[test]
fn writes_wait_for_the_body_beyond_the_high_water_mark_and_the_end_ends_reading() {
    let mut peer = Peer::new(1 << 20);
    let big = Bytes::from(vec![0; 40 * 1024]);
    assert!(peer.write(Message::Binary(big.clone())).is_ready());
    assert!(
        peer.write(Message::Binary(big.clone())).is_pending(),
        "over the high-water mark"
    );
    assert!(
        peer.recv().is_pending(),
        "and nothing more is read meanwhile"
    );
    assert_eq!(peer.frames().len(), 2);
    assert!(matches!(peer.write("x".into()), Poll::Ready(Ok(()))));
    assert_eq!(
        peer.frames(),
        vec![ws::Frame::Text(Bytes::from_static(b"x"))]
    );
    // The client's side ends: the stream ends.
    (peer.sender)(None);
    assert!(matches!(peer.recv(), Poll::Ready(None)));
}

#[test]
fn the_connection_gone_fails_writes_and_ends_reads() {
    let Peer {
        mut socket, body, ..
    } = Peer::new(1024);
    drop(body);
    assert!(matches!(
        Pin::new(&mut socket).poll_next(&mut cx()),
        Poll::Ready(None)
    ));
    assert!(matches!(
        Pin::new(&mut socket).poll_ready(&mut cx()),
        Poll::Ready(Err(_))
    ));
}
