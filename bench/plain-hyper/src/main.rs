//! Benchmark baseline: what a user writes without handover. A plain hyper 1.x
//! HTTP/1 server with demo-app's routes, its socket taken from
//! `SERVER_STARTER_PORT` by hand (first entry, no checks), a multi-thread tokio
//! runtime with `WORKERS` worker threads (default 1), and hyper-util's graceful
//! shutdown: SIGTERM stops accepting, in-flight connections get 30 s to finish.
//! With `H2=1` it serves HTTP/1.1 and h2c (prior knowledge) with hyper-util's
//! `auto::Builder`, whose graceful shutdown sends an HTTP/2 connection
//! hyper's two-step GOAWAY: the reference the h2 hot-deploy benchmark
//! measures handover against.
//!
//! `plain-hyper --handover CONFIG` serves the very same service through
//! `handover_hyper::NativeFactory` instead (handover's listeners, signals and
//! drain), so the benchmark can tell the cost of handover itself from the cost
//! of the framework-agnostic responder layer.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::os::fd::FromRawFd;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

type Body = Full<Bytes>;

fn respond(
    status: StatusCode,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut res = Response::builder().status(status);
    if let Some(ct) = content_type {
        res = res.header(CONTENT_TYPE, ct);
    }
    res.body(Full::new(body.into())).unwrap()
}

async fn route(req: Request<Incoming>, whoami: Arc<str>) -> Result<Response<Body>, hyper::Error> {
    let ok = StatusCode::OK;
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => respond(ok, Some("text/plain; charset=utf-8"), "Hello, world!"),
        (&Method::GET, "/whoami") => respond(ok, Some("application/json"), whoami.to_string()),
        (&Method::GET, "/sleep") => {
            let ms = req
                .uri()
                .query()
                .unwrap_or("")
                .split('&')
                .find_map(|kv| kv.strip_prefix("ms="))
                .and_then(|v| v.parse::<u64>().ok());
            match ms {
                Some(ms) => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    respond(ok, None, format!("slept {ms} ms\n"))
                }
                None => respond(StatusCode::BAD_REQUEST, None, Bytes::new()),
            }
        }
        (&Method::POST, "/echo") => respond(ok, None, req.into_body().collect().await?.to_bytes()),
        (&Method::GET, "/healthz") => respond(ok, None, "ok\n"),
        // The Vapor API template's `/hello` and `/plaintext` (demo-app's
        // api-template), for its rows in bench/instructions.py.
        (&Method::GET, "/hello") => respond(
            ok,
            Some("application/json"),
            serde_json::to_vec(&serde_json::json!({"hello": "world"})).unwrap(),
        ),
        (&Method::GET, "/plaintext") => {
            respond(ok, Some("text/plain; charset=utf-8"), "Hello, world!")
        }
        (&Method::GET, "/ws/echo") => ws_echo(req),
        _ => respond(StatusCode::NOT_FOUND, None, Bytes::new()),
    })
}

/// `/ws/echo` on hyper's upgrade with tokio-tungstenite: echoes text and
/// binary (tungstenite answers pings); served with `WS=1`, which turns on
/// upgrades (the baseline of bench/websocket_echo.py).
fn ws_echo(mut req: Request<Incoming>) -> Response<Body> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::Role;
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return respond(StatusCode::UPGRADE_REQUIRED, None, "");
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        // tungstenite zero-fills its read buffer (128 KiB by default) before
        // every read; 8 KiB, as handover sets, is what a user tuning this
        // echo would choose, and makes it the baseline of a fair ratio.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(8 * 1024);
        let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(config),
        )
        .await;
        while let Some(Ok(message)) = ws.next().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("upgrade", "websocket")
        .header("connection", "upgrade")
        .header(
            "sec-websocket-accept",
            tungstenite::handshake::derive_accept_key(key.as_bytes()),
        )
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn whoami(server: &str) -> Arc<str> {
    let generation = std::env::var("SERVER_STARTER_GENERATION").ok();
    serde_json::json!({
        "pid": std::process::id(),
        "generation": generation.and_then(|g| g.parse::<u64>().ok()),
        "server": server,
    })
    .to_string()
    .into()
}

/// The same service on handover's native mode; returns the exit code.
fn handover_native(config: &str) -> i32 {
    let mut config = handover::Config::load(config).unwrap();
    config.server = handover_hyper::NAME.to_owned();
    let whoami = whoami("handover-hyper-native");
    let service = service_fn(move |req| route(req, whoami.clone()));
    handover::Droplet::new(config)
        .with_factory(handover_hyper::NativeFactory::new(service))
        .run()
        .unwrap()
        .exit_code()
        .into()
}

async fn serve(listener: std::net::TcpListener) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    eprintln!("listening on {}", listener.local_addr()?);
    let whoami = whoami("plain-hyper");
    let mut term = signal(SignalKind::terminate())?;
    let graceful = GracefulShutdown::new();
    let h2 = std::env::var("H2").is_ok_and(|v| v == "1");
    // Upgrades for /ws/echo only when asked: the HTTP baselines stay as they were.
    let ws = std::env::var("WS").is_ok_and(|v| v == "1");
    let auto = auto::Builder::new(TokioExecutor::new());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        eprintln!("accept error: {e}");
                        continue;
                    }
                };
                let whoami = whoami.clone();
                let service = service_fn(move |req| route(req, whoami.clone()));
                if h2 {
                    let conn = auto.serve_connection(TokioIo::new(stream), service).into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            eprintln!("connection error: {e}");
                        }
                    });
                } else if ws {
                    let conn = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    // hyper-util's graceful shutdown cannot watch an
                    // upgradeable connection: the WebSocket baseline has none.
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            eprintln!("connection error: {e}");
                        }
                    });
                } else {
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            eprintln!("connection error: {e}");
                        }
                    });
                }
            }
            _ = term.recv() => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("graceful shutdown timed out after 30 s");
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, config] = args.as_slice() {
        assert_eq!(flag, "--handover", "usage: plain-hyper [--handover CONFIG]");
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
