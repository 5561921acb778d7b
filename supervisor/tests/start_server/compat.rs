//! The same command line under Perl's start_server and ours gives the worker
//! the same environment (fd numbers aside) and the same files.

use crate::support::supervisor::Starter;
use crate::*;

/// The worker's view under `starter`: its environment with fd numbers
/// blanked, and the pid and status files' shapes.
fn observe(starter: Starter) -> (serde_json::Value, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let envd = dir.path().join("envd");
    std::fs::create_dir(&envd).unwrap();
    std::fs::write(envd.join("FOO"), "from-envdir\n").unwrap();
    let options = [
        "--port",
        "127.0.0.1:0",
        "--port",
        "[::1]:0",
        "--path",
        "{dir}/s.sock",
        "--kill-old-delay",
        "2",
        "--enable-auto-restart",
        "--auto-restart-interval",
        "100",
        "--envdir",
        "{dir}/envd",
        "--pid-file",
        "{dir}/pid",
        "--status-file",
        "{dir}/status",
    ];
    let (cmd, log) = command(starter, dir.path(), &options, &[]);
    let run = Run {
        proc: support::Proc::spawn(cmd),
        dir,
        log,
    };
    let start = run.started(1);
    let worker = start["pid"].to_string();
    let status = wait_file(&run.dir.path().join("status"), |_| true).replace(&worker, "PID");
    let pid = std::fs::read_to_string(run.dir.path().join("pid"))
        .unwrap()
        .replace(&run.proc.pid().to_string(), "PID");
    let mut env = start["env"].clone();
    let dir_s = run.dir.path().to_str().unwrap().to_owned();
    let port = env["SERVER_STARTER_PORT"]
        .as_str()
        .unwrap()
        .replace(&dir_s, "DIR");
    let keys: Vec<&str> = port
        .split(';')
        .map(|i| i.rsplit_once('=').unwrap().0)
        .collect();
    env["SERVER_STARTER_PORT"] = keys.join(";").into();
    env["ENVDIR"] = env["ENVDIR"]
        .as_str()
        .unwrap()
        .replace(&dir_s, "DIR")
        .into();
    env.as_object_mut().unwrap().remove("NOTIFY_SOCKET");
    // Perl's TERM can be lost right after a reap; nothing was reaped here.
    run.stop();
    (env, pid, status)
}

#[test]
fn worker_environment_and_files_match_perl() {
    let (perl_env, perl_pid, perl_status) = observe(Starter::Perl);
    let (our_env, our_pid, our_status) = observe(Starter::Ours);
    assert_eq!(our_env, perl_env);
    assert_eq!(
        perl_env["SERVER_STARTER_PORT"], "127.0.0.1:0;[::1]:0;DIR/s.sock",
        "{perl_env:#}"
    );
    assert_eq!(perl_env["FOO"], "from-envdir");
    assert_eq!((our_pid.as_str(), perl_pid.as_str()), ("PID\n", "PID\n"));
    assert_eq!(
        (our_status.as_str(), perl_status.as_str()),
        ("1:PID\n", "1:PID\n")
    );
}
