//! WebSockets (Vapor's `drop.socket`): socket routes, the [`WebSocket`]
//! handle their handlers get, and their drain, the same on every adapter.
//!
//! A socket route ([`Router::socket`](crate::Router::socket)) checks the
//! handshake and answers 101 with the socket riding on the response; the
//! adapter upgrades the connection, runs the protocol with a well-kept
//! crate (tungstenite), and hands it back here as a [`Transport`], where
//! [`AcceptedSocket::run`] runs the handler and the close: what happens in
//! a drain (the grace, 1012 or 1001, the wait for the client's Close, the
//! count) is decided once, here, for every adapter.

mod config;
mod message;
mod route;
mod session;
mod socket;
mod text;

pub use config::WebSocketConfig;
pub use message::{CloseFrame, Message};
pub(crate) use route::SocketRoute;
pub use route::{SocketHandler, SocketOutput};
pub use session::{AcceptedSocket, SocketUpgrade, WebSockets};
pub use socket::{Transport, WebSocket};
pub use text::Utf8Bytes;
