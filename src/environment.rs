//! `Environment`: production, development or test (Vapor's `--env`).

use serde::Deserialize;

/// Where the app runs; production hides the error middleware's debug detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Environment {
    /// Errors show only their reason (also written `prod`).
    #[serde(alias = "prod")]
    Production,
    /// Errors show their debug detail too (the default; also written `dev`).
    #[default]
    #[serde(alias = "dev")]
    Development,
    /// As development.
    Test,
}

impl Environment {
    /// Whether error responses may carry debug detail.
    pub fn shows_debug_detail(self) -> bool {
        self != Environment::Production
    }
}
