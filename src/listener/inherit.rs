//! Taking inherited sockets: selecting them, checking every selected fd, then
//! adopting them, for systemd's `LISTEN_FDS` and `SERVER_STARTER_PORT`.

use std::os::fd::RawFd;

use super::adopt;
use super::select::{Candidate, Selector};
use super::socket::{give_up, Listener, Origin};
use super::starter::{parse_server_starter_port, StarterEntry, StarterKey, SERVER_STARTER_PORT};
use super::systemd::{SystemdEntry, LISTEN_FDS};
use crate::error::{quoted, Error, ErrorKind};

/// The address a usable fd is bound to, as the key a supervisor would write.
fn address_of(local: &socket2::SockAddr) -> Option<StarterKey> {
    if let Some(addr) = local.as_socket() {
        return Some(StarterKey::HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        });
    }
    local.as_pathname().map(|p| StarterKey::Path(p.to_owned()))
}

fn describe_systemd(entry: &SystemdEntry) -> String {
    match &entry.name {
        Some(name) => format!("fd {} (name {})", entry.fd, quoted(name)),
        None => format!("fd {}", entry.fd),
    }
}

pub(crate) fn inherit_systemd(
    entries: &[SystemdEntry],
    selectors: &[Selector],
) -> Result<Vec<Listener>, Error> {
    // Looked at, not changed: the check reads the fd's type and address only.
    let checks: Vec<Result<adopt::Checked, adopt::Refusal>> = entries
        .iter()
        // SAFETY: the fds LISTEN_FDS names are owned by no object of ours yet,
        // so no other thread closes them while they are checked.
        .map(|e| unsafe { adopt::check(e.fd) })
        .collect();
    let addresses: Vec<Option<StarterKey>> = checks
        .iter()
        .map(|c| c.as_ref().ok().and_then(|c| address_of(&c.local)))
        .collect();
    let candidates: Vec<Candidate<'_>> = entries
        .iter()
        .zip(&addresses)
        .map(|(e, address)| Candidate {
            address: address.as_ref(),
            name: e.name.as_deref(),
            key: None,
        })
        .collect();
    for selector in selectors {
        if !candidates.iter().any(|c| selector.picks(c)) {
            let passed: Vec<String> = entries
                .iter()
                .zip(&checks)
                .map(|(e, c)| match c {
                    Ok(c) => format!("{} at {}", describe_systemd(e), shown_address(&c.local)),
                    Err(_) => describe_systemd(e),
                })
                .collect();
            return Err(Error::new(
                ErrorKind::Inherit,
                format!(
                    "{LISTEN_FDS}: [listen] inherit selector {:?} matches no socket (passed: {})",
                    selector.to_string(),
                    passed.join(", ")
                ),
            ));
        }
    }
    let chosen: Vec<usize> = (0..entries.len())
        .filter(|&i| selectors.is_empty() || selectors.iter().any(|s| s.picks(&candidates[i])))
        .collect();
    adopt_all(
        chosen
            .into_iter()
            .map(|i| {
                let entry = &entries[i];
                Chosen {
                    fd: entry.fd,
                    label: format!("{LISTEN_FDS}: {}", describe_systemd(entry)),
                    origin: Origin::Systemd {
                        fd: entry.fd,
                        name: entry.name.clone(),
                    },
                }
            })
            .collect(),
    )
}

fn shown_address(local: &socket2::SockAddr) -> String {
    match address_of(local) {
        Some(StarterKey::HostPort { host, port }) if host.contains(':') => {
            format!("[{host}]:{port}")
        }
        Some(StarterKey::HostPort { host, port }) => format!("{host}:{port}"),
        Some(StarterKey::Path(p)) => p.display().to_string(),
        Some(StarterKey::Port(p)) => p.to_string(),
        None => "an unnamed address".to_owned(),
    }
}

pub(crate) fn inherit_starter(value: &str, selectors: &[Selector]) -> Result<Vec<Listener>, Error> {
    let entries = parse_server_starter_port(value)?;
    if entries.is_empty() {
        return Err(Error::new(
            ErrorKind::Inherit,
            format!("{SERVER_STARTER_PORT} is set but empty: the supervisor passed no sockets, and handover does not bind its own under a supervisor"),
        ));
    }
    for selector in selectors {
        if !entries.iter().any(|e| selector.matches(e)) {
            const SHOWN: usize = 8;
            let mut keys: Vec<String> =
                entries.iter().take(SHOWN).map(|e| quoted(&e.key)).collect();
            if entries.len() > SHOWN {
                keys.push(format!("{} more", entries.len() - SHOWN));
            }
            return Err(Error::new(
                ErrorKind::Inherit,
                format!(
                    "{SERVER_STARTER_PORT}: [listen] inherit selector {} matches no entry (keys: {})",
                    quoted(&selector.to_string()),
                    keys.join(", ")
                ),
            ));
        }
    }
    let chosen: Vec<&StarterEntry> = entries
        .iter()
        .filter(|e| selectors.is_empty() || selectors.iter().any(|s| s.matches(e)))
        .collect();
    adopt_all(
        chosen
            .into_iter()
            .map(|entry| Chosen {
                fd: entry.fd,
                label: format!(
                    "{SERVER_STARTER_PORT}: fd {} (key {})",
                    entry.fd,
                    quoted(&entry.key)
                ),
                origin: Origin::ServerStarter {
                    key: entry.key.clone(),
                    fd: entry.fd,
                },
            })
            .collect(),
    )
}

/// An inherited fd chosen to be served.
struct Chosen {
    fd: RawFd,
    /// Names the variable and the fd in errors: `LISTEN_FDS: fd 3 (name "web")`.
    label: String,
    origin: Origin,
}

/// Checks every chosen fd before adopting any, so a refusal leaves all of
/// them untouched; then adopts each. The sources list each fd once.
fn adopt_all(chosen: Vec<Chosen>) -> Result<Vec<Listener>, Error> {
    let refused = |c: &Chosen, refusal: &adopt::Refusal| {
        Error::new(ErrorKind::Inherit, format!("{} {refusal}", c.label))
    };
    for c in &chosen {
        // SAFETY: inherited fds are owned by no object of ours yet, so no
        // other thread closes them while they are checked.
        if let Err(refusal) = unsafe { adopt::check(c.fd) } {
            return Err(refused(c, &refusal));
        }
    }
    let mut listeners = Vec::with_capacity(chosen.len());
    for c in chosen {
        // SAFETY: each source names an fd once (LISTEN_FDS counts 3, 4, ...;
        // the SERVER_STARTER_PORT parser rejects duplicates), so each is
        // adopted once; nothing else in this process owns them.
        match unsafe { adopt::adopt(c.fd) } {
            Ok(socket) => listeners.push(Listener::new(socket, c.origin)),
            Err(refusal) => {
                give_up(listeners);
                return Err(refused(&c, &refusal));
            }
        }
    }
    Ok(listeners)
}
