//! `Config::from_toml` on arbitrary text: a config or a one-line error naming
//! the file, never a panic.
#![no_main]

use handover::{Config, ErrorKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // TOML is UTF-8; `Config::load` refuses other bytes before parsing
    };
    let parsed = Config::from_toml(text, "fuzz.toml");
    match &parsed {
        Ok(config) => {
            // What `validate` promises.
            assert!(!config.server.trim().is_empty(), "{text:?}");
            assert!(config.http.body_limit >= 1, "{text:?}");
            assert!(config.http.backlog >= 1, "{text:?}");
            assert!(
                config.listen.unix_mode.is_none_or(|m| m <= 0o777),
                "{text:?}"
            );
            for (i, address) in config.listen.bind.iter().enumerate() {
                assert!(!config.listen.bind[..i].contains(address), "{text:?}");
            }
            for selector in &config.listen.inherit {
                let _ = selector.to_string();
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert_eq!(e.kind(), ErrorKind::Config, "{message}");
            assert!(message.starts_with("config file fuzz.toml:"), "{message}");
            assert!(!message.contains(['\n', '\r']), "{text:?} -> {message:?}");
        }
    }
    let twice = Config::from_toml(text, "fuzz.toml");
    assert_eq!(
        parsed.as_ref().map_err(|e| e.to_string()),
        twice.as_ref().map_err(|e| e.to_string())
    );
});
