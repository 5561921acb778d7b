#!/usr/bin/env python3
"""Soak: many hot restarts under continuous load, for each adapter A.

Our supervisor runs the demo app on 127.0.0.1 with one worker thread
(config: shutdown_timeout = "30s", drain_linger = "2s"):

    target/release/start_server --port 127.0.0.1:0 --readiness notify \\
        --pid-file DIR/pid --status-file DIR/status -- \\
        target/release/demo-app --config DIR/soak.toml --server A

`--readiness notify`: every generation, the first included, is accepted on its
sd_notify READY=1 only, so a HUP retires the old generation once the new one
serves. For the whole soak two clients run:

    wrk        -t THREADS -c CONNECTIONS GET / on keep-alive connections, stopped
               with SIGINT at the end; failed = non-2xx/3xx responses plus socket
               errors (connect, read, write, timeout: wrk's default 2 s)
    probe      a Python thread, GET /whoami on a fresh connection each time
               (Connection: close), --rate per second; every failure is counted
               by kind (connect, reset/closed, timeout, status, other)

After --warmup seconds the supervisor is sampled, then it gets --restarts HUPs,
one at a time, at most one every --hup-every seconds. After HUP number i the
script waits (each wait at most --timeout seconds, else it fails and says
which) until:
  - the deploy file says `G:ready` and the status file lists generation G
    alone (G = i + 1: the new generation is accepted and the old one has been
    reaped), and the log has `old worker P died, status:S` for the old pid;
  - GET /whoami on a fresh connection answers generation G from the new pid.
It then samples the supervisor process, once it is blocked in poll(2) again
(/proc/PID/syscall; so no event is seen half handled): open fds
(/proc/PID/fd), VmRSS and RssAnon (/proc/PID/status), child processes (live and zombie, from /proc/*/stat) and
the sockets in its notify directory (XDG_RUNTIME_DIR is a fresh temporary
directory). At the end the supervisor gets TERM; it must exit 0 with no process
of its group left.

PASS for an adapter when: every restart done; 0 failed requests (wrk and
probe); every old generation exited with status 0; the fd count after every
restart equals the one before the first; VmRSS at the end at most --rss-growth
KiB above the start; one live child and no zombie after every restart; one
notify socket after every restart; a clean stop. Prints one table (a column per
adapter) and a verdict line per adapter; exits 1 if any adapter fails.

Usage: bench/soak.py [--no-build] [--adapters actix,hyper] [--restarts 100]
                     [--connections 64] [--threads 1] [--rate 100]
                     [--hup-every 1] [--workers 1] [--warmup 2] [--timeout 30]
                     [--rss-growth 1024]
Needs: wrk (apt-get install wrk); builds release binaries (demo-app and our
start_server, package handover-supervisor) with cargo first.
"""
import argparse, http.client, json, os, re, shlex, shutil, signal, socket, statistics, subprocess, sys
import tempfile, threading, time
from datetime import datetime

from stderr_lines import Failure, StderrLines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")
DEMO = os.path.join(TARGET, "demo-app")
SUPERVISOR = os.path.join(TARGET, "start_server")
# poll and ppoll: the supervisor's main loop blocks in one of them when idle.
IDLE_SYSCALLS = {"x86_64": (7, 271), "aarch64": (73,)}.get(os.uname().machine, ())


