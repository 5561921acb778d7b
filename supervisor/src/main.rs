//! `start_server`: runs a server program, hands it listening sockets the
//! Server::Starter way (`SERVER_STARTER_PORT`), and on SIGHUP replaces it with
//! a new generation, retiring the old one once the new one is ready.
//! Compatible with Perl Server::Starter 0.35; the differences are listed in
//! docs/supervisor.md.

mod cli;
mod client;
mod daemon;
mod environment;
mod error;
mod event;
mod files;
mod log;
mod machine;
mod readiness;
mod signals;
mod sockets;
mod supervisor;
mod sys;
mod worker;

use std::io::Write;
use std::process::ExitCode;

use cli::{Parsed, Readiness};
use error::{Error, Result};

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "start_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<u8> {
    let options = match cli::parse(std::env::args_os().skip(1))? {
        Parsed::Help => {
            let _ = std::io::stdout().write_all(cli::USAGE.as_bytes());
            return Ok(0);
        }
        Parsed::Version => {
            let _ = writeln!(
                std::io::stdout(),
                "{} (handover start_server, compatible with Server::Starter 0.35)",
                env!("CARGO_PKG_VERSION")
            );
            return Ok(0);
        }
        Parsed::Run(options) => options,
    };
    if options.restart {
        client::restart(options.pid_file.as_deref(), options.status_file.as_deref())?;
        return Ok(0);
    }
    if options.stop {
        client::stop(options.pid_file.as_deref())?;
        return Ok(0);
    }
    if options.daemonize && options.log_file.is_none() {
        return Err(Error::new(
            "--log-file option must be specified together with --daemonize",
        ));
    }
    if options.command.is_empty() {
        return Err(Error::new("server program not specified"));
    }
    let _ = writeln!(
        std::io::stderr(),
        "start_server (pid:{}) starting now...",
        std::process::id()
    );
    // Nothing this process inherited reaches the workers but the sockets.
    sys::close_inherited_on_exec()
        .map_err(|e| Error::io("marking inherited fds close-on-exec", e))?;
    // The pid file first: a second instance is told so, before it tries the ports.
    let pid_file = options
        .pid_file
        .as_deref()
        .map(files::PidFile::create)
        .transpose()?;
    let listeners = sockets::Listeners::bind(
        &options.ports,
        &options.paths,
        options.backlog.unwrap_or(libc::SOMAXCONN),
    )?;
    let _log = options
        .log_file
        .as_deref()
        .map(log::LogFile::open)
        .transpose()?;
    let signals = signals::Receiver::install()?;
    if options.daemonize {
        daemon::daemonize(pid_file.as_ref(), &listeners)?;
    }
    let notify_dir = if options.readiness == Readiness::Interval {
        None
    } else {
        Some(readiness::NotifyDir::create()?)
    };
    let upstream = readiness::Upstream::from_env(std::env::var_os("NOTIFY_SOCKET"));
    let env = environment::Environment::new(&options);
    let vars = env.current();
    let status = options.status_file.as_deref().map(files::StatusFile::new);
    listeners.inheritable()?;
    let machine = machine::Machine::new(
        machine::Settings::from_options(&options, env.has_envdir()),
        vars.settings(),
        std::time::Instant::now(),
    );
    let launch = supervisor::Launch {
        command: options.command.clone(),
        dir: options.dir.clone(),
        ports: listeners.env_value(),
    };
    let resources = supervisor::Resources {
        env,
        notify_dir,
        upstream,
        status,
    };
    // The socket files and the pid file are removed when `listeners` and
    // `pid_file` drop, on this path and on every error path above.
    supervisor::Supervisor::new(machine, launch, resources, vars).run(signals)
}
