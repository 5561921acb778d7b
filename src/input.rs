//! Reading a request: path parameters (raw and typed), JSON, the query
//! string, url-encoded forms, the peer's and the client's address.
//!
//! ```
//! use handover::{Abort, Json, Request, RequestExt};
//! #[derive(serde::Deserialize)]
//! struct NewPost { content: String }
//! #[derive(serde::Deserialize)]
//! struct Page { page: Option<u32> }
//!
//! async fn store(req: Request) -> Result<Json<serde_json::Value>, Abort> {
//!     let post: NewPost = req.json()?;            // 400 naming the problem
//!     let page: Page = req.query()?;              // 400 naming the problem
//!     let user: u64 = req.parameter("user_id")?;  // 404 when it does not parse
//!     Ok(Json(serde_json::json!({"user": user, "content": post.content, "page": page.page})))
//! }
//! ```

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::header;
use serde::de::DeserializeOwned;

use crate::abort::Abort;

/// Path parameters of the matched route (percent-decoded), stored in the
/// request's extensions when the route has any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The address of the connection's peer, put in a request's extensions by
/// the adapter (TCP listeners only: a unix socket's peer has no address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// What handover adds to a request: the router's path parameters and
/// Vapor's input accessors.
pub trait RequestExt {
    /// The value of path parameter `name` (`{name}`, `:name` or `{*name}`
    /// in the route), percent-decoded, if the matched route has it.
    fn param(&self, name: &str) -> Option<&str>;

    /// Path parameter `name` parsed as `T`.
    ///
    /// # Errors
    /// [`Abort::not_found`] when the route has no such parameter or its
    /// value does not parse, as Vapor's `parameters.next(Int.self)` does.
    fn parameter<T: FromStr>(&self, name: &str) -> Result<T, Abort>;

    /// The body as JSON of type `T` (Vapor's `req.json`).
    ///
    /// # Errors
    /// [`Abort::bad_request`] when the `Content-Type` is not JSON, the body is
    /// not JSON, or a field is missing or of the wrong type; the reason
    /// names the field and the problem.
    fn json<T: DeserializeOwned>(&self) -> Result<T, Abort>;

    /// The query string as `T` (empty when there is none).
    ///
    /// # Errors
    /// [`Abort::bad_request`] naming the problem.
    fn query<T: DeserializeOwned>(&self) -> Result<T, Abort>;

    /// The body as an `application/x-www-form-urlencoded` form of type `T`.
    ///
    /// # Errors
    /// [`Abort::bad_request`] when the `Content-Type` is not a url-encoded
    /// form or the form does not match `T`.
    fn form<T: DeserializeOwned>(&self) -> Result<T, Abort>;

    /// The address of the connection's peer (the last proxy, if any), when
    /// the server recorded it: with `[app] peer_addr = true` in the config,
    /// on TCP connections (see [`PeerAddr`]).
    fn peer_addr(&self) -> Option<SocketAddr>;

    /// The client's address as Vapor's `peerHostname` finds it: the first
    /// `for=` of `Forwarded`, else the first `X-Forwarded-For` entry, else
    /// the peer. Those headers are written by clients too: trust this only
    /// behind a proxy that replaces them.
    fn client_ip(&self) -> Option<IpAddr>;
}

impl<B: AsRef<[u8]>> RequestExt for http::Request<B> {
    fn param(&self, name: &str) -> Option<&str> {
        self.extensions().get::<Params>()?.get(name)
    }

    fn parameter<T: FromStr>(&self, name: &str) -> Result<T, Abort> {
        let raw = self.param(name).ok_or_else(Abort::not_found)?;
        raw.parse().map_err(|_| Abort::not_found())
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, Abort> {
        if !media_type_is(self, |t| {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        }) {
            return Err(Abort::bad_request()
                .with_reason("expected a JSON body (Content-Type: application/json)"));
        }
        let mut de = serde_json::Deserializer::from_slice(self.body().as_ref());
        let value: T = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| bad_input("invalid JSON body", e.path().to_string(), e.inner()))?;
        de.end()
            .map_err(|e| bad_input("invalid JSON body", ".".into(), &e))?;
        Ok(value)
    }

    fn query<T: DeserializeOwned>(&self) -> Result<T, Abort> {
        let query = self.uri().query().unwrap_or("");
        urlencoded(query.as_bytes(), "invalid query string")
    }

    fn form<T: DeserializeOwned>(&self) -> Result<T, Abort> {
        if !media_type_is(self, |t| t == "application/x-www-form-urlencoded") {
            return Err(Abort::bad_request().with_reason(
                "expected a form body (Content-Type: application/x-www-form-urlencoded)",
            ));
        }
        urlencoded(self.body().as_ref(), "invalid form body")
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.extensions().get::<PeerAddr>().map(|p| p.0)
    }

    fn client_ip(&self) -> Option<IpAddr> {
        let headers = self.headers();
        let forwarded = headers
            .get_all(header::FORWARDED)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(forwarded_for);
        let x_forwarded = || {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| v.split(',').next().and_then(|ip| parse_ip(ip.trim())))
        };
        forwarded
            .or_else(x_forwarded)
            .or_else(|| self.peer_addr().map(|p| p.ip()))
    }
}

/// Whether the request's media type (before any `;`, any case) passes `is`.
fn media_type_is<B>(req: &http::Request<B>, is: impl Fn(&str) -> bool) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| is(&t.trim().to_ascii_lowercase()))
}

fn bad_input(what: &str, path: String, error: &dyn std::fmt::Display) -> Abort {
    let reason = if path == "." || path == "?" {
        format!("{what}: {error}")
    } else {
        format!("{what}: {path}: {error}")
    };
    Abort::bad_request().with_reason(reason)
}

