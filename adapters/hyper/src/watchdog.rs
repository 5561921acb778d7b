//! Idle and stall timeouts at a per-connection cost of one timer, not one per
//! request: the connection's IO counts its reads and writes, the service counts
//! requests in progress, and a periodic tick closes a connection that made no
//! progress for a whole period while no request was in progress (an idle
//! keep-alive connection, a half-sent head, a client that stopped reading).
//!
//! hyper's own `header_read_timeout` allocates and arms a timer for every
//! request; on a small response that was over a tenth of the adapter's
//! per-request instructions.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What the tick looks at; shared by the IO wrapper and the service wrapper
/// of one connection.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    transfers: AtomicU64,
    in_service: AtomicUsize,
}

impl Progress {
    /// A progress counter for one connection.
    pub(crate) fn new() -> Arc<Progress> {
        Arc::new(Progress::default())
    }

    fn moved(&self) {
        self.transfers.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request as in progress until the guard drops.
    pub(crate) fn serving(self: &Arc<Self>) -> InService {
        self.in_service.fetch_add(1, Ordering::Relaxed);
        InService(self.clone())
    }

    /// A mark to compare at the next tick.
    pub(crate) fn mark(&self) -> u64 {
        self.transfers.load(Ordering::Relaxed)
    }

    /// Whether nothing moved since `mark` and no request is being served.
    pub(crate) fn stalled_since(&self, mark: u64) -> bool {
        self.in_service.load(Ordering::Relaxed) == 0 && self.mark() == mark
    }
}

/// Keeps a request counted as in progress.
#[derive(Debug)]
pub(crate) struct InService(Arc<Progress>);

impl Drop for InService {
    fn drop(&mut self) {
        self.0.in_service.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's IO, counting every read or write that moved bytes.
pub(crate) struct Watched<I> {
    inner: I,
    progress: Arc<Progress>,
}

impl<I> Watched<I> {
    pub(crate) fn new(inner: I, progress: Arc<Progress>) -> Self {
        Watched { inner, progress }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.progress.moved();
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.progress.moved();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.progress.moved();
        }
        result
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

    #[test]
    fn stalled_only_without_progress_or_requests() {
        let progress = Progress::new();
        let mark = progress.mark();
        assert!(progress.stalled_since(mark));
        let serving = progress.serving();
        assert!(!progress.stalled_since(mark), "a request is in progress");
        drop(serving);
        assert!(progress.stalled_since(mark));
        progress.moved();
        assert!(!progress.stalled_since(mark), "bytes moved");
        assert!(progress.stalled_since(progress.mark()));
    }
}
