//! Selectors: which inherited sockets to serve (`[listen] inherit`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::starter::{self, StarterEntry, StarterKey};
use crate::error::{Error, ErrorKind};

/// Picks inherited sockets by address, path or name.
///
/// Parsed from text: all digits is a port; `host:port` or `[v6]:port` is a host
/// and port; anything with a `/` is a unix path; any other word (no `:`, no
/// `/`) is a name: a systemd `FileDescriptorName=`, or a `SERVER_STARTER_PORT`
/// key written exactly so.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selector {
    /// Every socket on this port (`"8080"` matches `8080`, `127.0.0.1:8080`, `[::]:8080`).
    Port(u16),
    /// The socket for this host and port (`"127.0.0.1:8080"`, `"[::1]:8080"`).
    HostPort {
        /// Host, without brackets.
        host: String,
        /// Port.
        port: u16,
    },
    /// The socket for this unix path.
    Path(PathBuf),
    /// The socket with this name.
    Name(String),
}

impl FromStr for Selector {
    type Err = Error;

    /// # Errors
    /// [`ErrorKind::Config`] for empty text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                "an inherit selector is empty; give a port, host:port, path or name",
            ));
        }
        Ok(match starter::classify(s) {
            StarterKey::Port(p) => Selector::Port(p),
            StarterKey::HostPort { host, port } => Selector::HostPort { host, port },
            StarterKey::Path(_) if !s.contains('/') && !s.contains(':') => {
                Selector::Name(s.to_owned())
            }
            StarterKey::Path(p) => Selector::Path(p),
        })
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Selector::from_str(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Port(p) => write!(f, "{p}"),
            Selector::HostPort { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Selector::HostPort { host, port } => write!(f, "{host}:{port}"),
            Selector::Path(p) => write!(f, "{}", p.display()),
            Selector::Name(n) => f.write_str(n),
        }
    }
}

/// What a selector is matched against: an inherited socket's address (from
/// its key, or read from the socket), its name, and its key as written.
#[derive(Debug, Default)]
pub(crate) struct Candidate<'a> {
    pub(crate) address: Option<&'a StarterKey>,
    pub(crate) name: Option<&'a str>,
    pub(crate) key: Option<&'a str>,
}

impl Selector {
    /// Whether this selector picks the `SERVER_STARTER_PORT` `entry`.
    #[cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub))]
    pub fn matches(&self, entry: &StarterEntry) -> bool {
        let address = entry.parsed_key();
        self.picks(&Candidate {
            address: Some(&address),
            name: None,
            key: Some(&entry.key),
        })
    }

    pub(crate) fn picks(&self, candidate: &Candidate<'_>) -> bool {
        if let Selector::Name(want) = self {
            return candidate.name == Some(want.as_str()) || candidate.key == Some(want.as_str());
        }
        let Some(address) = candidate.address else {
            return false;
        };
        match (self, address) {
            (Selector::Port(want), StarterKey::Port(p)) => want == p,
            (Selector::Port(want), StarterKey::HostPort { port, .. }) => want == port,
            (Selector::HostPort { host, port }, StarterKey::HostPort { host: h, port: p }) => {
                port == p && starter::same_host(host, h)
            }
            (Selector::Path(want), StarterKey::Path(p)) => want == p,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str) -> StarterEntry {
        StarterEntry {
            key: key.to_owned(),
            fd: 9,
        }
    }

    #[test]
    fn selectors_match_keys() {
        let cases = [
            ("8080", "8080", true),
            ("8080", "127.0.0.1:8080", true),
            ("8080", "[::1]:8080", true),
            ("8080", "8081", false),
            ("8080", "/run/8080", false),
            ("127.0.0.1:8080", "127.0.0.1:8080", true),
            ("127.0.0.1:8080", "8080", false),
            ("127.0.0.1:8080", "127.0.0.2:8080", false),
            ("[::1]:8080", "[0:0:0:0:0:0:0:1]:8080", true),
            ("localhost:8080", "LOCALHOST:8080", true),
            ("/run/app.sock", "/run/app.sock", true),
            ("/run/app.sock", "/run/other.sock", false),
            ("app.sock", "app.sock", true),
            ("app.sock", "/run/app.sock", false),
        ];
        for (sel, key, want) in cases {
            let s: Selector = sel.parse().unwrap();
            assert_eq!(s.matches(&entry(key)), want, "{sel} vs {key}");
        }
    }

    #[test]
    fn names_match_names_and_exact_keys_only() {
        let web: Selector = "web".parse().unwrap();
        assert_eq!(web, Selector::Name("web".to_owned()));
        let port = StarterKey::Port(80);
        let named = |name| Candidate {
            address: Some(&port),
            name: Some(name),
            key: None,
        };
        assert!(web.picks(&named("web")));
        assert!(!web.picks(&named("admin")));
        assert!(!"80".parse::<Selector>().unwrap().picks(&Candidate {
            address: None,
            name: Some("80"),
            key: None,
        }));
    }

    #[test]
    fn selector_round_trips_through_display() {
        for text in ["8080", "127.0.0.1:80", "[::1]:80", "/run/a.sock", "web"] {
            assert_eq!(text.parse::<Selector>().unwrap().to_string(), text);
        }
        assert!("".parse::<Selector>().is_err());
    }
}
