//! End-to-end tests: the real demo-app binary, real sockets, real signals,
//! and the real Perl `start_server` (Debian package libserver-starter-perl).
//! Every test that touches env vars, signals or fd numbers does so in a child process.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod bad_input;
mod drain;
mod inherit;
mod start_server;
mod support;
mod zero_failure;
