//! One test per command-line option of our start_server.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::time::Duration;

use serde_json::Value;

use crate::support::supervisor::Starter;
use crate::support::{alive, pass_fd, Proc};
use crate::*;

fn fds(start: &Value) -> Vec<Value> {
    start["fds"].as_array().unwrap().clone()
}

fn fd(start: &Value, n: i64) -> Value {
    fds(start)
        .into_iter()
        .find(|d| d["fd"] == n)
        .unwrap_or_else(|| panic!("no fd {n} in {start:#}"))
}

/// `SERVER_STARTER_PORT` as (key, fd) pairs.
fn ports(start: &Value) -> Vec<(String, i64)> {
    start["env"]["SERVER_STARTER_PORT"]
        .as_str()
        .unwrap()
        .split(';')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (key, fd) = item.rsplit_once('=').unwrap();
            (key.to_owned(), fd.parse().unwrap())
        })
        .collect()
}

#[test]
fn port_every_form_and_path_reach_the_worker_as_perl_describes_them() {
    let run = ours(
        &[
            "--port",
            "127.0.0.1:0",
            "--port",
            "[::1]:0",
            "--port",
            "::1:0",
            "--port",
            "127.0.0.1:u0",
            "--port",
            "localhost:0",
            "--path",
            "{dir}/s.sock",
        ],
        &[],
    );
    let start = run.started(1);
    let ports = ports(&start);
    let keys: Vec<&str> = ports.iter().map(|(k, _)| k.as_str()).collect();
    let sock = format!("{}/s.sock", run.dir.path().display());
    assert_eq!(
        keys,
        [
            "127.0.0.1:0",
            "[::1]:0",
            "[::1]:0",
            "127.0.0.1:0",
            "localhost:0",
            &sock
        ]
    );
    let d: Vec<Value> = ports.iter().map(|(_, n)| fd(&start, *n)).collect();
    for (i, want) in [
        ("stream", "inet"),
        ("stream", "inet6"),
        ("stream", "inet6"),
        ("dgram", "inet"),
        ("stream", "inet"),
        ("stream", "unix"),
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(
            (d[i]["type"].as_str(), d[i]["family"].as_str()),
            (Some(want.0), Some(want.1)),
            "{:#}",
            d[i]
        );
        assert_eq!(d[i]["cloexec"], false, "inherited: {:#}", d[i]);
        assert_eq!(d[i]["nonblock"], false, "blocking, as Perl: {:#}", d[i]);
        assert_eq!(d[i]["listening"], want.0 == "stream", "{:#}", d[i]);
    }
    assert_eq!(d[0]["reuseaddr"], true);
    assert!(d[0]["addr"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(
        (
            d[1]["v6only"].as_bool(),
            d[4]["addr"].as_str().map(|a| a.starts_with("127.0.0.1:"))
        ),
        (Some(true), Some(true))
    );
    let meta = std::fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o777);
    assert_eq!(start["env"]["SERVER_STARTER_GENERATION"], "1");
    // The worker answers on the first port.
    assert_eq!(ask(tcp_addr(&start)).map(|(g, _)| g), Some(1));
    let run = run.stop();
    assert!(!sock_exists(&sock), "the socket file is removed at exit");
    drop(run);
}

fn sock_exists(path: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

#[test]
fn port_with_fd_never_overwrites_another_socket() {
    // Our first socket would be fd 3, the fd the second one asks for: Perl
    // dup2s over it and the first socket silently disappears; ours moves
    // the first one out of the way.
    let run = ours(&["--port", "127.0.0.1:0", "--port", "127.0.0.1:0=3"], &[]);
    let start = run.started(1);
    let ports = ports(&start);
    assert_eq!(ports[1], ("127.0.0.1:0".to_owned(), 3));
    assert_ne!(ports[0].1, 3);
    let (a, b) = (fd(&start, ports[0].1), fd(&start, 3));
    assert_eq!(
        (a["listening"].as_bool(), b["listening"].as_bool()),
        (Some(true), Some(true))
    );
    assert_ne!(a["addr"], b["addr"], "two distinct sockets");
    run.line("socket is duplicated to file descriptor 3");
    run.stop();
}

#[test]
fn no_fd_of_the_supervisor_leaks_into_workers() {
    // The supervisor inherits a stray fd 9 (not close-on-exec) from us.
    let dir = tempfile::tempdir().unwrap();
    let stray = std::fs::File::create(dir.path().join("stray")).unwrap();
    let (mut cmd, log) = command(
        Starter::Ours,
        dir.path(),
        &[
            "--port",
            "127.0.0.1:0",
            "--pid-file",
            "{dir}/pid",
            "--log-file",
            "{dir}/log",
        ],
        &[],
    );
    pass_fd(&mut cmd, std::os::fd::AsRawFd::as_raw_fd(&stray), 9);
    let run = Run {
        proc: Proc::spawn(cmd),
        dir,
        log,
    };
    let start = run.started(1);
    let listener = ports(&start)[0].1;
    let open: Vec<i64> = fds(&start)
        .iter()
        .map(|d| d["fd"].as_i64().unwrap())
        .collect();
    // Only the listener: not fd 9, the pid file, the log file, the signal
    // pipe or the notify socket. (The worker's own fds are close-on-exec
    // test-harness ones at most; none of ours is inherited.)
    let inherited: Vec<i64> = fds(&start)
        .iter()
        .filter(|d| d["cloexec"] == false)
        .map(|d| d["fd"].as_i64().unwrap())
        .collect();
    assert_eq!(inherited, [listener], "open fds: {open:?} {start:#}");
    run.stop();
}

#[test]
fn interval_is_the_rule_for_workers_that_do_not_notify() {
    // --readiness interval: no NOTIFY_SOCKET; accepted once alive --interval.
    let run = ours(
        &[
            "--port",
            "127.0.0.1:0",
            "--readiness",
            "interval",
            "--interval",
            "0.3",
        ],
        &[],
    );
    let start = run.started(1);
    assert!(start["env"]["NOTIFY_SOCKET"].is_null());
    run.proc.signal(libc::SIGHUP);
    run.line("new worker is now running, sending TERM to old workers:");
    assert!(!run.proc.stderr.text().contains("READY=1"));
    let old = start["pid"].as_u64().unwrap();
    run.wait_event("gen 1 TERM", |e| e["event"] == "signal" && e["pid"] == old);
    run.stop();
}

#[test]
fn ready_timeout_stops_a_generation_that_never_notifies() {
    // Generation 1 notifies, so generation 2 is expected to; it never does.
    let run = ours(
        &[
            "--port",
            "127.0.0.1:0",
            "--ready-timeout",
            "1",
            "--status-file",
            "{dir}/status",
            "--no-retry-failed-deploy",
        ],
        &[("WORKER_NO_READY_GEN", "2")],
    );
    let pid1 = run.started(1)["pid"].as_u64().unwrap();
    run.line(&format!("new worker {pid1} sent READY=1"));
    run.proc.signal(libc::SIGHUP);
    let pid2 = run.started(2)["pid"].as_u64().unwrap();
    run.line(&format!(
        "new worker {pid2} did not send READY=1 within 1 secs; stopping it"
    ));
    run.line(&format!(
        "generation 2 failed to start; generation 1 (pid {pid1}) keeps serving"
    ));
    run.wait_event("gen 2 exit", |e| e["event"] == "exit" && e["pid"] == pid2);
    assert_eq!(run.signals_of(pid2), ["TERM"]);
    assert!(
        run.signals_of(pid1).is_empty(),
        "generation 1 is left alone"
    );
    let status = std::fs::read_to_string(run.dir.path().join("status")).unwrap();
    assert_eq!(status, format!("1:{pid1}\n"));
    run.stop();
}

#[test]
fn kill_old_delay_and_its_variable() {
    for (options, env) in [
        (&["--kill-old-delay", "1"][..], &[][..]),
        (&[][..], &[("KILL_OLD_DELAY", "1")][..]),
    ] {
        let mut all = vec!["--port", "127.0.0.1:0"];
        all.extend_from_slice(options);
        let run = ours(&all, env);
        let start = run.started(1);
        assert_eq!(start["env"]["KILL_OLD_DELAY"], "1");
        run.proc.signal(libc::SIGHUP);
        run.started(2);
        run.line("sleeping 1 secs before killing old workers");
        let old = start["pid"].as_u64().unwrap();
        run.wait_event("gen 1 TERM", |e| e["event"] == "signal" && e["pid"] == old);
        run.line("killing old workers");
        let log = run.proc.stderr.text();
        let sleeping = log.find("sleeping 1 secs").unwrap();
        assert!(log[sleeping..].contains("killing old workers"), "{log}");
        run.stop();
    }
}

#[test]
fn signal_on_hup_and_signal_on_term() {
    let run = ours(
        &[
            "--port",
            "127.0.0.1:0",
            "--signal-on-hup=usr1",
            "--signal-on-term=SIGINT",
        ],
        &[],
    );
    let pid1 = run.started(1)["pid"].as_u64().unwrap();
    run.proc.signal(libc::SIGHUP);
    let pid2 = run.started(2)["pid"].as_u64().unwrap();
    run.wait_event("gen 1 exit", |e| e["event"] == "exit" && e["pid"] == pid1);
    let run = run.stop();
    assert_eq!(run.signals_of(pid1), ["USR1"]);
    assert_eq!(run.signals_of(pid2), ["INT"]);
}

#[test]
fn int_sends_term_whatever_signal_on_term_says() {
    let mut run = ours(&["--port", "127.0.0.1:0", "--signal-on-term=USR1"], &[]);
    let pid = run.started(1)["pid"].as_u64().unwrap();
    run.proc.signal(libc::SIGINT);
    assert_eq!(run.proc.exit_code(Duration::from_secs(10)), 0);
    assert_eq!(run.signals_of(pid), ["TERM"]);
}

#[test]
fn quit_stops_the_workers_instead_of_orphaning_them() {
    let mut run = ours(&["--port", "127.0.0.1:0"], &[]);
    let pid = run.started(1)["pid"].as_u64().unwrap();
    run.proc.signal(libc::SIGQUIT);
    assert_eq!(run.proc.exit_code(Duration::from_secs(10)), 0);
    assert_eq!(run.signals_of(pid), ["TERM"]);
    assert!(!alive(pid as i32));
}

#[test]
fn kill_timeout_kills_a_worker_that_ignores_term() {
    let mut run = ours(
        &["--port", "127.0.0.1:0", "--kill-timeout", "1"],
        &[("WORKER_IGNORE_STOP", "1")],
    );
    let pid = run.started(1)["pid"].as_u64().unwrap();
    run.proc.signal(libc::SIGTERM);
    assert_eq!(run.proc.exit_code(Duration::from_secs(10)), 0);
    let log = run.proc.stderr.text();
    assert!(
        log.contains(&format!(
            "worker {pid} did not exit 1 secs after SIGTERM; sending KILL"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("worker {pid} died, status:9")),
        "killed by KILL: {log}"
    );
    assert_eq!(run.signals_of(pid), ["TERM"]);
}

#[test]
fn pid_file_is_locked_written_and_removed() {
    let run = ours(&["--port", "127.0.0.1:0", "--pid-file", "{dir}/pid"], &[]);
    run.started(1);
    let path = run.dir.path().join("pid");
    let me = format!("{}\n", run.proc.pid());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), me);
    // A second supervisor on the same pid file: one error line, exit 1, the
    // file untouched (Perl truncates it, then hangs in flock).
    let (mut cmd, _) = command(
        Starter::Ours,
        run.dir.path(),
        &["--port", "127.0.0.1:0", "--pid-file", "{dir}/pid"],
        &[],
    );
    cmd.stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("start_server: --pid-file ")
            && last.ends_with(&format!(
                "locked by a running start_server (pid {}); not starting",
                run.proc.pid()
            )),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), me);
    let run = run.stop();
    assert!(!run.dir.path().join("pid").exists());
}

