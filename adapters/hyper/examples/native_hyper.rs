//! An existing hyper app gains hot deploy by changing `main` only.
//!
//! Before, `main` ran its own accept loop on a `TcpListener` and spawned
//! `http1::Builder::new().serve_connection(io, service_fn(handle))` per
//! connection. Now handover picks the socket (from start_server, or bound from
//! the config), owns the signals, drains without dropping a request, and
//! reports readiness; the service is unchanged. Its WebSocket (`/ws`, on
//! hyper's upgrade) stays counted as an open connection until it closes
//! (handover-hyper counts an upgraded connection until its IO is dropped)
//! and says goodbye with `DrainToken::websocket_close_code`:
//!
//! ```text
//! cargo run -p handover-hyper --example native_hyper            # binds 127.0.0.1:8080
//! start_server --port 8080 -- target/debug/examples/native_hyper [CONFIG.toml]
//! ```

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use handover::{Config, DrainToken, Droplet, Error, Outcome};
use http::{header, HeaderValue};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{frame::CloseFrame, Role};
use tokio_tungstenite::WebSocketStream;
use tungstenite::handshake::derive_accept_key;

async fn handle(
    req: Request<Incoming>,
    drain: DrainToken,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/ws" => return Ok(websocket(req, drain)),
        "/" => (StatusCode::OK, "Hello from a native hyper service\n"),
        // A slow request, to watch one finish across a hot deploy.
        "/slow" => {
            log::info!("slow request started");
            tokio::time::sleep(Duration::from_secs(2)).await;
            (StatusCode::OK, "done\n")
        }
        _ => (StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    Ok(response)
}

/// A WebSocket on hyper's upgrade, with tokio-tungstenite: echoes text and
/// binary. handover-hyper counts the upgraded connection until it closes;
/// when the drain starts it says goodbye with 1012
/// (under a supervisor) or 1001, and waits for the client's Close.
fn websocket(mut req: Request<Incoming>, drain: DrainToken) -> Response<Full<Bytes>> {
    let key = req.headers().get(header::SEC_WEBSOCKET_KEY).cloned();
    let Some(key) = key.filter(|_| req.headers().contains_key(header::UPGRADE)) else {
        let mut response = Response::new(Full::new(Bytes::from_static(b"a WebSocket route\n")));
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        return response;
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let mut draining = drain.draining();
        loop {
            tokio::select! {
                _ = &mut draining => {
                    // A moment for what is in flight, as socket routes take
                    // `close_grace`; the guard keeps the process meanwhile.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let frame = CloseFrame {
                        code: CloseCode::from(drain.websocket_close_code()),
                        reason: "service restart".into(),
                    };
                    let _ = ws.close(Some(frame)).await;
                    // Until the client's Close (the server's is answered).
                    while let Some(Ok(_)) = ws.next().await {}
                    return;
                }
                message = ws.next() => match message {
                    Some(Ok(message)) if message.is_text() || message.is_binary() => {
                        if ws.send(message).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                },
            }
        }
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// Serves the app with `config` until stopped; returns how it stopped.
pub fn run(mut config: Config) -> Result<Outcome, Error> {
    // This binary has one server; the config need not name it.
    config.server = handover_hyper::NAME.to_owned();
    let droplet = Droplet::new(config);
    let drain = droplet.drain_token();
    let service = service_fn(move |req| handle(req, drain.clone()));
    let factory = handover_hyper::NativeFactory::new(service);
    droplet.with_factory(factory).run()
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = match std::env::args_os().nth(1) {
        Some(path) => Config::load(path),
        None => Ok(Config::default()),
    };
    match config.and_then(run) {
        Ok(outcome) => outcome.into(),
        Err(e) => {
            eprintln!("native: error: {}", e.chain());
            ExitCode::from(1)
        }
    }
}
