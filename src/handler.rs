//! Handler closures as responders: any `Fn(Request) -> impl Future` whose
//! output is [`ResponseRepresentable`], with a panic turned into a 500.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::abort::Abort;
use crate::responder::{Request, Responder, Response, ResponseFuture};
use crate::response::ResponseRepresentable;

impl<F, Fut> Responder for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: ResponseRepresentable,
{
    fn respond(&self, request: Request) -> ResponseFuture {
        match catch_unwind(AssertUnwindSafe(|| self(request))) {
            Ok(future) => Box::pin(Guarded { inner: future }),
            Err(panic) => Box::pin(std::future::ready(panicked(panic))),
        }
    }
}

pin_project_lite::pin_project! {
    /// A handler's future, converted into a response, with a panic turned into a 500.
    struct Guarded<F> {
        #[pin]
        inner: F,
    }
}

impl<F> Future for Guarded<F>
where
    F: Future,
    F::Output: ResponseRepresentable,
{
    type Output = Response;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(value.into_response()),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(panicked(panic)),
        }
    }
}

/// A handler panicked: the message, as an error.
#[derive(Debug)]
pub(crate) struct Panicked(pub(crate) String);

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "handler panicked: {}", self.0)
    }
}

impl std::error::Error for Panicked {}

/// The 500 for a panic whose payload is `panic`.
pub(crate) fn panicked(panic: Box<dyn Any + Send>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_owned());
    log::error!("handler panicked ({message}); answering 500");
    Abort::server_error()
        .with_source(Panicked(message))
        .into_response()
}
