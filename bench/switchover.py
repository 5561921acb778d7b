#!/usr/bin/env python3
"""Hot-deploy switchover benchmark: Perl start_server vs handover's start_server.

Both supervisors run the demo app (target/release/demo-app) on 127.0.0.1:0:

    <start_server> --port 127.0.0.1:0 -- target/release/demo-app

Rounds alternate the supervisors (perl, ours, perl, ours, ...). Each round
starts a fresh supervisor, waits for generation 1's "ready:" line and checks
GET /whoami answers, then sends --hups SIGHUPs, one at a time. For the HUP that
makes generation g current, with old_pid the pid of generation g-1, and every
time being when the line was read from the shared stderr pipe (time.monotonic):

    HUP→signal     t(kill -HUP) → "pid old_pid gen g-1: SIGTERM: draining"
                   (how long the old worker keeps serving after the deploy
                   was asked for; Perl waits its fixed --interval of 1 s,
                   ours waits for the new worker's sd_notify READY=1)
    READY→signal   first "gen g: ready:" line → the same SIGTERM line (how
                   long the new worker was ready before the old one was told
                   to stop; negative if it was told before the new one was ready)
    HUP→old gone   t(kill -HUP) → "old worker old_pid died" (the supervisor
                   has reaped the old generation)

The next HUP is sent 0.3 s after the old worker is gone. Perl start_server 0.35
can lose a signal that arrives just after it reaps a worker, so a HUP with no
"received HUP" line within 2 s is sent again (the time then counts from the
last HUP sent), and the same for the final TERM; the resends are reported.
After the HUPs, VmRSS and VmHWM of the supervisor process (for Perl, the perl
process) are read from /proc/<pid>/status; the table shows the median VmRSS.

Usage: bench/switchover.py [--no-build] [--hups 10] [--rounds 2]
"""
import argparse, math, os, shlex, signal, statistics, subprocess, sys, time
import urllib.request
from datetime import datetime

from stderr_lines import Failure, StderrLines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")
DEMO = os.path.join(TARGET, "demo-app")
HOST = subprocess.run(["rustc", "-vV"], capture_output=True, text=True).stdout.split("host: ")[1].split()[0]
# ours: `cargo build --release`; ours-small: scripts/build-supervisor (static, size profile).
SUPERVISORS = {
    "perl": "/usr/bin/start_server",
    "ours": os.path.join(TARGET, "start_server"),
    "ours-small": os.path.join(ROOT, "target", HOST, "supervisor", "start_server"),
}


