//! `date`: sets the `Date` header (RFC 1123) when the response has none.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{header, HeaderValue};

use super::{Middleware, Next};
use crate::responder::{Request, ResponseFuture};

/// Sets `Date` on responses that have none (Vapor's `DateMiddleware`). The
/// text is made once per second per thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct DateMiddleware;

impl DateMiddleware {
    /// The middleware.
    pub fn new() -> DateMiddleware {
        DateMiddleware
    }
}

thread_local! {
    static CACHED: RefCell<(u64, Option<HeaderValue>)> = const { RefCell::new((0, None)) };
}

/// Now, as an HTTP date.
pub(crate) fn now() -> HeaderValue {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cached| {
        let mut cached = cached.borrow_mut();
        match &cached.1 {
            Some(value) if cached.0 == second => value.clone(),
            _ => {
                let value = HeaderValue::from_str(&httpdate::fmt_http_date(now))
                    .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
                *cached = (second, Some(value.clone()));
                value
            }
        }
    })
}

impl Middleware for DateMiddleware {
    fn respond(&self, request: Request, next: Next) -> ResponseFuture {
        let response = next.respond(request);
        Box::pin(async move {
            let mut response = response.await;
            response
                .headers_mut()
                .entry(header::DATE)
                .or_insert_with(now);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_date_when_missing_and_keeps_one_already_set() {
        use crate::drain::block_on;
        use crate::middleware::wrap;
        use crate::responder::{Response, SharedResponder};
        use std::sync::Arc;
        let call = |inner: SharedResponder| {
            let chain = wrap(&[Arc::new(DateMiddleware::new())], inner);
            block_on(chain.respond(Request::new(bytes::Bytes::new())))
        };
        let plain = call(Arc::new(|_: Request| async { "x" }));
        let date = plain.headers()[header::DATE].to_str().unwrap();
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
        let own = call(Arc::new(|_: Request| async {
            let mut r = Response::new(crate::Body::empty());
            r.headers_mut().insert(
                header::DATE,
                HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
            );
            r
        }));
        assert_eq!(own.headers()[header::DATE], "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn now_is_an_http_date_close_to_the_clock() {
        let value = now();
        let parsed = httpdate::parse_http_date(value.to_str().unwrap()).unwrap();
        let drift = SystemTime::now().duration_since(parsed).unwrap();
        assert!(drift.as_secs() <= 2, "{value:?}");
        assert!(value.to_str().unwrap().ends_with(" GMT"));
    }
}
