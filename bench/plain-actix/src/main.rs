//! Benchmark baseline: what a user writes without handover. A plain actix-web
//! 4.18 app with demo-app's routes, its socket taken from `SERVER_STARTER_PORT`
//! by hand (first entry, no checks), actix's own signal handling (SIGTERM =
//! graceful stop, 30 s budget). With `H2=1` it serves HTTP/1.1 and h2c
//! (prior knowledge) with actix-web's own HTTP/2 (`listen_auto_h2c`).
//!
//! `plain-actix --handover CONFIG` serves the very same `App` through
//! `handover_actix::NativeFactory` instead (handover's listeners, signals and
//! drain), so the benchmark can tell the cost of handover itself from the cost
//! of the framework-agnostic responder layer.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::os::fd::FromRawFd;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

async fn sleep(req: HttpRequest) -> HttpResponse {
    let ms = req
        .query_string()
        .split('&')
        .find_map(|kv| kv.strip_prefix("ms="))
        .and_then(|v| v.parse::<u64>().ok());
    match ms {
        Some(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            HttpResponse::Ok().body(format!("slept {ms} ms\n"))
        }
        None => HttpResponse::BadRequest().finish(),
    }
}

fn whoami(server: &str) -> String {
    let generation = std::env::var("SERVER_STARTER_GENERATION").ok();
    serde_json::json!({
        "pid": std::process::id(),
        "generation": generation.and_then(|g| g.parse::<u64>().ok()),
        "server": server,
    })
    .to_string()
}

/// `/ws/echo` with actix-ws, actix-web's own WebSockets: echoes text and
/// binary, answers pings (the baseline of bench/websocket_echo.py).
async fn ws_echo(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    use futures_util::StreamExt;
    let (response, mut session, mut messages) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        while let Some(Ok(message)) = messages.next().await {
            let sent = match message {
                actix_ws::Message::Text(text) => session.text(text).await,
                actix_ws::Message::Binary(data) => session.binary(data).await,
                actix_ws::Message::Ping(data) => session.pong(&data).await,
                actix_ws::Message::Close(reason) => {
                    let _ = session.close(reason).await;
                    return;
                }
                _ => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
    });
    Ok(response)
}

/// The app: demo-app's routes.
fn app(
    whoami: String,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    vapor_routes(
        App::new()
            .route(
                "/",
                web::get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("text/plain; charset=utf-8")
                        .body("Hello, world!")
                }),
            )
            .route(
                "/whoami",
                web::get().to(move || {
                    let body = whoami.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }
                }),
            )
            .route("/sleep", web::get().to(sleep))
            .route(
                "/echo",
                web::post().to(|body: web::Bytes| async move { HttpResponse::Ok().body(body) }),
            )
            .route("/ws/echo", web::get().to(ws_echo))
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().body("ok\n") }),
            ),
    )
}

/// The Vapor API template's `/hello` and `/plaintext` (demo-app's
/// api-template), added with `VAPOR_ROUTES=1` for their rows in
/// bench/instructions.py only: actix-web's cost per request grows with the
/// routes an app has (two more cost `GET /` about 370 instructions), so the
/// demo routes' baseline keeps demo-app's route table.
fn vapor_routes<T>(app: App<T>) -> App<T>
where
    T: ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<actix_web::body::BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
{
    if std::env::var("VAPOR_ROUTES").is_ok_and(|v| v == "1") {
        app.route(
            "/hello",
            web::get()
                .to(|| async { HttpResponse::Ok().json(serde_json::json!({"hello": "world"})) }),
        )
        .route(
            "/plaintext",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("text/plain; charset=utf-8")
                    .body("Hello, world!")
            }),
        )
    } else {
        app
    }
}

/// The same app on handover's native mode; returns the exit code.
fn handover_native(config: &str) -> i32 {
    let mut config = handover::Config::load(config).unwrap();
    config.server = handover_actix::NAME.to_owned();
    let whoami = whoami("handover-actix-native");
    handover::Droplet::new(config)
        .with_factory(handover_actix::NativeFactory::new(move || {
            app(whoami.clone())
        }))
        .run()
        .unwrap()
        .exit_code()
        .into()
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, config] = args.as_slice() {
        assert_eq!(flag, "--handover", "usage: plain-actix [--handover CONFIG]");
        env_logger::init();
        std::process::exit(handover_native(config));
    }
    plain()
}

#[actix_web::main]
async fn plain() -> std::io::Result<()> {
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
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    eprintln!("listening on {}", listener.local_addr()?);
    let whoami = whoami("plain-actix");
    let workers: usize = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1);
    let server = HttpServer::new(move || app(whoami.clone())).workers(workers);
    let server = if std::env::var("H2").is_ok_and(|v| v == "1") {
        server.listen_auto_h2c(listener)?
    } else {
        server.listen(listener)?
    };
    server.run().await
}
