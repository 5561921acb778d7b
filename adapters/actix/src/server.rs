//! The actix-web server: serve, then drain in order when handover says so.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use actix_web::http::KeepAlive;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use futures_util::future::{select, Either};
use handover::{
    Error, ErrorKind, ListenSocket, Listener, Outcome, ServeContext, Server, ServerConfig,
    SharedResponder,
};

use crate::convert;

pub(crate) struct ActixServer {
    config: ServerConfig,
    listeners: Vec<Listener>,
}

impl ActixServer {
    pub(crate) fn new(config: ServerConfig, listeners: Vec<Listener>) -> Self {
        ActixServer { config, listeners }
    }
}

#[derive(Clone)]
struct AppState {
    responder: SharedResponder,
    body_limit: usize,
}

async fn handle(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let body = match convert::read_body(&req, payload, state.body_limit).await {
        Ok(body) => body,
        Err(reject) => return reject.response(),
    };
    let request = match convert::request(&req, body) {
        Ok(r) => r,
        Err(reject) => return reject.response(),
    };
    convert::response(state.responder.respond(request).await)
}

/// actix counts its graceful budget in whole seconds; ours is a `Duration` and
/// forces the stop itself, so actix's budget is set just past ours.
fn actix_shutdown_secs(timeout: Duration) -> u64 {
    timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0) + 1
}

fn serve_error(what: &str, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Serve, format!("actix: {what}")).with_source(e)
}

async fn serve(
    config: ServerConfig,
    listeners: Vec<Listener>,
    ctx: ServeContext,
) -> Result<Outcome, Error> {
    let state = AppState {
        responder: ctx.responder().clone(),
        body_limit: config.body_limit,
    };
    let keep_alive = if config.keep_alive.is_zero() {
        KeepAlive::Disabled
    } else {
        KeepAlive::Timeout(config.keep_alive)
    };
    let mut builder = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .default_service(web::to(handle))
    })
    .disable_signals()
    .keep_alive(keep_alive)
    .client_request_timeout(config.request_timeout)
    .shutdown_timeout(actix_shutdown_secs(config.shutdown_timeout));
    if config.workers > 0 {
        builder = builder.workers(config.workers);
    }
    let count = listeners.len();
    for listener in listeners {
        let shown = listener.to_string();
        builder = match listener.into_socket() {
            ListenSocket::Tcp(tcp) => builder.listen(tcp),
            ListenSocket::Unix(unix) => builder.listen_uds(unix),
            other => {
                return Err(Error::new(
                    ErrorKind::Serve,
                    format!("actix: cannot serve {other:?}"),
                ))
            }
        }
        .map_err(|e| serve_error(&format!("cannot serve {shown}"), e))?;
    }
    let server = builder.run();
    let handle = server.handle();
    let mut running = actix_rt::spawn(server);
    ctx.ready(&format!("actix-web serving {count} listener(s)"));

    let shutdown = ctx.shutdown().clone();
    match select(&mut running, pin!(shutdown.draining())).await {
        Either::Left((result, _)) => {
            return Err(match result {
                Ok(Ok(())) => Error::new(ErrorKind::Serve, "actix: server stopped on its own"),
                Ok(Err(e)) => serve_error("server failed", e),
                Err(e) => Error::new(ErrorKind::Serve, format!("actix: server task failed: {e}")),
            });
        }
        Either::Right(_) => {}
    }
    if let Some(reason) = shutdown.forced_reason() {
        return Ok(Outcome::Forced(reason));
    }
    ctx.phase("drain: stop accepting");
    handle.pause().await;
    ctx.phase("drain: accepting stopped; waiting for in-flight requests");
    let graceful = handle.stop(true);
    Ok(race(graceful, shutdown.forced()).await)
}

async fn race(
    graceful: impl Future<Output = ()>,
    forced: impl Future<Output = handover::shutdown::ForceReason>,
) -> Outcome {
    match select(pin!(graceful), pin!(forced)).await {
        Either::Left(((), _)) => Outcome::Graceful,
        Either::Right((reason, _)) => Outcome::Forced(reason),
    }
}

impl Server for ActixServer {
    fn run(self: Box<Self>, ctx: ServeContext) -> Result<Outcome, Error> {
        let ActixServer { config, listeners } = *self;
        let system = actix_rt::System::new();
        system.block_on(serve(config, listeners, ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actix_budget_is_past_ours() {
        assert_eq!(actix_shutdown_secs(Duration::ZERO), 1);
        assert_eq!(actix_shutdown_secs(Duration::from_millis(1)), 2);
        assert_eq!(actix_shutdown_secs(Duration::from_secs(30)), 31);
        assert_eq!(actix_shutdown_secs(Duration::from_millis(2500)), 4);
    }
}
