//! What the workspace's example binaries share: `demo-app` (the demo) and
//! `api-template` (Vapor 2's API template, ported route by route).
//!
//! Both take the same command line: `--config FILE`, `--server NAME`,
//! `--hostname HOST`, `--port PORT` ([`cli::ServeArgs`]).

pub mod cli;
