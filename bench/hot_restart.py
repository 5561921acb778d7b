#!/usr/bin/env python3
"""Hot-restart benchmark: handover-actix (demo-app) vs a plain actix-web app
(bench/plain-actix), both under Perl start_server, loaded by wrk on 127.0.0.1.

For each round and each variant (order alternated every round):
  steady   wrk for --duration seconds, no restart
  restart  wrk for --duration seconds while start_server gets HUP every --hup-every s
  exit     one GET /sleep?ms=2500 in flight, HUP (start_server sends TERM to the
           old generation after its 1 s --interval, while the request is still
           running); time from its response to the old generation's exit as
           start_server reports it ("old worker P died")
Prints one table with medians over rounds, and the ratios the targets use.

Usage: bench/hot_restart.py [--rounds 3] [--duration 10] [--hup-every 2]
                            [--connections 64] [--threads 1] [--workers 1]
Needs: wrk and start_server (apt-get install wrk libserver-starter-perl);
builds release binaries with cargo first.
"""
import argparse, os, re, signal, statistics, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")


class Supervisor:
    """start_server --port 127.0.0.1:0 around one variant; stderr read in the background."""

    def __init__(self, argv, env):
        self.lines = []  # (monotonic time, line)
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            ["start_server", "--port", "127.0.0.1:0", "--"] + argv,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env, text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        _, m = self.find(r"listening on (127\.0\.0\.1:\d+)", 20)
        self.addr = m.group(1)

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.cond.notify_all()

    def find(self, pattern, timeout, start=0):
        """(time the line was read, match) for the first line after `start` matching `pattern`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, line in self.lines[start:]:
                    m = rx.search(line)
                    if m:
                        return at, m
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(l for _, l in self.lines[-30:])
                    raise RuntimeError("timeout waiting for %r\n%s" % (pattern, tail))
                self.cond.wait(left)

    def mark(self):
        with self.cond:
            return len(self.lines)

    def hup(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self):
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def get(addr, path, timeout=30):
    with urllib.request.urlopen("http://%s%s" % (addr, path), timeout=timeout) as r:
        return r.status, r.read()


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    v, unit = float(m.group(1)), m.group(2)
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(addr, duration, connections, threads, during=None):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration, "--latency", "http://%s/" % addr]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if during:
        during()
    out, _ = p.communicate()
    res = {"requests": 0, "failed": 0, "rps": 0.0, "p99": 0.0, "max": 0.0}
    m = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)
    res["max"] = to_ms(m.group(1))
    m = re.search(r"99%\s+(\S+)", out)
    res["p99"] = to_ms(m.group(1))
    res["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    res["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["failed"] += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["failed"] += int(m.group(1))
    return res


def exit_after_last_response(sup):
    """ms from the in-flight response to start_server reporting the old worker's exit."""
    status, body = get(sup.addr, "/whoami")
    pid = re.search(rb'"pid":(\d+)', body).group(1).decode()
    mark = sup.mark()
    done = {}

    def slow():
        get(sup.addr, "/sleep?ms=2500")
        done["t"] = time.monotonic()

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.1)
    sup.hup()
    sup.find(r"killing old workers", 10, mark)
    assert "t" not in done, "the request must still be in flight when TERM is sent"
    exited, _ = sup.find(r"old worker %s died" % pid, 40, mark)
    t.join()
    return (exited - done["t"]) * 1000.0


def variants(args, cfg):
    env = dict(os.environ, RUST_LOG="info", WORKERS=str(args.workers))
    env.pop("SERVER_STARTER_PORT", None)
    return {
        "handover-actix": ([os.path.join(TARGET, "demo-app"), "--config", cfg], env),
        "plain actix-web": ([os.path.join(TARGET, "plain-actix")], env),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--hup-every", type=float, default=2.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "demo-app", "-p", "plain-actix"], cwd=ROOT, check=True)
    cfg = os.path.join(tempfile.mkdtemp(), "bench.toml")
    with open(cfg, "w") as f:
        f.write('server = "actix"\n[http]\nworkers = %d\nshutdown_timeout = "30s"\ndrain_linger = "2s"\n' % args.workers)
    runs = {}
    names = list(variants(args, cfg))
    for rnd in range(args.rounds):
        order = names if rnd % 2 == 0 else names[::-1]
        for name in order:
            argv, env = variants(args, cfg)[name]
            sup = Supervisor(argv, env)
            time.sleep(0.5)
            r = runs.setdefault(name, {"steady": [], "restart": [], "exit": [], "restarts": 0})
            r["steady"].append(wrk(sup.addr, args.duration, args.connections, args.threads))

            def hups():
                n = 0
                end = time.monotonic() + args.duration - 0.5
                while time.monotonic() + args.hup_every < end:
                    time.sleep(args.hup_every)
                    sup.hup()
                    n += 1
                r["restarts"] += n

            r["restart"].append(wrk(sup.addr, args.duration, args.connections, args.threads, during=hups))
            time.sleep(3)
            r["exit"].append(exit_after_last_response(sup))
            sup.stop()
            print("round %d %-16s steady %8.0f req/s, restart %8.0f req/s, %d failed, exit %.1f ms" % (
                rnd + 1, name, r["steady"][-1]["rps"], r["restart"][-1]["rps"],
                r["restart"][-1]["failed"], r["exit"][-1]), file=sys.stderr)

    med = statistics.median
    print()
    print("wrk -t%d -c%d -d%ds, %d rounds alternated, HUP every %gs, server workers %d; medians" % (
        args.threads, args.connections, args.duration, args.rounds, args.hup_every, args.workers))
    print()
    print("| server | mode | restarts | failed requests | req/s | p99 ms | max ms | last response to exit ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        r = runs[name]
        for mode in ("steady", "restart"):
            rows = r[mode]
            failed = sum(x["failed"] for x in rows)
            print("| %s | %s | %s | %d | %.0f | %.2f | %.2f | %s |" % (
                name, mode, r["restarts"] if mode == "restart" else 0, failed,
                med(x["rps"] for x in rows), med(x["p99"] for x in rows), med(x["max"] for x in rows),
                "%.1f" % med(r["exit"]) if mode == "restart" else ""))
    h, p = runs["handover-actix"], runs["plain actix-web"]
    print()
    print("steady throughput handover / plain: %.3f" % (med(x["rps"] for x in h["steady"]) / med(x["rps"] for x in p["steady"])))
    print("handover max latency, restart / steady: %.2f" % (med(x["max"] for x in h["restart"]) / med(x["max"] for x in h["steady"])))


if __name__ == "__main__":
    main()
