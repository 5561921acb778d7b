//! Who this process is: its pid and Server::Starter generation, for logs and apps.

use std::fmt;

use crate::error::{quoted, Error, ErrorKind};

/// The variable holding the generation number Server::Starter gives each worker.
const SERVER_STARTER_GENERATION: &str = "SERVER_STARTER_GENERATION";

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
    /// [`ErrorKind::Inherit`] when the generation is set but not a number.
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

    /// This process, outside any supervisor (no generation): for embedding and tests.
    pub fn unsupervised() -> Identity {
        Identity {
            pid: std::process::id(),
            generation: None,
        }
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

/// Parses `SERVER_STARTER_GENERATION` (a decimal counter from 1).
///
/// # Errors
/// [`ErrorKind::Inherit`] naming the variable when the value is not a decimal number.
#[cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub))]
pub fn parse_generation(value: &str) -> Result<u64, Error> {
    let trimmed = value.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new(
            ErrorKind::Inherit,
            format!(
                "{SERVER_STARTER_GENERATION}: {} is not a decimal number",
                quoted(value)
            ),
        ));
    }
    trimmed.parse().map_err(|_| {
        Error::new(
            ErrorKind::Inherit,
            format!(
                "{SERVER_STARTER_GENERATION}: {} is too large",
                quoted(value)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation() {
        assert_eq!(parse_generation("1").unwrap(), 1);
        assert_eq!(parse_generation("42\n").unwrap(), 42);
        for bad in ["", "x", "-1", "1.5", "99999999999999999999999"] {
            let msg = parse_generation(bad).unwrap_err().to_string();
            assert!(msg.starts_with("SERVER_STARTER_GENERATION: "), "{msg}");
        }
    }

    #[test]
    fn shown_with_pid_and_generation() {
        let id = Identity {
            pid: 7,
            generation: Some(3),
        };
        assert_eq!(id.to_string(), "pid 7 gen 3");
        assert_eq!(Identity::unsupervised().generation, None);
    }
}
