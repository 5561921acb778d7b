//! Server-sent events (`text/event-stream`) that end cleanly in a drain.
//!
//! An [`EventStream`] sends each [`Event`] of a stream as it comes. Given
//! the drain token ([`EventStream::until_drain`]), it ends as the drain
//! starts, after one last event whose short `retry:` makes a browser's
//! `EventSource` reconnect at once, to the next generation: the stream
//! ends with its final chunk, never cut, and the drain does not wait for it.
//!
//! ```
//! use std::time::Duration;
//! use handover::sse::{Event, EventStream};
//! use handover::{DrainToken, Request, Router};
//!
//! fn router(drain: DrainToken) -> Router {
//!     Router::build(|r| {
//!         r.get("/events", move |_: Request| {
//!             let ticks = futures_util::stream::iter(1..=3)
//!                 .map(|seq| Event::new(format!("tick {seq}")).id(seq.to_string()));
//!             let drain = drain.clone();
//!             async move { EventStream::new(ticks).until_drain(drain) }
//!         });
//!     })
//! }
//! # use futures_util::StreamExt;
//! let event = Event::new("a\nb").event("update").retry(Duration::from_millis(100));
//! assert_eq!(event.to_bytes(), "event: update\nretry: 100\ndata: a\ndata: b\n\n");
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use http::{header, HeaderValue};

use crate::body::Body;
use crate::reason::DrainReason;
use crate::responder::Response;
use crate::response::ResponseRepresentable;
use crate::shutdown::DrainToken;

/// One server-sent event: `data` (required; split into `data:` lines),
/// and optional `id`, `event` and `retry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    id: Option<String>,
    event: Option<String>,
    retry: Option<Duration>,
    data: String,
}

/// A field value on one line: line breaks would start another field.
fn one_line(value: String) -> String {
    if value.contains(['\r', '\n']) {
        value.replace(['\r', '\n'], " ")
    } else {
        value
    }
}

impl Event {
    /// An event carrying `data` (several lines are sent as several `data:` lines).
    pub fn new(data: impl Into<String>) -> Event {
        Event {
            id: None,
            event: None,
            retry: None,
            data: data.into(),
        }
    }

    /// Sets the `id:` (the browser sends the last one back as `Last-Event-ID`).
    pub fn id(mut self, id: impl Into<String>) -> Event {
        self.id = Some(one_line(id.into()));
        self
    }

    /// Sets the `event:` type (`message` when unset).
    pub fn event(mut self, event: impl Into<String>) -> Event {
        self.event = Some(one_line(event.into()));
        self
    }

    /// Sets `retry:`, the browser's reconnection delay.
    pub fn retry(mut self, retry: Duration) -> Event {
        self.retry = Some(retry);
        self
    }

    /// The event as it goes on the wire, ending with its blank line.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = String::with_capacity(self.data.len() + 16);
        if let Some(id) = &self.id {
            out.push_str("id: ");
            out.push_str(id);
            out.push('\n');
        }
        if let Some(event) = &self.event {
            out.push_str("event: ");
            out.push_str(event);
            out.push('\n');
        }
        if let Some(retry) = self.retry {
            out.push_str(&format!("retry: {}\n", retry.as_millis()));
        }
        for line in self.data.split('\n') {
            out.push_str("data: ");
            out.push_str(line.strip_suffix('\r').unwrap_or(line));
            out.push('\n');
        }
        out.push('\n');
        Bytes::from(out)
    }
}

type BoxEvents = Pin<Box<dyn Stream<Item = Event> + Send>>;
type Draining = Pin<Box<dyn Future<Output = DrainReason> + Send>>;

/// A `text/event-stream` response: the events of a stream, ended by the
/// drain with a final event when given the token. A handler returns it.
pub struct EventStream {
    events: BoxEvents,
    drain: Option<Draining>,
    last: Option<Event>,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("until_drain", &self.drain.is_some())
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl EventStream {
    /// The default final event: `event: restart`, `retry: 100`, data `restart`.
    pub fn restart_event() -> Event {
        Event::new("restart")
            .event("restart")
            .retry(Duration::from_millis(100))
    }

    /// Sends `events` as they come; the response ends when the stream does.
    pub fn new(events: impl Stream<Item = Event> + Send + 'static) -> EventStream {
        EventStream {
            events: Box::pin(events),
            drain: None,
            last: None,
        }
    }

    /// Ends the response when the drain starts, after the final event
    /// ([`EventStream::restart_event`] unless [`EventStream::final_event`]
    /// says otherwise).
    pub fn until_drain(mut self, token: DrainToken) -> EventStream {
        self.drain = Some(Box::pin(token.draining()));
        if self.last.is_none() {
            self.last = Some(EventStream::restart_event());
        }
        self
    }

    /// The event sent as the drain ends the stream.
    pub fn final_event(mut self, event: Event) -> EventStream {
        self.last = Some(event);
        self
    }
}

impl Stream for EventStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(drain) = &mut this.drain {
            if drain.as_mut().poll(cx).is_ready() {
                this.drain = None;
                this.events = Box::pin(futures_util::stream::empty());
                return Poll::Ready(this.last.take().map(|event| Ok(event.to_bytes())));
            }
        }
        match std::task::ready!(this.events.as_mut().poll_next(cx)) {
            Some(event) => Poll::Ready(Some(Ok(event.to_bytes()))),
            None => Poll::Ready(None),
        }
    }
}

impl ResponseRepresentable for EventStream {
    fn into_response(self) -> Response {
        let mut response = Response::new(Body::from_stream(self));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::block_on;
    use crate::shutdown::DrainTrigger;
    use futures_util::StreamExt;

    #[test]
    fn fields_stay_on_their_line() {
        let event = Event::new("x").id("1\n2").event("a\rb");
        assert_eq!(event.to_bytes(), "id: 1 2\nevent: a b\ndata: x\n\n");
    }

    #[test]
    fn the_drain_ends_the_stream_after_the_final_event() {
        let trigger = DrainTrigger::new();
        let mut stream =
            EventStream::new(futures_util::stream::pending()).until_drain(trigger.token());
        trigger.drain();
        let sent: Vec<_> = block_on(stream.by_ref().collect::<Vec<_>>());
        let sent: Vec<Bytes> = sent.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(
            sent,
            [Bytes::from("event: restart\nretry: 100\ndata: restart\n\n")]
        );
    }
}
