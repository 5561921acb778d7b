//! Native mode: the `native_hyper` example, run as a child process on an inherited
//! listener, hot-deploys like any handover app.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

#[path = "../../../tests/support/mod.rs"]
mod support;

#[allow(dead_code)]
#[path = "../examples/native_hyper.rs"]
mod example;

use std::process::Command;

/// Set in the child process: run the example instead of testing.
const CHILD: &str = "HANDOVER_NATIVE_CHILD";

#[test]
fn native_app_answers_and_drains_on_term() {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", "serve_child", "--ignored", "--nocapture", "-q"])
        .env(CHILD, "1");
    support::native::native_app_drains(child, "Hello from a native");
}

/// The child: not a test. Runs the example with the default config.
#[test]
#[ignore = "entry point of the child process; native_app_answers_and_drains_on_term runs it"]
fn serve_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let code = match example::run(handover::Config::default()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("native: error: {}", e.chain());
            1
        }
    };
    std::process::exit(code);
}
