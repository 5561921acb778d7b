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

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use handover::{Config, Droplet, Error, ErrorKind, Identity, Outcome};

/// Where the demo answers health probes (`routes::router` mounts it there).
const HEALTH_PATH: &str = "/healthz";

/// A Vapor-style demo app served by a handover server factory.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// TOML config file (see demo-app/config/app.toml); built-in defaults without it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Registered server to use, overriding the config (`actix` or `hyper`).
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// Host to bind when unsupervised, overriding the config.
    #[arg(long, value_name = "HOST")]
    hostname: Option<String>,
    /// Port to bind when unsupervised, overriding the config.
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
}

fn config(args: &Args) -> Result<Config, Error> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(server) = &args.server {
        config.server.clone_from(server);
    }
    if (args.hostname.is_some() || args.port.is_some()) && !config.listen.bind.is_empty() {
        return Err(Error::new(
            ErrorKind::Config,
            "--hostname and --port replace http.hostname and http.port, which [listen] bind in the config file overrides; change bind instead",
        ));
    }
    if let Some(hostname) = &args.hostname {
        config.http.hostname.clone_from(hostname);
    }
    if let Some(port) = args.port {
        config.http.port = port;
    }
    // The demo serves its health route at /healthz: its requests are the
    // probes the automatic lame duck counts.
    if config.http.health_path.is_none() {
        config.http.health_path = Some(HEALTH_PATH.to_owned());
    }
    Ok(config)
}

fn run(args: &Args) -> Result<Outcome, Error> {
    let config = config(args)?;
    let identity = Identity::from_env()?;
    let server = config.server.clone();
    let droplet = Droplet::new(config)
        .with_factory(handover_actix::ActixFactory::new())
        .with_factory(handover_hyper::HyperFactory::new());
    let router = routes::router(identity, &server, droplet.drain_token())?;
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
