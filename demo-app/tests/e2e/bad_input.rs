//! Bad input: a clear one-line error, a non-zero exit, no panic, nothing closed.

use std::net::TcpListener;
use std::time::Duration;

use crate::demo;
use crate::support::*;

#[test]
fn unknown_server_lists_the_registered_ones() {
    let mut cmd = demo();
    cmd.args(["--server", "engine"]);
    expect_error(
        cmd,
        &["unknown server \"engine\" (registered: actix, hyper, axum)"],
    );
}

#[test]
fn bad_config_file_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    std::fs::write(&path, "server = \"actix\"\n[http]\nprot = 80\n").unwrap();
    let mut cmd = demo();
    cmd.arg("--config").arg(&path);
    expect_error(
        cmd,
        &[
            &path.display().to_string(),
            "line 3",
            "unknown field `prot`",
        ],
    );

    let mut cmd = demo();
    cmd.args(["--config", "/nonexistent/app.toml"]);
    expect_error(cmd, &["/nonexistent/app.toml", "cannot read it"]);
}

#[test]
fn port_flag_with_a_bind_list_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    std::fs::write(&path, "[listen]\nbind = [\"127.0.0.1:0\"]\n").unwrap();
    let mut cmd = demo();
    cmd.arg("--config").arg(&path).args(["--port", "9000"]);
    expect_error(cmd, &["--port", "[listen] bind"]);
}

#[test]
fn missing_tls_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.toml");
    let key = dir.path().join("missing-key.pem");
    std::fs::write(
        &path,
        format!(
            "[http.security_layer.tls]\ncertificate_chain = \"{0}\"\nprivate_key = \"{0}\"\n",
            key.display()
        ),
    )
    .unwrap();
    let mut cmd = demo();
    cmd.arg("--config").arg(&path);
    expect_error(
        cmd,
        &[
            "TLS certificate chain",
            &key.display().to_string(),
            "cannot read it",
        ],
    );
}

#[test]
fn bad_generation_is_named() {
    let mut cmd = demo();
    cmd.env("SERVER_STARTER_GENERATION", "two");
    expect_error(cmd, &["SERVER_STARTER_GENERATION", "\"two\""]);
}

#[test]
fn bind_failure_names_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut cmd = demo();
    cmd.args(["--port", &port]);
    expect_error(cmd, &[&format!("cannot bind 127.0.0.1:{port}")]);
}

#[test]
fn usage_errors_exit_2() {
    let mut cmd = demo();
    cmd.args(["--port", "http"]);
    let mut app = Proc::spawn(cmd);
    assert_eq!(app.exit_code(Duration::from_secs(5)), 2);
}
