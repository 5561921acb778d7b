//! systemd socket activation: `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`,
//! parsed by a pure function (the rules of `sd_listen_fds_with_names(3)`).
//!
//! The `pub` items are crate-internal; with the `fuzzing` feature they are
//! reachable through `handover::fuzzing` for the fuzz targets.
#![cfg_attr(not(feature = "fuzzing"), allow(unreachable_pub))]

use std::os::fd::RawFd;

use crate::error::{quoted, Error, ErrorKind};

/// The pid the sockets are meant for.
pub(crate) const LISTEN_PID: &str = "LISTEN_PID";
/// How many sockets are passed, from fd 3 on.
pub(crate) const LISTEN_FDS: &str = "LISTEN_FDS";
/// Their names (`FileDescriptorName=`), separated by `:`.
pub(crate) const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";
/// The first passed fd (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;
/// The most sockets `LISTEN_FDS` may pass: Linux's default `fs.nr_open`, the
/// ceiling on a process's fds. A larger count is refused before the entries
/// are allocated (2^31 of them would abort the process).
const LISTEN_FDS_MAX: RawFd = 1 << 20;

/// The three variables as read from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemdVars {
    /// `LISTEN_PID`, if set.
    pub listen_pid: Option<String>,
    /// `LISTEN_FDS`, if set.
    pub listen_fds: Option<String>,
    /// `LISTEN_FDNAMES`, if set.
    pub listen_fdnames: Option<String>,
}

/// One passed socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdEntry {
    /// The fd (3, 4, ...).
    pub fd: RawFd,
    /// Its name from `LISTEN_FDNAMES`, if that is set.
    pub name: Option<String>,
}

