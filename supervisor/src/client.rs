//! The client modes: `--restart` (HUP, then wait for the deploy's outcome)
//! and `--stop` (TERM, then wait for the supervisor to exit). Both work with
//! Perl's start_server too, which has the same pid and status files.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::files::{held, read_deploy, read_pid, read_status};
use crate::sys;

/// How often the files are read while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Sends HUP to the supervisor in `pid_file` and waits until a generation
/// started after it is the only one in `status_file` (exit 0), or until our
/// supervisor reports that generation failed to start (exit 1, at the first
/// failure, even if the supervisor tries again: a deploy script learns of a
/// broken release at once instead of hanging). With Perl's supervisor, which
/// reports no failure, it waits as Perl's `--restart` does.
pub(crate) fn restart(pid_file: Option<&Path>, status_file: Option<&Path>) -> Result<()> {
    let (Some(pid_file), Some(status_file)) = (pid_file, status_file) else {
        return Err(Error::new(
            "--restart option requires --pid-file and --status-file to be set as well",
        ));
    };
    let (pid, lock) = running_supervisor(pid_file)?;
    let live = read_status(status_file)?;
    let Some(&(newest, _)) = live.iter().max() else {
        return Err(Error::new(format!(
            "--status-file {}: no active process found",
            status_file.display()
        )));
    };
    // A deploy may be in progress already; ours is the one after it.
    let before = read_deploy(status_file).map_or(newest, |(g, _)| g.max(newest));
    sys::kill(pid, libc::SIGHUP)
        .map_err(|e| Error::io(format!("sending HUP to start_server (pid {pid})"), e))?;
    loop {
        std::thread::sleep(POLL);
        if let Some((generation, state)) = read_deploy(status_file) {
            let retrying = state == "retrying";
            if generation > before && (state == "failed" || retrying) {
                let serving: Vec<String> = read_status(status_file)
                    .unwrap_or_default()
                    .iter()
                    .map(|(g, p)| format!("{g} (pid {p})"))
                    .collect();
                return Err(Error::new(format!(
                    "restart failed: generation {generation} did not start; still serving: {}{}",
                    if serving.is_empty() {
                        "none".to_owned()
                    } else {
                        serving.join(", ")
                    },
                    if retrying {
                        "; start_server retries it every --interval"
                    } else {
                        ""
                    }
                )));
            }
        }
        if let Ok(live) = read_status(status_file) {
            if let [(generation, worker)] = live.as_slice() {
                if *generation > before {
                    let _ = writeln!(
                        std::io::stdout(),
                        "generation {generation} (pid {worker}) took over"
                    );
                    return Ok(());
                }
            }
        }
        if !held(&lock, pid_file)? {
            return Err(Error::new(format!(
                "restart failed: start_server (pid {pid}) exited"
            )));
        }
    }
}

/// Sends TERM to the supervisor in `pid_file` and waits for it to release the
/// file's lock, i.e. to exit.
pub(crate) fn stop(pid_file: Option<&Path>) -> Result<()> {
    let Some(pid_file) = pid_file else {
        return Err(Error::new(
            "--stop option requires --pid-file to be set as well",
        ));
    };
    let (pid, file) = running_supervisor(pid_file)?;
    let _ = writeln!(
        std::io::stderr(),
        "stop_server (pid:{}) stopping now (pid:{pid})...",
        std::process::id()
    );
    sys::kill(pid, libc::SIGTERM)
        .map_err(|e| Error::io(format!("sending TERM to start_server (pid {pid})"), e))?;
    file.lock()
        .map_err(|e| Error::io(format!("--pid-file {}", pid_file.display()), e))?;
    Ok(())
}

/// The pid in `pid_file` and the file, open, if a running supervisor holds
/// its lock. A stale file's pid is never signalled: it may be anybody's now.
fn running_supervisor(pid_file: &Path) -> Result<(u32, File)> {
    let pid = read_pid(pid_file)?;
    let file = File::open(pid_file)
        .map_err(|e| Error::io(format!("--pid-file {}", pid_file.display()), e))?;
    if !held(&file, pid_file)? {
        return Err(not_running(pid_file, pid));
    }
    Ok((pid, file))
}

fn not_running(pid_file: &Path, pid: u32) -> Error {
    Error::new(format!(
        "--pid-file {}: no start_server holds it (pid {pid} is not running it); nothing signalled",
        pid_file.display()
    ))
}
