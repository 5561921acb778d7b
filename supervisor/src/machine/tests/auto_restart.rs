//! Auto restart: the period, old generations, a failed one, the envdir.

use super::*;

/// Review fix: an auto restart that fails is tried again after the period,
/// not at the next wake-up.
#[test]
fn a_failed_auto_restart_waits_for_the_next_period() {
    let rows: &[Row] = &[
        GEN1_READY,
        // With auto restart, the loop looks at the environment every second.
        (Wake(Some(1000)), &[]),
        (At(9999), &[]),
        (
            At(10000),
            &[
                "log: autorestart triggered (interval=10)",
                "deploy: 2 starting",
                "spawn 2",
                "log: starting new worker 102",
            ],
        ),
        (At(10100), &[]),
        (
            Exit(2, 768),
            &[
                "log: new worker 102 seems to have failed to start, exit status:768",
                "deploy: 2 failed",
                "log: generation 2 failed to start; generation 1 (pid 101) keeps serving",
            ],
        ),
        (At(11000), &[]),
        (At(15000), &[]),
        (At(19999), &[]),
        (
            At(20000),
            &[
                "log: autorestart triggered (interval=10)",
                "deploy: 3 starting",
                "spawn 3",
                "log: starting new worker 103",
            ],
        ),
    ];
    run(settings(), env(true, Some(10), Some(0)), rows);
}

#[test]
fn auto_restart_waits_for_old_generations_unless_forced() {
    // Generation 1 is accepted at 0; the period is 10 s and KILL_OLD_DELAY
    // 5 s (its default with auto restart).
    let rows: &[Row] = &[
        GEN1_READY,
        (At(9999), &[]),
        (
            At(10000),
            &[
                "log: autorestart triggered (interval=10)",
                "deploy: 2 starting",
                "spawn 2",
                "log: starting new worker 102",
            ],
        ),
        (
            Ready(2),
            &[
                "log: new worker 102 sent READY=1 after 0 ms",
                "status: 1:101 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "log: sleeping 5 secs before killing old workers",
                "upstream: STATUS=generation 2 (pid 102) serving",
            ],
        ),
        (At(15000), &["log: killing old workers", "TERM to 101"]),
        // Generation 1 never exits (no --kill-timeout): at 20 s the period
        // is over but an old generation remains; at 30 s it is forced.
        (At(20000), &[]),
        (At(29999), &[]),
        (
            At(30000),
            &[
                "log: autorestart triggered (forced, interval=10)",
                "deploy: 3 starting",
                "spawn 3",
                "log: starting new worker 103",
            ],
        ),
    ];
    let mut s = settings();
    s.kill_timeout = None;
    run(s, env(true, Some(10), None), rows);
}

#[test]
fn auto_restart_turned_on_in_the_envdir_is_noticed_within_a_second() {
    let mut s = settings();
    s.has_envdir = true;
    let rows: &[Row] = &[
        GEN1_READY,
        (Wake(Some(1000)), &[][..]),
        (At(1000), &[]),
        (Wake(Some(2000)), &[]),
        (Env(env(true, Some(1), Some(0))), &[]),
        (
            At(2000),
            &[
                "log: autorestart triggered (interval=1)",
                "deploy: 2 starting",
                "spawn 2",
                "log: starting new worker 102",
            ],
        ),
    ];
    run(s, env(false, None, None), rows);
}

#[test]
fn no_auto_restart_starts_while_a_failed_deploy_waits_for_its_retry() {
    let mut s = settings();
    s.interval = Duration::from_secs(5);
    let rows: &[Row] = &[
        GEN1_READY,
        (HUP, leak(hup(2))),
        (
            Exit(2, 768),
            &[
                "log: new worker 102 seems to have failed to start, exit status:768",
                "deploy: 2 retrying",
                "log: generation 2 failed to start; generation 1 (pid 101) keeps serving",
                "log: retrying the deploy in 5 secs",
            ],
        ),
        // The auto-restart period (2 s) is over, but the deploy is pending.
        (At(2000), &[]),
        (At(5000), leak(hup(3)[1..].to_vec())),
    ];
    run(s, env(true, Some(2), Some(0)), rows);
}
