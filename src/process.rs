//! Who this process is: its pid and Server::Starter generation, for logs and apps.

use std::fmt;

use crate::error::Error;
use crate::listener::{parse_generation, SERVER_STARTER_GENERATION};

/// The pid and generation of this process, read once at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// This process's id.
    pub pid: u32,
    /// `SERVER_STARTER_GENERATION`, or `None` outside Server::Starter.
    pub generation: Option<u64>,
}

impl Identity {
    /// Reads the pid and `SERVER_STARTER_GENERATION`.
    ///
    /// # Errors
    /// [`ErrorKind::Inherit`](crate::ErrorKind::Inherit) when the generation is set but not a number.
    pub fn from_env() -> Result<Identity, Error> {
        let generation = match std::env::var_os(SERVER_STARTER_GENERATION) {
            Some(v) => Some(parse_generation(&v.to_string_lossy())?),
            None => None,
        };
        Ok(Identity {
            pid: std::process::id(),
            generation,
        })
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.generation {
            Some(g) => write!(f, "pid {} gen {g}", self.pid),
            None => write!(f, "pid {}", self.pid),
        }
    }
}
