//! Native mode: the `native_actix` example, run as a child process on an inherited
//! listener, hot-deploys like any handover app.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use handover_test_support as support;

#[allow(dead_code)]
#[path = "../examples/native_actix.rs"]
mod example;

use support::native;

#[test]
fn native_app_answers_and_drains_on_term() {
    native::native_app_drains(native::child_command(), "Hello from a native");
}

/// The child: not a test; `native_app_answers_and_drains_on_term` runs it.
#[test]
#[ignore = "entry point of the child process"]
fn serve_child() {
    native::serve_child(example::run);
}