/// What the variables say about this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// `LISTEN_PID` is not set: no socket activation.
    Absent,
    /// `LISTEN_PID` names another process (a parent's variables leaked to us):
    /// the fds are not ours and are left alone.
    OtherProcess {
        /// The pid `LISTEN_PID` names.
        pid: u32,
    },
    /// The sockets are ours, in fd order (at least one).
    Ours(Vec<SystemdEntry>),
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses the variables for the process `our_pid`. Touches no fd and no environment.
///
/// # Errors
/// [`ErrorKind::Inherit`], naming the variable, when `LISTEN_PID` is not a
/// pid, or when it names this process and `LISTEN_FDS` is missing, not a
/// number, zero or more than 2^20 (Linux's default limit on fds), or
/// `LISTEN_FDNAMES` has a different count.
pub fn parse_listen_fds(vars: &SystemdVars, our_pid: u32) -> Result<Activation, Error> {
    let bad = |message: String| Error::new(ErrorKind::Inherit, message);
    let Some(pid_text) = vars.listen_pid.as_deref() else {
        return Ok(Activation::Absent);
    };
    let pid_text = pid_text.trim();
    let pid: u32 = match pid_text.parse() {
        Ok(pid) if all_digits(pid_text) && pid > 0 => pid,
        _ => {
            return Err(bad(format!(
                "{LISTEN_PID}: {} is not a process id",
                quoted(pid_text)
            )))
        }
    };
    if pid != our_pid {
        return Ok(Activation::OtherProcess { pid });
    }
    let Some(fds_text) = vars.listen_fds.as_deref() else {
        return Err(bad(format!(
            "{LISTEN_PID} names this process ({pid}) but {LISTEN_FDS} is not set"
        )));
    };
    let fds_text = fds_text.trim();
    if !all_digits(fds_text) {
        return Err(bad(format!(
            "{LISTEN_FDS}: {} is not a non-negative decimal number of sockets",
            quoted(fds_text)
        )));
    }
    let count: RawFd = fds_text
        .parse()
        .ok()
        .filter(|n| *n <= LISTEN_FDS_MAX)
        .ok_or_else(|| {
            bad(format!(
                "{LISTEN_FDS}: {} sockets is too many (at most {LISTEN_FDS_MAX})",
                quoted(fds_text)
            ))
        })?;
    if count == 0 {
        return Err(bad(format!(
            "{LISTEN_FDS} is 0: systemd passed no sockets, and handover does not bind its own under socket activation"
        )));
    }
    let names: Option<Vec<&str>> = vars
        .listen_fdnames
        .as_deref()
        .map(|n| n.split(':').collect());
    if let Some(names) = &names {
        if names.len() != count as usize {
            return Err(bad(format!(
                "{LISTEN_FDNAMES} has {} name(s) but {LISTEN_FDS} is {count}",
                names.len()
            )));
        }
    }
    let entries = (0..count)
        .map(|i| SystemdEntry {
            fd: LISTEN_FDS_START + i,
            name: names
                .as_ref()
                .and_then(|n| n.get(i as usize))
                .map(|n| (*n).to_owned()),
        })
        .collect();
    Ok(Activation::Ours(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pid: Option<&str>, fds: Option<&str>, names: Option<&str>) -> SystemdVars {
        SystemdVars {
            listen_pid: pid.map(str::to_owned),
            listen_fds: fds.map(str::to_owned),
            listen_fdnames: names.map(str::to_owned),
        }
    }

    #[test]
    fn ours_absent_or_someone_elses() {
        assert_eq!(
            parse_listen_fds(&vars(None, Some("2"), None), 9).unwrap(),
            Activation::Absent
        );
        assert_eq!(
            parse_listen_fds(&vars(Some("8"), Some("x"), None), 9).unwrap(),
            Activation::OtherProcess { pid: 8 },
            "another process's malformed variables are not ours to judge"
        );
        let Activation::Ours(e) = parse_listen_fds(&vars(Some("9"), Some("3"), None), 9).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            e.iter().map(|e| (e.fd, e.name.clone())).collect::<Vec<_>>(),
            [(3, None), (4, None), (5, None)]
        );
        let Activation::Ours(e) =
            parse_listen_fds(&vars(Some(" 9 "), Some("2"), Some("web:")), 9).unwrap()
        else {
            panic!()
        };
        assert_eq!(e[0].name.as_deref(), Some("web"));
        assert_eq!(e[1].name.as_deref(), Some(""));
        let Activation::Ours(e) =
            parse_listen_fds(&vars(Some("9"), Some("1048576"), None), 9).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.last().map(|e| e.fd), Some(1048578));
    }

    #[test]
    fn malformed_values_meant_for_us_are_errors_naming_the_variable() {
        let cases = [
            (vars(Some("abc"), Some("1"), None), "LISTEN_PID: \"abc\""),
            (vars(Some("-9"), Some("1"), None), "LISTEN_PID: \"-9\""),
            (vars(Some("0"), Some("1"), None), "LISTEN_PID: \"0\""),
            (vars(Some(""), Some("1"), None), "LISTEN_PID: \"\""),
            (
                vars(Some("99999999999"), Some("1"), None),
                "is not a process id",
            ),
            (vars(Some("9"), None, None), "LISTEN_FDS is not set"),
            (vars(Some("9"), Some(""), None), "LISTEN_FDS: \"\""),
            (vars(Some("9"), Some("two"), None), "LISTEN_FDS: \"two\""),
            (vars(Some("9"), Some("-1"), None), "LISTEN_FDS: \"-1\""),
            (vars(Some("9"), Some("+1"), None), "LISTEN_FDS: \"+1\""),
            (vars(Some("9"), Some("0"), None), "LISTEN_FDS is 0"),
            (
                vars(Some("9"), Some("2147483645"), None),
                r#""2147483645" sockets is too many"#,
            ),
            (
                vars(Some("9"), Some("99999999999999999999"), None),
                "is too many",
            ),
            // Found by fuzzing: 42 million entries took 1.4 GB before the fix.
            (
                vars(Some("9"), Some("042444444"), None),
                r#""042444444" sockets is too many (at most 1048576)"#,
            ),
            (
                vars(Some("9"), Some("1048577"), None),
                r#""1048577" sockets is too many"#,
            ),
            (
                vars(Some("9"), Some("2"), Some("web")),
                "LISTEN_FDNAMES has 1 name(s) but LISTEN_FDS is 2",
            ),
            (
                vars(Some("9"), Some("1"), Some("a:b")),
                "LISTEN_FDNAMES has 2 name(s)",
            ),
        ];
        for (v, needle) in cases {
            let e = parse_listen_fds(&v, 9).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Inherit);
            assert!(e.to_string().contains(needle), "{v:?}: {e}");
            assert!(!e.to_string().contains('\n'));
        }
    }
}