#[test]
fn status_file_lists_every_live_generation_in_numeric_order() {
    let run = ours(
        &["--port", "127.0.0.1:0", "--status-file", "{dir}/status"],
        &[("WORKER_LINGER_GEN", "1")],
    );
    let pid1 = run.started(1)["pid"].as_u64().unwrap();
    let path = run.dir.path().join("status");
    run.line("starting new worker");
    run.proc.signal(libc::SIGHUP);
    let pid2 = run.started(2)["pid"].as_u64().unwrap();
    // Generation 1 drains until the test lets it go: both are listed meanwhile.
    run.wait_event("gen 1 TERM", |e| e["event"] == "signal" && e["pid"] == pid1);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("1:{pid1}\n2:{pid2}\n")
    );
    go(pid1);
    run.line(&format!("old worker {pid1} died, status:0"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("2:{pid2}\n")
    );
    let run = run.stop();
    assert!(!run.dir.path().join("status").exists());
}

#[test]
fn restart_fails_at_the_first_failed_attempt_while_the_deploy_is_retried() {
    let run = ours(
        &[
            "--port",
            "127.0.0.1:0",
            "--pid-file",
            "{dir}/pid",
            "--status-file",
            "{dir}/status",
        ],
        &[("WORKER_FAIL_GEN", "2,3")],
    );
    let start = run.started(1);
    let pid1 = start["pid"].as_u64().unwrap();
    let pid = run.dir.path().join("pid");
    let status = run.dir.path().join("status");
    wait_file(&status, |s| s == format!("1:{pid1}\n"));
    let (code, _, err) = run_to_end(
        Starter::Ours,
        &[
            "--restart",
            "--pid-file",
            pid.to_str().unwrap(),
            "--status-file",
            status.to_str().unwrap(),
        ],
    );
    // The first failed attempt is reported (generation 2, or 3 if the
    // client was slow to look), and that the supervisor goes on.
    assert_eq!(code, 1, "{err}");
    let err = err.trim();
    assert!(
        err.starts_with("start_server: restart failed: generation ")
            && err.ends_with(&format!(
                " did not start; still serving: 1 (pid {pid1}); start_server retries it every --interval"
            )),
        "{err}"
    );
    run.line(&format!(
        "generation 3 failed to start; generation 1 (pid {pid1}) keeps serving"
    ));
    let pid4 = run.started(4)["pid"].as_u64().unwrap();
    wait_file(&status, |s| s == format!("4:{pid4}\n"));
    assert_eq!(run.signals_of(pid1), ["TERM"]);
    assert_eq!(ask(tcp_addr(&start)), Some((4, pid4)));
    run.stop();
}

