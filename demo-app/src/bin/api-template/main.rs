//! api-template: Vapor 2's API template (`vapor/api-template`, branch
//! `vapor-2`) ported route by route to handover's app layer. Posts live in
//! memory, as the template's memory driver keeps them.
//!
//! ```text
//! api-template [--config FILE] [--server NAME] [--hostname HOST] [--port PORT] [--routes]
//! ```
//!
//! `--routes` prints every route (method and path, like `vapor run routes`)
//! and exits. Exit codes as `demo-app`: 0 graceful stop, 1 startup or serve
//! error, 2 usage error, 3 stop forced by `shutdown_timeout`, 4 by a signal.

mod posts;
mod routes;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use demo_app::cli::ServeArgs;
use handover::{Droplet, Error, Identity, Outcome, Router};

/// Vapor 2's API template on handover.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
    /// Print every route (method and path) and exit.
    #[arg(long)]
    routes: bool,
}

/// Prints the route table: method and path, one route a line.
fn print_routes(router: &Router) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<8} PATH", "METHOD")?;
    for (method, path) in router.routes() {
        writeln!(out, "{method:<8} {path}")?;
    }
    out.flush()
}

fn run(args: &Args) -> Result<Option<Outcome>, Error> {
    let config = args.serve.config()?;
    let identity = Identity::from_env()?;
    let router = routes::router(identity, &config.server);
    if args.routes {
        router.check()?;
        print_routes(&router).map_err(|e| {
            Error::new(handover::ErrorKind::Serve, "cannot print the routes").with_source(e)
        })?;
        return Ok(None);
    }
    Droplet::new(config)
        .with_factory(handover_actix::ActixFactory::new())
        .with_factory(handover_hyper::HyperFactory::new())
        .with_factory(handover_axum::AxumFactory::default())
        .with_responder(router)
        .run()
        .map(Some)
}

fn main() -> ExitCode {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match run(&args) {
        Ok(Some(outcome)) => outcome.into(),
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("api-template: error: {}", e.chain());
            ExitCode::from(1)
        }
    }
}
