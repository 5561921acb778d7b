//! The supervisor's one error type: a one-line message naming the input and the problem.

use std::fmt;

/// An error that stops `start_server` (or one of its client modes) with exit status 1.
#[derive(Debug)]
pub(crate) struct Error(String);

impl Error {
    /// An error with this message.
    pub(crate) fn new(message: impl fmt::Display) -> Error {
        Error(message.to_string())
    }

    /// An I/O failure while doing `what` (e.g. "binding 127.0.0.1:80").
    pub(crate) fn io(what: impl fmt::Display, err: std::io::Error) -> Error {
        Error(format!("{what}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The supervisor's result type.
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
