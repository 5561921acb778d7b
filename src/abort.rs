//! `Abort`: an HTTP error a handler returns (Vapor's `Abort` / `AbortError`).
//!
//! ```
//! use handover::{Abort, Request, RequestExt};
//! async fn show(req: Request) -> Result<String, Abort> {
//!     let id: u64 = req.parameter("id")?; // 404 when it does not parse
//!     if id > 10 {
//!         return Err(Abort::not_found().with_reason(format!("no post {id}")));
//!     }
//!     Ok(format!("post {id}"))
//! }
//! ```
//!
//! Any `std::error::Error` converts into an `Abort` with status 500, so `?`
//! works on I/O, JSON and other errors in a handler that returns
//! `Result<_, Abort>`; the error is kept as the abort's source (shown as
//! `debugReason` outside production by the error middleware, and logged).
//! Like `anyhow::Error`, `Abort` itself is therefore not a `std::error::Error`.

use std::fmt;
use std::sync::Arc;

use http::{header, HeaderValue, StatusCode};

use crate::body::Body;
use crate::error::BoxError;
use crate::responder::Response;

/// An HTTP error with a status, a reason shown to the client, optional JSON
/// metadata and debug detail (shown outside production only).
///
/// Small (two words), so `Result<T, Abort>` stays cheap to return.
#[derive(Debug)]
pub struct Abort {
    status: StatusCode,
    detail: Box<Detail>,
}

#[derive(Debug)]
struct Detail {
    reason: String,
    metadata: Option<serde_json::Value>,
    identifier: Option<String>,
    possible_causes: Vec<String>,
    suggested_fixes: Vec<String>,
    source: Option<BoxError>,
}

