//! The crate's one error type.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error that can cross threads, used as an error's source and as the
/// error type of chunked response bodies.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong, coarsely: lets callers (and `main`) react without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A configuration file or value is malformed or inconsistent.
    Config,
    /// The configured server name is not registered.
    UnknownServer,
    /// A supervisor variable (`SERVER_STARTER_PORT`, ...) or an inherited fd is unusable.
    Inherit,
    /// Binding a socket ourselves failed.
    Bind,
    /// A TLS certificate chain or private key is missing or unusable.
    Tls,
    /// A route could not be registered.
    Route,
    /// The server failed while starting or serving.
    Serve,
    /// A WebSocket failed: the peer broke the protocol, the connection
    /// ended, or a Close frame has already gone.
    WebSocket,
    /// A WebSocket message or frame is larger than `http.websocket` allows.
    MessageTooBig,
}

/// The error type of `handover` and of the adapters built on it.
///
/// `Display` gives one lower-case line that names the input and the problem;
/// the underlying cause, if any, is available through [`std::error::Error::source`].
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<BoxError>,
}

impl Error {
    /// An error of `kind` described by `message` (one line, naming the input).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The coarse category of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// This error and its causes joined by `": "` on one line, for logs and `main`.
    pub fn chain(&self) -> String {
        let mut out = self.message.clone();
        let mut next = self.source();
        while let Some(cause) = next {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            next = cause.source();
        }
        out
    }
}

/// How much of an input an error message quotes.
const QUOTED_CHARS: usize = 64;

/// `value` quoted for an error message (`{:?}`), cut to its first
/// [`QUOTED_CHARS`] characters with its length in bytes when it is longer, so
/// a hostile 100 KiB variable still gives a readable one-line error.
pub(crate) fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        None => format!("{value:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &value[..cut], value.len()),
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn chain_joins_causes_on_one_line() {
        let e = Error::new(ErrorKind::Bind, "cannot bind 127.0.0.1:80")
            .with_source(io::Error::new(io::ErrorKind::PermissionDenied, "denied"));
        assert_eq!(e.to_string(), "cannot bind 127.0.0.1:80");
        assert_eq!(e.chain(), "cannot bind 127.0.0.1:80: denied");
        assert_eq!(e.kind(), ErrorKind::Bind);
    }

    #[test]
    fn quoted_cuts_long_inputs() {
        assert_eq!(quoted("8080=x"), "\"8080=x\"");
        let long = "é".repeat(100);
        let shown = quoted(&long);
        assert_eq!(shown, format!("{:?}... (200 bytes)", "é".repeat(64)));
    }
}
