//! `error`: renders `Abort`s, turns panics into 500s (Vapor's `ErrorMiddleware`).

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use http::{header, HeaderValue};

use super::{Middleware, Next};
use crate::abort::{failure, Abort};
use crate::body::Body;
use crate::environment::Environment;
use crate::handler::panicked;
use crate::responder::{Request, Response, ResponseFuture};

/// Renders every error response made from an [`Abort`] (a handler's
/// `Err(Abort)`, any error turned into one, an unmatched route, a panic):
///
/// * JSON `{"error": true, "reason": "..."}` with the abort's status; outside
///   production also `metadata`, `debugReason` (the underlying error or
///   the panic message), `identifier`, `possibleCauses`, `suggestedFixes`;
/// * an HTML page with the status code and its standard phrase only, when
///   the request's `Accept` prefers HTML.
///
/// A panic anywhere inside (middleware, a custom responder) becomes a 500
/// and the connection goes on. 5xx errors are logged at error level, the
/// rest at debug level. Responses not made from an abort pass unchanged.
#[derive(Debug, Clone, Copy)]
pub struct ErrorMiddleware {
    debug: bool,
}

impl ErrorMiddleware {
    /// The middleware for `environment` (debug detail outside production).
    pub fn new(environment: Environment) -> ErrorMiddleware {
        ErrorMiddleware {
            debug: environment.shows_debug_detail(),
        }
    }
}

impl Middleware for ErrorMiddleware {
    fn respond(&self, request: Request, next: Next) -> ResponseFuture {
        let html = prefers_html(&request);
        let debug = self.debug;
        // Kept for the log line; cloning them allocates nothing.
        let (method, uri) = (request.method().clone(), request.uri().clone());
        let answer = std::panic::catch_unwind(AssertUnwindSafe(|| next.respond(request)));
        Box::pin(async move {
            let response = match answer {
                Ok(future) => match AssertUnwindSafe(future).catch_unwind().await {
                    Ok(response) => response,
                    Err(panic) => panicked(panic),
                },
                Err(panic) => panicked(panic),
            };
            let Some(abort) = failure(&response).cloned() else {
                return response;
            };
            let path = uri.path();
            if abort.status().is_server_error() {
                log::error!("{method} {path}: {abort}");
            } else {
                log::debug!("{method} {path}: {abort}");
            }
            render(response, &abort, html, debug)
        })
    }
}

/// `response` with its body replaced by the rendering of `abort`; its other
/// headers (`Allow`, say) are kept.
fn render(response: Response, abort: &Abort, html: bool, debug: bool) -> Response {
    let (mut parts, _) = response.into_parts();
    let status = abort.status();
    let (body, content_type) = if html {
        let phrase = status.canonical_reason().unwrap_or("Error");
        let code = status.as_u16();
        (
            format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{code} {phrase}</title></head>\n<body><h1>{code}</h1><p>{phrase}</p></body></html>\n"
            ),
            "text/html; charset=utf-8",
        )
    } else {
        (
            abort.json(debug).to_string(),
            "application/json; charset=utf-8",
        )
    };
    parts.status = status;
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Response::from_parts(parts, Body::from(body))
}

/// Whether the media types with the highest quality in `Accept` include HTML
/// (Vapor's `req.accept.prefers("html")`).
fn prefers_html(request: &Request) -> bool {
    let mut best = 0.0f32;
    let mut html = false;
    for value in request.headers().get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut fields = item.split(';');
            let media = fields.next().unwrap_or("").trim().to_ascii_lowercase();
            if media.is_empty() {
                continue;
            }
            let q = fields
                .filter_map(|f| f.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let is_html = media == "text/html" || media == "application/xhtml+xml";
            if q > best {
                best = q;
                html = is_html;
            } else if q == best && is_html {
                html = true;
            }
        }
    }
    html && best > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::block_on;
    use crate::middleware::wrap;
    use crate::responder::{Responder, SharedResponder};
    use http::StatusCode;
    use std::sync::Arc;

    fn call(debug: bool, accept: Option<&str>, inner: SharedResponder) -> (u16, String, String) {
        let mw: Arc<dyn Middleware> = Arc::new(ErrorMiddleware { debug });
        let chain = wrap(&[mw], inner);
        let mut req = http::Request::builder().uri("/x");
        if let Some(a) = accept {
            req = req.header(header::ACCEPT, a);
        }
        let resp = block_on(chain.respond(req.body(bytes::Bytes::new()).unwrap()));
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let status = resp.status().as_u16();
        let body = resp.into_body().try_into_bytes().unwrap();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    fn failing() -> SharedResponder {
        Arc::new(|_: Request| async {
            Err::<&str, _>(
                Abort::not_found()
                    .with_reason("no post 7")
                    .with_metadata(serde_json::json!({"id": 7})),
            )
        })
    }

    #[test]
    fn json_with_debug_detail_outside_production_only() {
        let (status, ct, body) = call(true, None, failing());
        assert_eq!(
            (status, ct.as_str()),
            (404, "application/json; charset=utf-8")
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], true);
        assert_eq!(v["reason"], "no post 7");
        assert_eq!(v["metadata"]["id"], 7);
        let (_, _, body) = call(false, None, failing());
        assert_eq!(body, r#"{"error":true,"reason":"no post 7"}"#);
    }

    #[test]
    fn html_when_accept_prefers_it() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        let (status, ct, body) = call(true, Some(browser), failing());
        assert_eq!((status, ct.as_str()), (404, "text/html; charset=utf-8"));
        assert!(body.contains("<h1>404</h1><p>Not Found</p>"), "{body}");
        assert!(!body.contains("no post 7"), "standard phrase only: {body}");
        for accept in [
            "*/*",
            "application/json",
            "application/json, text/html;q=0.5",
        ] {
            let (_, ct, _) = call(true, Some(accept), failing());
            assert!(ct.starts_with("application/json"), "{accept}");
        }
    }

    #[test]
    fn panics_and_other_errors_are_500() {
        let panicking: SharedResponder = Arc::new(|_: Request| async {
            if true {
                panic!("boom");
            }
            "unreachable"
        });
        let (status, _, body) = call(true, None, panicking);
        assert_eq!(status, 500);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["reason"], "Internal Server Error");
        assert_eq!(v["debugReason"], "handler panicked: boom");
        let io: SharedResponder = Arc::new(|_: Request| async {
            std::fs::read("/nonexistent/file").map_err(Abort::from)
        });
        let (status, _, body) = call(false, None, io);
        assert_eq!(
            (status, body.as_str()),
            (500, r#"{"error":true,"reason":"Internal Server Error"}"#)
        );
    }

    /// A responder that panics when called, not in its future.
    struct PanicsAtOnce;
    impl Responder for PanicsAtOnce {
        fn respond(&self, _: Request) -> ResponseFuture {
            panic!("at once")
        }
    }

    #[test]
    fn a_custom_responder_panicking_at_once_is_500() {
        let (status, _, body) = call(true, None, Arc::new(PanicsAtOnce));
        assert_eq!(status, 500);
        assert!(body.contains("at once"), "{body}");
    }

    #[test]
    fn plain_responses_pass_unchanged() {
        let plain: SharedResponder =
            Arc::new(|_: Request| async { (StatusCode::NOT_FOUND, "mine") });
        assert_eq!(
            call(true, None, plain),
            (404, "text/plain; charset=utf-8".into(), "mine".into())
        );
    }
}
