//! `file`: serves a public directory for `GET`/`HEAD` paths no route matched
//! (Vapor's `FileMiddleware`).
//!
//! * The path is percent-decoded, then split into segments; a `..` segment
//!   answers 403 (so do `%2e%2e` and `..%2f`); the file found is resolved
//!   with its symlinks and must still lie inside the directory, else 403.
//! * `ETag` is `"<mtime>-<size>"` (hex); a matching `If-None-Match` answers
//!   304 with no body. `Last-Modified` is sent too.
//! * `Content-Type` comes from the extension (`application/octet-stream`
//!   when unknown); `Content-Length` is the file's size.
//! * The body is streamed in 32 KiB chunks, read with `std::fs` when the
//!   server asks for the next chunk: the root crate has no async runtime,
//!   and a read from a local disk is short. A file that shrinks while it is
//!   sent aborts the response.
//! * A path with no file (or a directory) keeps the router's 404.

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::UNIX_EPOCH;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderValue, Method, StatusCode};
use http_body::{Frame, SizeHint};

use super::{Middleware, Next};
use crate::abort::{route_missing, Abort};
use crate::body::Body;
use crate::error::{BoxError, Error, ErrorKind};
use crate::responder::{Request, Response, ResponseFuture};

/// The size of each chunk read from a file.
const CHUNK: usize = 32 * 1024;

/// Serves files from a public directory for requests no route matched.
#[derive(Debug, Clone)]
pub struct FileMiddleware {
    /// Shared so that each request's future holds it without a copy.
    root: Arc<PathBuf>,
}

impl FileMiddleware {
    /// Serves `public_dir` (resolved once, symlinks included).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] when `public_dir` is not a directory.
    pub fn new(public_dir: impl AsRef<Path>) -> Result<FileMiddleware, Error> {
        let dir = public_dir.as_ref();
        let root = std::fs::canonicalize(dir)
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Config,
                    format!(
                        "public directory {:?} (for the file middleware) is not a directory",
                        dir.display().to_string()
                    ),
                )
            })?;
        Ok(FileMiddleware {
            root: Arc::new(root),
        })
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The answer for `path` from the directory, `None` when no file is there.
    fn serve(&self, path: &str, if_none_match: &[HeaderValue]) -> Option<Response> {
        let decoded: Vec<u8> = percent_encoding::percent_decode(path.as_bytes()).collect();
        let shown = path;
        let mut path = PathBuf::clone(&self.root);
        for segment in decoded.split(|b| *b == b'/') {
            match segment {
                b"" | b"." => {}
                b".." => return Some(Abort::forbidden().into_response()),
                s if s.contains(&0) => return None,
                s => path.push(std::ffi::OsStr::from_bytes(s)),
            }
        }
        let real = std::fs::canonicalize(&path).ok()?;
        if !real.starts_with(&*self.root) {
            log::warn!("file middleware: {shown} resolves outside the public directory; 403");
            return Some(Abort::forbidden().into_response());
        }
        let meta = std::fs::metadata(&real).ok()?;
        if !meta.is_file() {
            return None;
        }
        let modified = meta.modified().ok();
        let mtime = modified
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let etag = format!("\"{mtime:x}-{:x}\"", meta.len());
        let mut headers = http::HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, v);
        }
        if let Some(v) =
            modified.and_then(|m| HeaderValue::from_str(&httpdate::fmt_http_date(m)).ok())
        {
            headers.insert(header::LAST_MODIFIED, v);
        }
        if matches(if_none_match, &etag) {
            let mut response = crate::responder::status(StatusCode::NOT_MODIFIED);
            response.headers_mut().extend(headers);
            return Some(response);
        }
        let file = File::open(&real).ok()?;
        let mime = mime_guess::from_path(&real).first_or_octet_stream();
        if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        let mut response = Response::new(Body::new(FileBody {
            file,
            left: meta.len(),
        }));
        *response.headers_mut() = headers;
        Some(response)
    }
}

impl Middleware for FileMiddleware {
    fn respond(&self, request: Request, next: Next) -> ResponseFuture {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return next.respond(request);
        }
        let this = self.clone();
        let uri = request.uri().clone();
        let tags: Vec<HeaderValue> = request
            .headers()
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .cloned()
            .collect();
        let answer = next.respond(request);
        Box::pin(async move {
            let response = answer.await;
            if !route_missing(&response) {
                return response;
            }
            this.serve(uri.path(), &tags).unwrap_or(response)
        })
    }
}

