//! sd_notify both ways: a `NOTIFY_SOCKET` per generation, in a directory only
//! this user can enter, on which the worker says `READY=1`; and, when the
//! supervisor itself runs under systemd (`Type=notify`), its own messages up.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::log::say;

/// The directory holding the per-generation sockets; removed on drop.
pub(crate) struct NotifyDir {
    path: PathBuf,
}

impl NotifyDir {
    /// Creates `start_server.PID.N` (mode 0700) under `$XDG_RUNTIME_DIR`, or
    /// the temporary directory.
    pub(crate) fn create() -> Result<NotifyDir> {
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let mut last = None;
        for attempt in 0..100 {
            let path = base.join(format!("start_server.{}.{attempt}", std::process::id()));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(NotifyDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => {
                    return Err(Error::io(
                        format!("creating the notify directory {}", path.display()),
                        e,
                    ))
                }
            }
        }
        Err(Error::io(
            format!("creating a notify directory in {}", base.display()),
            last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AlreadyExists)),
        ))
    }

    /// Binds the socket generation `generation` will notify on.
    pub(crate) fn socket(&self, generation: u64) -> Result<NotifySocket> {
        let path = self.path.join(format!("gen-{generation}.sock"));
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path)
            .map_err(|e| Error::io(format!("binding {}", path.display()), e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| Error::io(format!("{}", path.display()), e))?;
        Ok(NotifySocket { path, socket })
    }
}

impl Drop for NotifyDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            say!("could not remove {}: {e}", self.path.display());
        }
    }
}

/// One generation's `NOTIFY_SOCKET`; its file is removed on drop.
pub(crate) struct NotifySocket {
    path: PathBuf,
    socket: UnixDatagram,
}

impl NotifySocket {
    /// The value for `NOTIFY_SOCKET`.
    pub(crate) fn env_value(&self) -> OsString {
        self.path.clone().into_os_string()
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Reads every pending message and says what they announced.
    pub(crate) fn read(&self) -> Notice {
        let mut notice = Notice::default();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            for line in text.lines().map(str::trim) {
                notice.ready |= line == "READY=1";
                notice.stopping |= line == "STOPPING=1";
            }
        }
        notice
    }
}

/// What a worker's pending sd_notify messages announced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Notice {
    /// `READY=1`.
    pub(crate) ready: bool,
    /// `STOPPING=1`.
    pub(crate) stopping: bool,
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The supervisor's own `NOTIFY_SOCKET`, taken from its environment (and
/// not passed on: each worker gets its own).
pub(crate) struct Upstream {
    addr: OsString,
}

impl Upstream {
    pub(crate) fn from_env(value: Option<OsString>) -> Option<Upstream> {
        value
            .filter(|v| !v.is_empty())
            .map(|addr| Upstream { addr })
    }

    /// Sends `message` (`READY=1`, `STATUS=...`, ...); failures are logged.
    pub(crate) fn send(&self, message: &str) {
        if let Err(e) = self.try_send(message) {
            say!(
                "sd_notify {message:?} to {} failed: {e}",
                self.addr.to_string_lossy()
            );
        }
    }

    fn try_send(&self, message: &str) -> std::io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        let bytes = self.addr.as_encoded_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(message.as_bytes(), &addr)?;
        } else {
            socket.send_to(message.as_bytes(), Path::new(&self.addr))?;
        }
        Ok(())
    }
}
