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
//! owns the signals, drains without dropping a request, and reports readiness:
//!
//! ```text
//! cargo run -p handover-actix --example native_actix            # binds 127.0.0.1:8080
//! start_server --port 8080 -- target/debug/examples/native_actix [CONFIG.toml]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use handover::{Config, Droplet, Error, Outcome};

async fn hello() -> HttpResponse {
    HttpResponse::Ok().body("Hello from a native actix-web app\n")
}

/// A slow request, to watch one finish across a hot deploy.
async fn slow() -> HttpResponse {
    log::info!("slow request started");
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    HttpResponse::Ok().body("done\n")
}

/// Serves the app with `config` until stopped; returns how it stopped.
pub fn run(mut config: Config) -> Result<Outcome, Error> {
    // This binary has one server; the config need not name it.
    config.server = handover_actix::NAME.to_owned();
    let factory = handover_actix::NativeFactory::new(|| {
        App::new()
            .route("/", web::get().to(hello))
            .route("/slow", web::get().to(slow))
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
