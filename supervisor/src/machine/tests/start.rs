//! The first generation: ready by READY=1 or by the interval rule, failed
//! starts and the back-off while nothing serves.

use super::*;

#[test]
fn first_start_ok_by_ready() {
    run(
        settings(),
        env(false, None, None),
        &[
            (Wake(Some(1000)), &[]),
            (At(50), &[]),
            (
                Ready(1),
                &[
                    "log: new worker 101 sent READY=1 after 50 ms",
                    "status: 1:101",
                    "deploy: 1 ready",
                    "upstream: READY=1 STATUS=generation 1 (pid 101) serving",
                ],
            ),
            (Wake(None), &[]),
            // A second READY=1 changes nothing.
            (Ready(1), &[]),
        ],
    );
}

#[test]
fn first_start_ok_by_the_interval_rule() {
    run(
        settings(),
        env(false, None, None),
        &[
            (At(999), &[]),
            (
                At(1000),
                &[
                    "status: 1:101",
                    "deploy: 1 ready",
                    "upstream: READY=1 STATUS=generation 1 (pid 101) serving",
                ],
            ),
            (Wake(None), &[]),
        ],
    );
}

#[test]
fn first_start_fails_and_is_retried_with_back_off() {
    run(
        settings(),
        env(false, None, None),
        &[
            (At(10), &[]),
            (
                Exit(1, 768),
                &[
                    "log: new worker 101 seems to have failed to start, exit status:768",
                    "deploy: 1 failed",
                    "log: no generation is serving; starting another in 1 secs",
                ],
            ),
            (Wake(Some(1010)), &[]),
            (At(1009), &[]),
            (
                At(1010),
                &[
                    "deploy: 2 starting",
                    "spawn 2",
                    "log: starting new worker 102",
                ],
            ),
            (SpawnFails, &[]),
            (
                Exit(2, 768),
                &[
                    "log: new worker 102 seems to have failed to start, exit status:768",
                    "deploy: 2 failed",
                    "log: no generation is serving; starting another in 2 secs",
                ],
            ),
            // The program is gone: the spawn itself fails.
            (
                At(3010),
                &[
                    "deploy: 3 starting",
                    "spawn 3",
                    "log: failed to exec app: No such file or directory",
                    "deploy: 3 failed",
                    "log: no generation is serving; starting another in 4 secs",
                ],
            ),
            (
                At(7010),
                &[
                    "deploy: 4 starting",
                    "spawn 4",
                    "log: starting new worker 104",
                ],
            ),
            (
                Ready(4),
                &[
                    "log: new worker 104 sent READY=1 after 0 ms",
                    "status: 4:104",
                    "deploy: 4 ready",
                    "upstream: READY=1 STATUS=generation 4 (pid 104) serving",
                ],
            ),
        ],
    );
}

#[test]
fn backoff_when_nothing_serves_doubles_up_to_30_s_and_resets_once_one_serves() {
    let mut rows: Vec<Row> = Vec::new();
    let mut t = 0;
    for (g, delay) in [
        (1u64, 1u64),
        (2, 2),
        (3, 4),
        (4, 8),
        (5, 16),
        (6, 30),
        (7, 30),
    ] {
        rows.push((
            Exit(g, 256),
            leak(vec![
                format!(
                    "log: new worker {} seems to have failed to start, exit status:256",
                    pid(g)
                ),
                format!("deploy: {g} failed"),
                format!("log: no generation is serving; starting another in {delay} secs"),
            ]),
        ));
        t += delay * 1000;
        rows.push((Wake(Some(t)), &[]));
        rows.push((
            At(t),
            leak(vec![
                format!("deploy: {} starting", g + 1),
                format!("spawn {}", g + 1),
                format!("log: starting new worker {}", pid(g + 1)),
            ]),
        ));
    }
    // Generation 8 serves, then crashes: replaced at once, and a failure
    // of the replacement waits 1 s again.
    rows.extend([
        (
            Ready(8),
            &[
                "log: new worker 108 sent READY=1 after 0 ms",
                "status: 8:108",
                "deploy: 8 ready",
                "upstream: READY=1 STATUS=generation 8 (pid 108) serving",
            ][..],
        ),
        (
            Exit(8, 1792),
            &[
                "status:",
                "log: worker 108 died unexpectedly with status:1792, restarting",
                "deploy: 9 starting",
                "spawn 9",
                "log: starting new worker 109",
            ],
        ),
        (
            Exit(9, 256),
            &[
                "log: new worker 109 seems to have failed to start, exit status:256",
                "deploy: 9 failed",
                "log: no generation is serving; starting another in 1 secs",
            ],
        ),
    ]);
    run(settings(), env(false, None, None), &rows);
}
