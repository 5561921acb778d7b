//! A response body that keeps its request counted until it has been sent.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;

pin_project_lite::pin_project! {
    /// A response body that keeps `held` (its request's counts) until it
    /// has been sent (or dropped).
    pub(crate) struct Tracked<B, H> {
        #[pin]
        body: B,
        held: Option<H>,
    }
}

impl<B, H> Tracked<B, H> {
    pub(crate) fn new(body: B, held: H) -> Self {
        Tracked {
            body,
            held: Some(held),
        }
    }
}

impl<B: MessageBody, H> MessageBody for Tracked<B, H> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let next = this.body.poll_next(cx);
        if matches!(next, Poll::Ready(None | Some(Err(_)))) {
            this.held.take();
        }
        next
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let Tracked { body, held } = self;
        body.try_into_bytes().map_err(|body| Tracked { body, held })
    }
}