#[test]
fn restart_waits_for_the_new_generation_and_fails_when_it_does() {
    let run = ours(
        &[
            "--port",
            "127.0.0.1:0",
            "--pid-file",
            "{dir}/pid",
            "--status-file",
            "{dir}/status",
            "--no-retry-failed-deploy",
        ],
        &[("WORKER_FAIL_GEN", "3")],
    );
    run.started(1);
    let pid = run.dir.path().join("pid");
    let status = run.dir.path().join("status");
    run.line("starting new worker");
    wait_file(&status, |_| true);
    let args = [
        "--restart",
        "--pid-file",
        pid.to_str().unwrap(),
        "--status-file",
        status.to_str().unwrap(),
    ];
    let (code, out, err) = run_to_end(Starter::Ours, &args);
    let pid2 = run.started(2)["pid"].as_u64().unwrap();
    assert_eq!(
        (code, out.trim()),
        (0, format!("generation 2 (pid {pid2}) took over").as_str()),
        "{err}"
    );
    // Generation 3 exits at once: --restart says so and exits 1.
    let (code, _, err) = run_to_end(Starter::Ours, &args);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.trim(), format!("start_server: restart failed: generation 3 did not start; still serving: 2 (pid {pid2})"));
    assert_eq!(ask(tcp_addr(&run.started(1))).map(|(g, _)| g), Some(2));
    // Missing files are one-line errors.
    let (code, _, err) = run_to_end(
        Starter::Ours,
        &["--restart", "--pid-file", pid.to_str().unwrap()],
    );
    assert_eq!((code, err.trim()), (1, "start_server: --restart option requires --pid-file and --status-file to be set as well"));
    run.stop();
}

