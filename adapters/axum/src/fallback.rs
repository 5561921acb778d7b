//! The app's handover responder as an axum fallback service.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use handover::{BoxError, Response};
use handover_hyper::ResponderService;

/// Serves what no route of the router matched with the app's handover
/// responder; never fails (a failure is an answer).
#[derive(Clone)]
pub(crate) struct ResponderFallback(pub(crate) ResponderService);

/// The responder service's own answer future.
type Answer = <ResponderService as hyper::service::Service<axum::extract::Request>>::Future;

impl tower::Service<axum::extract::Request> for ResponderFallback {
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::Map<
        Answer,
        fn(Result<Response, BoxError>) -> Result<Response, Infallible>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let answer: Answer = hyper::service::Service::call(&self.0, request);
        answer.map(always)
    }
}

/// The responder's answer; it has no error (the service answers every
/// request), but should one appear, a 500.
fn always(result: Result<Response, BoxError>) -> Result<Response, Infallible> {
    Ok(result.unwrap_or_else(|e| {
        log::error!("axum: the responder failed: {e}");
        handover::text(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error\n",
        )
    }))
}
