//! Responses from values (Vapor's `ResponseRepresentable`): a handler returns
//! anything that converts into a [`Response`].
//!
//! | value | status | `Content-Type` |
//! | --- | --- | --- |
//! | `&'static str`, `String` | 200 | `text/plain; charset=utf-8` |
//! | `Bytes`, `Vec<u8>` | 200 | `application/octet-stream` |
//! | [`Json`] of any `serde::Serialize` | 200 | `application/json; charset=utf-8` |
//! | `StatusCode` | that status | none, empty body |
//! | `(StatusCode, T)` | that status | `T`'s |
//! | [`Redirect`] | 303, 301 or 307 | none, `Location` set |
//! | [`Abort`] | its status | `application/json; charset=utf-8` |
//! | `Result<T, E>` | `T`'s or `E`'s | `T`'s or `E`'s |
//! | `Response` | as it is | as it is |
//!
//! ```
//! use handover::http::StatusCode;
//! use handover::{Abort, Json, Redirect, Request, Router};
//! let router = Router::build(|r| {
//!     r.get("/text", |_: Request| async { "Hello, world!" });
//!     r.get("/json", |_: Request| async { Json(serde_json::json!({"hello": "world"})) });
//!     r.post("/created", |_: Request| async { (StatusCode::CREATED, "made") });
//!     r.get("/old", |_: Request| async { Redirect::permanent("/new") });
//!     r.get("/maybe", |_: Request| async { Err::<&str, _>(Abort::not_found()) });
//! });
//! # assert!(router.check().is_ok());
//! ```

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

use crate::abort::Abort;
use crate::body::Body;
use crate::responder::Response;

/// A value that converts into a response (Vapor's `ResponseRepresentable`).
///
/// Implement it for your own types (a model, an error enum) to return them
/// from handlers.
pub trait ResponseRepresentable {
    /// The response.
    fn into_response(self) -> Response;
}

impl ResponseRepresentable for Response {
    fn into_response(self) -> Response {
        self
    }
}

fn with_type(body: impl Into<Body>, content_type: &'static str) -> Response {
    let mut response = Response::new(body.into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

const TEXT: &str = "text/plain; charset=utf-8";
const OCTETS: &str = "application/octet-stream";
const JSON: &str = "application/json; charset=utf-8";

impl ResponseRepresentable for &'static str {
    fn into_response(self) -> Response {
        with_type(self, TEXT)
    }
}

impl ResponseRepresentable for String {
    fn into_response(self) -> Response {
        with_type(self, TEXT)
    }
}

impl ResponseRepresentable for Bytes {
    fn into_response(self) -> Response {
        with_type(self, OCTETS)
    }
}

impl ResponseRepresentable for Vec<u8> {
    fn into_response(self) -> Response {
        with_type(self, OCTETS)
    }
}

impl ResponseRepresentable for StatusCode {
    fn into_response(self) -> Response {
        crate::responder::status(self)
    }
}

impl ResponseRepresentable for () {
    /// 200 with an empty body.
    fn into_response(self) -> Response {
        Response::new(Body::empty())
    }
}

impl<T: ResponseRepresentable> ResponseRepresentable for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

impl ResponseRepresentable for Abort {
    fn into_response(self) -> Response {
        Abort::into_response(self)
    }
}

impl<T, E> ResponseRepresentable for Result<T, E>
where
    T: ResponseRepresentable,
    E: ResponseRepresentable,
{
    fn into_response(self) -> Response {
        match self {
            Ok(value) => value.into_response(),
            Err(error) => error.into_response(),
        }
    }
}

/// A JSON response of any `serde::Serialize` value
/// (`application/json; charset=utf-8`).
///
/// A value that fails to serialize (a map with non-string keys, say) gives
/// a 500 through [`Abort`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> ResponseRepresentable for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => with_type(bytes, JSON),
            Err(e) => Abort::from(e).into_response(),
        }
    }
}

/// A redirect, with Vapor's three kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    status: StatusCode,
    location: String,
}

impl Redirect {
    /// 303 See Other (Vapor's `.normal`): the client follows with a GET.
    pub fn to(location: impl Into<String>) -> Redirect {
        Redirect {
            status: StatusCode::SEE_OTHER,
            location: location.into(),
        }
    }

    /// 301 Moved Permanently (Vapor's `.permanent`).
    pub fn permanent(location: impl Into<String>) -> Redirect {
        Redirect {
            status: StatusCode::MOVED_PERMANENTLY,
            location: location.into(),
        }
    }

    /// 307 Temporary Redirect (Vapor's `.temporary`): the method and body are kept.
    pub fn temporary(location: impl Into<String>) -> Redirect {
        Redirect {
            status: StatusCode::TEMPORARY_REDIRECT,
            location: location.into(),
        }
    }
}

impl ResponseRepresentable for Redirect {
    fn into_response(self) -> Response {
        match HeaderValue::try_from(self.location) {
            Ok(location) => {
                let mut response = crate::responder::status(self.status);
                response.headers_mut().insert(header::LOCATION, location);
                response
            }
            Err(e) => Abort::from(e)
                .with_reason("Internal Server Error")
                .into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Status, content type, body.
    type Parts = (u16, Option<String>, Bytes);

    fn parts(r: Response) -> Parts {
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let status = r.status().as_u16();
        (status, ct, r.into_body().try_into_bytes().unwrap())
    }

    #[test]
    fn values_have_vapors_content_types() {
        let text = Some(TEXT.to_owned());
        let json = Some(JSON.to_owned());
        let octets = Some(OCTETS.to_owned());
        let cases: Vec<(Response, Parts)> = vec![
            ("hi".into_response(), (200, text.clone(), "hi".into())),
            (
                String::from("hé").into_response(),
                (200, text.clone(), "hé".into()),
            ),
            (
                Bytes::from_static(b"\x00\x01").into_response(),
                (200, octets.clone(), Bytes::from_static(b"\x00\x01")),
            ),
            (vec![7u8].into_response(), (200, octets, vec![7u8].into())),
            (
                Json(serde_json::json!({"hello": "world"})).into_response(),
                (200, json.clone(), r#"{"hello":"world"}"#.into()),
            ),
            (
                StatusCode::NO_CONTENT.into_response(),
                (204, None, Bytes::new()),
            ),
            (().into_response(), (200, None, Bytes::new())),
            (
                (StatusCode::CREATED, "made").into_response(),
                (201, text.clone(), "made".into()),
            ),
            (
                Ok::<_, Abort>("fine").into_response(),
                (200, text, "fine".into()),
            ),
            (
                Err::<&str, _>(Abort::not_found()).into_response(),
                (404, json, r#"{"error":true,"reason":"Not Found"}"#.into()),
            ),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(parts(got), want, "case {i}");
        }
    }

    #[test]
    fn redirects_are_303_301_307() {
        for (r, code) in [
            (Redirect::to("/a"), 303),
            (Redirect::permanent("/a"), 301),
            (Redirect::temporary("/a"), 307),
        ] {
            let resp = r.into_response();
            assert_eq!(resp.status().as_u16(), code);
            assert_eq!(resp.headers()[header::LOCATION], "/a");
        }
        let bad = Redirect::to("/a\nb").into_response();
        assert_eq!(bad.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn unserializable_json_is_500() {
        let mut map = std::collections::HashMap::new();
        map.insert((1, 2), 3);
        let resp = Json(map).into_response();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
