//! Listening sockets: inherited from a supervisor, or bound when unsupervised.
//!
//! Sources, in the order [`Source::Auto`] tries them:
//!
//! 1. **systemd socket activation**: `LISTEN_PID` names this process;
//!    `LISTEN_FDS` sockets from fd 3, named by `LISTEN_FDNAMES`. Variables
//!    whose `LISTEN_PID` names another process were meant for a parent and are
//!    ignored (their fds are left alone).
//! 2. **Server::Starter**: `SERVER_STARTER_PORT` (`8080=4;/run/app.sock=5`). A
//!    present but empty value means "supervised, no sockets", which is an
//!    error for a server rather than a reason to bind.
//! 3. **Plain bind** of `[listen] bind` (default `http.hostname:http.port`):
//!    TCP with `SO_REUSEADDR`, unix sockets with `[listen] unix_mode`.
//!
//! `[listen] source` forces one of them. Under a supervisor nothing is bound
//! silently: with [`Source::Auto`] the inherited sockets are the only ones
//! served. Every inherited fd that is selected is checked (socket, stream,
//! listening, known family) before any is adopted, then made close-on-exec
//! (so child processes of the app never hold it) and non-blocking, and adopted
//! exactly once. An fd that is not selected is left as it was. The
//! environment is read once ([`Inheritance::from_env`]) and never changed.
//!
//! Note: `O_NONBLOCK` belongs to the open file description, which the
//! supervisor and sibling generations share; it is harmless for polling
//! servers (and for Perl `start_server`, which never accepts).

mod adopt;
mod bind;
mod created;
mod inherit;
mod resolve;
mod select;
mod settings;
mod socket;
mod starter;
mod systemd;

pub use bind::BindAddress;
pub use select::Selector;
pub use settings::{ListenConfig, Source};
pub use socket::{ListenSocket, Listener, Origin};

pub(crate) use created::CreatedPath;
pub(crate) use resolve::{resolve, Fallback, Inheritance};
pub(crate) use socket::give_up;

#[cfg(feature = "fuzzing")]
pub use starter::{parse_server_starter_port, StarterEntry, StarterKey};
#[cfg(feature = "fuzzing")]
pub use systemd::{parse_listen_fds, Activation, SystemdVars, LISTEN_FDS_START};
