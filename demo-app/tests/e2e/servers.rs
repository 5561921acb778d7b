//! The demo on each server it registers: routes, `/whoami`, and a hot deploy
//! under each start_server (Perl's and ours) that switches from one server to
//! the other.

use std::time::Duration;

use crate::support::supervisor::{Starter, Supervised};
use crate::support::*;
use crate::{config_file, demo};

const SERVERS: [&str; 3] = ["actix", "hyper", "axum"];

#[test]
fn every_route_on_every_server_and_whoami_names_it() {
    for server in SERVERS {
        let mut cmd = demo();
        cmd.args(["--server", server, "--hostname", "127.0.0.1", "--port", "0"]);
        let mut app = Proc::spawn(cmd);
        let addr = app.listening_addr();
        let who = get_ok(addr, "/whoami", Duration::from_secs(10)).json();
        assert_eq!(who["server"], server);
        assert_eq!(who["pid"], app.pid());
        assert!(who["generation"].is_null());
        let hello = get(addr, "/").unwrap();
        assert_eq!(
            (hello.status, hello.text().as_str()),
            (200, "Hello, world!")
        );
        let echo = post(addr, "/echo", b"ping \x00\xff").unwrap();
        assert_eq!(
            (echo.status, echo.body.as_slice()),
            (200, &b"ping \x00\xff"[..])
        );
        assert_eq!(get(addr, "/healthz").unwrap().text(), "ok\n");
        let metrics = get(addr, "/metrics").unwrap();
        assert_eq!(metrics.status, 200);
        let metrics = metrics.text();
        for line in [
            "handover_phase{phase=\"serving\"} 1",
            "handover_health_probes_total 1",
            "handover_requests_in_flight 1",
        ] {
            assert!(metrics.contains(line), "{line} in\n{metrics}");
        }
        assert_eq!(get(addr, "/missing").unwrap().status, 404);
        assert_eq!(get(addr, "/sleep?ms=20").unwrap().text(), "slept 20 ms\n");
        assert_eq!(get(addr, "/sleep?ms=abc").unwrap().status, 400);
        assert_eq!(get(addr, "/sleep?ms=600001").unwrap().status, 400);
        app.signal(libc::SIGINT);
        assert_eq!(app.exit_code(Duration::from_secs(10)), 0, "{server}");
    }
}

#[test]
fn config_picks_the_server_and_a_hot_deploy_can_switch_it_under_perl() {
    config_picks_the_server_and_a_hot_deploy_can_switch_it(Starter::Perl);
}

#[test]
fn config_picks_the_server_and_a_hot_deploy_can_switch_it_under_ours() {
    config_picks_the_server_and_a_hot_deploy_can_switch_it(Starter::Ours);
}

fn config_picks_the_server_and_a_hot_deploy_can_switch_it(starter: Starter) {
    // Generation 1 runs on actix; the config is edited to hyper, then HUP;
    // then to axum, then HUP.
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), "actix", "shutdown_timeout = \"30s\"");
    let mut app = demo();
    app.arg("--config").arg(&config);
    let mut sup = Supervised::start(starter, &app);
    assert_eq!(get(sup.addr, "/whoami").unwrap().json()["server"], "actix");
    config_file(dir.path(), "hyper", "shutdown_timeout = \"30s\"");
    let who = sup.hup_and_wait_for(2);
    assert_eq!(
        (who["server"].as_str(), who["generation"].as_u64()),
        (Some("hyper"), Some(2))
    );
    config_file(dir.path(), "axum", "shutdown_timeout = \"30s\"");
    let who = sup.hup_and_wait_for(3);
    assert_eq!(
        (who["server"].as_str(), who["generation"].as_u64()),
        (Some("axum"), Some(3))
    );
    sup.stop();
}
