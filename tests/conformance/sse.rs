//! Server-sent events across hot deploys, under each real start_server:
//! every stream the drain ends carries the final event and its last chunk
//! (none is cut), and every client comes back to the next generation.

use std::time::Duration;

use crate::support::supervisor::{old_worker_died, Starter};
use crate::websocket::Client;
use crate::zero_failure::supervised;
use crate::Adapter;

/// Clients and HUPs (the bench runs 50 clients and 5 HUPs).
const CLIENTS: usize = 5;
const HUPS: u64 = 2;

pub fn event_streams_across_hups_end_with_the_final_event(adapter: &Adapter, starter: Starter) {
    let (mut sup, _dir) = supervised(adapter, starter, "shutdown_timeout = \"20s\"", &[]);
    let addr = sup.addr;
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let mut client = Client::script(
        "sse_client.py",
        &["deploy", &host, &port, "/events", &CLIENTS.to_string()],
    );
    let on = |client: &Client, generation: u64| {
        let mut count = 0;
        while count < CLIENTS {
            let line = client.next(Duration::from_secs(30), "the clients on a generation");
            count += usize::from(line["on"] == generation);
        }
    };
    on(&client, 1);
    for generation in 2..=HUPS + 1 {
        let old = sup.current_pid();
        sup.hup_and_wait_for(generation);
        let status = sup
            .proc
            .stderr
            .wait_for(Duration::from_secs(30), |l| old_worker_died(l, old))
            .unwrap_or_else(|| panic!("generation {} did not exit", generation - 1));
        assert_eq!(status, 0, "the old generation drains gracefully");
        on(&client, generation);
    }
    client.end();
    let result = loop {
        let line = client.next(Duration::from_secs(30), "the clients' figures");
        if line.get("streams").is_some() {
            break line;
        }
    };
    eprintln!("{} {:?} sse deploy: {result}", adapter.name, starter);
    assert_eq!(result["cut"], 0, "no stream cut: {result}");
    assert_eq!(result["failed"], 0, "{result}");
    assert_eq!(
        result["ended_with_final"],
        CLIENTS as u64 * HUPS,
        "every stream an old generation ended carried the final event: {result}"
    );
    assert_eq!(result["ended_without_final"], 0, "{result}");
    let generations: Vec<u64> = serde_json::from_value(result["generations"].clone()).unwrap();
    assert_eq!(generations, (1..=HUPS + 1).collect::<Vec<_>>(), "{result}");
    sup.stop();
}
