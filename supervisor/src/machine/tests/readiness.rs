//! Which rule judges a new generation ready: `READY=1` up to
//! `--ready-timeout`, or alive after `--interval`, by `--readiness` mode.

use super::*;

#[test]
fn a_new_generation_not_ready_within_the_ready_timeout_is_stopped() {
    let rows: &[Row] = &[
        GEN1_READY,
        (At(1000), &[][..]),
        (HUP, leak(hup(2))),
        (Wake(Some(61000)), &[]),
        (At(60999), &[]),
        (
            At(61000),
            &[
                "log: new worker 102 did not send READY=1 within 60 secs; stopping it",
                "TERM to 102",
                "deploy: 2 retrying",
                "log: generation 2 failed to start; generation 1 (pid 101) keeps serving",
                "log: retrying the deploy in 1 secs",
            ],
        ),
        (Wake(Some(62000)), &[]),
        // Too late: it is being stopped.
        (Ready(2), &[]),
        (Exit(2, 15), &["log: new worker 102 stopped, status:15"]),
        (At(62000), leak(hup(3)[1..].to_vec())),
        (
            Ready(3),
            &[
                "log: new worker 103 sent READY=1 after 0 ms",
                "status: 1:101 3:103",
                "deploy: 3 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "upstream: STATUS=generation 3 (pid 103) serving",
                "log: killing old workers",
                "TERM to 101",
            ],
        ),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn workers_that_never_notify_are_judged_by_the_interval() {
    let mut s = settings();
    s.interval = Duration::from_millis(500);
    s.readiness = Readiness::Interval;
    let rows: &[Row] = &[
        (
            At(500),
            &[
                "status: 1:101",
                "deploy: 1 ready",
                "upstream: READY=1 STATUS=generation 1 (pid 101) serving",
            ][..],
        ),
        (At(2000), &[]),
        (HUP, leak(hup(2))),
        (Wake(Some(2500)), &[]),
        (At(2499), &[]),
        (
            At(2500),
            &[
                "status: 1:101 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "upstream: STATUS=generation 2 (pid 102) serving",
                "log: killing old workers",
                "TERM to 101",
            ],
        ),
    ];
    run(s, env(false, None, None), rows);
}

#[test]
fn in_auto_mode_the_interval_rule_holds_until_a_generation_notifies() {
    let rows: &[Row] = &[
        (
            At(1000),
            &[
                "status: 1:101",
                "deploy: 1 ready",
                "upstream: READY=1 STATUS=generation 1 (pid 101) serving",
            ][..],
        ),
        // Generation 1 notifies late: from now on READY=1 is expected.
        (Ready(1), &[]),
        (HUP, leak(hup(2))),
        (Wake(Some(61000)), &[]),
        (At(2000), &[]),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn in_notify_mode_the_first_generation_must_notify_too() {
    let mut s = settings();
    s.readiness = Readiness::Notify;
    s.ready_timeout = Duration::from_secs(5);
    let rows: &[Row] = &[
        (Wake(Some(5000)), &[][..]),
        (At(1000), &[]),
        (
            At(5000),
            &[
                "log: new worker 101 did not send READY=1 within 5 secs; stopping it",
                "TERM to 101",
                "deploy: 1 failed",
                "log: no generation is serving; starting another in 1 secs",
            ],
        ),
    ];
    run(s, env(false, None, None), rows);
}
