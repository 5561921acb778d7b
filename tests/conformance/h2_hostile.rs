//! Hostile HTTP/2 input, a table case each: the known attacks (rapid
//! reset, CONTINUATION flood, SETTINGS flood, PING flood, zero window)
//! leave the server serving other clients, and do not hold a drain past
//! its deadline.

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::requests::serve;
use crate::support::h2::SETTINGS_INITIAL_WINDOW_SIZE;
use crate::support::h2::{code, flag, frame, hpack_literal, kind, request_block, RawH2};
use crate::support::*;
use crate::Adapter;

/// What an attack leaves behind when the drain starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaves {
    /// Nothing in progress: the drain ends without the deadline (exit 0).
    Nothing,
    /// A stream whose response the client never lets through (it reads
    /// nothing): held like an HTTP/1 client that stops reading, until
    /// `shutdown_timeout` forces the stop (exit 3).
    AStuckStream,
}

struct Attack {
    name: &'static str,
    /// Client SETTINGS for the attacker's connection.
    settings: &'static [(u16, u32)],
    /// Sends the attack; returns once it is sent or the server stopped reading.
    send: fn(&mut RawH2),
    leaves: Leaves,
}

/// Writes `bytes` in pieces until done or the server stops taking them.
fn flood(h2: &mut RawH2, piece: &[u8], times: usize) {
    let _ = h2.tcp().set_write_timeout(Some(Duration::from_secs(2)));
    let batch: Vec<u8> = piece.repeat(64);
    for _ in 0..times / 64 {
        if h2.send_raw(&batch).is_err() {
            return;
        }
    }
}

fn rapid_reset(h2: &mut RawH2) {
    // Open a slow stream and cancel it at once, 5,000 times.
    let mut out = Vec::new();
    for i in 0..5000u32 {
        let id = 2 * i + 1;
        out.extend(frame(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            id,
            &request_block("GET", "/sleep?ms=10000"),
        ));
        out.extend(frame(kind::RST_STREAM, 0, id, &code::CANCEL.to_be_bytes()));
    }
    let _ = h2.tcp().set_write_timeout(Some(Duration::from_secs(2)));
    let _ = h2.send_raw(&out);
}

fn continuation_flood(h2: &mut RawH2) {
    // A header block that never ends: CONTINUATION frames without END_HEADERS.
    let _ = h2.send(
        kind::HEADERS,
        flag::END_STREAM,
        1,
        &request_block("GET", "/"),
    );
    let mut field = Vec::new();
    hpack_literal(&mut field, "x-flood", &"a".repeat(1000));
    flood(h2, &frame(kind::CONTINUATION, 0, 1, &field), 100_000);
}

fn settings_flood(h2: &mut RawH2) {
    // SETTINGS the server must acknowledge, none of its answers read.
    let setting = [&0x3u16.to_be_bytes()[..], &100u32.to_be_bytes()[..]].concat();
    flood(h2, &frame(kind::SETTINGS, 0, 0, &setting), 200_000);
}

fn ping_flood(h2: &mut RawH2) {
    // PINGs the server must answer, none of its answers read.
    flood(h2, &frame(kind::PING, 0, 0, &[7; 8]), 200_000);
}

fn zero_window(h2: &mut RawH2) {
    // The client's window is 0 (see its SETTINGS): no DATA may reach it.
    let _ = h2.get(1, "/");
}

const ATTACKS: &[Attack] = &[
    Attack {
        name: "rapid reset",
        settings: &[],
        send: rapid_reset,
        leaves: Leaves::Nothing,
    },
    Attack {
        name: "CONTINUATION flood",
        settings: &[],
        send: continuation_flood,
        leaves: Leaves::Nothing,
    },
    Attack {
        name: "SETTINGS flood",
        settings: &[],
        send: settings_flood,
        leaves: Leaves::Nothing,
    },
    Attack {
        name: "PING flood",
        settings: &[],
        send: ping_flood,
        leaves: Leaves::Nothing,
    },
    Attack {
        name: "zero window",
        settings: &[(SETTINGS_INITIAL_WINDOW_SIZE, 0)],
        send: zero_window,
        leaves: Leaves::AStuckStream,
    },
];

