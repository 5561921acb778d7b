//! `cors`: Cross-Origin Resource Sharing (Vapor's `CORSMiddleware`).
//!
//! Acts only on requests with an `Origin` header. A preflight (`OPTIONS`
//! with `Access-Control-Request-Method`) is answered at once with an empty
//! 200; any other request goes on and its response gets the headers.
//! Configured in `[app.cors]` with Vapor's keys in snake case:
//!
//! | Vapor (`cors.json`) | `[app.cors]` | default |
//! | --- | --- | --- |
//! | `allowedOrigin` | `allowed_origin`: `"*"`/`"all"`, `"none"`, `"origin"` (echo the request's), or origins | `"origin"` |
//! | `allowedMethods` | `allowed_methods` | GET, POST, PUT, OPTIONS, DELETE, PATCH |
//! | `allowedHeaders` | `allowed_headers` | Accept, Authorization, Content-Type, Origin, X-Requested-With |
//! | `allowCredentials` | `allow_credentials` | false |
//! | `cacheExpiration` | `cache_expiration` (seconds) | 600 |
//! | `exposedHeaders` | `exposed_headers` | none |

use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, Method};
use serde::Deserialize;

use super::{Middleware, Next};
use crate::error::{Error, ErrorKind};
use crate::responder::{Request, Response, ResponseFuture};

/// Which origins may read responses (`Access-Control-Allow-Origin`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowedOrigin {
    /// `*`: every origin (config `"*"` or `"all"`).
    All,
    /// No header: no origin (config `"none"` or `""`).
    None,
    /// The request's own `Origin` (config `"origin"`).
    OriginBased,
    /// The request's `Origin` when it is one of these exactly; otherwise no
    /// header (config: any other string, or an array of origins).
    Custom(Vec<String>),
}

impl<'de> Deserialize<'de> for AllowedOrigin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::One(s) => match s.to_ascii_lowercase().as_str() {
                "*" | "all" => AllowedOrigin::All,
                "none" | "" => AllowedOrigin::None,
                "origin" => AllowedOrigin::OriginBased,
                _ => AllowedOrigin::Custom(vec![s]),
            },
            Raw::Many(list) => AllowedOrigin::Custom(list),
        })
    }
}

/// The `[app.cors]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CorsConfig {
    /// Which origins may read responses.
    pub allowed_origin: AllowedOrigin,
    /// `Access-Control-Allow-Methods`.
    pub allowed_methods: Vec<String>,
    /// `Access-Control-Allow-Headers`.
    pub allowed_headers: Vec<String>,
    /// Sends `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
    /// `Access-Control-Max-Age`, in seconds.
    pub cache_expiration: u64,
    /// `Access-Control-Expose-Headers` (not sent when empty).
    pub exposed_headers: Vec<String>,
}

impl Default for CorsConfig {
    fn default() -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        CorsConfig {
            allowed_origin: AllowedOrigin::OriginBased,
            allowed_methods: strings(&["GET", "POST", "PUT", "OPTIONS", "DELETE", "PATCH"]),
            allowed_headers: strings(&[
                "Accept",
                "Authorization",
                "Content-Type",
                "Origin",
                "X-Requested-With",
            ]),
            allow_credentials: false,
            cache_expiration: 600,
            exposed_headers: Vec::new(),
        }
    }
}

/// Answers preflights and adds the `Access-Control-*` headers.
#[derive(Debug, Clone)]
pub struct CorsMiddleware {
    /// Shared so that each request's future holds it without a copy.
    inner: Arc<Headers>,
}

#[derive(Debug)]
struct Headers {
    origin: AllowedOrigin,
    /// The headers every CORS response gets, origin aside.
    fixed: HeaderMap,
}

impl CorsMiddleware {
    /// The middleware for `config`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when a method or header name cannot be sent in a header.
    pub fn new(config: &CorsConfig) -> Result<CorsMiddleware, Error> {
        let value = |key: &str, text: String| {
            HeaderValue::try_from(text.clone()).map_err(|_| {
                Error::new(
                    ErrorKind::Config,
                    format!("app.cors.{key}: {text:?} cannot be sent in a header"),
                )
            })
        };
        let mut fixed = HeaderMap::new();
        let methods = config
            .allowed_methods
            .iter()
            .map(|m| m.to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(", ");
        fixed.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            value("allowed_methods", methods)?,
        );
        fixed.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            value("allowed_headers", config.allowed_headers.join(", "))?,
        );
        fixed.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(config.cache_expiration),
        );
        if !config.exposed_headers.is_empty() {
            fixed.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                value("exposed_headers", config.exposed_headers.join(", "))?,
            );
        }
        if config.allow_credentials {
            fixed.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if let AllowedOrigin::Custom(list) = &config.allowed_origin {
            for origin in list {
                value("allowed_origin", origin.clone())?;
            }
        }
        Ok(CorsMiddleware {
            inner: Arc::new(Headers {
                origin: config.allowed_origin.clone(),
                fixed,
            }),
        })
    }
}