#[test]
fn stop_terms_the_supervisor_and_waits_for_it() {
    let mut run = ours(&["--port", "127.0.0.1:0", "--pid-file", "{dir}/pid"], &[]);
    let worker = run.started(1)["pid"].as_u64().unwrap();
    let pid = run.dir.path().join("pid");
    let (code, _, err) = run_to_end(
        Starter::Ours,
        &["--stop", "--pid-file", pid.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("stopping now (pid:{})...", run.proc.pid())),
        "{err}"
    );
    // --stop returns once the supervisor released its pid file, i.e. exited.
    assert_eq!(run.proc.exit_code(Duration::from_secs(1)), 0);
    assert!(!alive(worker as i32));
    // A stale pid file (nobody holds its lock) is never signalled: pid 1 here.
    std::fs::write(&pid, "1\n").unwrap();
    for mode in ["--stop", "--restart"] {
        let (code, _, err) = run_to_end(
            Starter::Ours,
            &[
                mode,
                "--pid-file",
                pid.to_str().unwrap(),
                "--status-file",
                pid.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 1, "{err}");
        assert!(
            err.trim()
                .ends_with("no start_server holds it (pid 1 is not running it); nothing signalled"),
            "{err}"
        );
    }
    let (code, _, err) = run_to_end(Starter::Ours, &["--stop"]);
    assert_eq!(
        (code, err.trim()),
        (
            1,
            "start_server: --stop option requires --pid-file to be set as well"
        )
    );
}

#[test]
fn dir_is_the_workers_working_directory() {
    let run = ours(&["--port", "127.0.0.1:0", "--dir", "{dir}"], &[]);
    let start = run.started(1);
    let want = run.dir.path().canonicalize().unwrap();
    assert_eq!(start["cwd"].as_str().unwrap(), want.to_str().unwrap());
    run.stop();
}

#[test]
fn envdir_is_read_for_every_generation_and_beats_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let envd = dir.path().join("envd");
    std::fs::create_dir(&envd).unwrap();
    std::fs::write(envd.join("FOO"), "bar\nsecond line ignored\n").unwrap();
    std::fs::write(envd.join("KILL_OLD_DELAY"), "0").unwrap();
    std::fs::write(envd.join(".hidden"), "x").unwrap();
    let envd_s = envd.to_str().unwrap();
    let run = ours(
        &[
            "--port",
            "127.0.0.1:0",
            "--envdir",
            envd_s,
            "--kill-old-delay",
            "7",
        ],
        &[("FOO2", "inherited")],
    );
    let start = run.started(1);
    assert_eq!(start["env"]["FOO"], "bar");
    assert_eq!(start["env"]["FOO2"], "inherited");
    assert_eq!(start["env"]["ENVDIR"], envd_s);
    assert_eq!(
        start["env"]["KILL_OLD_DELAY"], "0",
        "the envdir beats --kill-old-delay"
    );
    std::fs::write(envd.join("FOO"), "baz").unwrap();
    run.proc.signal(libc::SIGHUP);
    assert_eq!(run.started(2)["env"]["FOO"], "baz");
    // KILL_OLD_DELAY=0 from the envdir: no "sleeping 7 secs".
    run.wait_event("gen 1 exit", |e| e["event"] == "exit" && e["gen"] == 1);
    run.line("killing old workers");
    assert!(!run.proc.stderr.text().contains("sleeping"));
    // A removed file removes the variable (Perl brings back "bar").
    std::fs::remove_file(envd.join("FOO")).unwrap();
    run.proc.signal(libc::SIGHUP);
    assert!(run.started(3)["env"]["FOO"].is_null());
    run.stop();
}