/// A legitimate client over h2c and one over HTTP/1.1 are answered.
fn others_are_served(addr: SocketAddr, attack: &str) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
        .arg(format!("http://{addr}/"))
        .output()
        .expect("curl: install it (scripts/test does)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello, world!",
        "{attack}: an h2c client was not served: {out:?}"
    );
    let resp = get(addr, "/").unwrap_or_else(|e| panic!("{attack}: HTTP/1.1: {e}"));
    assert_eq!(resp.status, 200, "{attack}");
}

fn one_attack(adapter: &Adapter, attack: &Attack) {
    // A GOAWAY at the end of the 1 s linger, unanswered for 1 s
    // (request_timeout): a connection left stalled is closed at ~2 s.
    const DEADLINE: Duration = Duration::from_secs(4);
    let (mut app, addr, _dir) = serve(
        adapter,
        "shutdown_timeout = \"4s\"\ndrain_linger = \"1s\"\nrequest_timeout = \"1s\"\nkeep_alive = \"60s\"",
    );
    let mut h2 = RawH2::connect(addr, attack.settings).unwrap();
    let started = Instant::now();
    // The attack and the other clients at the same time.
    let send = attack.send;
    let attacker = thread::spawn(move || {
        send(&mut h2);
        h2
    });
    others_are_served(addr, attack.name);
    let h2 = attacker.join().unwrap();
    others_are_served(addr, attack.name);
    eprintln!("{}: sent in {:?}", attack.name, started.elapsed());
    // The attacker's connection (if the server kept it) stays open, unread.
    let t0 = Instant::now();
    app.signal(libc::SIGTERM);
    let code = app.exit_code(DEADLINE + Duration::from_secs(10));
    let took = t0.elapsed();
    match attack.leaves {
        Leaves::Nothing => assert_eq!(code, 0, "{}: drained without the deadline", attack.name),
        Leaves::AStuckStream => {
            assert_eq!(code, 3, "{}: forced at the deadline", attack.name);
            assert!(
                app.stderr.text().contains("1 open connection(s) cut"),
                "{}",
                app.stderr.text()
            );
        }
    }
    assert!(
        took < DEADLINE + Duration::from_secs(5),
        "{}: the drain took {took:?}, past its {DEADLINE:?} deadline",
        attack.name
    );
    drop(h2);
}

pub fn known_h2_attacks_leave_others_served_and_the_drain_bounded(adapter: &Adapter) {
    for attack in ATTACKS {
        one_attack(adapter, attack);
    }
}

pub fn a_flood_of_streams_past_the_limit_is_refused_not_served(adapter: &Adapter) {
    // More streams at once than max_concurrent_streams: the extra ones are
    // refused with REFUSED_STREAM (retryable), the others answered.
    let (app, addr, _dir) = serve(adapter, "[http.h2]\nmax_concurrent_streams = 4");
    let mut h2 = RawH2::connect(addr, &[]).unwrap();
    // Wait for the server's SETTINGS (and acknowledge them), so its limit is in force.
    h2.read_until(|f| f.kind == kind::SETTINGS && !f.has(flag::ACK))
        .unwrap_or_else(|(e, seen)| panic!("no SETTINGS ({e:?}): {seen:?}"));
    let mut out = Vec::new();
    for id in (1..=15).step_by(2) {
        out.extend(frame(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            id,
            &request_block("GET", "/sleep?ms=500"),
        ));
    }
    h2.send_raw(&out).unwrap();
    let mut refused = Vec::new();
    let mut answered = Vec::new();
    while refused.len() + answered.len() < 8 {
        let (f, _) = h2
            .read_until(|f| {
                (f.kind == kind::RST_STREAM) || (f.kind == kind::DATA && f.has(flag::END_STREAM))
            })
            .unwrap_or_else(|(e, seen)| panic!("{e:?}: {seen:?}"));
        if f.kind == kind::RST_STREAM {
            assert_eq!(f.error_code(), code::REFUSED_STREAM, "{f:?}");
            refused.push(f.stream);
        } else {
            answered.push(f.stream);
        }
    }
    assert_eq!(
        (answered.len(), refused.len()),
        (4, 4),
        "answered {answered:?}, refused {refused:?}"
    );
    let _ = h2.tcp().flush();
    // Closed by the client, so the drain need not wait out the linger and
    // the GOAWAY's grace (7.5 s of the stop's 10 s: too close on a busy
    // machine); what this case checks is above.
    drop(h2);
    crate::requests::stop(app);
}
