//! The workers' environment and the supervisor settings read from it:
//! inherited variables, overridden by the command line, overridden by the
//! `--envdir` files, which are read again for every generation. A file
//! removed from the envdir removes its override (Perl brings back the value
//! from start-up instead).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{seconds, Options};
use crate::log::say;

/// Variables never passed on from the supervisor's own environment.
const NOT_INHERITED: [&str; 6] = [
    "SERVER_STARTER_PORT",
    "SERVER_STARTER_GENERATION",
    "NOTIFY_SOCKET",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
];

/// The environment before the envdir overlay.
pub(crate) struct Environment {
    base: BTreeMap<OsString, OsString>,
}

impl Environment {
    /// The process environment with the command line's settings applied.
    pub(crate) fn new(options: &Options) -> Environment {
        let mut base: BTreeMap<OsString, OsString> = std::env::vars_os()
            .filter(|(k, _)| !NOT_INHERITED.iter().any(|n| k == OsStr::new(n)))
            .collect();
        let mut set = |k: &str, v: OsString| {
            base.insert(k.into(), v);
        };
        if let Some(dir) = &options.envdir {
            set("ENVDIR", dir.clone().into_os_string());
        }
        if options.enable_auto_restart {
            set("ENABLE_AUTO_RESTART", "1".into());
        }
        if let Some(v) = &options.auto_restart_interval {
            set("AUTO_RESTART_INTERVAL", v.into());
        }
        if let Some(v) = &options.kill_old_delay {
            set("KILL_OLD_DELAY", v.into());
        }
        Environment { base }
    }

    /// Whether an envdir is in use (`--envdir` or `ENVDIR`).
    pub(crate) fn has_envdir(&self) -> bool {
        self.base
            .get(OsStr::new("ENVDIR"))
            .is_some_and(|d| !d.is_empty())
    }

    /// The current environment: the base plus the envdir's files as they are now.
    pub(crate) fn current(&self) -> Current {
        let mut vars = self.base.clone();
        if let Some(dir) = self
            .base
            .get(OsStr::new("ENVDIR"))
            .filter(|d| !d.is_empty())
        {
            let dir = PathBuf::from(dir);
            match std::fs::read_dir(&dir) {
                Ok(entries) => {
                    for entry in entries.flatten() {
                        let name = entry.file_name();
                        if name.as_bytes().starts_with(b".") || name.as_bytes().contains(&b'=') {
                            continue;
                        }
                        if !entry.file_type().is_ok_and(|t| t.is_file()) {
                            continue;
                        }
                        match std::fs::read(entry.path()) {
                            Ok(bytes) => {
                                let first = bytes.split(|b| *b == b'\n').next().unwrap_or(&[]);
                                vars.insert(name, OsStr::from_bytes(first).to_owned());
                            }
                            Err(e) => say!("envdir: reading {}: {e}", entry.path().display()),
                        }
                    }
                }
                Err(e) => say!("envdir {}: {e}", dir.display()),
            }
        }
        Current { vars }
    }
}

/// One reading of the environment.
pub(crate) struct Current {
    pub(crate) vars: BTreeMap<OsString, OsString>,
}

impl Current {
    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(OsStr::new(name)).and_then(|v| v.to_str())
    }

    fn duration(&self, name: &str) -> Option<Duration> {
        let value = self.get(name)?;
        match seconds(name, value) {
            Ok(d) => Some(d),
            Err(_) => {
                say!("{name}={value:?} is not a number of seconds; ignored");
                None
            }
        }
    }

    /// `ENABLE_AUTO_RESTART` (any value but empty and `0`).
    pub(crate) fn auto_restart(&self) -> bool {
        self.get("ENABLE_AUTO_RESTART")
            .is_some_and(|v| !v.is_empty() && v != "0")
    }

    /// `AUTO_RESTART_INTERVAL`, default 360 s.
    pub(crate) fn auto_restart_interval(&self) -> Duration {
        self.duration("AUTO_RESTART_INTERVAL")
            .unwrap_or(Duration::from_secs(360))
    }

    /// `KILL_OLD_DELAY`, default 0, or 5 s with auto restart.
    pub(crate) fn kill_old_delay(&self) -> Duration {
        self.duration("KILL_OLD_DELAY")
            .unwrap_or(if self.auto_restart() {
                Duration::from_secs(5)
            } else {
                Duration::ZERO
            })
    }
}