#[test]
fn backlog_sets_the_listen_queue() {
    let run = ours(&["--port", "127.0.0.1:0", "--backlog", "7"], &[]);
    let port = tcp_addr(&run.started(1)).port();
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // State Recv-Q Send-Q ...: Send-Q of a listening socket is its backlog.
    let send_q = text.split_whitespace().nth(2);
    assert_eq!(send_q, Some("7"), "{text}");
    run.stop();
}

#[test]
fn log_file_takes_the_supervisor_and_worker_output_to_a_file_or_a_command() {
    for spec in ["{dir}/out.log", "| cat >> {dir}/out.log"] {
        let run = ours(&["--port", "127.0.0.1:0", "--log-file", spec], &[]);
        let pid = run.started(1)["pid"].as_u64().unwrap();
        let run = run.stop();
        let path = run.dir.path().join("out.log");
        let text = wait_file(&path, |t| t.contains("exiting"));
        assert!(
            text.contains(&format!("starting new worker {pid}")),
            "{spec}: {text}"
        );
        assert!(text.contains("exiting"), "{spec}: {text}");
        let stderr = run.proc.stderr.text();
        assert!(stderr.contains("starting now..."), "{stderr}");
        assert!(!stderr.contains("starting new worker"), "{spec}: {stderr}");
    }
}

