//! Telling HTTP/2 with prior knowledge (h2c, or TLS without ALPN) from
//! HTTP/1 on a connection: an HTTP/2 client starts with the connection
//! preface, which no HTTP/1 request line begins like. The bytes read to
//! decide are replayed to the connection by [`Prefixed`] (or, in this
//! crate's server, by the IO wrapper that also counts bytes for the
//! watchdog: one wrapper at every read, not two).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The HTTP/2 client connection preface (RFC 9113, section 3.4): the first
/// bytes of an h2c client with prior knowledge.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the first bytes of a connection say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// The HTTP/2 preface.
    Http2,
    /// Anything else: HTTP/1 (or garbage, which HTTP/1 answers with 400).
    Http1,
    /// The client closed before sending a byte.
    Closed,
}

/// Reads from `io` until what arrived is the whole preface or differs from
/// it (usually at the first byte); returns the verdict and the bytes read,
/// which [`Prefixed`] gives back to the connection.
pub async fn sniff<I: AsyncRead + Unpin>(io: &mut I) -> io::Result<(Sniffed, Vec<u8>)> {
    let mut read = Vec::with_capacity(PREFACE.len());
    let mut buf = [0u8; PREFACE.len()];
    while read.len() < PREFACE.len() {
        let n = io.read(&mut buf[..PREFACE.len() - read.len()]).await?;
        if n == 0 {
            let verdict = if read.is_empty() {
                Sniffed::Closed
            } else {
                Sniffed::Http1
            };
            return Ok((verdict, read));
        }
        read.extend_from_slice(&buf[..n]);
        if !PREFACE.starts_with(&read) {
            return Ok((Sniffed::Http1, read));
        }
    }
    Ok((Sniffed::Http2, read))
}

/// A connection's IO that first yields `prefix` (the bytes [`sniff`] read),
/// then reads from the connection. The read that ends the prefix also
/// takes what has arrived since, so the reader sees the client's first
/// write whole (hyper sizes its reads by how much each read returned).
#[derive(Debug)]
pub struct Prefixed<I> {
    replay: Replay,
    inner: I,
}

impl<I> Prefixed<I> {
    /// `inner`, with `prefix` to be read first.
    pub fn new(inner: I, prefix: Vec<u8>) -> Self {
        Prefixed {
            replay: Replay::new(prefix),
            inner,
        }
    }

    /// The connection's own IO.
    pub fn get_ref(&self) -> &I {
        &self.inner
    }
}

/// The bytes [`sniff`] read, given back to the reader before the
/// connection's own: [`Prefixed`]'s, and the server's single IO wrapper's
/// (which also counts the bytes for the watchdog).
#[derive(Debug, Default)]
pub(crate) struct Replay {
    prefix: Vec<u8>,
    at: usize,
    /// An error met while reading past the prefix, for the next read.
    error: Option<io::Error>,
}

impl Replay {
    pub(crate) fn new(prefix: Vec<u8>) -> Self {
        Replay {
            prefix,
            at: 0,
            error: None,
        }
    }

    /// Whether a read must go through [`Replay::poll_read`]: bytes (or an
    /// error) are still to be given back.
    #[inline]
    pub(crate) fn active(&self) -> bool {
        !self.prefix.is_empty() || self.error.is_some()
    }

    /// What is left to give back: the prefix's unread bytes, or the error
    /// met past it.
    pub(crate) fn into_rest(self) -> io::Result<Vec<u8>> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.prefix.get(self.at..).unwrap_or_default().to_vec()),
        }
    }

    /// Reads what is left of the prefix (and, with the prefix's end, what
    /// `inner` has ready), or from `inner` once the prefix is gone.
    #[cold]
    pub(crate) fn poll_read<I: AsyncRead + Unpin>(
        &mut self,
        inner: &mut I,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.error.take() {
            return Poll::Ready(Err(e));
        }
        if self.at < self.prefix.len() {
            let rest = &self.prefix[self.at..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            self.at += n;
            if self.at == self.prefix.len() {
                self.prefix = Vec::new();
                self.at = 0;
                if buf.remaining() > 0 {
                    // Pending leaves the prefix alone in this read; the
                    // waker it registered is harmless.
                    if let Poll::Ready(Err(e)) = Pin::new(inner).poll_read(cx, buf) {
                        self.error = Some(e);
                    }
                }
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(inner).poll_read(cx, buf)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replay.active() {
            return this.replay.poll_read(&mut this.inner, cx, buf);
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sniffed(chunks: &[&[u8]]) -> (Sniffed, Vec<u8>, Vec<u8>) {
        let mut mock = tokio_test_io(chunks);
        let (verdict, read) = sniff(&mut mock).await.unwrap();
        let mut replayed = Vec::new();
        Prefixed::new(mock, read.clone())
            .read_to_end(&mut replayed)
            .await
            .unwrap();
        (verdict, read, replayed)
    }

    /// A reader yielding `chunks` one per read, then the end.
    fn tokio_test_io(chunks: &[&[u8]]) -> Chunks {
        Chunks(chunks.iter().rev().map(|c| c.to_vec()).collect())
    }

    struct Chunks(Vec<Vec<u8>>);

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(mut chunk) = self.0.pop() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.0.push(chunk.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_read_that_ends_the_prefix_takes_what_follows() {
        let mut io = Prefixed::new(tokio_test_io(&[b"ET / HTTP/1.1\r\n\r\n"]), b"G".to_vec());
        let mut buf = [0u8; 64];
        let n = run(io.read(&mut buf)).unwrap();
        assert_eq!(&buf[..n], b"GET / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn the_preface_in_pieces_is_http2_and_every_byte_is_replayed() {
        let (verdict, read, replayed) = run(sniffed(&[&PREFACE[..3], &PREFACE[3..], b"SETTINGS"]));
        assert_eq!(verdict, Sniffed::Http2);
        assert_eq!(read, PREFACE);
        assert_eq!(replayed, [PREFACE, b"SETTINGS"].concat());
    }

    #[test]
    fn a_request_line_is_http1_at_its_first_byte() {
        let (verdict, read, replayed) = run(sniffed(&[b"G", b"ET / HTTP/1.1\r\n\r\n"]));
        assert_eq!(verdict, Sniffed::Http1);
        assert_eq!(read, b"G");
        assert_eq!(replayed, b"GET / HTTP/1.1\r\n\r\n");
        // A method that starts like the preface is still HTTP/1.
        let (verdict, _, replayed) = run(sniffed(&[b"PRIVATE / HTTP/1.1\r\n\r\n"]));
        assert_eq!(verdict, Sniffed::Http1);
        assert_eq!(replayed, b"PRIVATE / HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn an_early_end_is_closed_or_http1() {
        assert_eq!(run(sniffed(&[])).0, Sniffed::Closed);
        let (verdict, read, _) = run(sniffed(&[b"PRI * HT"]));
        assert_eq!(
            (verdict, read.as_slice()),
            (Sniffed::Http1, &b"PRI * HT"[..])
        );
    }
}
