//! The demo's routes.

use std::time::Duration;

use handover::http::{header, HeaderValue, StatusCode};
use handover::sse::{Event, EventStream};
use handover::{text, Body, DrainToken, Identity, Request, Response, Router, WebSocket};

/// The longest `/sleep` the demo accepts.
const MAX_SLEEP: Duration = Duration::from_secs(600);

fn query_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.uri()
        .query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn json(body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `GET /`, `GET /whoami`, `GET /sleep?ms=N`, `POST /echo`, `GET /healthz`
/// (503 once the drain has started, so load balancers stop sending traffic),
/// `GET /metrics` (the drain's status, in the Prometheus text format),
/// `GET /ws/echo` (a WebSocket echoing text and binary messages),
/// `GET /events` (server-sent events: `{"generation": G, "seq": N}` every
/// 100 ms, ended by the drain with a final `event: restart`).
pub(crate) fn router(identity: Identity, server: &str, drain: DrainToken) -> Router {
    let whoami = serde_json::json!({
        "pid": identity.pid,
        "generation": identity.generation,
        "server": server,
    })
    .to_string();
    Router::build(|r| {
        r.get("/", |_: Request| async {
            text(StatusCode::OK, "Hello, world!")
        });
        r.get("/whoami", move |_: Request| {
            let body = whoami.clone();
            async move { json(body) }
        });
        r.get("/sleep", |req: Request| async move {
            let ms = query_param(&req, "ms").and_then(|v| v.parse::<u64>().ok());
            match ms.map(Duration::from_millis) {
                Some(d) if d <= MAX_SLEEP => {
                    tokio::time::sleep(d).await;
                    text(StatusCode::OK, format!("slept {} ms\n", d.as_millis()))
                }
                _ => text(
                    StatusCode::BAD_REQUEST,
                    "usage: /sleep?ms=N with N from 0 to 600000\n",
                ),
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
        // Echoes text and binary; sends nothing unprompted. Closed by the
        // drain with 1012 (under a supervisor) or 1001.
        r.socket("/ws/echo", |_: Request, mut ws: WebSocket| async move {
            while let Some(message) = ws.recv().await {
                let message = message?;
                if message.is_data() {
                    ws.send(message).await?;
                }
            }
            Ok::<(), handover::Error>(())
        });
        // One event every 100 ms; the drain ends the stream with a final
        // `event: restart` whose `retry: 100` brings the browser back at once.
        let generation = identity.generation;
        let events_drain = drain.clone();
        r.get("/events", move |_: Request| {
            let drain = events_drain.clone();
            async move {
                let ticks = futures_util::stream::unfold(0u64, move |seq| async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let data = serde_json::json!({"generation": generation, "seq": seq});
                    Some((Event::new(data.to_string()).id(seq.to_string()), seq + 1))
                });
                EventStream::new(ticks).until_drain(drain)
            }
        });
        r.get(crate::HEALTH_PATH, handover::health(drain.clone()));
        r.get("/metrics", move |_: Request| {
            let metrics = crate::metrics::metrics(&drain);
            async move { metrics }
        });
    })
}
