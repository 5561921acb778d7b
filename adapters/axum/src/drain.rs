//! The drain token as an axum extractor.

use std::convert::Infallible;
use std::ops::Deref;

use axum::extract::FromRequestParts;
use handover::DrainToken;
use http::request::Parts;

/// The drain token, extracted in a handler: end a long poll, a stream or a
/// WebSocket when the drain starts (`drain.draining().await`), or say 503
/// in a health check (`drain.is_draining()`).
///
/// A request's own `Drain` extension, if it has one (a test can give it
/// one); otherwise the drain of the [`AxumFactory`](crate::AxumFactory)
/// server whose threads run the handler
/// ([`handover_hyper::current_drain`]), so requests need not carry it.
/// Outside handover (a router called in a unit test, or a task moved to a
/// runtime of the app's own) it is a token of its own that never drains.
///
/// ```
/// use axum::{routing::get, Router};
/// use handover_axum::Drain;
///
/// async fn health(drain: Drain) -> (http::StatusCode, &'static str) {
///     if drain.is_draining() {
///         (http::StatusCode::SERVICE_UNAVAILABLE, "draining\n")
///     } else {
///         (http::StatusCode::OK, "ok\n")
///     }
/// }
///
/// let app: Router = Router::new().route("/healthz", get(health));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct Drain(pub DrainToken);

impl Deref for Drain {
    type Target = DrainToken;
    fn deref(&self) -> &DrainToken {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Drain {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(drain) = parts.extensions.get::<Drain>() {
            return Ok(drain.clone());
        }
        Ok(Drain(
            handover_hyper::current_drain()
                .unwrap_or_else(|| handover::DrainTrigger::new().token()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn answer(router: Router, drain: Option<Drain>) -> String {
        let mut request = axum::extract::Request::new(axum::body::Body::empty());
        if let Some(drain) = drain {
            request.extensions_mut().insert(drain);
        }
        let response = router.oneshot(request).await.unwrap_or_else(|e| match e {});
        let body = axum::body::to_bytes(response.into_body(), 1024).await;
        String::from_utf8_lossy(&body.unwrap_or_default()).into_owned()
    }

    #[tokio::test]
    async fn the_extractor_gives_the_served_token_or_one_that_never_drains() {
        let router = Router::new().route(
            "/",
            get(|drain: Drain| async move { drain.is_draining().to_string() }),
        );
        let trigger = handover::DrainTrigger::new();
        assert!(trigger.drain());
        let served = Drain(trigger.token());
        assert_eq!(answer(router.clone(), Some(served)).await, "true");
        assert_eq!(answer(router, None).await, "false");
    }
}
