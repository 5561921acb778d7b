//! Server-sent events across hot deploys, under each real start_server:
//! every stream the drain ends carries the final event and its last chunk
//! (none is cut), and every client comes back to the next generation.

use crate::support::supervisor::Starter;
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
    let client = Client::script(
        "sse_client.py",
        &["deploy", &host, &port, "/events", &CLIENTS.to_string()],
    );
    let result = client.follow_hups(&mut sup, CLIENTS, HUPS, "streams");
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
