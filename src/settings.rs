//! Typed configuration, parsed once at the boundary.
//!
//! The file format is TOML. The top-level `server` key names the server factory
//! (Vapor's `"server": "engine"` in `droplet.json`); `[http]` holds what every
//! server needs (Vapor's `server.json`); `[listen]` says where sockets come from;
//! `[app]` configures the app layer (Vapor's `droplet.json` middleware list).
//! Each section's types live with their concept (`[listen]` with the
//! listeners, `security_layer` with TLS, `repeat_signal` with the signals);
//! this module only reads them.
//!
//! ```
//! use std::time::Duration;
//! let config = handover::Config::from_toml(
//!     r#"
//!     server = "actix"
//!     [http]
//!     port = 9000
//!     shutdown_timeout = "10s"
//!     [listen]
//!     inherit = ["9000"]
//!     "#,
//!     "example.toml",
//! )?;
//! assert_eq!(config.server, "actix");
//! assert_eq!(config.http.port, 9000);
//! assert_eq!(config.http.shutdown_timeout, Duration::from_secs(10));
//! # Ok::<(), handover::Error>(())
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::app::AppConfig;
use crate::drain::{DrainDelay, DrainPlan};
use crate::error::{Error, ErrorKind};
use crate::listener::ListenConfig;
use crate::protocol::{versions_problem, H2Config, HttpVersion};
use crate::signal::RepeatSignal;
use crate::tls::SecurityLayer;
use crate::websocket::WebSocketConfig;

/// The whole configuration of an app: which server, how it serves, where its sockets come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Name of the registered [`ServerFactory`](crate::adapter::ServerFactory) to use (default `"actix"`).
    pub server: String,
    /// Settings handed to the server factory.
    pub http: ServerConfig,
    /// Where listening sockets come from.
    pub listen: ListenConfig,
    /// The app layer: environment, app-wide middleware, public directory,
    /// CORS (`[app]`; its type lives with the middleware it configures).
    pub app: AppConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: "actix".to_owned(),
            http: ServerConfig::default(),
            listen: ListenConfig::default(),
            app: AppConfig::default(),
        }
    }
}