#[test]
fn enable_auto_restart_and_auto_restart_interval() {
    let run = ours(
        &[
            "--port",
            "127.0.0.1:0",
            "--enable-auto-restart",
            "--auto-restart-interval",
            "1",
            "--kill-old-delay",
            "0",
        ],
        &[],
    );
    let start = run.started(1);
    assert_eq!(start["env"]["ENABLE_AUTO_RESTART"], "1");
    assert_eq!(start["env"]["AUTO_RESTART_INTERVAL"], "1");
    // No HUP: generation 2 comes on its own.
    run.started(2);
    run.line("autorestart triggered (interval=1)");
    run.stop();
}

#[test]
fn help_and_version() {
    let (code, out, _) = run_to_end(Starter::Ours, &["--help"]);
    assert_eq!(code, 0);
    for option in [
        "--port",
        "--path",
        "--interval",
        "--kill-old-delay",
        "--signal-on-hup",
        "--signal-on-term",
        "--pid-file",
        "--status-file",
        "--restart",
        "--stop",
        "--dir",
        "--envdir",
        "--backlog",
        "--log-file",
        "--enable-auto-restart",
        "--auto-restart-interval",
        "--ready-timeout",
        "--readiness",
        "--kill-timeout",
    ] {
        assert!(out.contains(option), "{option} in --help");
    }
    let (code, out, _) = run_to_end(Starter::Ours, &["--version"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(env!("CARGO_PKG_VERSION")) && out.contains("Server::Starter 0.35"),
        "{out}"
    );
}

#[test]
fn bad_input_is_one_line_and_exit_1() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = format!("127.0.0.1:{}", busy.local_addr().unwrap().port());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "keep me").unwrap();
    let file_s = file.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--bogus", "--", "true"],
            "unknown option: --bogus (see --help)",
        ),
        (
            &["--port", "foo", "--", "true"],
            "--port \"foo\": expected [HOST:]PORT[=FD] with a numeric port",
        ),
        (
            &["--port", "80=4", "--port", "81=4", "--", "true"],
            "--port 81=4: fd 4 is already asked for by another --port",
        ),
        (
            &["--signal-on-hup", "FOO", "--", "true"],
            "--signal-on-hup: \"FOO\" is not a signal name",
        ),
        (
            &["--interval", "x", "--", "true"],
            "--interval: \"x\" is not a number of seconds",
        ),
        (&["--port", "127.0.0.1:0"], "server program not specified"),
        (
            &["--daemonize", "--", "true"],
            "--log-file option must be specified together with --daemonize",
        ),
        (
            &["--port", &busy, "--", "true"],
            &format!("--port {busy}: binding {busy}: Address already in use"),
        ),
        (
            &["--path", file_s, "--", "true"],
            "exists and is not a socket; not removing it",
        ),
    ];
    for (args, needle) in cases {
        let (code, _, err) = run_to_end(Starter::Ours, args);
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| l.starts_with("start_server: "))
            .collect();
        assert_eq!(code, 1, "{args:?}: {err}");
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(lines[0].contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
}

#[test]
fn path_replaces_a_stale_socket_but_not_a_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (code, _, err) = run_to_end(
        Starter::Ours,
        &["--path", path.to_str().unwrap(), "--", "true"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("a server is already listening on this socket"),
        "{err}"
    );
    drop(live); // the file stays: now stale
    assert!(path.exists());
    let run = ours(&["--path", path.to_str().unwrap()], &[]);
    let start = run.started(1);
    assert_eq!(fd(&start, ports(&start)[0].1)["family"], "unix");
    run.line("removing stale socket file");
    run.stop();
}