class Supervisor(StderrLines):
    """Our start_server around the demo app; its and the workers' stderr lines
    kept with their read times."""

    def __init__(self, adapter, cfg, work):
        self.work = work
        self.status_file = os.path.join(work, "status")
        self.runtime = os.path.join(work, "runtime")
        os.mkdir(self.runtime, 0o700)
        env = {k: v for k, v in os.environ.items()
               if k not in ("SERVER_STARTER_PORT", "SERVER_STARTER_GENERATION", "NOTIFY_SOCKET")}
        env["RUST_LOG"] = "info"
        env["XDG_RUNTIME_DIR"] = self.runtime
        self.proc = subprocess.Popen(
            [SUPERVISOR, "--port", "127.0.0.1:0", "--readiness", "notify",
             "--pid-file", os.path.join(work, "pid"), "--status-file", self.status_file,
             "--", DEMO, "--config", cfg, "--server", adapter],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env, text=True, errors="replace", start_new_session=True)
        self.pid = self.proc.pid
        self.follow(self.proc)

    def read_files(self):
        """(status file lines, deploy file content), None for a missing file."""
        out = []
        for path in (self.status_file, self.status_file + ".deploy"):
            try:
                with open(path) as f:
                    out.append(f.read())
            except FileNotFoundError:
                out.append(None)
        status = None if out[0] is None else out[0].split()
        deploy = None if out[1] is None else out[1].strip()
        return status, deploy

    def wait_deployed(self, generation, timeout):
        """Waits until generation `generation` is ready and the only one in the
        status file; returns its pid."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise Failure("supervisor exited (status %s); last lines:\n%s"
                              % (self.proc.returncode, self.tail()))
            status, deploy = self.read_files()
            if deploy == "%d:failed" % generation:
                raise Failure("generation %d failed to start; last lines:\n%s"
                              % (generation, self.tail()))
            if (deploy == "%d:ready" % generation and status and len(status) == 1
                    and status[0].startswith("%d:" % generation)):
                return int(status[0].split(":")[1])
            if time.monotonic() >= deadline:
                raise Failure("after %g s, status file %r and deploy file %r, waiting for "
                              "generation %d alone; last lines:\n%s"
                              % (timeout, status, deploy, generation, self.tail()))
            time.sleep(0.01)

    def wait_idle(self, timeout):
        """Waits until the supervisor blocks in poll(2) (/proc/PID/syscall), so
        that a sample sees no event half handled: it reaps a worker, rewrites
        the status file and logs, and only then closes that worker's notify
        socket."""
        deadline = time.monotonic() + timeout
        while True:
            with open("/proc/%d/syscall" % self.pid) as f:
                call = f.read().split()[0]
            if call.isdigit() and int(call) in IDLE_SYSCALLS:
                return
            if time.monotonic() >= deadline:
                raise Failure("the supervisor did not block in poll within %g s (syscall %s)"
                              % (timeout, call))
            time.sleep(0.001)

    def sample(self, timeout):
        """Once it is idle: the supervisor's open fds, VmRSS and RssAnon (KiB),
        live children, zombie children, notify sockets on disk."""
        self.wait_idle(timeout)
        fds = len(os.listdir("/proc/%d/fd" % self.pid))
        with open("/proc/%d/status" % self.pid) as f:
            fields = dict(l.split(":", 1) for l in f if ":" in l)
        rss = int(fields["VmRSS"].split()[0])
        anon = int(fields["RssAnon"].split()[0])
        live = zombies = 0
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % p) as f:
                    stat = f.read()
            except OSError:
                continue
            rest = stat[stat.rindex(")") + 2:].split()
            if int(rest[1]) == self.pid:
                if rest[0] == "Z":
                    zombies += 1
                else:
                    live += 1
        sockets = sum(len([n for n in files if n.endswith(".sock")])
                      for _, _, files in os.walk(self.runtime))
        return {"fds": fds, "rss": rss, "anon": anon, "live": live, "zombies": zombies, "sockets": sockets}

    def stop(self, timeout):
        """TERM and wait; True if it exited 0 after 'exiting' and left no process
        in its process group."""
        os.kill(self.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("supervisor still running %g s after TERM; killed. Last lines:\n%s"
                          % (timeout, self.tail()))
        said = self.find(r"^exiting$", 2, fail=False) is not None
        left = group_members(self.pid)
        if left:
            os.killpg(self.pid, signal.SIGKILL)
        return code == 0 and said and not left, "exit %s, %s, %d left in its group" % (
            code, "said 'exiting'" if said else "no 'exiting' line", len(left))


def group_members(pgid):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[2]) == pgid:
                out.append(int(p))
    return out


def whoami(addr, timeout):
    """GET /whoami on a fresh connection: (status, parsed body or None)."""
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", "/whoami", headers={"Connection": "close"})
        r = conn.getresponse()
        body = r.read()
        return r.status, (json.loads(body) if r.status == 200 else None)
    finally:
        conn.close()


class Probe:
    """Sequential GET /whoami, each on a fresh connection, `rate` per second."""

    def __init__(self, addr, rate):
        self.addr, self.rate = addr, rate
        self.requests = 0
        self.failed = {"connect": 0, "reset": 0, "timeout": 0, "status": 0, "other": 0}
        self.examples = []
        self.generations = set()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _fail(self, kind, what):
        self.failed[kind] += 1
        if len(self.examples) < 10:
            self.examples.append("%s: %s" % (kind, what))

    def _run(self):
        period = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.done.is_set():
            self.requests += 1
            try:
                status, body = whoami(self.addr, 5)
                if status != 200:
                    self._fail("status", "HTTP %d" % status)
                else:
                    self.generations.add(body["generation"])
            except ConnectionRefusedError as e:
                self._fail("connect", repr(e))
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                    http.client.IncompleteRead) as e:
                self._fail("reset", repr(e))
            except socket.timeout as e:
                self._fail("timeout", repr(e))
            except Exception as e:  # anything else is a failure too, and kept
                self._fail("other", repr(e))
            next_at += period
            self.done.wait(max(0.0, next_at - time.monotonic()))

    def stop(self):
        self.done.set()
        self.thread.join(10)

    def failures(self):
        return sum(self.failed.values())


class Wrk:
    """wrk for as long as the soak lasts: started with a day's duration, stopped with SIGINT."""

    def __init__(self, addr, connections, threads):
        self.proc = subprocess.Popen(
            ["wrk", "-t%d" % threads, "-c%d" % connections, "-d86400s", "http://%s/" % addr],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise Failure("wrk did not stop 30 s after SIGINT:\n" + out)
        m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
        if not m:
            raise Failure("cannot read wrk's output:\n" + out)
        res = {"requests": int(m.group(1)), "non2xx": 0,
               "connect": 0, "read": 0, "write": 0, "timeout": 0, "out": out}
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if m:
            for k, v in zip(("connect", "read", "write", "timeout"), m.groups()):
                res[k] = int(v)
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if m:
            res["non2xx"] = int(m.group(1))
        res["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        res["max"] = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out).group(1)
        return res

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def soak(adapter, args, cfg):
    """One soak of `adapter`; returns its results."""
    work = tempfile.mkdtemp(prefix="soak-%s." % adapter)
    sup = Supervisor(adapter, cfg, work)
    load = probe = None
    r = {"restarts": 0, "samples": [], "exits": [], "hup_gone": [], "stopped": (False, "")}
    try:
        _, m = sup.find(r"gen 1: listening on (127\.0\.0\.1:\d+)", args.timeout)
        addr = m.group(1)
        pid = sup.wait_deployed(1, args.timeout)
        status, body = whoami(addr, 5)
        if status != 200 or body["generation"] != 1 or body["pid"] != pid:
            raise Failure("GET /whoami before the soak: %s %r, expected generation 1 pid %d"
                          % (status, body, pid))
        started = time.monotonic()
        load = Wrk(addr, args.connections, args.threads)
        probe = Probe(addr, args.rate) if args.rate > 0 else None
        time.sleep(args.warmup)
        if load.proc.poll() is not None:
            raise Failure("wrk exited early:\n" + load.proc.communicate()[0])
        r["samples"].append(sup.sample(args.timeout))
        next_hup = time.monotonic()
        for i in range(1, args.restarts + 1):
            generation = i + 1
            time.sleep(max(0.0, next_hup - time.monotonic()))
            mark = sup.mark()
            t_hup = time.monotonic()
            next_hup = t_hup + args.hup_every
            os.kill(sup.pid, signal.SIGHUP)
            new = sup.wait_deployed(generation, args.timeout)
            _, m = sup.find(r"old worker %d died, status:(\d+)" % pid, args.timeout, mark)
            r["exits"].append(int(m.group(1)))
            t_gone, _ = sup.find(r"old worker %d died" % pid, 0, mark)
            r["hup_gone"].append(t_gone - t_hup)
            status, body = whoami(addr, 5)
            if status != 200 or body["generation"] != generation or body["pid"] != new:
                raise Failure("GET /whoami after restart %d: %s %r, expected generation %d pid %d"
                              % (i, status, body, generation, new))
            pid = new
            r["samples"].append(sup.sample(args.timeout))
            r["restarts"] = i
            if i % 10 == 0 or i == args.restarts:
                s = r["samples"][-1]
                print("%s: restart %d/%d, fds %d, VmRSS %d KiB (RssAnon %d), children %d live %d zombie"
                      % (adapter, i, args.restarts, s["fds"], s["rss"], s["anon"], s["live"], s["zombies"]),
                      file=sys.stderr, flush=True)
        if probe:
            probe.stop()
        r["wrk"] = load.stop()
        r["duration"] = time.monotonic() - started
        load = None
        r["stopped"] = sup.stop(args.timeout)
    except BaseException:
        if load:
            load.kill()
        sup.kill()
        if probe:
            probe.stop()
        raise
    finally:
        r["probe"] = probe
    shutil.rmtree(work, ignore_errors=True)
    return r


def verdict(r, args):
    """(passed, reasons it failed)."""
    why = []
    s0, after = r["samples"][0], r["samples"][1:]
    w, p = r["wrk"], r["probe"]
    if r["restarts"] != args.restarts:
        why.append("%d of %d restarts" % (r["restarts"], args.restarts))
    wrk_failed = w["non2xx"] + w["connect"] + w["read"] + w["write"] + w["timeout"]
    if wrk_failed:
        why.append("%d wrk requests failed" % wrk_failed)
    if p and p.failures():
        why.append("%d probe requests failed" % p.failures())
    unclean = [x for x in r["exits"] if x != 0]
    if unclean:
        why.append("%d old generations exited with a non-zero status" % len(unclean))
    if any(s["fds"] != s0["fds"] for s in after):
        why.append("fd count not flat (%d at start, %d-%d after restarts)"
                   % (s0["fds"], min(s["fds"] for s in after), max(s["fds"] for s in after)))
    growth = r["samples"][-1]["rss"] - s0["rss"]
    if growth > args.rss_growth:
        why.append("VmRSS grew %d KiB (bound %d KiB)" % (growth, args.rss_growth))
    if any(s["live"] != 1 or s["zombies"] for s in after):
        why.append("children after a restart other than one live, no zombie")
    if any(s["sockets"] != 1 for s in after):
        why.append("notify sockets on disk after a restart other than 1")
    if not r["stopped"][0]:
        why.append("unclean stop: %s" % r["stopped"][1])
    return not why, why


def report(args, results):
    names = list(results)
    n = args.restarts
    picks = sorted({1, (n + 1) // 2, n})

    def row(label, f):
        print("| %s | %s |" % (label, " | ".join(f(results[a]) for a in names)))

    print("| | %s |" % " | ".join(names))
    print("|---|" + "---:|" * len(names))
    row("restarts done", lambda r: "%d / %d" % (r["restarts"], n))
    row("duration (s)", lambda r: "%.1f" % r["duration"])
    row("wrk requests", lambda r: "%d" % r["wrk"]["requests"])
    row("wrk req/s", lambda r: "%.0f" % r["wrk"]["rps"])
    row("wrk max latency", lambda r: r["wrk"]["max"])
    row("wrk non-2xx/3xx", lambda r: "%d" % r["wrk"]["non2xx"])
    row("wrk socket errors connect / read / write / timeout",
        lambda r: "%d / %d / %d / %d" % tuple(r["wrk"][k] for k in ("connect", "read", "write", "timeout")))
    if args.rate > 0:
        row("probe requests (fresh connection each)", lambda r: "%d" % r["probe"].requests)
        row("probe failed connect / reset / timeout / status / other",
            lambda r: "%d / %d / %d / %d / %d" % tuple(r["probe"].failed[k] for k in
                                                       ("connect", "reset", "timeout", "status", "other")))
        row("generations the probe saw", lambda r: "%d" % len(r["probe"].generations))
    row("old generations exited with status 0", lambda r: "%d / %d" % (
        sum(1 for x in r["exits"] if x == 0), len(r["exits"])))
    row("HUP → old generation reaped, median / max (ms)", lambda r: "%.0f / %.0f" % (
        statistics.median(r["hup_gone"]) * 1000, max(r["hup_gone"]) * 1000))
    row("supervisor fds: start / " + " / ".join("after %d" % i for i in picks),
        lambda r: " / ".join(str(r["samples"][i]["fds"]) for i in [0] + picks))
    row("supervisor fds after restarts, min / max", lambda r: "%d / %d" % (
        min(s["fds"] for s in r["samples"][1:]), max(s["fds"] for s in r["samples"][1:])))
    row("supervisor VmRSS KiB: start / after 1 / end / max", lambda r: "%d / %d / %d / %d" % (
        r["samples"][0]["rss"], r["samples"][1]["rss"], r["samples"][-1]["rss"],
        max(s["rss"] for s in r["samples"])))
    row("supervisor RssAnon KiB: start / end / max", lambda r: "%d / %d / %d" % (
        r["samples"][0]["anon"], r["samples"][-1]["anon"], max(s["anon"] for s in r["samples"])))
    row("children after restarts: live min-max / zombies max", lambda r: "%d-%d / %d" % (
        min(s["live"] for s in r["samples"][1:]), max(s["live"] for s in r["samples"][1:]),
        max(s["zombies"] for s in r["samples"][1:])))
    row("notify sockets on disk after restarts, max", lambda r: "%d" % max(
        s["sockets"] for s in r["samples"][1:]))
    row("stop (TERM)", lambda r: r["stopped"][1])
    print()
    ok = True
    for a in names:
        passed, why = verdict(results[a], args)
        ok &= passed
        print("%s: %s" % (a, "PASS" if passed else "FAIL: " + "; ".join(why)))
        p = results[a]["probe"]
        if p and p.examples:
            print("  probe failures (first %d): %s" % (len(p.examples), "; ".join(p.examples)))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", action=argparse.BooleanOptionalAction, default=True,
                    help="cargo build --release the demo app and our supervisor first")
    ap.add_argument("--adapters", type=lambda v: [a for a in v.split(",") if a], default="actix,hyper",
                    help="comma-separated adapters, one soak each (default actix,hyper)")
    ap.add_argument("--restarts", type=int, default=100, help="HUPs per soak (default 100)")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--rate", type=float, default=100,
                    help="probe requests per second, each on a fresh connection; 0: no probe (default 100)")
    ap.add_argument("--hup-every", type=float, default=1.0,
                    help="at most one HUP every this many seconds (default 1)")
    ap.add_argument("--workers", type=int, default=1, help="the demo app's worker threads (default 1)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the first sample")
    ap.add_argument("--timeout", type=float, default=30.0, help="bound of every wait, seconds (default 30)")
    ap.add_argument("--rss-growth", type=int, default=1024,
                    help="largest VmRSS growth start to end that passes, KiB (default 1024)")
    args = ap.parse_args()
    if not args.adapters:
        ap.error("--adapters: need at least one adapter")
    if args.restarts < 1 or args.connections < 1 or args.threads < 1 or args.rate < 0:
        ap.error("--restarts, --connections and --threads must be at least 1, --rate at least 0")
    if not IDLE_SYSCALLS:
        sys.exit("soak: poll's syscall number on %s is unknown; add it to IDLE_SYSCALLS" % os.uname().machine)
    if shutil.which("wrk") is None:
        sys.exit("soak: wrk not found; install it (apt-get install wrk)")
    if args.build:
        cmd = ["cargo", "build", "--release", "-q", "-p", "demo-app", "-p", "handover-supervisor"]
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            sys.exit("soak: cargo build failed")
    for path in (DEMO, SUPERVISOR):
        if not os.access(path, os.X_OK):
            sys.exit("soak: %s is missing or not executable (run without --no-build)" % path)
    cfg_dir = tempfile.mkdtemp(prefix="soak-cfg.")
    cfg = os.path.join(cfg_dir, "soak.toml")
    with open(cfg, "w") as f:
        f.write('[http]\nworkers = %d\nshutdown_timeout = "30s"\ndrain_linger = "2s"\n' % args.workers)

    results = {}
    try:
        for a in args.adapters:
            print("%s: %d restarts under wrk -t%d -c%d%s" % (
                a, args.restarts, args.threads, args.connections,
                " and a %g/s fresh-connection probe" % args.rate if args.rate > 0 else ""),
                file=sys.stderr, flush=True)
            try:
                results[a] = soak(a, args, cfg)
            except Failure as e:
                sys.exit("soak: %s failed: %s" % (a, e))
    finally:
        shutil.rmtree(cfg_dir, ignore_errors=True)

    print("command: %s" % " ".join(shlex.quote(x) for x in [sys.argv[0]] + sys.argv[1:]))
    print("date: %s" % datetime.now().astimezone().isoformat(timespec="seconds"))
    print("machine: nproc=%d, %s %s" % (len(os.sched_getaffinity(0)), os.uname().sysname, os.uname().release))
    print()
    ok = report(args, results)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
