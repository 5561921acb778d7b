//! The library's health route: 200 while serving, 503 from the drain's start.

use http::{Method, StatusCode};

use crate::responder::{status, text, Request, Responder, ResponseFuture};
use crate::shutdown::DrainToken;

/// A health route for load balancers and Kubernetes readiness probes:
/// `GET`/`HEAD` answer 200 `ok` while serving and 503 `draining` once the
/// drain has started, so the balancer stops sending work during the lame
/// duck. Mount it at the path named by `health_path` in the config, which
/// makes its requests count as probes for `drain_delay = "auto"`.
///
/// ```
/// use handover::{health, Config, Droplet, Router};
/// let droplet = Droplet::new(Config::default());
/// let router = Router::new().get("/healthz", health(droplet.drain_token()))?;
/// # Ok::<(), handover::Error>(())
/// ```
pub fn health(token: DrainToken) -> Health {
    Health { token }
}

/// The responder [`health`] returns.
#[derive(Debug, Clone)]
pub struct Health {
    token: DrainToken,
}

impl Responder for Health {
    fn respond(&self, request: Request) -> ResponseFuture {
        let response = if request.method() != Method::GET && request.method() != Method::HEAD {
            status(StatusCode::METHOD_NOT_ALLOWED)
        } else if self.token.is_draining() {
            text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
        } else {
            text(StatusCode::OK, "ok\n")
        };
        Box::pin(std::future::ready(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::block_on;
    use crate::shutdown::DrainTrigger;

    #[test]
    fn ok_until_the_drain_then_503() {
        let trigger = DrainTrigger::new();
        let health = health(trigger.token());
        let get = || {
            http::Request::get("/healthz")
                .body(bytes::Bytes::new())
                .unwrap()
        };
        assert_eq!(block_on(health.respond(get())).status(), StatusCode::OK);
        trigger.drain();
        let answer = block_on(health.respond(get()));
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        let post = http::Request::post("/healthz")
            .body(bytes::Bytes::new())
            .unwrap();
        assert_eq!(
            block_on(health.respond(post)).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
