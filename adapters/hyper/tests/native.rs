//! Native mode: the `native_hyper` example, run as a child process on an inherited
//! listener, hot-deploys like any handover app.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use handover_test_support as support;

#[allow(dead_code)]
#[path = "../examples/native_hyper.rs"]
mod example;

use support::native;

#[test]
fn native_app_answers_and_drains_on_term() {
    native::native_app_drains(native::child_command(), "Hello from a native");
}

#[test]
fn native_websocket_is_counted_and_closed_with_1012_on_term() {
    native::native_socket_closes_with_1012_on_term(native::child_command());
}

/// The child: not a test; `native_app_answers_and_drains_on_term` runs it.
#[test]
#[ignore = "entry point of the child process"]
fn serve_child() {
    native::serve_child(example::run);
}
