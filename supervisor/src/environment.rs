//! The workers' environment and the supervisor settings read from it:
//! inherited variables, overridden by the command line, overridden by the
//! `--envdir` files, which are read again for every generation. A file
//! removed from the envdir removes its override (Perl brings back the value
//! from start-up instead).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::cli::{seconds, Options};
use crate::event::{EnvSettings, Seconds};
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

    fn seconds(&self, name: &str) -> Seconds {
        match self.get(name) {
            None => Seconds::Unset,
            Some(value) => match seconds(name, value) {
                Ok(d) => Seconds::Set(d),
                Err(_) => Seconds::Invalid(value.to_owned()),
            },
        }
    }

    /// The supervisor's own settings in this reading: `ENABLE_AUTO_RESTART`
    /// (any value but empty and `0`), `AUTO_RESTART_INTERVAL` and
    /// `KILL_OLD_DELAY` (their defaults are the state machine's).
    pub(crate) fn settings(&self) -> EnvSettings {
        EnvSettings {
            auto_restart: self
                .get("ENABLE_AUTO_RESTART")
                .is_some_and(|v| !v.is_empty() && v != "0"),
            auto_restart_interval: self.seconds("AUTO_RESTART_INTERVAL"),
            kill_old_delay: self.seconds("KILL_OLD_DELAY"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn current(vars: &[(&str, &str)]) -> Current {
        Current {
            vars: vars
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
        }
    }

    #[test]
    fn settings_read_from_the_variables() {
        assert_eq!(current(&[]).settings(), EnvSettings::default());
        let s = current(&[
            ("ENABLE_AUTO_RESTART", "1"),
            ("AUTO_RESTART_INTERVAL", "2.5"),
            ("KILL_OLD_DELAY", "soon"),
        ])
        .settings();
        assert!(s.auto_restart);
        assert_eq!(
            s.auto_restart_interval,
            Seconds::Set(Duration::from_millis(2500))
        );
        assert_eq!(s.kill_old_delay, Seconds::Invalid("soon".to_owned()));
        for off in ["", "0"] {
            assert!(
                !current(&[("ENABLE_AUTO_RESTART", off)])
                    .settings()
                    .auto_restart
            );
        }
    }
}
