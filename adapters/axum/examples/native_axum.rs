//! An existing axum app gains hot deploy by changing `main` only.
//!
//! Before, `main` bound a `tokio::net::TcpListener` and ran
//! `axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
//! .with_graceful_shutdown(ctrl_c())`: no deadline on the drain, an SSE
//! stream or a WebSocket held it for ever, and a new binary meant a gap.
//! Now handover picks the socket (from start_server or systemd, or bound from
//! the config), owns the signals, drains without dropping a request within
//! `shutdown_timeout`, and reports readiness; the router, its state and its
//! handlers are unchanged, and the handlers that hold a connection open
//! (`/events`, `/ws`) end it when the drain starts ([`Drain`]).
//!
//! ```text
//! cargo run -p handover-axum --example native_axum            # binds 127.0.0.1:8080
//! start_server --port 8080 -- target/debug/examples/native_axum [CONFIG.toml]
//! curl http://127.0.0.1:8080/ ; curl -N http://127.0.0.1:8080/events
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::Stream;
use handover::{Config, Droplet, Error, Outcome};
use handover_axum::{AxumFactory, Drain};

/// The app's state, shared by every handler.
#[derive(Clone, Default)]
struct AppState {
    visits: Arc<AtomicU64>,
}

async fn hello(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> String {
    let visit = state.visits.fetch_add(1, Ordering::Relaxed) + 1;
    format!(
        "Hello from a native axum app, {}: visit {visit}\n",
        peer.ip()
    )
}

/// A slow request, to watch one finish across a hot deploy.
async fn slow() -> &'static str {
    log::info!("slow request started");
    tokio::time::sleep(Duration::from_secs(2)).await;
    "done\n"
}

/// Server-sent events: a tick every 200 ms, the visit count in each, until
/// the drain starts; then the stream ends, so the drain need not wait for
/// its deadline (the client reconnects to the next generation).
async fn events(
    State(state): State<AppState>,
    drain: Drain,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ticks = futures_util::stream::unfold(0u64, move |tick| {
        let (state, drain) = (state.clone(), drain.clone());
        async move {
            if tick > 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = drain.draining() => return None,
                }
            }
            let visits = state.visits.load(Ordering::Relaxed);
            let event = Event::default()
                .event("tick")
                .data(format!("tick {tick}, {visits} visits"));
            Some((Ok(event), tick + 1))
        }
    });
    Sse::new(ticks).keep_alive(KeepAlive::default())
}

/// A WebSocket that echoes text until the drain starts, then closes with
/// 1012 (service restart: the client may reconnect at once, to the next
/// generation).
async fn ws(upgrade: WebSocketUpgrade, drain: Drain) -> Response {
    upgrade.on_upgrade(move |socket| echo(socket, drain))
}

async fn echo(mut socket: WebSocket, drain: Drain) {
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = drain.draining() => {
                let frame = CloseFrame {
                    code: close_code::RESTART,
                    reason: "server restarting".into(),
                };
                // The client answers the close; then the socket is done.
                if socket.send(Message::Close(Some(frame))).await.is_ok() {
                    while let Some(Ok(message)) = socket.recv().await {
                        if matches!(message, Message::Close(_)) {
                            break;
                        }
                    }
                }
                return;
            }
        }
    }
}

/// The app: a router with state, as any axum app builds it.
fn app() -> Router {
    Router::new()
        .route("/", get(hello))
        .route("/slow", get(slow))
        .route("/events", get(events))
        .route("/ws", get(ws))
        .with_state(AppState::default())
}

/// Serves the app with `config` until stopped; returns how it stopped.
pub fn run(mut config: Config) -> Result<Outcome, Error> {
    // This binary has one server; the config need not name it.
    config.server = handover_axum::NAME.to_owned();
    Droplet::new(config)
        // What `into_make_service_with_connect_info::<SocketAddr>()` was.
        .with_factory(AxumFactory::new(app()).with_connect_info())
        .run()
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
