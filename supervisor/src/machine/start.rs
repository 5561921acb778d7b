//! Starting generations and judging them: spawn, failure and back-off,
//! readiness, acceptance, auto restart.

use super::*;

impl Machine {
    /// Starts the next generation (the loop reads the environment for it).
    pub(super) fn start_generation(&mut self, cause: Cause) {
        if self.shutting_down {
            return;
        }
        self.retry = None;
        self.generation += 1;
        self.cause = cause;
        self.spawning = Some(self.generation);
        self.deploy(self.generation, DeployState::Starting);
        self.out.push(Action::Spawn {
            generation: self.generation,
        });
    }

    /// [`Action::Spawn`] started generation `generation` as process `pid`.
    pub(super) fn on_spawned(&mut self, generation: u64, pid: u32) {
        self.spawning = None;
        self.say(format!("starting new worker {pid}"));
        self.workers.push(Worker {
            pid,
            generation,
            phase: Phase::Starting { since: self.now },
            accepted: false,
            stop: None,
        });
        if self.shutting_down {
            self.stop_worker(pid, self.settings.signal_on_term);
        }
    }

    /// Generation `generation` will not serve. While an old generation
    /// serves, a queued HUP deploys at once, or the deploy is tried again
    /// after `--interval`; while none does, another starts after a back-off.
    pub(super) fn start_failed(&mut self, generation: u64) {
        let serving = self.current().map(|w| (w.generation, w.pid));
        let retry = !self.shutting_down
            && serving.is_some()
            && !self.pending_hup
            && self.settings.retry_failed_deploy
            && self.cause != Cause::AutoRestart;
        let state = if retry {
            DeployState::Retrying
        } else {
            DeployState::Failed
        };
        self.deploy(generation, state);
        if self.shutting_down {
            return;
        }
        if let Some((current, pid)) = serving {
            self.say(format!(
                "generation {generation} failed to start; generation {current} (pid {pid}) keeps serving"
            ));
            if std::mem::take(&mut self.pending_hup) {
                self.say("starting the deploy requested during the failed one");
                self.start_generation(Cause::Deploy);
            } else if retry {
                let delay = self.settings.interval.max(MIN_RETRY);
                self.say(format!("retrying the deploy in {} secs", secs(delay)));
                self.retry = Some((self.now + delay, self.cause));
            }
        } else if self.starting().is_none() && std::mem::take(&mut self.pending_hup) {
            self.say("starting the deploy requested during the failed one");
            self.start_generation(Cause::Deploy);
        } else if self.starting().is_none() {
            let delay = self.backoff;
            self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
            self.say(format!(
                "no generation is serving; starting another in {} secs",
                secs(delay)
            ));
            self.retry = Some((self.now + delay, Cause::Start));
        }
    }

    pub(super) fn auto_restart(&mut self) {
        if self.shutting_down
            || self.starting().is_some()
            || self.current().is_none()
            || self.retry.is_some()
            || !self.env.auto_restart
        {
            return;
        }
        let interval = self.seconds(
            "AUTO_RESTART_INTERVAL",
            self.env.auto_restart_interval.clone(),
            DEFAULT_AUTO_RESTART_INTERVAL,
        );
        let since = self.now.saturating_duration_since(self.last_restart);
        let old_remain = self.workers.iter().any(|w| w.phase != Phase::Current);
        // The period counts from the attempt, so a failing one is not retried at once.
        if since >= interval && !old_remain {
            self.say(format!(
                "autorestart triggered (interval={})",
                secs(interval)
            ));
            self.last_restart = self.now;
            self.start_generation(Cause::AutoRestart);
        } else if since >= interval * 2 {
            self.say(format!(
                "autorestart triggered (forced, interval={})",
                secs(interval)
            ));
            self.last_restart = self.now;
            self.start_generation(Cause::AutoRestart);
        }
    }

    /// `KILL_OLD_DELAY`: 0 by default, 5 s with auto restart.
    pub(super) fn kill_old_delay(&mut self) -> Duration {
        let default = if self.env.auto_restart {
            AUTO_RESTART_KILL_OLD_DELAY
        } else {
            Duration::ZERO
        };
        self.seconds("KILL_OLD_DELAY", self.env.kill_old_delay.clone(), default)
    }

    /// Makes worker `pid` the current generation and schedules the old ones.
    pub(super) fn accept(&mut self, pid: u32) {
        let delay = self.kill_old_delay();
        let signal_at = self.now + delay;
        let mut generation = 0;
        for w in &mut self.workers {
            if w.pid == pid {
                w.phase = Phase::Current;
                w.accepted = true;
                generation = w.generation;
            } else if w.phase == Phase::Current {
                w.phase = Phase::Retiring { signal_at };
            }
        }
        self.write_status();
        self.deploy(generation, DeployState::Ready);
        let retiring: Vec<u32> = self
            .workers
            .iter()
            .filter(|w| matches!(w.phase, Phase::Retiring { signal_at: at } if at == signal_at))
            .map(|w| w.pid)
            .collect();
        if self.told_first {
            self.say(format!(
                "new worker is now running, sending {} to old workers:{}",
                self.settings.signal_on_hup.name(),
                pids(&retiring)
            ));
        }
        self.told_first = true;
        if !retiring.is_empty() && !delay.is_zero() {
            self.say(format!(
                "sleeping {} secs before killing old workers",
                secs(delay)
            ));
        }
        self.last_restart = self.now;
        self.backoff = self.settings.interval.max(MIN_RETRY);
        let state = format!("STATUS=generation {generation} (pid {pid}) serving");
        let message = if self.told_upstream {
            state
        } else {
            self.told_upstream = true;
            format!("READY=1\n{state}")
        };
        self.out.push(Action::NotifyUpstream(message));
        // Signal at once rather than after the next wake when there is no delay.
        self.signal_due_old_workers();
        if std::mem::take(&mut self.pending_hup) {
            self.say(format!(
                "starting the deploy requested while generation {generation} was starting"
            ));
            self.start_generation(Cause::Deploy);
        }
    }

    /// Worker `pid` said `READY=1`.
    pub(super) fn on_ready(&mut self, pid: u32) {
        self.learned_ready = true;
        let Some(w) = self.workers.iter().find(|w| w.pid == pid) else {
            return;
        };
        if let (Phase::Starting { since }, false) = (w.phase, self.shutting_down) {
            let waited = self.now.saturating_duration_since(since);
            self.say(format!(
                "new worker {pid} sent READY=1 after {} ms",
                waited.as_millis()
            ));
            self.accept(pid);
        }
    }
}
