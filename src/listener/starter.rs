//! The `SERVER_STARTER_PORT` grammar, parsed by a pure function.
//!
//! The `pub` items are crate-internal; with the `fuzzing` feature they are
//! reachable through `handover::fuzzing` for the fuzz targets.
#![cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub))]

use std::collections::HashSet;
use std::net::IpAddr;
use std::os::fd::RawFd;
use std::path::PathBuf;

use crate::error::{quoted, Error, ErrorKind};

/// The environment variable Perl's `start_server` uses to pass sockets.
pub(crate) const SERVER_STARTER_PORT: &str = "SERVER_STARTER_PORT";

/// One `key=fd` entry of `SERVER_STARTER_PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarterEntry {
    /// The key as the supervisor wrote it (`8080`, `127.0.0.1:8080`, `[::1]:8080`, a path).
    pub key: String,
    /// The inherited file descriptor.
    pub fd: RawFd,
}

/// What a key says about the socket. Only a label: the socket's real kind is
/// read from the fd itself when it is adopted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StarterKey {
    /// A bare port (`--port 8080`): all IPv4 addresses.
    Port(u16),
    /// `host:port` or `[v6]:port`; `host` is kept as typed, without brackets.
    HostPort {
        /// Host name or address, without brackets.
        host: String,
        /// The port.
        port: u16,
    },
    /// A unix socket path (`--path`).
    Path(PathBuf),
}

