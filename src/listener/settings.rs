//! The `[listen]` section: where listening sockets come from.

use std::fmt;

use serde::Deserialize;

use super::bind::BindAddress;
use super::select::Selector;

/// Which source of listening sockets to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Source {
    /// The first source present, in this order: systemd (`LISTEN_PID` names
    /// this process), Server::Starter (`SERVER_STARTER_PORT` is set), then
    /// binding [`ListenConfig::bind`] (default).
    #[default]
    Auto,
    /// Require systemd socket activation: `LISTEN_PID` must name this process.
    Systemd,
    /// Require `SERVER_STARTER_PORT`; its absence is a startup error.
    ServerStarter,
    /// Always bind, even under a supervisor (logged as a warning).
    Bind,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Auto => "auto",
            Source::Systemd => "systemd",
            Source::ServerStarter => "server-starter",
            Source::Bind => "bind",
        })
    }
}

/// Where listening sockets come from (`[listen]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ListenConfig {
    /// The source of sockets (default `auto`).
    pub source: Source,
    /// Which inherited sockets to serve, by port (`"8080"`), host and port
    /// (`"127.0.0.1:8080"`, `"[::1]:8080"`), unix path (`"/run/app.sock"`), or
    /// systemd name (`"web"`, a word without `:` or `/`); empty means all.
    pub inherit: Vec<Selector>,
    /// What to bind when no supervisor passes sockets: `"host:port"` or a unix
    /// socket path (containing `/`). Empty (the default) means `http.hostname:http.port`.
    pub bind: Vec<BindAddress>,
    /// Permission bits for unix sockets we bind (`0o660`, say); unset leaves
    /// what the umask gives. Inherited sockets are never changed.
    pub unix_mode: Option<u32>,
}

impl ListenConfig {
    /// Checks what serde cannot: returns the first problem, worded for the
    /// config file's error line.
    pub(crate) fn problem(&self) -> Option<String> {
        for (i, address) in self.bind.iter().enumerate() {
            if self.bind[..i].contains(address) {
                return Some(format!(
                    "`listen.bind` lists {} twice",
                    crate::error::quoted(&address.to_string())
                ));
            }
        }
        match self.unix_mode {
            Some(mode) if mode > 0o777 => Some(format!(
                "`listen.unix_mode` {mode:#o} is not a permission mode; write it in octal, like 0o660"
            )),
            _ => None,
        }
    }
}
