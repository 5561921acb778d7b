//! A request's counts for the watchdog and the drain, kept from its arrival
//! until its response body has been sent, and the body that keeps them.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::StatusCode;
use actix_web::body::{BodySize, MessageBody};
use bytes::Bytes;
use handover::adapter::{Connections, RequestGuard, Requests};

use crate::watchdog::{Busy, Watched};

/// What an HTTP/1 request holds until its response body has been sent: the
/// watchdog's busy mark (on a watched connection) and the drain's count.
pub(crate) struct Held {
    /// Kept for its drop, which ends the busy mark.
    _busy: Option<Busy>,
    request: RequestGuard,
}

impl Held {
    /// Counts `request` as started.
    pub(crate) fn start(request: &actix_http::Request, requests: &Requests) -> Held {
        Held {
            _busy: request.conn_data::<Watched>().map(Watched::start),
            request: requests.start(request.path()),
        }
    }

    /// Counts the response's `status`.
    pub(crate) fn responded(&self, status: StatusCode) {
        self.request.responded(status.as_u16());
    }
}

/// Whether a response with `status` must carry `Connection: close`: the
/// drain's linger has begun. Decided when the response is ready, so a
/// request that started before the linger still closes its connection. A
/// 101 hands the connection to its WebSocket, which closes with its own drain.
pub(crate) fn closes_after(status: StatusCode, connections: &Connections) -> bool {
    connections.close_after_response() && status != StatusCode::SWITCHING_PROTOCOLS
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request's counts until it has been
    /// sent (or dropped).
    pub(crate) struct Tracked<B> {
        #[pin]
        body: B,
        held: Option<Held>,
    }
}

impl<B> Tracked<B> {
    pub(crate) fn new(body: B, held: Option<Held>) -> Self {
        Tracked { body, held }
    }
}

impl<B: MessageBody> MessageBody for Tracked<B> {
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
