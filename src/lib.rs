//! # handover
//!
//! Hot-deploy a Rust HTTP server without dropping a request.
//!
//! handover is the contract between an app and the HTTP server it runs on,
//! modelled on Vapor's `ServerProtocol` / `ServerFactoryProtocol` pair, plus
//! what a hot deploy needs: listening sockets inherited from a supervisor
//! (Perl's `start_server`, whose `SERVER_STARTER_PORT` is parsed and every fd
//! checked before it is adopted), a single owner for signals, and a graceful
//! drain with a `Duration` deadline and a forced stop.
//!
//! * [`Server`] / [`ServerFactory`]: what an adapter crate (`handover-actix`) implements.
//! * [`Responder`] / [`Router`]: framework-agnostic handlers over `http` types.
//! * [`Droplet`]: config + factories by name + responder, then [`Droplet::run`].
//! * [`listener`]: `SERVER_STARTER_PORT` parsing, fd adoption, plain bind.
//! * [`shutdown`] and [`signal`]: drain trigger, deadline, exit codes, the signal table.
//! * [`drain`]: the drain phases (lame duck, stop accepting, linger, close) and
//!   the connection count that lets a process exit as soon as it is idle.
//!
//! This crate names no actix, hyper or tokio type.
//!
//! ## Design decisions
//!
//! * `Server::run` blocks and each adapter owns its runtime: actix needs its own
//!   `System`, other servers their own runtime, and `main` stays synchronous.
//! * The supervisor environment is read once, at the start of [`Droplet::run`];
//!   the library never changes the environment.
//! * Under a supervisor nothing is bound silently; a bad fd is an error that
//!   names the variable and the fd, and leaves the fd untouched.

mod config;
pub mod drain;
mod droplet;
mod error;
pub mod listener;
mod process;
mod readiness;
mod responder;
mod router;
mod server;
pub mod shutdown;
pub mod signal;
pub mod tls;

pub use config::{Config, ListenConfig, RepeatSignal, SecurityLayer, ServerConfig, Source};
pub use drain::{Connections, DrainControl, DrainPlan};
pub use droplet::Droplet;
pub use error::{BoxError, Error, ErrorKind};
pub use listener::{ListenSocket, Listener, Origin};
pub use process::Identity;
pub use responder::{
    status, text, Body, ChunkStream, Request, Responder, Response, ResponseFuture, SharedResponder,
};
pub use router::{Params, Router};
pub use server::{ServeContext, Server, ServerFactory};
pub use shutdown::{Outcome, Shutdown, ShutdownTrigger};

/// Re-exported so adapters and apps use the same `http` and `bytes` versions.
pub use bytes;
pub use http;
