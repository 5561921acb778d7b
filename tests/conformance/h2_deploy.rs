//! Hot deploys under HTTP/2 load, under each real start_server (Perl's and
//! ours): `h2load` over h2c and over TLS, and hyper's HTTP/2 client
//! retrying what the server refused. Two hand-overs per case (the full
//! 20-second runs with a HUP every 2 s are in `bench/h2_hot_restart.py`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::app::counted;
use crate::support::h2::{H2Load, H2LoadSummary};
use crate::support::h2client;
use crate::support::supervisor::{Starter, Supervised};
use crate::support::tls::TestCert;
use crate::support::{established, wait_accepted, wait_until};
use crate::Adapter;

/// Settings of every case: the drain's defaults, a generous deadline.
const HTTP: &str = "shutdown_timeout = \"30s\"\ndrain_linger = \"2s\"";

/// The app under `starter`, over TLS when `cert` is given.
fn start(
    adapter: &Adapter,
    starter: Starter,
    cert: Option<Arc<TestCert>>,
    dir: &std::path::Path,
) -> Supervised {
    let tls = cert.as_ref().map(|c| c.toml()).unwrap_or_default();
    let config = adapter.config(dir, &format!("{HTTP}\n{tls}"));
    let app = adapter.with_config(&config);
    match cert {
        Some(cert) => Supervised::start_probed(
            starter,
            &[],
            &app,
            Arc::new(move |addr, path| cert.get(addr, path).map(|(r, _)| r)),
        ),
        None => Supervised::start(starter, &app),
    }
}

/// Every process's `/counted` tally, oldest first, once all have exited.
fn tallies(sup: &Supervised) -> Vec<(u64, u64)> {
    sup.proc
        .stderr
        .all()
        .iter()
        .filter_map(|l| counted(l))
        .collect()
}

/// The generations handed over (all but the last): none cut a response.
fn none_cut_by_a_hand_over(sup: &Supervised) -> u64 {
    let tallies = tallies(sup);
    assert_eq!(tallies.len(), 3, "one tally per generation: {tallies:?}");
    let drained = &tallies[..tallies.len() - 1];
    assert!(
        drained.iter().all(|(_, cut)| *cut == 0),
        "a response was cut after its processing began: {tallies:?}"
    );
    assert!(
        drained.iter().all(|(handled, _)| *handled > 0),
        "load reached every generation: {tallies:?}"
    );
    tallies.iter().map(|(handled, _)| handled).sum()
}

/// h2load's requests that failed: every one errored (no failure status),
/// none timed out, and every one was never sent: either never started
/// (the run's clients ended at their GOAWAY with requests to spare) or, per
/// its log file, refused by nghttp2 locally after a GOAWAY had arrived
/// (start time 0).
fn failed_only_unsent(s: &H2LoadSummary, log: &std::path::Path) {
    assert_eq!(s.failed, s.errored, "no failure status: {}", s.output);
    assert_eq!(s.timeout, 0, "{}", s.output);
    let never_started = s.total - s.started;
    let log = std::fs::read_to_string(log).unwrap();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.split('\t').nth(1) != Some("200"))
        .collect();
    assert_eq!(failed.len() as u64, s.errored - never_started, "{failed:?}");
    assert!(
        failed.iter().all(|l| l.starts_with("0\t")),
        "an errored request had been sent: {failed:?}"
    );
}

fn h2load_across_hups(adapter: &Adapter, starter: Starter, tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let cert = tls.then(|| Arc::new(TestCert::new(dir.path())));
    let mut sup = start(adapter, starter, cert, dir.path());
    let url = match tls {
        true => format!("https://127.0.0.1:{}/counted", sup.addr.port()),
        false => format!("http://{}/counted", sup.addr),
    };
    let (mut one, mut ten) = (H2LoadSummary::default(), H2LoadSummary::default());
    // h2load's clients end at their connection's GOAWAY: a run per hand-over.
    for (round, generation) in [2, 3].into_iter().enumerate() {
        let logs = [0, 1].map(|i| dir.path().join(format!("h2load-{round}-{i}.log")));
        let log_arg = |i: usize| format!("--log-file={}", logs[i].display());
        // One stream at a time on 64 connections, and 10 at a time on 16.
        // Far more requests than a run can make: each client ends at its
        // GOAWAY, and the run when its last client has, however long the
        // hand-over takes on a busy machine.
        let many = "100000000";
        let m1 = H2Load::start(&["-n", many, "-c", "64", "-m", "1", &log_arg(0), &url]);
        let m10 = H2Load::start(&["-n", many, "-c", "16", "-m", "10", &log_arg(1), &url]);
        // Every client connected to, and accepted by, the generation to be
        // handed over: none lands on the next one (where the end of the
        // run, not a GOAWAY, would end it).
        wait_until(Duration::from_secs(20), "h2load's 80 connections", || {
            established(sup.addr) >= 80
        });
        wait_accepted(sup.addr);
        sup.hand_over(generation);
        let (m1, m10) = (m1.finish(), m10.finish());
        failed_only_unsent(&m1, &logs[0]);
        failed_only_unsent(&m10, &logs[1]);
        one += &m1;
        ten += &m10;
    }
    sup.stop();
    eprintln!(
        "h2load -m 1: {} started, {} succeeded; -m 10: {} started, {} succeeded",
        one.started, one.succeeded, ten.started, ten.succeeded
    );
    assert_eq!(one.started, one.succeeded, "one stream at a time");
    assert!(one.succeeded > 0 && ten.succeeded > 0);
    let handled = none_cut_by_a_hand_over(&sup);
    assert!(
        handled >= one.succeeded + ten.succeeded,
        "{handled} handled"
    );
}

pub fn h2c_load_across_hups_loses_nothing_processed(adapter: &Adapter, starter: Starter) {
    h2load_across_hups(adapter, starter, false);
}

pub fn h2_over_tls_load_across_hups_loses_nothing_processed(adapter: &Adapter, starter: Starter) {
    h2load_across_hups(adapter, starter, true);
}

pub fn a_retrying_h2_client_across_hups_sees_no_failure(adapter: &Adapter, starter: Starter) {
    let dir = tempfile::tempdir().unwrap();
    let mut sup = start(adapter, starter, None, dir.path());
    let addr: SocketAddr = sup.addr;
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let load = h2client::load(addr, "/counted", 8, 4, stop.clone(), done.clone());
    let more = |n: u64| {
        let target = done.load(Ordering::SeqCst) + n;
        wait_until(Duration::from_secs(60), "the client's requests", || {
            done.load(Ordering::SeqCst) >= target
        });
    };
    more(200);
    for generation in [2, 3] {
        sup.hand_over(generation);
        more(200);
    }
    stop.store(true, Ordering::SeqCst);
    let tally = load.join().unwrap();
    sup.stop();
    eprintln!("hyper's client: {tally:?}");
    assert!(
        tally.failures.is_empty(),
        "{} failed: {:?}",
        tally.failures.len(),
        tally.failures
    );
    assert!(tally.ok >= 600, "{tally:?}");
    let handled = none_cut_by_a_hand_over(&sup);
    // Every request handled was answered once: a retry was never a repeat.
    assert_eq!(handled, tally.ok, "{tally:?}");
}
