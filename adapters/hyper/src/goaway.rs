//! Where a draining HTTP/2 connection's GOAWAY goes: in front of a
//! response, never just behind one.
//!
//! A client reads a response's last frame and a GOAWAY that follows it
//! close behind in one read; between the two it may already have queued
//! its next request (nghttp2 does, for h2load), which the GOAWAY then
//! forbids it to send: the client fails a request the server never saw.
//! So once the drain's linger has begun, the next response on a connection
//! waits until the connection task has started the GOAWAY, and its frames
//! follow it. A client that reads the GOAWAY first queues nothing more.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;

/// One HTTP/2 connection's GOAWAY: asked for by responses, started by the
/// connection task.
#[derive(Debug, Default)]
pub(crate) struct GoawayGate {
    /// A response waits for the GOAWAY.
    asked: Notify,
    /// The GOAWAY has been started (or will never be: the connection ended).
    sent: AtomicBool,
    waiting: Mutex<Vec<Waker>>,
}

impl GoawayGate {
    pub(crate) fn new() -> Arc<GoawayGate> {
        Arc::new(GoawayGate::default())
    }

    /// Ready once the GOAWAY has been started; until then asks the
    /// connection task for it.
    pub(crate) fn poll_sent(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.sent.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        self.asked.notify_one();
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            if !waiting.iter().any(|w| w.will_wake(cx.waker())) {
                waiting.push(cx.waker().clone());
            }
        }
        // It may have been started between the load and the push.
        if self.sent.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Resolves when a response asks for the GOAWAY.
    pub(crate) async fn asked(&self) {
        self.asked.notified().await;
    }

    /// The connection task has started the GOAWAY: the responses waiting go on.
    pub(crate) fn started(&self) {
        self.sent.store(true, Ordering::SeqCst);
        let waiting = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|p| p.into_inner()));
        waiting.into_iter().for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_waits_until_the_goaway_is_started() {
        let gate = GoawayGate::new();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(gate.poll_sent(&mut cx).is_pending());
        let asked = gate.asked();
        let mut asked = std::pin::pin!(asked);
        assert!(
            std::future::Future::poll(asked.as_mut(), &mut cx).is_ready(),
            "the connection task was asked"
        );
        assert!(gate.poll_sent(&mut cx).is_pending());
        gate.started();
        assert!(gate.poll_sent(&mut cx).is_ready());
    }
}
