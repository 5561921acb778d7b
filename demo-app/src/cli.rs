//! The command-line flags every example binary takes, and the config they make.

use std::path::PathBuf;

use clap::Args;
use handover::{Config, Error, ErrorKind};

/// `--config`, `--server`, `--hostname`, `--port`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TOML config file (see demo-app/config/); built-in defaults without it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Registered server to use, overriding the config (`actix`, `hyper` or `axum`).
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    /// Host to bind when unsupervised, overriding the config.
    #[arg(long, value_name = "HOST")]
    pub hostname: Option<String>,
    /// Port to bind when unsupervised, overriding the config.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
}

impl ServeArgs {
    /// The config file (or the defaults) with the flags applied.
    ///
    /// # Errors
    /// A config file that cannot be read or parsed; `--hostname`/`--port`
    /// together with `[listen] bind`, which would silently win over them.
    pub fn config(&self) -> Result<Config, Error> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        if let Some(server) = &self.server {
            config.server.clone_from(server);
        }
        if (self.hostname.is_some() || self.port.is_some()) && !config.listen.bind.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "--hostname and --port replace http.hostname and http.port, which [listen] bind in the config file overrides; change bind instead",
            ));
        }
        if let Some(hostname) = &self.hostname {
            config.http.hostname.clone_from(hostname);
        }
        if let Some(port) = self.port {
            config.http.port = port;
        }
        Ok(config)
    }
}