impl Abort {
    /// An abort with `status`; its reason is the status's standard phrase.
    pub fn new(status: StatusCode) -> Abort {
        Abort {
            status,
            detail: Box::new(Detail {
                reason: status.canonical_reason().unwrap_or("Unknown").to_owned(),
                metadata: None,
                identifier: None,
                possible_causes: Vec::new(),
                suggested_fixes: Vec::new(),
                source: None,
            }),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request() -> Abort {
        Abort::new(StatusCode::BAD_REQUEST)
    }

    /// 401 Unauthorized.
    pub fn unauthorized() -> Abort {
        Abort::new(StatusCode::UNAUTHORIZED)
    }

    /// 403 Forbidden.
    pub fn forbidden() -> Abort {
        Abort::new(StatusCode::FORBIDDEN)
    }

    /// 404 Not Found.
    pub fn not_found() -> Abort {
        Abort::new(StatusCode::NOT_FOUND)
    }

    /// 500 Internal Server Error (Vapor's `Abort.serverError`).
    pub fn server_error() -> Abort {
        Abort::new(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Replaces the reason shown to the client.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Abort {
        self.detail.reason = reason.into();
        self
    }

    /// Adds JSON metadata (shown outside production).
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Abort {
        self.detail.metadata = Some(metadata);
        self
    }

    /// Adds an identifier for the kind of error (shown outside production).
    pub fn with_identifier(mut self, identifier: impl Into<String>) -> Abort {
        self.detail.identifier = Some(identifier.into());
        self
    }

    /// Adds a possible cause (shown outside production).
    pub fn with_possible_cause(mut self, cause: impl Into<String>) -> Abort {
        self.detail.possible_causes.push(cause.into());
        self
    }

    /// Adds a suggested fix (shown outside production).
    pub fn with_suggested_fix(mut self, fix: impl Into<String>) -> Abort {
        self.detail.suggested_fixes.push(fix.into());
        self
    }

    /// Keeps `source` as the underlying error (its text is the debug reason).
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Abort {
        self.detail.source = Some(source.into());
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reason shown to the client.
    pub fn reason(&self) -> &str {
        &self.detail.reason
    }

    /// The metadata, if any.
    pub fn metadata(&self) -> Option<&serde_json::Value> {
        self.detail.metadata.as_ref()
    }

    /// The underlying error, if any.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.detail.source.as_deref()
    }

    /// The body the client sees: `{"error": true, "reason": ...}`, plus the
    /// debug fields when `debug` is true.
    pub(crate) fn json(&self, debug: bool) -> serde_json::Value {
        let d = &self.detail;
        let mut body = serde_json::Map::new();
        body.insert("error".into(), true.into());
        body.insert("reason".into(), d.reason.clone().into());
        if debug {
            if let Some(metadata) = &d.metadata {
                body.insert("metadata".into(), metadata.clone());
            }
            if let Some(source) = &d.source {
                body.insert("debugReason".into(), source.to_string().into());
            }
            if let Some(identifier) = &d.identifier {
                body.insert("identifier".into(), identifier.clone().into());
            }
            if !d.possible_causes.is_empty() {
                body.insert("possibleCauses".into(), d.possible_causes.clone().into());
            }
            if !d.suggested_fixes.is_empty() {
                body.insert("suggestedFixes".into(), d.suggested_fixes.clone().into());
            }
        }
        body.into()
    }

    /// The response without the error middleware: the status and the
    /// production JSON body; the abort rides along in the response's
    /// extensions so an error middleware further out can render it again.
    pub(crate) fn into_response(self) -> Response {
        let body = self.json(false).to_string();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        response.extensions_mut().insert(Failure(Arc::new(self)));
        response
    }
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.detail.reason)?;
        if let Some(source) = &self.detail.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl<E> From<E> for Abort
where
    E: std::error::Error + Send + Sync + 'static,
{
    /// Any other error is a 500 whose reason is the standard phrase; the
    /// error itself is the source (debug detail, logs).
    fn from(error: E) -> Abort {
        Abort::server_error().with_source(error)
    }
}

/// The abort behind an error response, in the response's extensions.
#[derive(Clone, Debug)]
pub(crate) struct Failure(pub(crate) Arc<Abort>);

/// Marks the 404 of a request no route matched (Vapor's
/// `RouterError.missingRoute`), which the file middleware may answer instead.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RouteMissing;

/// The 404 for a request no route matched.
pub(crate) fn route_missing_response() -> Response {
    let mut response = Abort::not_found().into_response();
    response.extensions_mut().insert(RouteMissing);
    response
}

/// Whether `response` is the router's 404 for a request no route matched.
pub(crate) fn route_missing(response: &Response) -> bool {
    response.extensions().get::<RouteMissing>().is_some()
}

/// The abort that made `response`, if it was made from one.
pub(crate) fn failure(response: &Response) -> Option<&Arc<Abort>> {
    response.extensions().get::<Failure>().map(|f| &f.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortcuts_use_the_standard_phrase() {
        let cases = [
            (Abort::bad_request(), 400, "Bad Request"),
            (Abort::unauthorized(), 401, "Unauthorized"),
            (Abort::forbidden(), 403, "Forbidden"),
            (Abort::not_found(), 404, "Not Found"),
            (Abort::server_error(), 500, "Internal Server Error"),
        ];
        for (abort, status, reason) in cases {
            assert_eq!(abort.status().as_u16(), status);
            assert_eq!(abort.reason(), reason);
        }
    }

    #[test]
    fn other_errors_are_500_with_a_source() {
        let io = std::io::Error::other("disk on fire");
        let abort = Abort::from(io);
        assert_eq!(abort.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(abort.reason(), "Internal Server Error");
        assert_eq!(abort.to_string(), "500 Internal Server Error: disk on fire");
        let json = abort.json(true);
        assert_eq!(json["debugReason"], "disk on fire");
        assert!(abort.json(false).get("debugReason").is_none());
    }

    #[test]
    fn response_has_status_json_and_the_abort() {
        let abort = Abort::not_found()
            .with_reason("no post 7")
            .with_metadata(serde_json::json!({"id": 7}))
            .with_identifier("post.missing")
            .with_possible_cause("deleted")
            .with_suggested_fix("list /posts");
        let debug = abort.json(true);
        assert_eq!(debug["metadata"]["id"], 7);
        assert_eq!(debug["identifier"], "post.missing");
        assert_eq!(debug["possibleCauses"][0], "deleted");
        assert_eq!(debug["suggestedFixes"][0], "list /posts");
        let response = abort.into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        assert_eq!(failure(&response).unwrap().reason(), "no post 7");
        let body = response.into_body().try_into_bytes().unwrap();
        assert_eq!(body, r#"{"error":true,"reason":"no post 7"}"#);
    }
}
