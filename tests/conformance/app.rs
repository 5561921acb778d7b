//! The conformance app: the demo's routes plus what the request cases need.
//! It uses only the root crate, so it runs unchanged on every adapter.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use futures_timer::Delay;
use handover::bytes::Bytes;
use handover::http::{header, HeaderValue, Method, StatusCode};
use handover::middleware::{from_fn, Middleware, Next};
use handover::sse::{Event, EventStream};
use handover::{
    text, Body, BoxError, Config, Droplet, Error, Identity, Message, Outcome, Request, Response,
    Router, WebSocket,
};
use handover_test_support::{get, Lines, Resp};

/// The line the app logs when a `/sleep?ms=N` handler starts.
pub fn sleep_started(ms: u64) -> String {
    format!("sleep {ms} ms: handler started")
}

/// Sends `GET /sleep?ms=N` on a thread of its own and returns once the
/// app's handler has it (its log line is in `stderr`): a request in flight.
pub fn in_flight(
    stderr: &Lines,
    addr: SocketAddr,
    ms: u64,
) -> thread::JoinHandle<std::io::Result<Resp>> {
    let mark = stderr.mark();
    let request = thread::spawn(move || get(addr, &format!("/sleep?ms={ms}")));
    stderr.expect_after(
        mark,
        &sleep_started(ms),
        Duration::from_secs(20),
        "the request reaches its handler",
    );
    request
}

/// Names a file whose existence makes [`run`] panic at start-up.
pub const PANIC_IF: &str = "HANDOVER_CONFORMANCE_PANIC_IF";

/// Requests for `/counted` whose handler ran: what the server processed.
static COUNTED_HANDLED: AtomicU64 = AtomicU64::new(0);
/// Of those, responses dropped before their body was handed to the
/// connection: a stream reset after its processing began.
static COUNTED_CUT: AtomicU64 = AtomicU64::new(0);

/// What [`run`] logs at exit: `/counted: handled N, cut M`.
const COUNTED_LINE: &str = "conformance-app: /counted: handled ";

/// `(handled, cut)` of one process, from its exit line.
pub fn counted(line: &str) -> Option<(u64, u64)> {
    let rest = line.split(COUNTED_LINE).nth(1)?;
    let (handled, cut) = rest.split_once(", cut ")?;
    Some((handled.parse().ok()?, cut.parse().ok()?))
}

/// The body of `/counted`: "Hello, world!" in one frame; counted as cut if
/// dropped before the frame was taken.
struct CountedBody(Option<Bytes>);

impl http_body::Body for CountedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.0.take().map(|data| Ok(http_body::Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.as_ref().map_or(0, |d| d.len() as u64))
    }
}

