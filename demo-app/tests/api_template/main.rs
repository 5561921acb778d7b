//! The `api-template` binary (Vapor 2's API template, ported) on every
//! server it registers: every route with its status codes and bodies, the
//! static files, the route listing, and hot deploys under Perl's and our
//! `start_server` with a mixed GET/POST load.

#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use handover_test_support as support;

mod hot_deploy;
mod routes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::Proc;

/// The api-template binary under test.
pub const API: &str = env!("CARGO_BIN_EXE_api-template");

/// Instantiates every per-adapter case for each adapter.
macro_rules! adapters {
    ($($adapter:ident),*) => {
        $(
            mod $adapter {
                #[test]
                fn every_route_with_its_status_codes_and_bodies() {
                    crate::routes::every_route(stringify!($adapter));
                }
                #[test]
                fn static_files_200_304_403() {
                    crate::routes::static_files(stringify!($adapter));
                }
                #[test]
                fn cors_preflight_and_headers() {
                    crate::routes::cors(stringify!($adapter));
                }
                #[test]
                fn errors_are_html_for_browsers() {
                    crate::routes::html_errors_for_browsers(stringify!($adapter));
                }
                mod perl {
                    #[test]
                    fn hot_deploys_under_mixed_get_post_load_fail_no_request() {
                        crate::hot_deploy::mixed_load_across_hups(
                            stringify!($adapter),
                            crate::support::supervisor::Starter::Perl,
                        );
                    }
                }
                mod ours {
                    #[test]
                    fn hot_deploys_under_mixed_get_post_load_fail_no_request() {
                        crate::hot_deploy::mixed_load_across_hups(
                            stringify!($adapter),
                            crate::support::supervisor::Starter::Ours,
                        );
                    }
                }
            }
        )*
    };
}

adapters!(actix, hyper, axum);

/// An api-template command with logs at info level and no supervisor variables.
pub fn api() -> Command {
    let mut cmd = Command::new(API);
    cmd.env_remove("SERVER_STARTER_PORT")
        .env_remove("SERVER_STARTER_GENERATION")
        .env_remove("NOTIFY_SOCKET")
        .env("RUST_LOG", "info");
    cmd
}

/// A public directory in `dir`: `styles/app.css`, `big.bin` (200 KB),
/// a symlink to a file outside it; `dir/secret.txt` lies outside it.
pub fn public_dir(dir: &Path) -> PathBuf {
    let public = dir.join("Public");
    std::fs::create_dir_all(public.join("styles")).unwrap();
    std::fs::write(public.join("styles/app.css"), "body { margin: 0 }\n").unwrap();
    std::fs::write(public.join("big.bin"), big()).unwrap();
    std::fs::write(dir.join("secret.txt"), "outside\n").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), public.join("link.txt")).unwrap();
    public
}

/// The content of `big.bin`.
pub fn big() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

/// The template's middleware (its `droplet.json`).
pub const TEMPLATE_MIDDLEWARE: &str = "[\"error\", \"date\", \"file\"]";

/// A config in `dir` for `server`, the template's middleware and public
/// directory, then `extra` (TOML appended after `[app]`).
pub fn config(dir: &Path, server: &str, http_extra: &str, app_extra: &str) -> PathBuf {
    config_with(dir, server, http_extra, TEMPLATE_MIDDLEWARE, app_extra)
}

/// Like [`config`] with the middleware list `middleware` (a TOML array).
pub fn config_with(
    dir: &Path,
    server: &str,
    http_extra: &str,
    middleware: &str,
    app_extra: &str,
) -> PathBuf {
    let public = public_dir(dir);
    let path = dir.join("api.toml");
    std::fs::write(
        &path,
        format!(
            "server = \"{server}\"\n[http]\nworkers = 2\n{http_extra}\n[app]\nmiddleware = {middleware}\npublic_dir = {:?}\n{app_extra}\n",
            public.display().to_string()
        ),
    )
    .unwrap();
    path
}

/// api-template on `server`, bound to 127.0.0.1:0, with `app_extra` in
/// `[app]`; returns it once it answers.
pub fn serve(server: &str, app_extra: &str) -> (Proc, SocketAddr, tempfile::TempDir) {
    serve_with(server, TEMPLATE_MIDDLEWARE, app_extra)
}

/// Like [`serve`] with the middleware list `middleware` (a TOML array).
pub fn serve_with(
    server: &str,
    middleware: &str,
    app_extra: &str,
) -> (Proc, SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(
        dir.path(),
        server,
        "hostname = \"127.0.0.1\"\nport = 0",
        middleware,
        app_extra,
    );
    let mut cmd = api();
    cmd.arg("--config").arg(&config);
    let app = Proc::spawn(cmd);
    let addr = app.listening_addr();
    support::get_ok(addr, "/hello", Duration::from_secs(10));
    (app, addr, dir)
}

/// Stops the app with TERM; it must exit 0.
pub fn stop(mut app: Proc) {
    app.signal(libc::SIGTERM);
    assert_eq!(app.exit_code(Duration::from_secs(10)), 0);
}

#[test]
fn routes_flag_prints_every_route_and_exits_0() {
    let out = api().arg("--routes").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let want: &[[&str; 2]] = &[
        ["METHOD", "PATH"],
        ["GET", "/hello"],
        ["GET", "/plaintext"],
        ["GET", "/info"],
        ["GET", "/description"],
        ["GET", "/whoami"],
        ["GET", "/posts"],
        ["POST", "/posts"],
        ["GET", "/posts/{posts_id}"],
        ["PUT", "/posts/{posts_id}"],
        ["PATCH", "/posts/{posts_id}"],
        ["DELETE", "/posts/{posts_id}"],
        ["DELETE", "/posts"],
        ["OPTIONS", "/posts/{posts_id}"],
        ["OPTIONS", "/posts"],
    ];
    assert_eq!(rows, want.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
}

#[test]
fn a_bad_middleware_list_or_public_dir_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "middleware = [\"error\", \"dat\"]",
            "unknown middleware \"dat\"",
        ),
        (
            "middleware = [\"file\"]\npublic_dir = \"/nonexistent/Public\"",
            "app.public_dir",
        ),
    ];
    for (app, needle) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, format!("[http]\nport = 0\n[app]\n{app}\n")).unwrap();
        let mut cmd = api();
        cmd.arg("--config").arg(&path);
        support::expect_error(cmd, &["api-template: error:", needle]);
    }
}