fn urlencoded<T: DeserializeOwned>(input: &[u8], what: &str) -> Result<T, Abort> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(input));
    serde_path_to_error::deserialize(de)
        .map_err(|e| bad_input(what, e.path().to_string(), e.inner()))
}

/// The first `for=` of one `Forwarded` header value (RFC 7239), if it is an address.
fn forwarded_for(value: &str) -> Option<IpAddr> {
    let first = value.split(',').next()?;
    first.split(';').find_map(|pair| {
        let (key, v) = pair.trim().split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        parse_ip(v.trim().trim_matches('"'))
    })
}

/// An IP address, also as `[v6]`, `[v6]:port` or `v4:port`.
fn parse_ip(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(text) {
        return Some(ip);
    }
    if let Ok(addr) = SocketAddr::from_str(text) {
        return Some(addr.ip());
    }
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    IpAddr::from_str(inner).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Post {
        content: String,
        #[serde(default)]
        tags: Vec<String>,
    }

    fn req(content_type: Option<&str>, uri: &str, body: &str) -> http::Request<Bytes> {
        let mut b = http::Request::builder().uri(uri);
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(Bytes::from(body.to_owned())).unwrap()
    }

    #[test]
    fn json_bodies_and_their_errors() {
        let ok = req(
            Some("application/json; charset=utf-8"),
            "/",
            r#"{"content":"hi"}"#,
        );
        assert_eq!(
            ok.json::<Post>().unwrap(),
            Post {
                content: "hi".into(),
                tags: vec![]
            }
        );
        let cases = [
            (None, r#"{"content":"hi"}"#, "expected a JSON body"),
            (
                Some("text/plain"),
                r#"{"content":"hi"}"#,
                "expected a JSON body",
            ),
            (
                Some("application/json"),
                "not json",
                "invalid JSON body: expected",
            ),
            (Some("application/json"), "{}", "missing field `content`"),
            (
                Some("application/json"),
                r#"{"content":5}"#,
                "invalid JSON body: content: invalid type: integer `5`",
            ),
            (
                Some("application/json"),
                r#"{"content":"a","tags":[1]}"#,
                "tags[0]: invalid type",
            ),
            (Some("application/json"), r#"{"content":"a"} x"#, "trailing"),
        ];
        for (ct, body, needle) in cases {
            let e = req(ct, "/", body).json::<Post>().unwrap_err();
            assert_eq!(e.status().as_u16(), 400, "{body}");
            assert!(e.reason().contains(needle), "{body}: {}", e.reason());
        }
        assert!(
            req(Some("application/vnd.api+json"), "/", r#"{"content":"x"}"#)
                .json::<Post>()
                .is_ok()
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Page {
        page: u32,
        q: Option<String>,
    }

    #[test]
    fn query_and_form() {
        let q: Page = req(None, "/s?page=2&q=a%20b", "").query().unwrap();
        assert_eq!(
            q,
            Page {
                page: 2,
                q: Some("a b".into())
            }
        );
        let e = req(None, "/s?page=x", "").query::<Page>().unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        assert!(e.reason().contains("page"), "{}", e.reason());
        let e = req(None, "/s", "").query::<Page>().unwrap_err();
        assert!(
            e.reason().contains("missing field `page`"),
            "{}",
            e.reason()
        );
        let f: Page = req(
            Some("application/x-www-form-urlencoded"),
            "/",
            "page=3&q=x+y",
        )
        .form()
        .unwrap();
        assert_eq!(f.q.as_deref(), Some("x y"));
        let e = req(Some("application/json"), "/", "page=3").form::<Page>();
        assert_eq!(e.unwrap_err().status().as_u16(), 400);
    }

    #[test]
    fn typed_parameters_are_404_when_they_do_not_parse() {
        let mut r = req(None, "/posts/12", "");
        r.extensions_mut()
            .insert(Params(vec![("id".into(), "12".into())]));
        assert_eq!(r.parameter::<u64>("id").unwrap(), 12);
        assert_eq!(r.param("id"), Some("12"));
        assert_eq!(
            r.parameter::<u8>("nope").unwrap_err().status().as_u16(),
            404
        );
        r.extensions_mut()
            .insert(Params(vec![("id".into(), "abc".into())]));
        assert_eq!(r.parameter::<u64>("id").unwrap_err().status().as_u16(), 404);
    }

    #[test]
    fn client_ip_prefers_forwarded_then_x_forwarded_for_then_peer() {
        let peer: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let with = |headers: &[(&str, &str)]| {
            let mut b = http::Request::builder();
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let mut r = b.body(Bytes::new()).unwrap();
            r.extensions_mut().insert(PeerAddr(peer));
            r.client_ip().map(|ip| ip.to_string())
        };
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "10.0.0.9"),
            (
                &[("x-forwarded-for", "203.0.113.5, 10.0.0.1")],
                "203.0.113.5",
            ),
            (
                &[
                    ("forwarded", "for=192.0.2.60;proto=http, for=198.51.100.17"),
                    ("x-forwarded-for", "203.0.113.5"),
                ],
                "192.0.2.60",
            ),
            (
                &[("forwarded", r#"For="[2001:db8:cafe::17]:4711""#)],
                "2001:db8:cafe::17",
            ),
            (
                &[("forwarded", "for=_hidden"), ("x-forwarded-for", "1.2.3.4")],
                "1.2.3.4",
            ),
            (&[("x-forwarded-for", "garbage")], "10.0.0.9"),
        ];
        for (headers, want) in cases {
            assert_eq!(with(headers).as_deref(), Some(*want), "{headers:?}");
        }
        let bare = http::Request::new(Bytes::new());
        assert_eq!(bare.peer_addr(), None);
        assert_eq!(bare.client_ip(), None);
    }
}
