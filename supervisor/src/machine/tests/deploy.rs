//! Deploys: HUP, failures and retries, queued and repeated HUPs,
//! `--kill-old-delay`.

use super::*;

#[test]
fn hup_then_the_new_generation_is_ready_then_the_old_one_gets_term() {
    let rows: &[Row] = &[
        GEN1_READY,
        (At(1000), &[][..]),
        (HUP, leak(hup(2))),
        (Wake(Some(61000)), &[]),
        (At(1200), &[]),
        (
            Ready(2),
            &[
                "log: new worker 102 sent READY=1 after 200 ms",
                "status: 1:101 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "upstream: STATUS=generation 2 (pid 102) serving",
                "log: killing old workers",
                "TERM to 101",
            ],
        ),
        // Generation 1 drains; it is killed if it takes over --kill-timeout.
        (Wake(Some(61200)), &[]),
        (
            Exit(1, 0),
            &["status: 2:102", "log: old worker 101 died, status:0"],
        ),
        (Wake(None), &[]),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn a_failed_deploy_is_retried_every_interval_while_the_old_generation_serves() {
    let rows: &[Row] = &[
        GEN1_READY,
        (HUP, leak(hup(2))),
        (At(300), &[]),
        (
            Exit(2, 768),
            &[
                "log: new worker 102 seems to have failed to start, exit status:768",
                "deploy: 2 retrying",
                "log: generation 2 failed to start; generation 1 (pid 101) keeps serving",
                "log: retrying the deploy in 1 secs",
            ],
        ),
        (Wake(Some(1300)), &[]),
        (At(1299), &[]),
        (At(1300), leak(hup(3)[1..].to_vec())),
        // No back-off: every --interval, as Perl.
        (
            Exit(3, 768),
            &[
                "log: new worker 103 seems to have failed to start, exit status:768",
                "deploy: 3 retrying",
                "log: generation 3 failed to start; generation 1 (pid 101) keeps serving",
                "log: retrying the deploy in 1 secs",
            ],
        ),
        (At(2300), leak(hup(4)[1..].to_vec())),
        (
            Ready(4),
            &[
                "log: new worker 104 sent READY=1 after 0 ms",
                "status: 1:101 4:104",
                "deploy: 4 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "upstream: STATUS=generation 4 (pid 104) serving",
                "log: killing old workers",
                "TERM to 101",
            ],
        ),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn a_hup_while_a_failed_deploy_waits_for_its_retry_deploys_at_once() {
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
        (At(1000), &[]),
        (HUP, leak(hup(3))),
        // The retry is replaced by this deploy: nothing more at 5 s.
        (Wake(Some(61000)), &[]),
        (At(5000), &[]),
    ];
    run(s, env(false, None, None), rows);
}

#[test]
fn term_ends_the_retries_of_a_failed_deploy() {
    let rows: &[Row] = &[
        GEN1_READY,
        (HUP, leak(hup(2))),
        (
            Exit(2, 768),
            &[
                "log: new worker 102 seems to have failed to start, exit status:768",
                "deploy: 2 retrying",
                "log: generation 2 failed to start; generation 1 (pid 101) keeps serving",
                "log: retrying the deploy in 1 secs",
            ],
        ),
        (
            TERM,
            &[
                "log: received TERM, sending TERM to all workers:101",
                "TERM to 101",
                "upstream: STOPPING=1",
            ],
        ),
        (Wake(Some(60000)), &[]),
        (At(1000), &[]),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn with_no_retry_failed_deploy_a_failed_deploy_waits_for_the_next_hup() {
    let mut s = settings();
    s.retry_failed_deploy = false;
    let rows: &[Row] = &[
        GEN1_READY,
        (HUP, leak(hup(2))),
        (At(300), &[]),
        (
            Exit(2, 768),
            &[
                "log: new worker 102 seems to have failed to start, exit status:768",
                "deploy: 2 failed",
                "log: generation 2 failed to start; generation 1 (pid 101) keeps serving",
            ],
        ),
        (Wake(None), &[]),
        (At(60000), &[]),
        // The next HUP deploys again.
        (HUP, leak(hup(3))),
    ];
    run(s, env(false, None, None), rows);
}

#[test]
fn a_hup_during_a_deploy_is_queued_until_it_is_ready() {
    let rows: &[Row] = &[
        GEN1_READY,
        (HUP, leak(hup(2))),
        (At(100), &[]),
        (
            HUP,
            &[
                "log: received HUP, spawning a new worker",
                "log: generation 2 is still starting; the new one starts when it is done",
            ],
        ),
        // Several HUPs in that window make one deploy.
        (
            HUP,
            &[
                "log: received HUP, spawning a new worker",
                "log: generation 2 is still starting; the new one starts when it is done",
            ],
        ),
        (At(200), &[]),
        (
            Ready(2),
            &[
                "log: new worker 102 sent READY=1 after 200 ms",
                "status: 1:101 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "upstream: STATUS=generation 2 (pid 102) serving",
                "log: killing old workers",
                "TERM to 101",
                "log: starting the deploy requested while generation 2 was starting",
                "deploy: 3 starting",
                "spawn 3",
                "log: starting new worker 103",
            ],
        ),
        (At(300), &[]),
        (
            Ready(3),
            &[
                "log: new worker 103 sent READY=1 after 100 ms",
                "status: 1:101 2:102 3:103",
                "deploy: 3 ready",
                "log: new worker is now running, sending TERM to old workers:102",
                "upstream: STATUS=generation 3 (pid 103) serving",
                "log: killing old workers",
                "TERM to 102",
            ],
        ),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn a_hup_queued_during_a_failing_deploy_starts_when_it_fails() {
    let rows: &[Row] = &[
        GEN1_READY,
        (HUP, leak(hup(2))),
        (
            HUP,
            &[
                "log: received HUP, spawning a new worker",
                "log: generation 2 is still starting; the new one starts when it is done",
            ],
        ),
        (
            Exit(2, 768),
            &[
                "log: new worker 102 seems to have failed to start, exit status:768",
                "deploy: 2 failed",
                "log: generation 2 failed to start; generation 1 (pid 101) keeps serving",
                "log: starting the deploy requested during the failed one",
                "deploy: 3 starting",
                "spawn 3",
                "log: starting new worker 103",
            ],
        ),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn a_hup_queued_while_nothing_serves_starts_when_the_attempt_fails() {
    let rows: &[Row] = &[
        (
            HUP,
            &[
                "log: received HUP, spawning a new worker",
                "log: generation 1 is still starting; the new one starts when it is done",
            ][..],
        ),
        (
            Exit(1, 768),
            &[
                "log: new worker 101 seems to have failed to start, exit status:768",
                "deploy: 1 failed",
                "log: starting the deploy requested during the failed one",
                "deploy: 2 starting",
                "spawn 2",
                "log: starting new worker 102",
            ],
        ),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn repeated_hups_signal_each_worker_once() {
    let rows: &[Row] = &[
        GEN1_READY,
        (HUP, leak(hup(2))),
        (At(100), &[]),
        (
            Ready(2),
            &[
                "log: new worker 102 sent READY=1 after 100 ms",
                "status: 1:101 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "upstream: STATUS=generation 2 (pid 102) serving",
                "log: killing old workers",
                "TERM to 101",
            ],
        ),
        // Generation 1 still drains: the next deploy leaves it alone.
        (HUP, leak(hup(3))),
        (At(200), &[]),
        (
            Ready(3),
            &[
                "log: new worker 103 sent READY=1 after 100 ms",
                "status: 1:101 2:102 3:103",
                "deploy: 3 ready",
                "log: new worker is now running, sending TERM to old workers:102",
                "upstream: STATUS=generation 3 (pid 103) serving",
                "log: killing old workers",
                "TERM to 102",
            ],
        ),
        // And so does the stop: TERM only to the one that has not had it.
        (
            TERM,
            &[
                "log: received TERM, sending TERM to all workers:101,102,103",
                "TERM to 103",
                "upstream: STOPPING=1",
            ],
        ),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn kill_old_delay_postpones_the_old_generations_signal() {
    let rows: &[Row] = &[
        GEN1_READY,
        (At(1000), &[][..]),
        (HUP, leak(hup(2))),
        (
            Ready(2),
            &[
                "log: new worker 102 sent READY=1 after 0 ms",
                "status: 1:101 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "log: sleeping 2 secs before killing old workers",
                "upstream: STATUS=generation 2 (pid 102) serving",
            ],
        ),
        (Wake(Some(3000)), &[]),
        (At(2999), &[]),
        (At(3000), &["log: killing old workers", "TERM to 101"]),
    ];
    run(settings(), env(false, None, Some(2)), rows);
}

#[test]
fn a_bad_kill_old_delay_is_ignored_with_a_line() {
    let bad = EnvSettings {
        kill_old_delay: Seconds::Invalid("soon".to_owned()),
        ..EnvSettings::default()
    };
    let rows: &[Row] = &[
        GEN1_READY,
        (Env(bad), &[][..]),
        (HUP, leak(hup(2))),
        (
            Ready(2),
            &[
                "log: new worker 102 sent READY=1 after 0 ms",
                "log: KILL_OLD_DELAY=\"soon\" is not a number of seconds; ignored",
                "status: 1:101 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "upstream: STATUS=generation 2 (pid 102) serving",
                "log: killing old workers",
                "TERM to 101",
            ],
        ),
    ];
    run(settings(), env(false, None, None), rows);
}

/// Review fix: the current generation dies while the old ones wait out
/// `--kill-old-delay`; the newest old generation not yet signalled serves
/// again (it is current, and not signalled) while a new one starts.
#[test]
fn the_newest_unsignalled_old_generation_serves_again_if_the_new_one_dies_during_kill_old_delay() {
    let rows: &[Row] = &[
        GEN1_READY,
        (At(1000), &[][..]),
        (HUP, leak(hup(2))),
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
        (At(2000), &[]),
        (HUP, leak(hup(3))),
        (
            Ready(3),
            &[
                "log: new worker 103 sent READY=1 after 0 ms",
                "status: 1:101 2:102 3:103",
                "deploy: 3 ready",
                "log: new worker is now running, sending TERM to old workers:102",
                "log: sleeping 5 secs before killing old workers",
                "upstream: STATUS=generation 3 (pid 103) serving",
            ],
        ),
        // Generation 3 dies; 1 and 2 are both unsignalled: 2 is the newer.
        (At(3000), &[]),
        (
            Exit(3, 1792),
            &[
                "status: 1:101 2:102",
                "log: worker 103 died unexpectedly with status:1792, restarting",
                "log: generation 2 (pid 102) was not told to stop yet; it serves again",
                "deploy: 4 starting",
                "spawn 4",
                "log: starting new worker 104",
            ],
        ),
        // Generation 1's delay ends: it is signalled, 2 is not.
        (Wake(Some(6000)), &[]),
        (At(6000), &["log: killing old workers", "TERM to 101"]),
        (At(7000), &[]),
        (Wake(Some(63000)), &[]),
        // Generation 4 takes over from 2 in the usual way.
        (
            Ready(4),
            &[
                "log: new worker 104 sent READY=1 after 4000 ms",
                "status: 1:101 2:102 4:104",
                "deploy: 4 ready",
                "log: new worker is now running, sending TERM to old workers:102",
                "log: sleeping 5 secs before killing old workers",
                "upstream: STATUS=generation 4 (pid 104) serving",
            ],
        ),
        (At(12000), &["log: killing old workers", "TERM to 102"]),
    ];
    run(settings(), env(false, None, Some(5)), rows);
}
