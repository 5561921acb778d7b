//! Retiring workers: the old generations' signal after `--kill-old-delay`,
//! stop signals sent once, SIGKILL after `--kill-timeout`, and an old
//! generation serving again when the new one dies first.

use super::*;

impl Machine {
    /// The current worker died while older ones wait out `--kill-old-delay`:
    /// the newest of them, never signalled, is current again.
    pub(super) fn reinstate_newest_unsignalled(&mut self) {
        let newest = self
            .workers
            .iter_mut()
            .filter(|w| w.stop.is_none() && matches!(w.phase, Phase::Retiring { .. }))
            .max_by_key(|w| w.generation);
        if let Some(w) = newest {
            w.phase = Phase::Current;
            let line = format!(
                "generation {} (pid {}) was not told to stop yet; it serves again",
                w.generation, w.pid
            );
            self.say(line);
        }
    }

    /// Sends `signal` to worker `pid`, unless it already got that signal;
    /// its kill deadline counts from the first stop signal.
    pub(super) fn stop_worker(&mut self, pid: u32, signal: Signal) {
        let now = self.now;
        let Some(w) = self.workers.iter_mut().find(|w| w.pid == pid) else {
            return;
        };
        if w.stop.is_some_and(|s| s.signal == signal) {
            return;
        }
        let at = w.stop.map_or(now, |s| s.at);
        w.stop = Some(Stop {
            signal,
            at,
            killed: false,
        });
        self.out.push(Action::Signal { pid, signal });
    }

    /// `--signal-on-hup` to the old generations whose `--kill-old-delay` is over.
    pub(super) fn signal_due_old_workers(&mut self) {
        let now = self.now;
        let due: Vec<u32> = self
            .workers
            .iter()
            .filter(|w| w.stop.is_none())
            .filter(|w| matches!(w.phase, Phase::Retiring { signal_at } if signal_at <= now))
            .map(|w| w.pid)
            .collect();
        if !due.is_empty() {
            self.say("killing old workers");
            for pid in due {
                self.stop_worker(pid, self.settings.signal_on_hup);
            }
        }
    }

    /// SIGKILL to every worker that outlived `--kill-timeout` after its stop signal.
    pub(super) fn kill_overdue(&mut self) {
        let Some(limit) = self.settings.kill_timeout else {
            return;
        };
        let now = self.now;
        let mut lines = Vec::new();
        for w in &mut self.workers {
            if let Some(stop) = &mut w.stop {
                if !stop.killed && now >= stop.at + limit {
                    lines.push(Action::Log(format!(
                        "worker {} did not exit {} secs after SIG{}; sending KILL",
                        w.pid,
                        secs(limit),
                        stop.signal.name()
                    )));
                    lines.push(Action::Signal {
                        pid: w.pid,
                        signal: Signal::KILL,
                    });
                    stop.killed = true;
                }
            }
        }
        self.out.extend(lines);
    }
}
