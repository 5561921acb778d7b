//! `[http.websocket]`: WebSocket limits and the drain's timings for them.

use std::time::Duration;

use serde::Deserialize;

/// WebSocket settings (`[http.websocket]`).
///
/// ```toml
/// [http.websocket]
/// close_grace = "1s"        # after the drain starts, the app may close its sockets itself
/// close_timeout = "2s"      # then how long the server waits for each client's Close
/// max_message_size = 1048576
/// max_frame_size = 1048576
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct WebSocketConfig {
    /// How long after the drain starts a WebSocket handler may close its
    /// socket itself (its drain token tells it); then the server sends the
    /// Close, 1012 (Service Restart) when a supervisor holds the listeners,
    /// 1001 (Going Away) otherwise (default 1s).
    #[serde(with = "humantime_serde")]
    pub close_grace: Duration,
    /// How long the server waits for the client's Close once its own has
    /// gone, before it closes the TCP connection (default 2s).
    #[serde(with = "humantime_serde")]
    pub close_timeout: Duration,
    /// Largest message, in bytes, fragments together; larger closes the
    /// socket with 1009 (default 1 MiB).
    pub max_message_size: usize,
    /// Largest single frame, in bytes; larger closes the socket with 1009
    /// (default 1 MiB).
    pub max_frame_size: usize,
}

impl WebSocketConfig {
    /// What is wrong with these settings, if anything, as a phrase naming the key.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.max_message_size == 0 {
            return Some("`http.websocket.max_message_size` must be at least 1 byte".to_owned());
        }
        if self.max_frame_size == 0 {
            return Some("`http.websocket.max_frame_size` must be at least 1 byte".to_owned());
        }
        if self.max_frame_size > self.max_message_size {
            return Some(format!(
                "`http.websocket.max_frame_size` ({}) is larger than `max_message_size` ({})",
                self.max_frame_size, self.max_message_size
            ));
        }
        None
    }
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        WebSocketConfig {
            close_grace: Duration::from_secs(1),
            close_timeout: Duration::from_secs(2),
            max_message_size: 1024 * 1024,
            max_frame_size: 1024 * 1024,
        }
    }
}
