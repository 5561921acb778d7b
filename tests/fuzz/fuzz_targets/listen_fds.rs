//! systemd's `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES` for a given pid.
//!
//! The input is up to four fields separated by NUL bytes: our pid, then the
//! three variables in that order; a missing field is an unset variable. An
//! empty or non-numeric pid field means "the pid LISTEN_PID names", so the
//! fuzzer reaches the `Ours` branch without guessing the pid.
#![no_main]

use handover::fuzzing::{parse_listen_fds, Activation, SystemdVars, LISTEN_FDS_START};
use handover::ErrorKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|&b| b == 0).map(String::from_utf8_lossy);
    let pid_field = fields.next().unwrap_or_default();
    let vars = SystemdVars {
        listen_pid: fields.next().map(|f| f.into_owned()),
        listen_fds: fields.next().map(|f| f.into_owned()),
        listen_fdnames: fields.next().map(|f| f.into_owned()),
    };
    let named = vars
        .listen_pid
        .as_deref()
        .and_then(|p| p.trim().parse::<u32>().ok());
    let our_pid = pid_field.trim().parse::<u32>().ok().or(named).unwrap_or(1);

    let parsed = parse_listen_fds(&vars, our_pid);
    match &parsed {
        Ok(Activation::Absent) => assert!(vars.listen_pid.is_none(), "{vars:?}"),
        Ok(Activation::OtherProcess { pid }) => {
            assert_ne!(*pid, our_pid);
            assert_ne!(*pid, 0);
        }
        Ok(Activation::Ours(entries)) => {
            assert!(!entries.is_empty(), "{vars:?}");
            let count = vars
                .listen_fds
                .as_deref()
                .and_then(|n| n.trim().parse::<usize>().ok());
            assert_eq!(count, Some(entries.len()), "{vars:?}");
            for (i, entry) in entries.iter().enumerate() {
                // fds 3, 4, 5, ...: in order, so each one once.
                assert_eq!(i64::from(entry.fd), i64::from(LISTEN_FDS_START) + i as i64);
                assert_eq!(entry.name.is_some(), vars.listen_fdnames.is_some());
            }
            if let Some(names) = &vars.listen_fdnames {
                let joined: Vec<&str> = entries.iter().filter_map(|e| e.name.as_deref()).collect();
                assert_eq!(&joined.join(":"), names);
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert_eq!(e.kind(), ErrorKind::Inherit, "{message}");
            assert!(
                ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"]
                    .iter()
                    .any(|name| message.starts_with(name)),
                "{message}"
            );
            assert!(!message.contains(['\n', '\r']), "{message:?}");
        }
    }
    let twice = parse_listen_fds(&vars, our_pid);
    assert_eq!(
        parsed.as_ref().map_err(|e| e.to_string()),
        twice.as_ref().map_err(|e| e.to_string())
    );
});