impl Headers {
    fn decorate(&self, response: &mut Response, origin: &HeaderValue) {
        let headers = response.headers_mut();
        let allow = match &self.origin {
            AllowedOrigin::All => Some(HeaderValue::from_static("*")),
            AllowedOrigin::None => None,
            AllowedOrigin::OriginBased => Some(origin.clone()),
            AllowedOrigin::Custom(list) => list
                .iter()
                .any(|o| o.as_bytes() == origin.as_bytes())
                .then(|| origin.clone()),
        };
        if !matches!(self.origin, AllowedOrigin::All | AllowedOrigin::None) {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        if let Some(allow) = allow {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        }
        for (name, value) in &self.fixed {
            headers.insert(name.clone(), value.clone());
        }
    }
}

impl Middleware for CorsMiddleware {
    fn respond(&self, request: Request, next: Next) -> ResponseFuture {
        let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
            return next.respond(request);
        };
        let preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let this = self.inner.clone();
        if preflight {
            let mut response = Response::new(crate::body::Body::empty());
            this.decorate(&mut response, &origin);
            return Box::pin(std::future::ready(response));
        }
        let answer = next.respond(request);
        Box::pin(async move {
            let mut response = answer.await;
            this.decorate(&mut response, &origin);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::block_on;
    use crate::middleware::wrap;
    use crate::responder::SharedResponder;

    fn app() -> SharedResponder {
        Arc::new(|_: Request| async { "app" })
    }

    fn call(config: &CorsConfig, method: Method, headers: &[(&str, &str)]) -> Response {
        let mw = CorsMiddleware::new(config).unwrap();
        let chain = wrap(&[Arc::new(mw)], app());
        let mut b = http::Request::builder().method(method).uri("/posts");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        block_on(chain.respond(b.body(bytes::Bytes::new()).unwrap()))
    }

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers().get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn preflight_is_answered_with_the_headers() {
        let r = call(
            &CorsConfig::default(),
            Method::OPTIONS,
            &[
                ("origin", "https://a.example"),
                ("access-control-request-method", "POST"),
            ],
        );
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            header(&r, "access-control-allow-origin"),
            Some("https://a.example")
        );
        assert_eq!(
            header(&r, "access-control-allow-methods"),
            Some("GET, POST, PUT, OPTIONS, DELETE, PATCH")
        );
        assert_eq!(header(&r, "access-control-max-age"), Some("600"));
        assert_eq!(header(&r, "vary"), Some("Origin"));
        assert_eq!(header(&r, "access-control-allow-credentials"), None);
        assert!(r.into_body().try_into_bytes().unwrap().is_empty());
    }

    #[test]
    fn simple_requests_pass_and_get_headers_only_with_origin() {
        let config: CorsConfig = toml::from_str(
            r#"
            allowed_origin = ["https://a.example", "https://b.example"]
            allowed_methods = ["get", "post"]
            allowed_headers = ["X-Token"]
            allow_credentials = true
            cache_expiration = 60
            exposed_headers = ["X-Total"]
            "#,
        )
        .unwrap();
        let r = call(&config, Method::GET, &[("origin", "https://b.example")]);
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(
            header(&r, "access-control-allow-origin"),
            Some("https://b.example")
        );
        assert_eq!(
            header(&r, "access-control-allow-methods"),
            Some("GET, POST")
        );
        assert_eq!(header(&r, "access-control-allow-headers"), Some("X-Token"));
        assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
        assert_eq!(header(&r, "access-control-expose-headers"), Some("X-Total"));
        assert_eq!(header(&r, "access-control-max-age"), Some("60"));
        // A prefix of an allowed origin is not allowed (Vapor's substring test would).
        let r = call(&config, Method::GET, &[("origin", "https://a.exampl")]);
        assert_eq!(header(&r, "access-control-allow-origin"), None);
        let r = call(&config, Method::GET, &[]);
        assert_eq!(header(&r, "access-control-allow-methods"), None);
        assert_eq!(r.into_body().try_into_bytes().unwrap(), "app");
        // OPTIONS without Access-Control-Request-Method goes to the app.
        let r = call(&config, Method::OPTIONS, &[("origin", "https://a.example")]);
        assert_eq!(r.into_body().try_into_bytes().unwrap(), "app");
    }

    #[test]
    fn origin_settings() {
        let parse =
            |v: &str| toml::from_str::<CorsConfig>(&format!("allowed_origin = {v}")).unwrap();
        assert_eq!(parse("\"*\"").allowed_origin, AllowedOrigin::All);
        assert_eq!(parse("\"ALL\"").allowed_origin, AllowedOrigin::All);
        assert_eq!(parse("\"none\"").allowed_origin, AllowedOrigin::None);
        assert_eq!(
            parse("\"origin\"").allowed_origin,
            AllowedOrigin::OriginBased
        );
        let all = call(&parse("\"*\""), Method::GET, &[("origin", "https://x")]);
        assert_eq!(header(&all, "access-control-allow-origin"), Some("*"));
        assert_eq!(header(&all, "vary"), None);
        let none = call(&parse("\"none\""), Method::GET, &[("origin", "https://x")]);
        assert_eq!(header(&none, "access-control-allow-origin"), None);
        let bad = CorsConfig {
            allowed_headers: vec!["a\nb".into()],
            ..CorsConfig::default()
        };
        let e = CorsMiddleware::new(&bad).unwrap_err();
        assert!(e.to_string().contains("app.cors.allowed_headers"), "{e}");
        assert!(app().check().is_ok());
    }
}
