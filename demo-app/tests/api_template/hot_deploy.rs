//! api-template hot-deployed under each real start_server with a mixed
//! GET/POST load: no request may fail.

use std::sync::Arc;
use std::time::Duration;

use crate::support::load::{Load, Request};
use crate::support::supervisor::{Starter, Supervised};

/// The load's requests, in turn: reads, a JSON create, a clear (so the
/// in-memory list stays short). Each answers 200 from any generation.
fn mixed(n: u64) -> Request {
    let json = vec![("Content-Type", "application/json")];
    match n % 5 {
        0 => Request::get("/hello"),
        1 => Request {
            method: "POST",
            path: "/posts".into(),
            headers: json,
            body: format!("{{\"content\":\"post {n}\"}}").into_bytes(),
        },
        2 => Request::get("/posts"),
        3 => Request::get("/plaintext"),
        _ => Request {
            method: "DELETE",
            path: "/posts".into(),
            headers: Vec::new(),
            body: Vec::new(),
        },
    }
}

pub fn mixed_load_across_hups(server: &str, starter: Starter) {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::config(
        dir.path(),
        server,
        "shutdown_timeout = \"30s\"\ndrain_linger = \"2s\"",
        "",
    );
    let mut app = crate::api();
    app.arg("--config").arg(&config);
    let mut sup = Supervised::start(starter, &app);
    assert_eq!(
        crate::support::get(sup.addr, "/whoami").unwrap().json()["server"],
        server
    );
    let load = Load::start_with(sup.addr, 8, Duration::ZERO, Arc::new(mixed));
    load.wait_requests(300);
    for generation in 2..=4 {
        sup.hup_and_wait_for(generation);
        load.wait_requests(300);
    }
    let tally = load.finish();
    eprintln!("{server} under {starter:?}: {tally:?}");
    tally.assert_no_failures();
    assert!(tally.ok >= 1200, "the load ran: {tally:?}");
    assert!(
        tally.closed_by_server >= 8,
        "old connections were retired with Connection: close: {tally:?}"
    );
    sup.stop();
}
