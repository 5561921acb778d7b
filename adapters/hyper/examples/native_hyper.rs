//! An existing hyper app gains hot deploy by changing `main` only.
//!
//! Before, `main` ran its own accept loop on a `TcpListener` and spawned
//! `http1::Builder::new().serve_connection(io, service_fn(handle))` per
//! connection. Now handover picks the socket (from start_server, or bound from
//! the config), owns the signals, drains without dropping a request, and
//! reports readiness; the service is unchanged:
//!
//! ```text
//! cargo run -p handover-hyper --example native_hyper            # binds 127.0.0.1:8080
//! start_server --port 8080 -- target/debug/examples/native_hyper [CONFIG.toml]
//! ```

use std::convert::Infallible;
use std::process::ExitCode;
use std::time::Duration;

use handover::{Config, Droplet, Error, Outcome};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
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

/// Serves the app with `config` until stopped; returns how it stopped.
pub fn run(mut config: Config) -> Result<Outcome, Error> {
    // This binary has one server; the config need not name it.
    config.server = handover_hyper::NAME.to_owned();
    let factory = handover_hyper::NativeFactory::new(service_fn(handle));
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