/// Whether the `If-None-Match` values list `etag` (weak comparison) or are `*`.
fn matches(if_none_match: &[HeaderValue], etag: &str) -> bool {
    if_none_match
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// A file's bytes, read in chunks as the server asks for them.
struct FileBody {
    file: File,
    left: u64,
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.left).map_or(CHUNK, |left| left.min(CHUNK));
        let mut buf = BytesMut::zeroed(want);
        let read = match this.file.read(&mut buf) {
            Ok(0) => {
                return Poll::Ready(Some(Err("the file shrank while it was sent".into())));
            }
            Ok(n) => n,
            Err(e) => return Poll::Ready(Some(Err(e.into()))),
        };
        buf.truncate(read);
        this.left -= read as u64;
        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drain::block_on;
    use crate::middleware::wrap;
    use crate::responder::SharedResponder;

    fn missing() -> SharedResponder {
        Arc::new(|_: Request| async { crate::abort::route_missing_response() })
    }

    fn get(mw: &FileMiddleware, uri: &str, etag: Option<&str>) -> Response {
        let chain = wrap(&[Arc::new(mw.clone())], missing());
        let mut b = http::Request::builder().uri(uri);
        if let Some(tag) = etag {
            b = b.header(header::IF_NONE_MATCH, tag);
        }
        block_on(chain.respond(b.body(Bytes::new()).unwrap()))
    }

    fn body(r: Response) -> Vec<u8> {
        block_on(r.into_body().collect()).unwrap().to_vec()
    }

    #[test]
    fn serves_files_with_type_etag_and_304() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("styles")).unwrap();
        std::fs::write(dir.path().join("styles/app.css"), "body{}").unwrap();
        let big: Vec<u8> = (0..100_000).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path().join("big.bin"), &big).unwrap();
        std::fs::write(dir.path().join("a b.txt"), "spaced").unwrap();
        let mw = FileMiddleware::new(dir.path()).unwrap();

        let r = get(&mw, "/styles/app.css", None);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/css");
        let etag = r.headers()[header::ETAG].to_str().unwrap().to_owned();
        assert!(r.headers().contains_key(header::LAST_MODIFIED));
        assert_eq!(body(r), b"body{}");

        let r = get(&mw, "/styles/app.css", Some(&etag));
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(body(r), b"");
        let r = get(&mw, "/styles/app.css", Some(&format!("\"x\", W/{etag}")));
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        let r = get(&mw, "/styles/app.css", Some("\"other\""));
        assert_eq!(r.status(), StatusCode::OK);

        let r = get(&mw, "/big.bin", None);
        assert_eq!(http_body::Body::size_hint(r.body()).exact(), Some(100_000));
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/octet-stream"
        );
        assert_eq!(body(r), big);
        assert_eq!(body(get(&mw, "/a%20b.txt", None)), b"spaced");
    }

    #[test]
    fn never_escapes_the_directory() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let public = dir.path().join("public");
        std::fs::create_dir(&public).unwrap();
        std::fs::write(dir.path().join("private"), "private").unwrap();
        std::fs::write(public.join("ok.txt"), "ok").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), public.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), public.join("dirlink")).unwrap();
        std::os::unix::fs::symlink(public.join("ok.txt"), public.join("inside")).unwrap();
        let mw = FileMiddleware::new(&public).unwrap();
        let forbidden = [
            "/../private",
            "/x/../../private",
            "/%2e%2e/private",
            "/..%2fprivate",
            "/%2E%2E%2Fprivate",
            "/link",
            "/dirlink/secret",
        ];
        for uri in forbidden {
            let r = get(&mw, uri, None);
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{uri}");
            assert!(
                !body(r).windows(6).any(|w| w == b"secret" || w == b"rivate"),
                "{uri}"
            );
        }
        for uri in ["/nope", "/", "/ok.txt%00", "/%00"] {
            assert_eq!(get(&mw, uri, None).status(), StatusCode::NOT_FOUND, "{uri}");
        }
        assert_eq!(body(get(&mw, "/inside", None)), b"ok");
        assert_eq!(body(get(&mw, "/./ok.txt", None)), b"ok");
    }

    #[test]
    fn only_unmatched_get_and_head_are_served() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "file").unwrap();
        let mw = FileMiddleware::new(dir.path()).unwrap();
        let matched: SharedResponder =
            Arc::new(|_: Request| async { Err::<&str, _>(Abort::not_found()) });
        let chain = wrap(&[Arc::new(mw.clone())], matched);
        let r = block_on(
            chain.respond(
                http::Request::builder()
                    .uri("/f")
                    .body(Bytes::new())
                    .unwrap(),
            ),
        );
        assert_eq!(
            r.status(),
            StatusCode::NOT_FOUND,
            "a handler's own 404 stays"
        );
        let chain = wrap(&[Arc::new(mw.clone())], missing());
        let post = http::Request::builder()
            .method(Method::POST)
            .uri("/f")
            .body(Bytes::new())
            .unwrap();
        assert_eq!(
            block_on(chain.respond(post)).status(),
            StatusCode::NOT_FOUND
        );
        let e = FileMiddleware::new(dir.path().join("nope")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.to_string().contains("is not a directory"), "{e}");
    }
}
