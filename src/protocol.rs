//! Which HTTP versions a server speaks (`http.versions`) and the limits of
//! HTTP/2 connections (`[http.h2]`).
//!
//! ```
//! use std::time::Duration;
//! use handover::config::HttpVersion;
//! let config = handover::Config::from_toml(
//!     r#"
//!     [http]
//!     versions = ["h2", "http/1.1"]
//!     [http.h2]
//!     max_concurrent_streams = 64
//!     ping_interval = "30s"
//!     "#,
//!     "app.toml",
//! )?;
//! assert_eq!(config.http.versions, [HttpVersion::Http2, HttpVersion::Http1]);
//! assert_eq!(config.http.h2.max_concurrent_streams, 64);
//! assert_eq!(config.http.h2.ping_interval, Duration::from_secs(30));
//! # Ok::<(), handover::Error>(())
//! ```

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// An HTTP version a server can speak, named in config by its ALPN
/// protocol id (`"http/1.1"`, `"h2"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/1.1 (and 1.0), `"http/1.1"`.
    #[serde(rename = "http/1.1")]
    Http1,
    /// HTTP/2, `"h2"`: over TLS when ALPN picks it, and in clear text with
    /// prior knowledge (h2c: the client starts with the HTTP/2 preface).
    #[serde(rename = "h2")]
    Http2,
}

impl HttpVersion {
    /// The default of `http.versions`, in order of preference: `h2`, then `http/1.1`.
    pub const DEFAULT: [HttpVersion; 2] = [HttpVersion::Http2, HttpVersion::Http1];

    /// The ALPN protocol id.
    pub fn alpn_id(self) -> &'static [u8] {
        match self {
            HttpVersion::Http1 => b"http/1.1",
            HttpVersion::Http2 => b"h2",
        }
    }
}

impl fmt::Display for HttpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HttpVersion::Http1 => "http/1.1",
            HttpVersion::Http2 => "h2",
        })
    }
}

/// The limits of HTTP/2 connections (`[http.h2]`), applied by every adapter
/// that serves `h2`.
///
/// Timeouts of an HTTP/2 connection come from `[http]`: one with no stream
/// open for `keep_alive` is closed with a GOAWAY, and its connection preface
/// must arrive within `request_timeout`. A PING every `ping_interval` (off
/// by default) finds a peer that is gone while a stream is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct H2Config {
    /// Streams a client may have open at once on one connection; more are
    /// refused with `REFUSED_STREAM` (default 128).
    pub max_concurrent_streams: u32,
    /// Flow-control window of each stream for request bodies, in bytes
    /// (default 1 MiB; at least 65,535, the protocol's initial window).
    pub initial_stream_window_size: u32,
    /// Flow-control window of a connection for request bodies, all streams
    /// together, in bytes (default 1 MiB; at least 65,535).
    pub initial_connection_window_size: u32,
    /// Largest request header list (names, values and 32 bytes a field,
    /// uncompressed), in bytes; larger gets 431 (default 128 KiB, the
    /// HTTP/1.1 head limit).
    pub max_header_list_size: u32,
    /// PING the client this often and close a connection whose answer does
    /// not come within `ping_timeout`; 0 turns pings off (default 0s).
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// How long a PING's answer may take (default 20s).
    #[serde(with = "humantime_serde")]
    pub ping_timeout: Duration,
}

/// The smallest flow-control window the config accepts: the protocol's own
/// initial window (RFC 9113, section 6.9.2).
const MIN_WINDOW: u32 = 65_535;
/// The largest flow-control window HTTP/2 allows: 2^31 - 1.
const MAX_WINDOW: u32 = (1 << 31) - 1;

impl H2Config {
    /// What is wrong with these settings, if anything, as a phrase naming the key.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.max_concurrent_streams == 0 {
            return Some("`http.h2.max_concurrent_streams` must be at least 1".to_owned());
        }
        for (key, window) in [
            (
                "initial_stream_window_size",
                self.initial_stream_window_size,
            ),
            (
                "initial_connection_window_size",
                self.initial_connection_window_size,
            ),
        ] {
            if !(MIN_WINDOW..=MAX_WINDOW).contains(&window) {
                return Some(format!(
                    "`http.h2.{key}` is {window}; it must be between {MIN_WINDOW} and {MAX_WINDOW} bytes"
                ));
            }
        }
        if self.max_header_list_size == 0 {
            return Some("`http.h2.max_header_list_size` must be at least 1 byte".to_owned());
        }
        if !self.ping_interval.is_zero() && self.ping_timeout.is_zero() {
            return Some(
                "`http.h2.ping_timeout` must be more than 0s when pings are on".to_owned(),
            );
        }
        None
    }
}

impl Default for H2Config {
    fn default() -> Self {
        H2Config {
            max_concurrent_streams: 128,
            initial_stream_window_size: 1024 * 1024,
            initial_connection_window_size: 1024 * 1024,
            max_header_list_size: 128 * 1024,
            ping_interval: Duration::ZERO,
            ping_timeout: Duration::from_secs(20),
        }
    }
}

/// What is wrong with a list of versions, if anything.
pub(crate) fn versions_problem(versions: &[HttpVersion]) -> Option<String> {
    if versions.is_empty() {
        return Some("`http.versions` is empty; list \"h2\", \"http/1.1\" or both".to_owned());
    }
    versions
        .iter()
        .enumerate()
        .find(|(i, v)| versions[..*i].contains(v))
        .map(|(_, v)| format!("`http.versions` lists \"{v}\" twice"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented() {
        let h2 = H2Config::default();
        assert_eq!(h2.problem(), None);
        assert_eq!(h2.max_concurrent_streams, 128);
        assert_eq!(h2.max_header_list_size, 131_072);
        assert_eq!(versions_problem(&HttpVersion::DEFAULT), None);
        assert_eq!(HttpVersion::Http2.to_string(), "h2");
        assert_eq!(HttpVersion::Http1.alpn_id(), b"http/1.1");
    }

    #[test]
    fn bad_settings_name_their_key() {
        let cases = [
            (
                H2Config {
                    max_concurrent_streams: 0,
                    ..H2Config::default()
                },
                "max_concurrent_streams",
            ),
            (
                H2Config {
                    initial_stream_window_size: 1000,
                    ..H2Config::default()
                },
                "initial_stream_window_size` is 1000",
            ),
            (
                H2Config {
                    initial_connection_window_size: u32::MAX,
                    ..H2Config::default()
                },
                "initial_connection_window_size",
            ),
            (
                H2Config {
                    max_header_list_size: 0,
                    ..H2Config::default()
                },
                "max_header_list_size",
            ),
            (
                H2Config {
                    ping_interval: Duration::from_secs(1),
                    ping_timeout: Duration::ZERO,
                    ..H2Config::default()
                },
                "ping_timeout",
            ),
        ];
        for (h2, needle) in cases {
            let problem = h2.problem().unwrap_or_default();
            assert!(problem.contains(needle), "{h2:?}: {problem:?}");
        }
        assert!(versions_problem(&[]).is_some_and(|p| p.contains("empty")));
        let twice = [HttpVersion::Http2, HttpVersion::Http1, HttpVersion::Http2];
        assert_eq!(
            versions_problem(&twice).as_deref(),
            Some("`http.versions` lists \"h2\" twice")
        );
    }
}