class Supervisor(StderrLines):
    """One start_server around the demo app, its stderr lines kept with their read times."""

    def __init__(self, binary):
        env = {k: v for k, v in os.environ.items()
               if k not in ("SERVER_STARTER_PORT", "SERVER_STARTER_GENERATION", "NOTIFY_SOCKET")}
        env["RUST_LOG"] = "info"
        self.proc = subprocess.Popen(
            [binary, "--port", "127.0.0.1:0", "--", DEMO], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True,
            errors="replace", start_new_session=True)
        self.pid = self.proc.pid
        self.follow(self.proc)

    def signal(self, sig, ack, tries):
        """Sends `sig` until a line matching `ack` follows (at most `tries` times);
        returns (time of the last send, number of resends)."""
        for attempt in range(tries):
            start = self.mark()
            if self.proc.poll() is not None:
                raise Failure("supervisor exited (status %s); last lines:\n%s"
                              % (self.proc.returncode, self.tail()))
            sent = time.monotonic()
            os.kill(self.pid, sig)
            if self.find(ack, 2.0, start, fail=False):
                return sent, attempt
        raise Failure("no %r after %d %s; last lines:\n%s"
                      % (ack, tries, signal.Signals(sig).name, self.tail()))

    def memory(self):
        with open("/proc/%d/status" % self.pid) as f:
            fields = dict(l.split(":", 1) for l in f if ":" in l)
        return tuple(int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM"))

    def stop(self):
        """TERM (resent up to 5 times), then wait up to 20 s; returns the resends."""
        resends = 0
        if self.proc.poll() is None:
            _, resends = self.signal(signal.SIGTERM, r"received TERM", 5)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("supervisor still running 20 s after TERM; killed. Last lines:\n"
                          + self.tail())
        if self.find(r"^exiting$", 2, fail=False) is None:
            raise Failure("supervisor exited without 'exiting'; last lines:\n" + self.tail())
        return resends


def worker_pid(sup, gen, start=0):
    _, m = sup.find(r"pid (\d+) gen %d: ready:" % gen, 15, start)
    return int(m.group(1))


def run_round(binary, hups, samples):
    sup = Supervisor(binary)
    try:
        _, m = sup.find(r"gen 1: listening on (\S+)", 15)
        addr = m.group(1)
        old = worker_pid(sup, 1)
        with urllib.request.urlopen("http://%s/whoami" % addr, timeout=5) as r:
            if r.status != 200:
                raise Failure("GET /whoami on %s answered %d" % (addr, r.status))
        for g in range(2, hups + 2):
            start = sup.mark()
            t_hup, resent = sup.signal(signal.SIGHUP, r"received HUP, spawning", 5)
            samples["resent"] += resent
            t_gone, _ = sup.find(r"old worker %d died" % old, 15, start)
            t_ready, _ = sup.find(r"gen %d: ready:" % g, 0, start)
            t_signal, _ = sup.find(r"pid %d gen %d: SIGTERM: draining" % (old, g - 1), 0, start)
            samples["hup_signal"].append(t_signal - t_hup)
            samples["ready_signal"].append(t_signal - t_ready)
            samples["hup_gone"].append(t_gone - t_hup)
            old = worker_pid(sup, g, start)
            time.sleep(0.3)
        samples["rss"].append(sup.memory())
        samples["resent"] += sup.stop()
    except BaseException:
        sup.kill()
        raise
    if sup.proc.returncode != 0:
        print("warning: %s exited with status %d" % (binary, sup.proc.returncode), file=sys.stderr)


def ms(xs, p90=False):
    xs = sorted(xs)
    x = xs[math.ceil(0.9 * len(xs)) - 1] if p90 else statistics.median(xs)
    return "%.1f" % (x * 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", action=argparse.BooleanOptionalAction, default=True,
                    help="cargo build --release the demo app and our supervisor first")
    ap.add_argument("--hups", type=int, default=10, help="HUPs per round (default 10)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per supervisor (default 2)")
    args = ap.parse_args()
    if args.hups < 1 or args.rounds < 1:
        ap.error("--hups and --rounds must be at least 1")
    if args.build:
        cmd = ["cargo", "build", "--release", "-p", "demo-app", "-p", "handover-supervisor"]
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            sys.exit("switchover: cargo build failed")
        if subprocess.run([os.path.join(ROOT, "scripts", "build-supervisor")], cwd=ROOT,
                          stdout=subprocess.DEVNULL).returncode != 0:
            sys.exit("switchover: scripts/build-supervisor failed")
    for path in [DEMO] + list(SUPERVISORS.values()):
        if not os.access(path, os.X_OK):
            hint = ("apt-get install libserver-starter-perl" if path == SUPERVISORS["perl"]
                    else "run without --no-build")
            sys.exit("switchover: %s is missing or not executable (%s)" % (path, hint))

    samples = {name: {"hup_signal": [], "ready_signal": [], "hup_gone": [], "rss": [], "resent": 0}
               for name in SUPERVISORS}
    for r in range(args.rounds):
        for name, binary in SUPERVISORS.items():
            print("round %d/%d: %s (%d HUPs)" % (r + 1, args.rounds, name, args.hups),
                  file=sys.stderr, flush=True)
            try:
                run_round(binary, args.hups, samples[name])
            except Failure as e:
                sys.exit("switchover: %s supervisor (%s) failed in round %d: %s"
                         % (name, binary, r + 1, e))

    print("command: %s" % " ".join(shlex.quote(a) for a in [sys.argv[0]] + sys.argv[1:]))
    print("date: %s" % datetime.now().astimezone().isoformat(timespec="seconds"))
    print("machine: nproc=%d, %s %s" % (len(os.sched_getaffinity(0)), os.uname().sysname, os.uname().release))
    print()
    print("| supervisor | HUPs | HUP→signal median (ms) | HUP→signal p90 (ms) "
          "| READY→signal median (ms) | READY→signal p90 (ms) | HUP→old gone median (ms) "
          "| RSS median (MiB) | resent signals |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in samples.items():
        rss = statistics.median(kb for kb, _ in s["rss"]) / 1024
        print("| %s | %d | %s | %s | %s | %s | %s | %.2f | %d |" % (
            name, len(s["hup_signal"]), ms(s["hup_signal"]), ms(s["hup_signal"], True),
            ms(s["ready_signal"]), ms(s["ready_signal"], True), ms(s["hup_gone"]), rss,
            s["resent"]))
    print()
    for name, s in samples.items():
        print("%s VmRSS/VmHWM per round (kB): %s" % (
            name, ", ".join("%d/%d" % m for m in s["rss"])))


if __name__ == "__main__":
    main()
