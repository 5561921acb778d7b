//! `SERVER_STARTER_PORT` (and `SERVER_STARTER_GENERATION`, and the selector and
//! bind address grammars that share its key rules) from arbitrary text.
//!
//! The environment is read lossily (`Inheritance::from_env`), so the input is too.
#![no_main]

use std::collections::HashSet;

use handover::config::{BindAddress, Selector};
use handover::fuzzing::{parse_generation, parse_server_starter_port, StarterEntry};
use handover::ErrorKind;
use libfuzzer_sys::fuzz_target;

fn one_line(message: &str) -> bool {
    !message.contains(['\n', '\r'])
}

fn serialize(entries: &[StarterEntry]) -> String {
    let items: Vec<String> = entries
        .iter()
        .map(|e| format!("{}={}", e.key, e.fd))
        .collect();
    items.join(";")
}

fuzz_target!(|data: &[u8]| {
    let value = String::from_utf8_lossy(data);
    let value = value.as_ref();

    let parsed = parse_server_starter_port(value);
    match &parsed {
        Ok(entries) => {
            let mut fds = HashSet::new();
            for entry in entries {
                assert!(fds.insert(entry.fd), "fd {} twice in {value:?}", entry.fd);
                assert!(entry.fd >= 0, "negative fd from {value:?}");
                assert!(!entry.key.is_empty(), "empty key from {value:?}");
                assert_eq!(entry.key, entry.key.trim(), "untrimmed key from {value:?}");
                assert!(!entry.key.contains(';'), "key with ';' from {value:?}");
                let _ = entry.parsed_key();
                // Every key, written as a selector, selects its own entry.
                let selector: Selector = match entry.key.parse() {
                    Ok(s) => s,
                    Err(e) => panic!("key {:?} is no selector: {e}", entry.key),
                };
                assert!(selector.matches(entry), "{selector:?} misses {entry:?}");
            }
            // Written back as `key=fd;...`, the entries parse to themselves.
            let again = parse_server_starter_port(&serialize(entries));
            assert_eq!(again.as_ref().ok(), Some(entries), "{value:?}");
        }
        Err(e) => {
            let message = e.to_string();
            assert_eq!(e.kind(), ErrorKind::Inherit, "{message}");
            assert!(
                message.starts_with("SERVER_STARTER_PORT: entry "),
                "{message}"
            );
            assert!(one_line(&message), "{message:?}");
        }
    }
    // Deterministic: the same text gives the same result.
    let twice = parse_server_starter_port(value);
    assert_eq!(
        parsed.as_ref().map_err(|e| e.to_string()),
        twice.as_ref().map_err(|e| e.to_string())
    );

    match parse_generation(value) {
        Ok(n) => assert_eq!(n.to_string().parse::<u64>().ok(), Some(n)),
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.starts_with("SERVER_STARTER_GENERATION: "),
                "{message}"
            );
            assert!(one_line(&message), "{message:?}");
        }
    }

    match value.parse::<Selector>() {
        Ok(selector) => {
            let _ = selector.to_string();
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(one_line(&e.to_string()), "{e:?}");
        }
    }
    match value.parse::<BindAddress>() {
        Ok(address) => {
            let _ = address.to_string();
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(one_line(&e.to_string()), "{e:?}");
        }
    }
});
