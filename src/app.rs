//! The `[app]` section (Vapor's `droplet.json` app keys and `cors.json`)
//! and the app-wide middleware it names.
//!
//! ```
//! let config = handover::Config::from_toml(
//!     r#"
//!     [app]
//!     environment = "production"
//!     middleware = ["cors", "error", "date", "file"]
//!     public_dir = "Public"
//!     [app.cors]
//!     allowed_origin = "*"
//!     "#,
//!     "example.toml",
//! )?;
//! assert_eq!(config.app.middleware.as_deref().map(<[String]>::len), Some(4));
//! # Ok::<(), handover::Error>(())
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::environment::Environment;
use crate::error::{Error, ErrorKind};
use crate::middleware::cors::CorsConfig;
use crate::middleware::{
    CorsMiddleware, DateMiddleware, ErrorMiddleware, FileMiddleware, SharedMiddleware,
};

/// The names of the built-in middleware.
const BUILT_IN: [&str; 4] = ["error", "date", "file", "cors"];

/// The `[app]` section: what the app layer does around the router.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AppConfig {
    /// `production` hides error debug detail (default `development`).
    pub environment: Environment,
    /// App-wide middleware by name, outermost first (Vapor's `"middleware"`
    /// in `droplet.json`): `error`, `date`, `file`, `cors`, or a name given
    /// to [`Droplet::with_middleware`](crate::Droplet::with_middleware).
    /// Unset: only the middleware registered in code, in registration order
    /// (Vapor defaults to `error`, `date`, `file` instead).
    pub middleware: Option<Vec<String>>,
    /// The directory the `file` middleware serves, relative to the working
    /// directory (Vapor's `publicDir`; default `Public`).
    pub public_dir: PathBuf,
    /// The `cors` middleware's settings (`[app.cors]`, Vapor's `cors.json`).
    pub cors: CorsConfig,
    /// Whether servers record each request's peer address for
    /// [`RequestExt::peer_addr`](crate::RequestExt::peer_addr) (default
    /// false: it costs a few hundred instructions per request).
    pub peer_addr: bool,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            environment: Environment::default(),
            middleware: None,
            public_dir: PathBuf::from("Public"),
            cors: CorsConfig::default(),
            peer_addr: false,
        }
    }
}

impl AppConfig {
    /// The app-wide middleware, outermost first: the `middleware` list, each
    /// name a registered middleware or a built-in one, or, with no list,
    /// every registered middleware in order.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unknown or repeated name, a public
    /// directory that is not one, or a CORS value that cannot be a header.
    pub(crate) fn stack(
        &self,
        registered: &[(String, SharedMiddleware)],
    ) -> Result<Vec<SharedMiddleware>, Error> {
        let Some(names) = &self.middleware else {
            return Ok(registered.iter().map(|(_, m)| m.clone()).collect());
        };
        let mut stack = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(config_error(format!("app.middleware lists {name:?} twice")));
            }
            if let Some((_, m)) = registered.iter().find(|(n, _)| n == name) {
                stack.push(m.clone());
                continue;
            }
            let m: SharedMiddleware = match name.as_str() {
                "error" => Arc::new(ErrorMiddleware::new(self.environment)),
                "date" => Arc::new(DateMiddleware::new()),
                "file" => Arc::new(
                    FileMiddleware::new(&self.public_dir)
                        .map_err(|e| config_error(format!("app.public_dir: {e}")))?,
                ),
                "cors" => Arc::new(CorsMiddleware::new(&self.cors)?),
                _ => {
                    let known: Vec<&str> = BUILT_IN
                        .iter()
                        .copied()
                        .chain(registered.iter().map(|(n, _)| n.as_str()))
                        .collect();
                    return Err(config_error(format!(
                        "app.middleware: unknown middleware {name:?} (known: {})",
                        known.join(", ")
                    )));
                }
            };
            stack.push(m);
        }
        for (name, _) in registered {
            if !names.contains(name) {
                log::warn!("middleware {name:?} is registered but not listed in app.middleware; it is not used");
            }
        }
        Ok(stack)
    }
}

fn config_error(message: String) -> Error {
    Error::new(ErrorKind::Config, format!("config: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::{from_fn, Next};
    use crate::responder::Request;

    fn names(list: &[&str]) -> AppConfig {
        AppConfig {
            middleware: Some(list.iter().map(|s| (*s).to_owned()).collect()),
            public_dir: std::env::temp_dir(),
            ..AppConfig::default()
        }
    }

    fn custom() -> Vec<(String, SharedMiddleware)> {
        let m: SharedMiddleware = Arc::new(from_fn(|req: Request, next: Next| async move {
            next.respond(req).await
        }));
        vec![("auth".to_owned(), m)]
    }

    #[test]
    fn lists_build_stacks_in_order() {
        assert_eq!(AppConfig::default().stack(&[]).unwrap().len(), 0);
        assert_eq!(AppConfig::default().stack(&custom()).unwrap().len(), 1);
        let stack = names(&["cors", "error", "date", "file", "auth"])
            .stack(&custom())
            .unwrap();
        assert_eq!(stack.len(), 5);
        assert_eq!(names(&[]).stack(&custom()).unwrap().len(), 0);
    }

    #[test]
    fn bad_lists_are_one_line_errors() {
        let cases = [
            (
                names(&["eror"]),
                "unknown middleware \"eror\" (known: error, date, file, cors, auth)",
            ),
            (names(&["date", "date"]), "lists \"date\" twice"),
            (
                AppConfig {
                    public_dir: "/nonexistent/public".into(),
                    ..names(&["file"])
                },
                "app.public_dir: public directory \"/nonexistent/public\"",
            ),
        ];
        for (config, needle) in cases {
            let e = config.stack(&custom()).map(|_| ()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            assert!(e.to_string().contains(needle), "{e}");
        }
    }
}
