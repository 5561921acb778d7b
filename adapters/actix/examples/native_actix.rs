//! An existing actix-web app gains hot deploy by changing `main` only.
//!
//! Before, `main` was:
//!
//! ```text
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     HttpServer::new(app).bind(("127.0.0.1", 8080))?.run().await
//! }
//! ```
//!
//! Now handover picks the socket (from start_server, or bound from the config),
//! owns the signals, drains without dropping a request, and reports readiness.
//! Its WebSocket (`/ws`, actix-ws) stays counted with its connection and gets
//! the drain token as app data (`web::Data<DrainToken>`):
//!
//! ```text
//! cargo run -p handover-actix --example native_actix            # binds 127.0.0.1:8080
//! start_server --port 8080 -- target/debug/examples/native_actix [CONFIG.toml]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason, Message};
use futures_util::StreamExt;
use handover::{Config, DrainToken, Droplet, Error, Outcome};

async fn hello() -> HttpResponse {
    HttpResponse::Ok().body("Hello from a native actix-web app\n")
}

/// A slow request, to watch one finish across a hot deploy.
async fn slow() -> HttpResponse {
    log::info!("slow request started");
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    HttpResponse::Ok().body("done\n")
}

/// A WebSocket with actix-ws: echoes text and binary. Its connection is the
/// worker's, counted as long as it is open; the drain token comes as app
/// data, and when the drain starts the socket says goodbye with 1012 (under
/// a supervisor) or 1001.
async fn echo(
    req: HttpRequest,
    body: web::Payload,
    drain: web::Data<DrainToken>,
) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut messages) = actix_ws::handle(&req, body)?;
    let drain = drain.get_ref().clone();
    actix_web::rt::spawn(async move {
        let mut draining = drain.draining();
        loop {
            tokio::select! {
                _ = &mut draining => {
                    let code = CloseCode::Other(drain.websocket_close_code());
                    let reason = CloseReason { code, description: Some("service restart".into()) };
                    let _ = session.close(Some(reason)).await;
                    return;
                }
                message = messages.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if session.text(text).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Binary(data))) => {
                        if session.binary(data).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Ping(data))) => {
                        if session.pong(&data).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(reason))) => {
                        let _ = session.close(reason).await;
                        return;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                },
            }
        }
    });
    Ok(response)
}

/// Serves the app with `config` until stopped; returns how it stopped.
pub fn run(mut config: Config) -> Result<Outcome, Error> {
    // This binary has one server; the config need not name it.
    config.server = handover_actix::NAME.to_owned();
    let factory = handover_actix::NativeFactory::new(|| {
        App::new()
            .route("/", web::get().to(hello))
            .route("/slow", web::get().to(slow))
            .route("/ws", web::get().to(echo))
    });
    Droplet::new(config).with_factory(factory).run()
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
