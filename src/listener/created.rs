//! Socket files this process created: removed again when serving ends, if
//! they are still ours and nothing accepts on them.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

/// A socket file this process created, removed when the server stops if it
/// is still the same file (a newer process may have replaced it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreatedPath {
    path: PathBuf,
    /// Device, inode and change time: inode numbers are reused at once on
    /// some file systems, so the change time tells a newer file apart.
    identity: (u64, u64, i64, i64),
}

fn identity(meta: &std::fs::Metadata) -> (u64, u64, i64, i64) {
    (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
}

impl CreatedPath {
    pub(crate) fn of(path: &Path) -> io::Result<Self> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(CreatedPath {
            // Absolute, so a later change of directory does not lose it.
            path: std::path::absolute(path)?,
            identity: identity(&meta),
        })
    }

    /// Removes the file if it is still the socket we created and nothing
    /// accepts on it (ours is closed by then; a newer process's is not).
    pub(crate) fn remove(&self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta)
                if identity(&meta) == self.identity
                    && matches!(probe(&self.path), Ok(Probe::Refused)) =>
            {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    log::warn!("cannot remove unix socket {}: {e}", self.path.display());
                }
            }
            _ => log::debug!(
                "unix socket {} was replaced or removed; left as it is",
                self.path.display()
            ),
        }
    }
}

/// What a non-blocking connect to the unix socket at `path` says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A process listens on it (connected, or its backlog is full).
    Accepting,
    /// Nothing listens: a file left by a process that is gone.
    Refused,
    /// No file.
    Gone,
}

/// Connects without blocking, so a listener with a full backlog cannot hang us.
pub(crate) fn probe(path: &Path) -> io::Result<Probe> {
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    match socket.connect(&SockAddr::unix(path)?) {
        Ok(()) => Ok(Probe::Accepting),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Probe::Accepting),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(Probe::Refused),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Probe::Gone),
        Err(e) => Err(e),
    }
}
