//! The supervisor's log: one line per event, on stderr or in `--log-file`,
//! in Perl start_server's wording where it has one (scripts grep for it).

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Where lines go once `--log-file` is open; stderr until then.
static SINK: OnceLock<File> = OnceLock::new();

/// Writes one line.
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    let text = format!("{args}\n");
    let written = match SINK.get() {
        Some(mut file) => file.write_all(text.as_bytes()).is_ok(),
        None => false,
    };
    if !written {
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// `say!("starting new worker {pid}")`: one line to the log.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::log::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// An open `--log-file`: a file appended to, or the stdin of `| CMD`.
pub(crate) struct LogFile {
    /// The `| CMD` process, kept so that it is not reaped by accident.
    _pipe: Option<Child>,
}

impl LogFile {
    /// Opens `spec` (`FILE`, or `| CMD` run by `/bin/sh -c`), and sends the
    /// supervisor's own lines there from now on.
    pub(crate) fn open(spec: &OsStr) -> Result<LogFile> {
        let bytes = spec.as_encoded_bytes();
        let (file, pipe) = if let Some(cmd) = bytes.strip_prefix(b"|") {
            let cmd = String::from_utf8_lossy(cmd).trim().to_owned();
            let mut child = Command::new("/bin/sh")
                .arg("-c")
                .arg(&cmd)
                .stdin(Stdio::piped())
                .spawn()
                .map_err(|e| Error::io(format!("--log-file \"| {cmd}\": starting it"), e))?;
            let stdin = child
                .stdin
                .take()
                .ok_or_else(|| Error::new(format!("--log-file \"| {cmd}\": no pipe")))?;
            (File::from(OwnedFd::from(stdin)), Some(child))
        } else {
            let file = OpenOptions::new()
                .append(true)
                .create(true)
                .open(spec)
                .map_err(|e| Error::io(format!("--log-file {}", spec.to_string_lossy()), e))?;
            (file, None)
        };
        SINK.set(file)
            .map_err(|_| Error::new("--log-file: opened twice"))?;
        Ok(LogFile { _pipe: pipe })
    }

    /// Stdout or stderr for a worker: a copy of the log's fd.
    pub(crate) fn stdio() -> Option<Stdio> {
        let file = SINK.get()?;
        file.try_clone().ok().map(Stdio::from)
    }

    /// The log's fd, once open.
    pub(crate) fn fd() -> Option<RawFd> {
        SINK.get().map(AsRawFd::as_raw_fd)
    }
}
