//! The live count of a server's connections, which lets a drain end the
//! moment the last one closes, and the flag that makes responses close theirs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// What a connection speaks, for the count by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionKind {
    /// HTTP/1.x (the kind of every connection until its adapter says otherwise).
    Http1,
    /// HTTP/2.
    Http2,
    /// Upgraded out of HTTP (a WebSocket, say).
    Upgraded,
}

impl ConnectionKind {
    const ALL: [ConnectionKind; 3] = [
        ConnectionKind::Http1,
        ConnectionKind::Http2,
        ConnectionKind::Upgraded,
    ];

    /// The kind's name, as metrics label it: `http1`, `http2`, `upgraded`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Http1 => "http1",
            ConnectionKind::Http2 => "http2",
            ConnectionKind::Upgraded => "upgraded",
        }
    }

    fn index(self) -> usize {
        match self {
            ConnectionKind::Http1 => 0,
            ConnectionKind::Http2 => 1,
            ConnectionKind::Upgraded => 2,
        }
    }
}

#[derive(Default)]
struct ConnInner {
    open: AtomicUsize,
    by_kind: [AtomicUsize; 3],
    close_after_response: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

impl ConnInner {
    fn wake_all(&self) {
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// Counts open connections and says whether responses must close them.
/// Adapters call [`Connections::open`] for each accepted connection (from
/// `ServeContext::connections`) and keep the guard for the connection's lifetime.
#[derive(Clone, Default)]
pub struct Connections {
    inner: Arc<ConnInner>,
}

impl fmt::Debug for Connections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connections")
            .field("open", &self.count())
            .field("close_after_response", &self.close_after_response())
            .finish()
    }
}

impl Connections {
    /// Counts a new connection, of kind [`ConnectionKind::Http1`] until
    /// [`ConnectionGuard::set_kind`] says otherwise, until the guard is dropped.
    pub fn open(&self) -> ConnectionGuard {
        self.inner.open.fetch_add(1, Ordering::SeqCst);
        self.inner.by_kind[ConnectionKind::Http1.index()].fetch_add(1, Ordering::Relaxed);
        ConnectionGuard {
            inner: self.inner.clone(),
            kind: ConnectionKind::Http1,
        }
    }

    /// Connections open now.
    pub fn count(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }

    /// Connections of `kind` open now.
    pub fn count_of(&self, kind: ConnectionKind) -> usize {
        self.inner.by_kind[kind.index()].load(Ordering::Relaxed)
    }

    /// The open connections by kind.
    pub fn by_kind(&self) -> impl Iterator<Item = (ConnectionKind, usize)> + '_ {
        ConnectionKind::ALL
            .into_iter()
            .map(|kind| (kind, self.count_of(kind)))
    }

    /// Whether every response must now carry `Connection: close` and end its connection.
    pub fn close_after_response(&self) -> bool {
        self.inner.close_after_response.load(Ordering::SeqCst)
    }

    pub(crate) fn start_closing(&self) {
        self.inner
            .close_after_response
            .store(true, Ordering::SeqCst);
    }

    /// Resolves when no connection is open.
    pub(crate) fn all_closed(&self) -> AllClosed {
        AllClosed {
            inner: self.inner.clone(),
        }
    }
}

/// Keeps one connection counted; dropping it uncounts the connection.
pub struct ConnectionGuard {
    inner: Arc<ConnInner>,
    kind: ConnectionKind,
}

impl ConnectionGuard {
    /// Says what the connection speaks (once negotiated, or upgraded).
    pub fn set_kind(&mut self, kind: ConnectionKind) {
        if kind != self.kind {
            self.inner.by_kind[self.kind.index()].fetch_sub(1, Ordering::Relaxed);
            self.inner.by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
            self.kind = kind;
        }
    }

    /// What the connection speaks.
    pub fn kind(&self) -> ConnectionKind {
        self.kind
    }
}

impl fmt::Debug for ConnectionGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionGuard")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.inner.by_kind[self.kind.index()].fetch_sub(1, Ordering::Relaxed);
        if self.inner.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.wake_all();
        }
    }
}

/// Future returned by [`Connections::all_closed`].
pub(crate) struct AllClosed {
    inner: Arc<ConnInner>,
}

impl fmt::Debug for AllClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllClosed").finish_non_exhaustive()
    }
}

impl Future for AllClosed {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.inner.open.load(Ordering::SeqCst) == 0 {
            return Poll::Ready(());
        }
        {
            let mut wakers = self.inner.wakers.lock().unwrap_or_else(|p| p.into_inner());
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        // Re-check: the last guard may have dropped between the load and the push.
        if self.inner.open.load(Ordering::SeqCst) == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_and_wake() {
        let conns = Connections::default();
        let a = conns.open();
        let b = conns.open();
        assert_eq!(conns.count(), 2);
        let mut closed = conns.all_closed();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut closed).poll(&mut cx).is_pending());
        drop(a);
        assert!(Pin::new(&mut closed).poll(&mut cx).is_pending());
        drop(b);
        assert!(Pin::new(&mut closed).poll(&mut cx).is_ready());
        assert!(!conns.close_after_response());
        conns.start_closing();
        assert!(conns.close_after_response());
    }

    #[test]
    fn kinds_are_counted_apart() {
        let conns = Connections::default();
        let mut a = conns.open();
        let b = conns.open();
        assert_eq!(conns.count_of(ConnectionKind::Http1), 2);
        a.set_kind(ConnectionKind::Upgraded);
        assert_eq!(a.kind(), ConnectionKind::Upgraded);
        let counts: Vec<_> = conns.by_kind().collect();
        assert_eq!(
            counts,
            [
                (ConnectionKind::Http1, 1),
                (ConnectionKind::Http2, 0),
                (ConnectionKind::Upgraded, 1)
            ]
        );
        assert_eq!(conns.count(), 2);
        drop(a);
        assert_eq!(conns.count_of(ConnectionKind::Upgraded), 0);
        drop(b);
        assert_eq!(conns.count_of(ConnectionKind::Http1), 0);
        assert_eq!(conns.count(), 0);
    }
}
