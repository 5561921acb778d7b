//! Stopping: TERM, QUIT and INT to the supervisor, `--kill-timeout`, workers
//! that exit or stop on their own, signals and events that change nothing.

use super::*;

#[test]
fn term_stops_every_worker_and_exits_once_all_are_gone() {
    let rows: &[Row] = &[
        GEN1_READY,
        (HUP, leak(hup(2))),
        (
            TERM,
            &[
                "log: received TERM, sending TERM to all workers:101,102",
                "TERM to 101",
                "TERM to 102",
                "upstream: STOPPING=1",
            ],
        ),
        // A starting generation is not accepted any more.
        (Ready(2), &[]),
        (HUP, &["log: received HUP while stopping; ignored"]),
        (TERM, &["log: received TERM; already stopping"]),
        (Exit(1, 0), &["status:", "log: worker 101 died, status:0"]),
        (
            Exit(2, 15),
            &[
                "log: worker 102 died, status:15",
                "log: exiting",
                "remove status",
                "exit 0",
            ],
        ),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn quit_stops_like_term_and_int_always_sends_term() {
    let mut s = settings();
    s.signal_on_term = Signal(libc::SIGUSR1);
    run(
        s.clone(),
        env(false, None, None),
        &[
            GEN1_READY,
            (
                QUIT,
                &[
                    "log: received QUIT, sending USR1 to all workers:101",
                    "USR1 to 101",
                    "upstream: STOPPING=1",
                ],
            ),
        ],
    );
    run(
        s,
        env(false, None, None),
        &[
            GEN1_READY,
            (
                INT,
                &[
                    "log: received INT, sending TERM to all workers:101",
                    "TERM to 101",
                    "upstream: STOPPING=1",
                ],
            ),
        ],
    );
}

#[test]
fn term_while_nothing_serves_exits_at_once_and_retries_nothing() {
    let rows: &[Row] = &[
        (
            Exit(1, 768),
            &[
                "log: new worker 101 seems to have failed to start, exit status:768",
                "deploy: 1 failed",
                "log: no generation is serving; starting another in 1 secs",
            ][..],
        ),
        (
            TERM,
            &[
                "log: received TERM, sending TERM to all workers:none",
                "upstream: STOPPING=1",
                "log: exiting",
                "remove status",
                "exit 0",
            ],
        ),
        (Wake(None), &[]),
        (At(5000), &[]),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn term_during_kill_old_delay_is_acted_on_at_once() {
    let rows: &[Row] = &[
        GEN1_READY,
        (HUP, leak(hup(2))),
        (
            Ready(2),
            &[
                "log: new worker 102 sent READY=1 after 0 ms",
                "status: 1:101 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "log: sleeping 60 secs before killing old workers",
                "upstream: STATUS=generation 2 (pid 102) serving",
            ],
        ),
        (At(1000), &[]),
        (
            TERM,
            &[
                "log: received TERM, sending TERM to all workers:101,102",
                "TERM to 101",
                "TERM to 102",
                "upstream: STOPPING=1",
            ],
        ),
        // The delay's end signals nobody again.
        (At(60000), &[]),
    ];
    run(settings(), env(false, None, Some(60)), rows);
}

#[test]
fn kill_timeout_escalates_to_sigkill_once() {
    let mut s = settings();
    s.kill_timeout = Some(Duration::from_secs(2));
    s.signal_on_hup = Signal(libc::SIGUSR1);
    let rows: &[Row] = &[
        GEN1_READY,
        (HUP, leak(hup(2))),
        (
            Ready(2),
            &[
                "log: new worker 102 sent READY=1 after 0 ms",
                "status: 1:101 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending USR1 to old workers:101",
                "upstream: STATUS=generation 2 (pid 102) serving",
                "log: killing old workers",
                "USR1 to 101",
            ],
        ),
        (At(1000), &[]),
        // The stop's TERM does not restart the old worker's deadline.
        (
            TERM,
            &[
                "log: received TERM, sending TERM to all workers:101,102",
                "TERM to 101",
                "TERM to 102",
                "upstream: STOPPING=1",
            ],
        ),
        (Wake(Some(2000)), &[]),
        (
            At(2000),
            &[
                "log: worker 101 did not exit 2 secs after SIGTERM; sending KILL",
                "KILL to 101",
            ],
        ),
        (Wake(Some(3000)), &[]),
        (
            At(3000),
            &[
                "log: worker 102 did not exit 2 secs after SIGTERM; sending KILL",
                "KILL to 102",
            ],
        ),
        (Wake(None), &[]),
        (At(9000), &[]),
        (
            Exit(1, 9),
            &["status: 2:102", "log: worker 101 died, status:9"],
        ),
        (
            Exit(2, 9),
            &[
                "status:",
                "log: worker 102 died, status:9",
                "log: exiting",
                "remove status",
                "exit 0",
            ],
        ),
    ];
    run(s, env(false, None, None), rows);
}

#[test]
fn kill_timeout_zero_waits_for_ever() {
    let mut s = settings();
    s.kill_timeout = None;
    run(
        s,
        env(false, None, None),
        &[
            GEN1_READY,
            (
                TERM,
                &[
                    "log: received TERM, sending TERM to all workers:101",
                    "TERM to 101",
                    "upstream: STOPPING=1",
                ],
            ),
            (Wake(None), &[]),
        ],
    );
}

#[test]
fn a_worker_that_exits_on_its_own_is_replaced_at_once() {
    let rows: &[Row] = &[
        GEN1_READY,
        (At(5000), &[][..]),
        (
            Exit(1, 1792),
            &[
                "status:",
                "log: worker 101 died unexpectedly with status:1792, restarting",
                "deploy: 2 starting",
                "spawn 2",
                "log: starting new worker 102",
            ],
        ),
        (
            Ready(2),
            &[
                "log: new worker 102 sent READY=1 after 0 ms",
                "status: 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending TERM to old workers:none",
                "upstream: STATUS=generation 2 (pid 102) serving",
            ],
        ),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn stopping_from_a_serving_worker_nobody_told_to_stop_is_logged() {
    let rows: &[Row] = &[
        GEN1_READY,
        (
            Stopping(1),
            &["log: worker 101 (generation 1) says it is stopping; it was not told to"][..],
        ),
        (HUP, leak(hup(2))),
        // A starting generation that gives up is judged by its exit.
        (Stopping(2), &[]),
        (
            Ready(2),
            &[
                "log: new worker 102 sent READY=1 after 0 ms",
                "status: 1:101 2:102",
                "deploy: 2 ready",
                "log: new worker is now running, sending TERM to old workers:101",
                "upstream: STATUS=generation 2 (pid 102) serving",
                "log: killing old workers",
                "TERM to 101",
            ],
        ),
        // Told to stop: nothing to say.
        (Stopping(1), &[]),
    ];
    run(settings(), env(false, None, None), rows);
}

#[test]
fn usr1_and_usr2_are_logged_and_ignored() {
    run(
        settings(),
        env(false, None, None),
        &[
            GEN1_READY,
            (
                USR1,
                &["log: received USR1; ignored (HUP deploys, TERM stops)"],
            ),
            (Sig(libc::SIGCHLD), &[]),
            (Wake(None), &[]),
        ],
    );
}

#[test]
fn events_about_unknown_workers_change_nothing() {
    run(
        settings(),
        env(false, None, None),
        &[
            GEN1_READY,
            (Ready(9), &[]),
            (Stopping(9), &[]),
            (Exit(9, 0), &[]),
            (Wake(None), &[]),
        ],
    );
}