impl StarterEntry {
    /// Classifies the key: port, host and port, or path.
    pub fn parsed_key(&self) -> StarterKey {
        classify(&self.key)
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) fn classify(key: &str) -> StarterKey {
    if all_digits(key) {
        if let Ok(port) = key.parse() {
            return StarterKey::Port(port);
        }
    }
    if let Some(rest) = key.strip_prefix('[') {
        if let Some((host, port)) = rest.rsplit_once("]:") {
            if let (true, Ok(port)) = (all_digits(port), port.parse()) {
                return StarterKey::HostPort {
                    host: host.to_owned(),
                    port,
                };
            }
        }
    }
    if let Some((host, port)) = key.rsplit_once(':') {
        if !host.is_empty() && !host.contains('/') && all_digits(port) {
            if let Ok(port) = port.parse() {
                return StarterKey::HostPort {
                    host: host.to_owned(),
                    port,
                };
            }
        }
    }
    StarterKey::Path(PathBuf::from(key))
}

/// Parses the value of `SERVER_STARTER_PORT`.
///
/// Entries are split at `;` (empty items are skipped) and each entry at its
/// **last** `=`, so unix paths containing `=` survive. An empty value means
/// "supervised, no sockets" and gives an empty list. The function touches no fd
/// and no environment.
///
/// # Errors
/// [`ErrorKind::Inherit`] naming the variable and the entry when an entry has
/// no `=`, an empty key, an fd that is not a non-negative decimal number that
/// fits a file descriptor, or an fd that appears twice.
pub fn parse_server_starter_port(value: &str) -> Result<Vec<StarterEntry>, Error> {
    let bad = |entry: &str, problem: String| {
        Error::new(
            ErrorKind::Inherit,
            format!("{SERVER_STARTER_PORT}: entry {}: {problem}", quoted(entry)),
        )
    };
    let mut entries = Vec::new();
    let mut seen = HashSet::new();
    for item in value.split(';') {
        if item.trim().is_empty() {
            continue;
        }
        let Some((key, fd_text)) = item.rsplit_once('=') else {
            return Err(bad(item, "has no \"=fd\" part".to_owned()));
        };
        let key = key.trim();
        let fd_text = fd_text.trim();
        if key.is_empty() {
            return Err(bad(item, "has an empty key before \"=\"".to_owned()));
        }
        if fd_text.is_empty() {
            return Err(bad(item, "has no fd number after \"=\"".to_owned()));
        }
        if !all_digits(fd_text) {
            return Err(bad(
                item,
                format!(
                    "fd {} is not a non-negative decimal number",
                    quoted(fd_text)
                ),
            ));
        }
        let fd: RawFd = fd_text
            .parse()
            .map_err(|_| bad(item, format!("fd {} is too large", quoted(fd_text))))?;
        if !seen.insert(fd) {
            return Err(bad(item, format!("fd {fd} is listed twice")));
        }
        entries.push(StarterEntry {
            key: key.to_owned(),
            fd,
        });
    }
    Ok(entries)
}

/// Whether two host texts name the same host: equal text, or equal IP addresses.
pub(crate) fn same_host(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    matches!((a.parse::<IpAddr>(), b.parse::<IpAddr>()), (Ok(x), Ok(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(pairs: &[(&str, RawFd)]) -> Vec<StarterEntry> {
        pairs
            .iter()
            .map(|(k, fd)| StarterEntry {
                key: (*k).to_owned(),
                fd: *fd,
            })
            .collect()
    }

    #[test]
    fn good_values() {
        let cases: &[(&str, &[(&str, RawFd)])] = &[
            ("", &[]),
            (";", &[]),
            ("8080=4", &[("8080", 4)]),
            ("8080=4;", &[("8080", 4)]),
            ("8080=5;/tmp/y.sock=6", &[("8080", 5), ("/tmp/y.sock", 6)]),
            (
                "8080=4;127.0.0.1:8081=5;[::1]:8082=6;localhost:8083=7;8084=8;/x.sock=11",
                &[
                    ("8080", 4),
                    ("127.0.0.1:8081", 5),
                    ("[::1]:8082", 6),
                    ("localhost:8083", 7),
                    ("8084", 8),
                    ("/x.sock", 11),
                ],
            ),
            ("/run/a=b.sock=5", &[("/run/a=b.sock", 5)]),
            ("0=4;127.0.0.1:0=5", &[("0", 4), ("127.0.0.1:0", 5)]),
            (" 28098 =30 ", &[("28098", 30)]),
            ("8080=0", &[("8080", 0)]),
            ("app.sock=3", &[("app.sock", 3)]),
        ];
        for (value, want) in cases {
            assert_eq!(
                parse_server_starter_port(value).unwrap(),
                entries(want),
                "{value:?}"
            );
        }
    }

    #[test]
    fn bad_values() {
        let cases = [
            ("abc", "has no \"=fd\" part"),
            ("8080", "has no \"=fd\" part"),
            ("8080=", "has no fd number"),
            ("=4", "empty key"),
            ("8080=x", "\"x\" is not a non-negative decimal number"),
            ("8080=-1", "\"-1\" is not a non-negative"),
            ("8080=+4", "\"+4\" is not"),
            ("8080=4x", "\"4x\" is not"),
            ("8080=99999999999999999999", "too large"),
            ("8080=2147483648", "too large"),
            ("8080=4;8081=4", "fd 4 is listed twice"),
            ("8080=4;abc", "entry \"abc\""),
        ];
        for (value, needle) in cases {
            let e = parse_server_starter_port(value).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with("SERVER_STARTER_PORT: entry "), "{msg}");
            assert!(msg.contains(needle), "{value:?} -> {msg}");
            assert_eq!(e.kind(), ErrorKind::Inherit);
        }
    }

    #[test]
    fn keys_are_classified() {
        let host = |h: &str, p| StarterKey::HostPort {
            host: h.to_owned(),
            port: p,
        };
        let cases = [
            ("8080", StarterKey::Port(8080)),
            ("0", StarterKey::Port(0)),
            ("127.0.0.1:8081", host("127.0.0.1", 8081)),
            ("localhost:8083", host("localhost", 8083)),
            ("[::1]:8082", host("::1", 8082)),
            ("[::]:8087", host("::", 8087)),
            ("/tmp/x.sock", StarterKey::Path("/tmp/x.sock".into())),
            ("app.sock", StarterKey::Path("app.sock".into())),
            ("/tmp/a:80", StarterKey::Path("/tmp/a:80".into())),
            ("99999", StarterKey::Path("99999".into())),
        ];
        for (key, want) in cases {
            assert_eq!(classify(key), want, "{key}");
        }
    }

    #[test]
    fn hosts_compare_by_text_or_address() {
        assert!(same_host("::1", "0:0:0:0:0:0:0:1"));
        assert!(same_host("LocalHost", "localhost"));
        assert!(!same_host("127.0.0.1", "127.0.0.2"));
    }
}