impl Config {
    /// Parses TOML text; `origin` names the input in error messages (a file path, say).
    ///
    /// # Errors
    /// [`ErrorKind::Config`] with one line giving `origin`, the line and column, and the problem.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, Error> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let position = e
                .span()
                .map(|span| {
                    let (line, column) = line_column(text, span.start);
                    format!(" line {line} column {column}:")
                })
                .unwrap_or_default();
            // One line: toml quotes keys and variants raw, control characters included.
            let message: String = e
                .message()
                .trim()
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            Error::new(
                ErrorKind::Config,
                format!("config file {origin}:{position} {message}"),
            )
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    /// Reads and parses a TOML file.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] if the file cannot be read or does not parse.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, Error> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("config file {origin}: cannot read it"),
            )
            .with_source(e)
        })?;
        Config::from_toml(&text, &origin)
    }

    fn validate(&self, origin: &str) -> Result<(), Error> {
        let bad =
            |what: &str| Error::new(ErrorKind::Config, format!("config file {origin}: {what}"));
        if self.server.trim().is_empty() {
            return Err(bad(
                "`server` is empty; name a registered server such as \"actix\"",
            ));
        }
        if self.http.body_limit == 0 {
            return Err(bad("`http.body_limit` must be at least 1 byte"));
        }
        if self.http.backlog == 0 {
            return Err(bad("`http.backlog` must be at least 1"));
        }
        if let Some(path) = &self.http.health_path {
            if !path.starts_with('/') {
                return Err(bad(&format!(
                    "`http.health_path` {} is not a path; write it like \"/healthz\"",
                    crate::error::quoted(path)
                )));
            }
        }
        if let Some(problem) = versions_problem(&self.http.versions)
            .or(self.http.h2.problem())
            .or(self.http.websocket.problem())
        {
            return Err(bad(&problem));
        }
        match self.listen.problem() {
            Some(problem) => Err(bad(&problem)),
            None => Ok(()),
        }
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Settings a [`ServerFactory`](crate::adapter::ServerFactory) receives (`[http]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Host to bind when no supervisor passes sockets (default `127.0.0.1`;
    /// also read as `host`, the key Vapor's templates wrote).
    #[serde(alias = "host")]
    pub hostname: String,
    /// Port to bind when no supervisor passes sockets (default 8080).
    pub port: u16,
    /// Transport security (default none).
    pub security_layer: SecurityLayer,
    /// Worker threads; 0 means one per available core (default 0).
    pub workers: usize,
    /// `listen(2)` backlog for sockets we bind ourselves (default 1024).
    pub backlog: u32,
    /// Idle time allowed between requests on a keep-alive connection; 0 disables keep-alive (default 5s).
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
    /// Time allowed for a client to send a request head; 0 disables the limit (default 5s).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Budget for a graceful drain before the stop is forced (default 30s).
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// The lame duck at the start of a drain, still accepting while health
    /// checks report 503: `"auto"` (the default: until a load balancer has
    /// visibly stopped sending work, at most `drain_delay_max`; skipped when
    /// a supervisor holds every listener) or a fixed duration (`"0s"`: none).
    pub drain_delay: DrainDelay,
    /// The longest an automatic lame duck lasts (default 10s).
    #[serde(with = "humantime_serde")]
    pub drain_delay_max: Duration,
    /// How long no request but health probes must arrive for an automatic
    /// lame duck to end (default 500ms).
    #[serde(with = "humantime_serde")]
    pub drain_quiet: Duration,
    /// The path of the app's health route (`"/healthz"`): requests for it
    /// are counted as health probes, and their 503s tell the automatic lame
    /// duck that a load balancer was told (default unset: no probes counted).
    pub health_path: Option<String>,
    /// Time after accepting stops during which every response closes its
    /// connection and idle keep-alive connections stay open (default 2s).
    #[serde(with = "humantime_serde")]
    pub drain_linger: Duration,
    /// Largest request body, in bytes, buffered for a responder; larger gets 413 (default 1 MiB).
    pub body_limit: usize,
    /// What a second stop signal does during a drain (default `force`).
    pub repeat_signal: RepeatSignal,
    /// HTTP versions served, in order of preference for TLS ALPN (default
    /// `["h2", "http/1.1"]`); a server that cannot serve one listed refuses to start.
    pub versions: Vec<HttpVersion>,
    /// HTTP/2 limits (`[http.h2]`).
    pub h2: H2Config,
    /// WebSocket limits and drain timings (`[http.websocket]`).
    pub websocket: WebSocketConfig,
}

impl ServerConfig {
    /// How long a TLS handshake may take: `request_timeout`, or `keep_alive`
    /// when that is 0; `None` when both are 0.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        [self.request_timeout, self.keep_alive]
            .into_iter()
            .find(|d| !d.is_zero())
    }

    /// Whether `version` is among [`ServerConfig::versions`].
    pub fn serves(&self, version: HttpVersion) -> bool {
        self.versions.contains(&version)
    }

    /// The drain's timings.
    pub(crate) fn drain_plan(&self) -> DrainPlan {
        DrainPlan::new(
            self.drain_delay,
            self.drain_delay_max,
            self.drain_quiet,
            self.drain_linger,
            self.shutdown_timeout,
        )
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            hostname: "127.0.0.1".to_owned(),
            port: 8080,
            security_layer: SecurityLayer::None,
            workers: 0,
            backlog: 1024,
            keep_alive: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            drain_delay: DrainDelay::Auto,
            drain_delay_max: Duration::from_secs(10),
            drain_quiet: Duration::from_millis(500),
            health_path: None,
            drain_linger: Duration::from_secs(2),
            body_limit: 1024 * 1024,
            repeat_signal: RepeatSignal::Auto,
            versions: HttpVersion::DEFAULT.to_vec(),
            h2: H2Config::default(),
            websocket: WebSocketConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listener::{BindAddress, Selector, Source};
    use crate::tls::TlsConfig;

    #[test]
    fn empty_text_gives_defaults() {
        let c = Config::from_toml("", "t").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.http.hostname, "127.0.0.1");
        assert_eq!(c.http.port, 8080);
    }

    #[test]
    fn full_file_parses() {
        let c = Config::from_toml(
            r#"
server = "actix"
[http]
hostname = "0.0.0.0"
port = 9090
security_layer = "none"
workers = 3
backlog = 64
keep_alive = "2s"
request_timeout = "750ms"
shutdown_timeout = "1m"
drain_delay = "250ms"
drain_delay_max = "5s"
drain_quiet = "300ms"
health_path = "/healthz"
drain_linger = "1s"
body_limit = 10
repeat_signal = "ignore"
versions = ["http/1.1"]
[http.h2]
max_concurrent_streams = 10
initial_stream_window_size = 65535
initial_connection_window_size = 1048576
max_header_list_size = 8192
ping_interval = "10s"
ping_timeout = "2s"
[listen]
source = "server-starter"
inherit = ["9090", "127.0.0.1:9091", "/run/app.sock", "web"]
bind = ["[::1]:9090", "/run/app/app.sock"]
unix_mode = 0o660
"#,
            "t",
        )
        .unwrap();
        assert_eq!(c.http.workers, 3);
        assert_eq!(c.http.request_timeout, Duration::from_millis(750));
        assert_eq!(c.http.shutdown_timeout, Duration::from_secs(60));
        assert_eq!(
            c.http.drain_delay,
            DrainDelay::Fixed(Duration::from_millis(250))
        );
        assert_eq!(c.http.drain_delay_max, Duration::from_secs(5));
        assert_eq!(c.http.drain_quiet, Duration::from_millis(300));
        assert_eq!(c.http.health_path.as_deref(), Some("/healthz"));
        assert_eq!(c.http.drain_linger, Duration::from_secs(1));
        assert_eq!(c.http.repeat_signal, RepeatSignal::Ignore);
        assert_eq!(c.http.versions, [HttpVersion::Http1]);
        assert!(!c.http.serves(HttpVersion::Http2));
        assert_eq!(c.http.h2.max_concurrent_streams, 10);
        assert_eq!(c.http.h2.max_header_list_size, 8192);
        assert_eq!(c.http.h2.ping_timeout, Duration::from_secs(2));
        assert_eq!(c.listen.source, Source::ServerStarter);
        assert_eq!(c.listen.inherit.len(), 4);
        assert_eq!(c.listen.inherit[3], Selector::Name("web".into()));
        assert_eq!(
            c.listen.bind[1],
            BindAddress::Unix("/run/app/app.sock".into())
        );
        assert_eq!(c.listen.unix_mode, Some(0o660));
        let c = Config::from_toml(
            "[http.security_layer.tls]\ncertificate_chain = \"c.pem\"\nprivate_key = \"k.pem\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            c.http.security_layer,
            SecurityLayer::Tls(TlsConfig::new("c.pem", "k.pem"))
        );
        let c = Config::from_toml("[listen]\nsource = \"systemd\"\n", "t").unwrap();
        assert_eq!(c.listen.source, Source::Systemd);
    }

    #[test]
    fn websocket_settings_parse_and_are_checked() {
        let c = Config::from_toml(
            "[http.websocket]\nclose_grace = \"250ms\"\nclose_timeout = \"3s\"\nmax_message_size = 4096\nmax_frame_size = 1024\n",
            "t",
        )
        .unwrap();
        let ws = c.http.websocket;
        assert_eq!(
            (ws.close_grace, ws.close_timeout),
            (Duration::from_millis(250), Duration::from_secs(3))
        );
        assert_eq!((ws.max_message_size, ws.max_frame_size), (4096, 1024));
        for (text, needle) in [
            (
                "[http.websocket]\nmax_frame_size = 2048\nmax_message_size = 1024\n",
                "`http.websocket.max_frame_size` (2048) is larger than `max_message_size` (1024)",
            ),
            (
                "[http.websocket]\nmax_message_size = 0\n",
                "`http.websocket.max_message_size` must be at least 1 byte",
            ),
            ("[http.websocket]\nclose_grace = \"soon\"\n", "line 2"),
        ] {
            let e = Config::from_toml(text, "t.toml").unwrap_err().chain();
            assert!(e.contains("t.toml") && e.contains(needle), "{e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn bad_files_give_one_line_naming_file_and_line() {
        let cases = [
            ("[http]\nprot = 1\n", "line 2", "unknown field `prot`"),
            (
                "[http]\nhost = \"a\"\nhostname = \"b\"\n",
                "",
                "duplicate field `hostname`",
            ),
            ("[http]\nport = \"x\"\n", "line 2", "invalid type"),
            ("[http]\nport = 70000\n", "line 2", ""),
            ("[http]\nsecurity_layer = \"tls\"\n", "line 2", ""),
            (
                "[http]\nsecurity_layer = \"ssl\"\n",
                "line 2",
                "unknown variant `ssl`",
            ),
            (
                "[http.security_layer.tls]\ncertificate_chain = \"c.pem\"\n",
                "line 1",
                "missing field `private_key`",
            ),
            ("[listen]\nbind = [\"8080\"]\n", "line 2", "bare port"),
            (
                "[http]\ndrain_delay = \"soon\"\n",
                "line 2",
                "drain_delay \"soon\" is neither \"auto\" nor a duration",
            ),
            (
                "[http]\nhealth_path = \"healthz\"\n",
                "",
                "`http.health_path` \"healthz\" is not a path",
            ),
            (
                "[listen]\nbind = [\"/a.sock\", \"/a.sock\"]\n",
                "",
                "lists \"/a.sock\" twice",
            ),
            // A control character in a variant (found by fuzzing), a key, a bind path.
            (
                "[listen]\nsource = \"bind\\r\"\n",
                "line 2",
                "unknown variant `bind `",
            ),
            ("\"a\\u000bb\" = 1\n", "line 1", "unknown field `a b`"),
            (
                "[listen]\nbind = [\"/a\\nb\", \"/a\\nb\"]\n",
                "",
                "lists \"/a\\nb\" twice",
            ),
            (
                "[listen]\nunix_mode = 660\n",
                "",
                "0o1224 is not a permission mode",
            ),
            ("[http]\nshutdown_timeout = \"soon\"\n", "line 2", ""),
            ("server = \"\"\n", "", "`server` is empty"),
            ("[http]\nbody_limit = 0\n", "", "body_limit"),
            ("[listen]\ninherit = [\"\"]\n", "line 2", "empty"),
            ("server = [\n", "line 2", "invalid array"),
            (
                "[http]\nversions = [\"h3\"]\n",
                "line 2",
                "unknown variant `h3`, expected `http/1.1` or `h2`",
            ),
            ("[http]\nversions = []\n", "", "`http.versions` is empty"),
            (
                "[http]\nversions = [\"h2\", \"h2\"]\n",
                "",
                "lists \"h2\" twice",
            ),
            (
                "[http.h2]\nmax_concurrent_streams = 0\n",
                "",
                "max_concurrent_streams",
            ),
            (
                "[http.h2]\nstreams = 1\n",
                "line 2",
                "unknown field `streams`",
            ),
        ];
        for (text, line, needle) in cases {
            let e = Config::from_toml(text, "app.toml").unwrap_err();
            let msg = e.to_string();
            assert_eq!(e.kind(), ErrorKind::Config, "{text:?}");
            assert!(msg.starts_with("config file app.toml:"), "{msg}");
            assert!(msg.contains(line), "{text:?} -> {msg}");
            assert!(msg.contains(needle), "{text:?} -> {msg}");
            assert!(!msg.contains(['\n', '\r']), "{msg:?}");
        }
    }

    #[test]
    fn vapors_host_key_names_the_hostname() {
        let c = Config::from_toml("[http]\nhost = \"0.0.0.0\"\n", "t").unwrap();
        assert_eq!(c.http.hostname, "0.0.0.0");
    }

    #[test]
    fn handshake_timeout_falls_back_to_keep_alive() {
        let mut c = ServerConfig::default();
        assert_eq!(c.handshake_timeout(), Some(Duration::from_secs(5)));
        c.request_timeout = Duration::ZERO;
        c.keep_alive = Duration::from_secs(7);
        assert_eq!(c.handshake_timeout(), Some(Duration::from_secs(7)));
        c.keep_alive = Duration::ZERO;
        assert_eq!(c.handshake_timeout(), None);
    }

    #[test]
    fn missing_file_names_it() {
        let e = Config::load(Path::new("/nonexistent/app.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/app.toml"));
    }
}
