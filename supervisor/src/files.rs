//! The pid file (`PID\n`, locked while the supervisor runs), the status file
//! (`GEN:PID\n` per accepted live worker, in numeric order) and, beside it,
//! the deploy file (`GEN:STATE\n` for the latest generation started) that
//! lets `--restart` tell a failed deploy from a slow one.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::log::say;

/// The pid file, locked (`flock`) until it is dropped.
pub(crate) struct PidFile {
    path: PathBuf,
    file: File,
}

impl PidFile {
    /// Locks `path` and writes this process's pid to it. A file locked by a
    /// running supervisor is left as it is and is an error.
    pub(crate) fn create(path: &Path) -> Result<PidFile> {
        let what = || format!("--pid-file {}", path.display());
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(what(), e))?;
        if let Err(e) = file.try_lock() {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(match e {
                std::fs::TryLockError::WouldBlock => Error::new(format!(
                    "{}: locked by a running start_server (pid {}); not starting",
                    what(),
                    holder.trim()
                )),
                std::fs::TryLockError::Error(e) => Error::io(what(), e),
            });
        }
        file.set_len(0)
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
            .map_err(|e| Error::io(what(), e))?;
        Ok(PidFile {
            path: path.to_owned(),
            file,
        })
    }

    /// Writes this process's pid again, in place, keeping the lock: after
    /// `--daemonize`, whose forks inherit the locked file.
    pub(crate) fn rewrite(&self) -> Result<()> {
        self.file
            .set_len(0)
            .and_then(|()| {
                self.file
                    .write_all_at(format!("{}\n", std::process::id()).as_bytes(), 0)
            })
            .map_err(|e| Error::io(format!("--pid-file {}", self.path.display()), e))
    }
}

impl Drop for PidFile {
    /// Removes the file while it is still locked, so no other instance can
    /// have taken it; on every exit, start-up errors included.
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            say!("could not remove {}: {e}", self.path.display());
        }
    }
}

/// Whether a running supervisor holds `file` (an open pid file) locked.
/// Perl's start_server locks its pid file the same way.
pub(crate) fn held(file: &File, path: &Path) -> Result<bool> {
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(false)
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(true),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::io(format!("--pid-file {}", path.display()), e))
        }
    }
}

/// Reads the pid in a pid file.
pub(crate) fn read_pid(path: &Path) -> Result<u32> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("--pid-file {}", path.display()), e))?;
    text.trim().parse().map_err(|_| {
        Error::new(format!(
            "--pid-file {}: {:?} is not a pid",
            path.display(),
            text.trim()
        ))
    })
}

/// Writes `content` to `path` atomically (a temporary file, then rename).
fn replace(path: &Path, content: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}", std::process::id()));
    std::fs::write(&tmp, content)?;
    std::fs::rename(&tmp, path)
}

/// The status file and the deploy file beside it.
pub(crate) struct StatusFile {
    path: PathBuf,
    deploy: PathBuf,
}

/// The deploy file of a status file.
pub(crate) fn deploy_path(status: &Path) -> PathBuf {
    let mut path = status.as_os_str().to_owned();
    path.push(".deploy");
    PathBuf::from(path)
}

impl StatusFile {
    pub(crate) fn new(path: &Path) -> StatusFile {
        StatusFile {
            path: path.to_owned(),
            deploy: deploy_path(path),
        }
    }

    /// Rewrites the status file: `workers` as `GEN:PID` lines, by generation.
    pub(crate) fn write(&self, workers: &mut [(u64, u32)]) {
        workers.sort_unstable();
        let text: String = workers
            .iter()
            .map(|(generation, pid)| format!("{generation}:{pid}\n"))
            .collect();
        if let Err(e) = replace(&self.path, &text) {
            say!(
                "could not write the status file {}: {e}",
                self.path.display()
            );
        }
    }

    /// Records the state of the latest deploy: `starting`, `ready` or `failed`.
    pub(crate) fn deploy(&self, generation: u64, state: &str) {
        if let Err(e) = replace(&self.deploy, &format!("{generation}:{state}\n")) {
            say!("could not write {}: {e}", self.deploy.display());
        }
    }

    /// Removes both files.
    pub(crate) fn remove(&self) {
        for path in [&self.path, &self.deploy] {
            if let Err(e) = std::fs::remove_file(path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    say!("could not remove {}: {e}", path.display());
                }
            }
        }
    }
}

/// Parses a status file: `(generation, pid)` pairs, malformed lines skipped.
pub(crate) fn read_status(path: &Path) -> Result<Vec<(u64, u32)>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("--status-file {}", path.display()), e))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (generation, pid) = line.split_once(':')?;
            Some((generation.parse().ok()?, pid.trim().parse().ok()?))
        })
        .collect())
}

/// Parses a deploy file: the generation and its state, if there is one.
pub(crate) fn read_deploy(status: &Path) -> Option<(u64, String)> {
    let text = std::fs::read_to_string(deploy_path(status)).ok()?;
    let (generation, state) = text.trim().split_once(':')?;
    Some((generation.parse().ok()?, state.to_owned()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn status_lines_are_in_numeric_order_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status");
        let status = StatusFile::new(&path);
        status.write(&mut [(10, 30), (9, 20), (1, 10)]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "1:10\n9:20\n10:30\n"
        );
        assert_eq!(read_status(&path).unwrap(), [(1, 10), (9, 20), (10, 30)]);
        status.deploy(11, "failed");
        assert_eq!(read_deploy(&path), Some((11, "failed".to_owned())));
        status.remove();
        assert!(!path.exists() && !deploy_path(&path).exists());
    }

    #[test]
    fn a_locked_pid_file_is_left_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pid");
        let held = PidFile::create(&path).unwrap();
        let e = PidFile::create(&path).err().unwrap().to_string();
        let me = std::process::id();
        assert!(
            e.ends_with(&format!(
                "locked by a running start_server (pid {me}); not starting"
            )),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{me}\n"));
        drop(held);
        assert!(!path.exists());
    }
}
