//! End-to-end tests of the demo app itself: its CLI, config and routes, on
//! every server it registers, alone and under the real Perl `start_server`.
//! What every adapter must do is checked by the conformance suite in the
//! workspace's `tests/conformance`. Every test that touches env vars, signals
//! or fd numbers does so in a child process.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use handover_test_support as support;

mod bad_input;
mod balancer;
mod hostile_env;
mod servers;
mod shipped_config;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The demo-app binary under test.
pub const DEMO: &str = env!("CARGO_BIN_EXE_demo-app");

/// A demo-app command with logs at info level and no inherited supervisor variables.
pub fn demo() -> Command {
    let mut cmd = Command::new(DEMO);
    cmd.env_remove("SERVER_STARTER_PORT")
        .env_remove("SERVER_STARTER_GENERATION")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "info");
    cmd
}

/// A config file in `dir` for `server` with `[http] workers = 2` and `http_extra`.
pub fn config_file(dir: &Path, server: &str, http_extra: &str) -> PathBuf {
    let path = dir.join("app.toml");
    std::fs::write(
        &path,
        format!("server = \"{server}\"\n[http]\nworkers = 2\n{http_extra}\n"),
    )
    .unwrap();
    path
}
