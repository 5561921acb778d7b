//! The response body: one opaque type that is an [`http_body::Body`].

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Frame, SizeHint};

use crate::error::BoxError;

type BoxStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send + 'static>>;
type BoxBody = Pin<Box<dyn http_body::Body<Data = Bytes, Error = BoxError> + Send + 'static>>;

/// A response body: whole bytes (sent with `Content-Length`), a stream of
/// chunks (chunked on HTTP/1.1), or any other [`http_body::Body`].
///
/// It is itself an `http_body::Body`, so a server sends it as it is; whole
/// bytes cost no allocation and can be taken back out ([`Body::as_bytes`]).
///
/// ```
/// use handover::Body;
/// use handover::bytes::Bytes;
/// use http_body::Body as _;
///
/// let hello = Body::from("Hello");
/// assert_eq!(hello.as_bytes().map(|b| &b[..]), Some(&b"Hello"[..]));
/// assert_eq!(hello.size_hint().exact(), Some(5));
///
/// let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from("a"))]);
/// let streamed = Body::from_stream(chunks);
/// assert!(streamed.as_bytes().is_none());
/// ```
pub struct Body {
    kind: Kind,
}

enum Kind {
    /// The whole body; empty once sent.
    Full(Bytes),
    Stream(BoxStream),
    Other(BoxBody),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body {
            kind: Kind::Full(Bytes::new()),
        }
    }

    /// A body sent chunk by chunk as `stream` yields them; an error from the
    /// stream aborts the response.
    pub fn from_stream<S, E>(stream: S) -> Body
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        Body {
            kind: Kind::Stream(Box::pin(StreamErrInto { inner: stream })),
        }
    }

    /// Any other `http_body::Body` (trailers included).
    pub fn new<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Body {
            kind: Kind::Other(Box::pin(BodyErrInto { inner: body })),
        }
    }

    /// The whole body, when it is held as bytes (not a stream).
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Full(bytes) => Some(bytes),
            Kind::Stream(_) | Kind::Other(_) => None,
        }
    }

    /// Takes the whole body out when it is held as bytes; otherwise gives the body back.
    ///
    /// # Errors
    /// The body itself, when it is a stream.
    pub fn try_into_bytes(self) -> Result<Bytes, Body> {
        match self.kind {
            Kind::Full(bytes) => Ok(bytes),
            kind => Err(Body { kind }),
        }
    }

    /// Reads the whole body into memory.
    ///
    /// # Errors
    /// The first error the body yields.
    pub async fn collect(self) -> Result<Bytes, BoxError> {
        match self.kind {
            Kind::Full(bytes) => Ok(bytes),
            kind => {
                let collected = http_body_util::BodyExt::collect(Body { kind }).await?;
                Ok(collected.to_bytes())
            }
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(bytes) if bytes.is_empty() => Poll::Ready(None),
            Kind::Full(bytes) => Poll::Ready(Some(Ok(Frame::data(std::mem::take(bytes))))),
            Kind::Stream(stream) => stream
                .as_mut()
                .poll_next(cx)
                .map(|chunk| chunk.map(|r| r.map(Frame::data))),
            Kind::Other(body) => body.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_empty(),
            Kind::Stream(_) => false,
            Kind::Other(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(bytes) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Stream(stream) => {
                let (lower, upper) = stream.size_hint();
                // A stream's hint counts chunks, not bytes: only "empty" is known.
                if upper == Some(0) && lower == 0 {
                    SizeHint::with_exact(0)
                } else {
                    SizeHint::default()
                }
            }
            Kind::Other(body) => body.size_hint(),
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full(b) => f.debug_tuple("Body::Full").field(&b.len()).finish(),
            Kind::Stream(_) => f.write_str("Body::Stream(..)"),
            Kind::Other(_) => f.write_str("Body::Other(..)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body {
            kind: Kind::Full(bytes),
        }
    }
}
impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::from(Bytes::from(bytes))
    }
}
impl From<String> for Body {
    fn from(text: String) -> Self {
        Body::from(Bytes::from(text))
    }
}
impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}
impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Body::from(Bytes::from_static(bytes))
    }
}

pin_project_lite::pin_project! {
    /// A stream whose errors are boxed.
    struct StreamErrInto<S> {
        #[pin]
        inner: S,
    }
}

impl<S, E> Stream for StreamErrInto<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.project()
            .inner
            .poll_next(cx)
            .map(|item| item.map(|r| r.map_err(Into::into)))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

pin_project_lite::pin_project! {
    /// A body whose errors are boxed.
    struct BodyErrInto<B> {
        #[pin]
        inner: B,
    }
}

impl<B> http_body::Body for BodyErrInto<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project()
            .inner
            .poll_frame(cx)
            .map(|frame| frame.map(|r| r.map_err(Into::into)))
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    #[test]
    fn whole_bytes_are_one_frame_then_the_end() {
        let mut body = Body::from("abc");
        assert_eq!(body.size_hint().exact(), Some(3));
        assert!(!body.is_end_stream());
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let frame = Pin::new(&mut body).poll_frame(&mut cx);
        let Poll::Ready(Some(Ok(frame))) = frame else {
            panic!("a data frame expected")
        };
        assert_eq!(frame.into_data().unwrap(), "abc");
        assert!(body.is_end_stream());
        assert!(matches!(
            Pin::new(&mut body).poll_frame(&mut cx),
            Poll::Ready(None)
        ));
        assert!(Body::empty().is_end_stream());
        assert_eq!(Body::empty().size_hint().exact(), Some(0));
    }

    #[test]
    fn streams_and_other_bodies_collect() {
        let chunks = futures_util::stream::iter(
            ["a", "b", "c"].map(|s| Ok::<_, std::io::Error>(Bytes::from_static(s.as_bytes()))),
        );
        let body = Body::from_stream(chunks);
        assert!(body.as_bytes().is_none());
        assert_eq!(crate::drain::block_on(body.collect()).unwrap(), "abc");
        let other = Body::new(http_body_util::Full::new(Bytes::from("xyz")));
        assert_eq!(other.size_hint().exact(), Some(3));
        let other = other.try_into_bytes().unwrap_err();
        assert_eq!(crate::drain::block_on(other.collect()).unwrap(), "xyz");
        assert_eq!(Body::from("x").try_into_bytes().unwrap(), "x");
    }

    #[test]
    fn stream_errors_reach_the_server() {
        let failing = futures_util::stream::iter([Err::<Bytes, _>(std::io::Error::other("boom"))]);
        let e = crate::drain::block_on(Body::from_stream(failing).collect()).unwrap_err();
        assert_eq!(e.to_string(), "boom");
    }
}