impl Drop for CountedBody {
    fn drop(&mut self) {
        if self.0.is_some() {
            COUNTED_CUT.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Requests that arrive at `/barrier?n=N` wait for each other, N at a time.
#[derive(Default)]
struct Barrier {
    /// Requests arrived so far, and who waits for more.
    state: Mutex<(u64, Vec<Waker>)>,
}

impl Barrier {
    /// Counts one arrival; resolves once the group of `n` it belongs to is
    /// complete, or with the count so far after 20 s.
    async fn meet(&self, n: u64) -> Result<(), u64> {
        let target = {
            let mut state = self.state.lock().unwrap();
            state.0 += 1;
            let target = state.0.div_ceil(n) * n;
            if state.0 == target {
                state.1.drain(..).for_each(Waker::wake);
            }
            target
        };
        let met = std::future::poll_fn(|cx| {
            let mut state = self.state.lock().unwrap();
            if state.0 >= target {
                return Poll::Ready(());
            }
            state.1.push(cx.waker().clone());
            Poll::Pending
        });
        let timeout = Delay::new(Duration::from_secs(20));
        match futures_util::future::select(std::pin::pin!(met), timeout).await {
            futures_util::future::Either::Left(_) => Ok(()),
            futures_util::future::Either::Right(_) => Err(self.state.lock().unwrap().0),
        }
    }
}

fn query_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.uri()
        .query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn json(value: serde_json::Value) -> Response {
    let mut r = Response::new(Body::from(value.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Echoes the method, for every method the router knows.
async fn method(req: Request) -> Response {
    text(StatusCode::OK, req.method().as_str().to_owned())
}

fn router(identity: Identity, server: &str, droplet: &Droplet) -> Router {
    let whoami = serde_json::json!({
        "pid": identity.pid,
        "generation": identity.generation,
        "server": server,
    });
    let drain = droplet.drain_token();
    let barrier = Arc::new(Barrier::default());
    Router::build(|r| {
        r.get("/", |_: Request| async {
            text(StatusCode::OK, "Hello, world!")
        });
        r.get("/counted", |_: Request| async {
            COUNTED_HANDLED.fetch_add(1, Ordering::Relaxed);
            Response::new(Body::new(CountedBody(Some(Bytes::from_static(
                b"Hello, world!",
            )))))
        });
        r.get("/barrier", move |req: Request| {
            // Answers once `n` requests are in their handlers at once.
            let barrier = barrier.clone();
            let n = query_param(&req, "n").and_then(|v| v.parse::<u64>().ok());
            async move {
                match n {
                    Some(n) if (1..=10_000).contains(&n) => match barrier.meet(n).await {
                        Ok(()) => text(StatusCode::OK, format!("{n} together\n")),
                        Err(seen) => text(
                            StatusCode::GATEWAY_TIMEOUT,
                            format!("{seen} arrived, waited for {n}\n"),
                        ),
                    },
                    _ => text(StatusCode::BAD_REQUEST, "usage: /barrier?n=N\n"),
                }
            }
        });
        r.get("/whoami", move |_: Request| {
            let body = whoami.clone();
            async move { json(body) }
        });
        r.get("/sleep", |req: Request| async move {
            match query_param(&req, "ms").and_then(|v| v.parse::<u64>().ok()) {
                Some(ms) if ms <= 600_000 => {
                    log::info!("{}", sleep_started(ms));
                    Delay::new(Duration::from_millis(ms)).await;
                    text(StatusCode::OK, format!("slept {ms} ms\n"))
                }
                _ => text(StatusCode::BAD_REQUEST, "usage: /sleep?ms=N\n"),
            }
        });
        r.post("/echo", |req: Request| async move {
            let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
            let mut r = Response::new(Body::from(req.into_body()));
            if let Some(ct) = content_type {
                r.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            r
        });
        r.get("/headers", |req: Request| async move {
            // Request headers back as JSON (repeated names joined with ", "),
            // plus a repeated response header.
            let mut seen = serde_json::Map::new();
            for name in req.headers().keys() {
                let values: Vec<&str> = req
                    .headers()
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                seen.insert(name.as_str().to_owned(), values.join(", ").into());
            }
            let mut r = json(seen.into());
            r.headers_mut()
                .append("x-reply", HeaderValue::from_static("one"));
            r.headers_mut()
                .append("x-reply", HeaderValue::from_static("two"));
            r
        });
        r.get("/chunked", |req: Request| async move {
            let n = query_param(&req, "n")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(3);
            let chunks = (0..n).map(|i| Ok::<_, BoxError>(Bytes::from(format!("chunk {i}\n"))));
            Response::new(Body::from_stream(futures_util::stream::iter(chunks)))
        });
        r.get("/drip", |req: Request| async move {
            // `n` chunks, `ms` apart: a slow stream, not an idle connection.
            let param = |name, default| {
                query_param(&req, name)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(default)
            };
            let (n, gap) = (param("n", 3), Duration::from_millis(param("ms", 100)));
            let chunks = futures_util::stream::unfold(0, move |i| async move {
                if i == n {
                    return None;
                }
                Delay::new(gap).await;
                Some((Ok::<_, BoxError>(Bytes::from(format!("drip {i}\n"))), i + 1))
            });
            Response::new(Body::from_stream(chunks))
        });
        r.get("/child-fds", |_: Request| async {
            // What a process this app spawns holds open: one `FD TARGET` line
            // per fd of the shell (`socket:[INODE]` for a socket).
            let listing = std::process::Command::new("sh")
                .arg("-c")
                .arg(r#"for f in /proc/$$/fd/*; do echo "${f##*/} $(readlink "$f")"; done"#)
                .output();
            match listing {
                Ok(out) => text(
                    StatusCode::OK,
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                ),
                Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("spawn: {e}\n")),
            }
        });
        r.get("/healthz", handover::health(drain.clone()));
        // Echoes text and binary; "whoami" gets the generation instead.
        let generation = identity.generation;
        r.socket(
            "/ws/echo",
            move |_: Request, mut ws: WebSocket| async move {
                log::info!("websocket open");
                while let Some(message) = ws.recv().await {
                    match message? {
                        Message::Text(text) if text == "whoami" => {
                            ws.send(format!("generation {}", generation.unwrap_or(0)))
                                .await?
                        }
                        message if message.is_data() => ws.send(message).await?,
                        _ => {}
                    }
                }
                Ok::<(), Error>(())
            },
        );
        // An event every 50 ms, ended by the drain with a final event.
        let events_drain = drain.clone();
        r.get("/events", move |_: Request| {
            let drain = events_drain.clone();
            async move {
                let ticks = futures_util::stream::unfold(0u64, move |seq| async move {
                    Delay::new(Duration::from_millis(50)).await;
                    let data = serde_json::json!({"generation": generation, "seq": seq});
                    Some((Event::new(data.to_string()).id(seq.to_string()), seq + 1))
                });
                EventStream::new(ticks).until_drain(drain)
            }
        });
        // A handler with a bug: its socket closes with 1011, the process goes on.
        r.socket("/ws/panic", |_: Request, mut ws: WebSocket| async move {
            if ws.recv().await.is_some() && std::hint::black_box(true) {
                panic!("a socket handler bug");
            }
        });
        // Never reads, never returns: the drain must not wait for it.
        r.socket("/ws/stubborn", |_: Request, _ws: WebSocket| async move {
            log::info!("websocket open");
            std::future::pending::<()>().await;
        });
        // Says goodbye itself when the drain starts, with its own code.
        r.socket("/ws/goodbye", |_: Request, mut ws: WebSocket| async move {
            log::info!("websocket open");
            ws.draining().await;
            ws.close(4000, "goodbye from the app").await
        });
        for m in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ] {
            r.add(m, "/method", method);
        }
        // A handler with a bug: one 500, and the connection and process go on.
        r.get("/panic", |_: Request| async {
            if std::hint::black_box(true) {
                panic!("a handler bug");
            }
            "unreachable"
        });
        // Middleware on one group only.
        r.group_with(tracer("x-group", "group"), |g| {
            g.get("/grouped/inside", |_: Request| async { "inside" });
        });
    })
}

/// Appends `name` to the request's and the response's `header` (a trace of
/// the order middleware runs in).
pub fn tracer(header: &'static str, name: &'static str) -> impl Middleware {
    from_fn(move |mut req: Request, next: Next| async move {
        let seen = req
            .headers()
            .get(header)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if let Ok(v) = HeaderValue::from_str(&format!("{seen}>{name}")) {
            req.headers_mut().insert(header, v);
        }
        let mut resp = next.respond(req).await;
        let out = resp
            .headers()
            .get(header)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if let Ok(v) = HeaderValue::from_str(&format!("{out}<{name}")) {
            resp.headers_mut().insert(header, v);
        }
        resp
    })
}

/// Runs the app on the adapter named `adapter`, with `config` if given.
///
/// Panics at start-up, like an app with a bug in `main`, when the file named
/// by [`PANIC_IF`] exists.
pub fn run(adapter: &str, config: Option<OsString>) -> Result<Outcome, Error> {
    if let Some(flag) = std::env::var_os(PANIC_IF) {
        if std::path::Path::new(&flag).exists() {
            panic!("start-up bug: {} exists", flag.to_string_lossy());
        }
    }
    let mut config = match config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if config.server != adapter {
        config.server = adapter.to_owned();
    }
    let identity = Identity::from_env()?;
    // The tracers run only where a case's config lists them by name.
    let listed = config.app.middleware.is_some();
    let mut droplet = crate::register(Droplet::new(config));
    if listed {
        droplet = droplet
            .with_middleware("outer", tracer("x-trace", "outer"))
            .with_middleware("inner", tracer("x-trace", "inner"));
    }
    let router = router(identity, adapter, &droplet);
    let outcome = droplet.with_responder(router).run();
    log::info!(
        "{COUNTED_LINE}{}, cut {}",
        COUNTED_HANDLED.load(Ordering::Relaxed),
        COUNTED_CUT.load(Ordering::Relaxed)
    );
    outcome
}
