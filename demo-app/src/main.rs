//! demo-app: a Vapor-style app that picks its HTTP server from config.
//!
//! ```text
//! demo-app [--config FILE] [--server NAME] [--hostname HOST] [--port PORT]
//! ```
//!
//! Exit codes: 0 graceful stop, 1 startup or serve error, 2 usage error,
//! 3 stop forced by `shutdown_timeout`, 4 stop forced by a signal.

mod metrics;
mod routes;

use std::process::ExitCode;

use clap::Parser;
use demo_app::cli::ServeArgs;
use handover::{Droplet, Error, Identity, Outcome};

/// Where the demo answers health probes (`routes::router` mounts it there).
const HEALTH_PATH: &str = "/healthz";

/// A Vapor-style demo app served by a handover server factory.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}

fn run(args: &Args) -> Result<Outcome, Error> {
    let mut config = args.serve.config()?;
    // The demo serves its health route at /healthz: its requests are the
    // probes the automatic lame duck counts.
    if config.http.health_path.is_none() {
        config.http.health_path = Some(HEALTH_PATH.to_owned());
    }
    let identity = Identity::from_env()?;
    let server = config.server.clone();
    let droplet = Droplet::new(config)
        .with_factory(handover_actix::ActixFactory::new())
        .with_factory(handover_hyper::HyperFactory::new())
        .with_factory(handover_axum::AxumFactory::default());
    let router = routes::router(identity, &server, droplet.drain_token());
    droplet.with_responder(router).run()
}

fn main() -> ExitCode {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(&args) {
        Ok(outcome) => outcome.into(),
        Err(e) => {
            eprintln!("demo-app: error: {}", e.chain());
            ExitCode::from(1)
        }
    }
}
