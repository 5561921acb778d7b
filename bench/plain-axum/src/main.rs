//! Benchmark baseline: what a user writes without handover. A plain axum 0.8
//! app with demo-app's routes, served by `axum::serve` (HTTP/1.1, and h2c with
//! prior knowledge: axum's `http2` feature) with `with_graceful_shutdown` on
//! SIGTERM (accepting stops; in-flight connections finish, with no deadline),
//! its socket taken from `SERVER_STARTER_PORT` by hand (first entry, no
//! checks, set non-blocking as tokio requires), on a multi-thread tokio
//! runtime with `WORKERS` worker threads (default 1).
//!
//! `plain-axum --handover CONFIG` serves the very same router through
//! `handover_axum::AxumFactory::new` instead (handover's listeners, signals
//! and drain), so the benchmark can tell the cost of handover itself from the
//! cost of the framework-agnostic responder layer.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::os::fd::FromRawFd;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

#[derive(serde::Deserialize)]
struct Sleep {
    ms: Option<u64>,
}

async fn sleep(Query(sleep): Query<Sleep>) -> impl IntoResponse {
    match sleep.ms {
        Some(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            (StatusCode::OK, format!("slept {ms} ms\n")).into_response()
        }
        None => StatusCode::BAD_REQUEST.into_response(),
    }
}

fn router(server: &str) -> Router {
    let generation = std::env::var("SERVER_STARTER_GENERATION").ok();
    let whoami: Arc<str> = serde_json::json!({
        "pid": std::process::id(),
        "generation": generation.and_then(|g| g.parse::<u64>().ok()),
        "server": server,
    })
    .to_string()
    .into();
    Router::new()
        .route(
            "/",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    "Hello, world!",
                )
            }),
        )
        .route(
            "/whoami",
            get(|State(whoami): State<Arc<str>>| async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    whoami.to_string(),
                )
            }),
        )
        .route("/sleep", get(sleep))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/healthz", get(|| async { "ok\n" }))
        // The Vapor API template's `/hello` and `/plaintext` (demo-app's
        // api-template), for its rows in bench/instructions.py.
        .route(
            "/hello",
            get(|| async { axum::Json(serde_json::json!({"hello": "world"})) }),
        )
        .route("/plaintext", get(|| async { "Hello, world!" }))
        .with_state(whoami)
}

/// The same router on handover's native mode; returns the exit code.
fn handover_native(config: &str) -> i32 {
    let mut config = handover::Config::load(config).unwrap();
    config.server = handover_axum::NAME.to_owned();
    handover::Droplet::new(config)
        .with_factory(handover_axum::AxumFactory::new(router(
            "handover-axum-native",
        )))
        .run()
        .unwrap()
        .exit_code()
        .into()
}

async fn serve(listener: std::net::TcpListener) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    eprintln!("listening on {}", listener.local_addr()?);
    let mut term = signal(SignalKind::terminate())?;
    axum::serve(listener, router("plain-axum"))
        .with_graceful_shutdown(async move {
            term.recv().await;
        })
        .await
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, config] = args.as_slice() {
        assert_eq!(flag, "--handover", "usage: plain-axum [--handover CONFIG]");
        env_logger::init();
        std::process::exit(handover_native(config));
    }
    let env = std::env::var("SERVER_STARTER_PORT").expect("run under start_server");
    let fd: i32 = env
        .split(';')
        .next()
        .unwrap()
        .rsplit_once('=')
        .unwrap()
        .1
        .parse()
        .unwrap();
    // SAFETY: the fd is start_server's listening socket, owned by nothing else here.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    listener.set_nonblocking(true)?;
    let workers: usize = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?
        .block_on(serve(listener))
}
