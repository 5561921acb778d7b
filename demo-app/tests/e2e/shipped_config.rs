//! The config files shipped in demo-app/config/ parse, and app.toml, which
//! says it lists the built-in defaults, really does (apart from the two keys
//! it says it changes).

use handover::Config;

fn shipped(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

#[test]
fn every_shipped_config_parses() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = Config::load(&path) {
                panic!("{}: {}", path.display(), e.chain());
            }
            seen += 1;
        }
    }
    assert!(seen >= 3, "only {seen} config files in {}", dir.display());
}

#[test]
fn app_toml_lists_the_defaults() {
    let shipped = Config::load(shipped("app.toml")).unwrap();
    let mut expected = Config::default();
    // The two values app.toml says differ from the built-in defaults.
    expected.http.workers = 2;
    expected.http.health_path = Some("/healthz".to_owned());
    assert_eq!(shipped, expected);
}
