#!/usr/bin/env python3
"""Hot-restart benchmark: for each adapter A, three servers with the same routes,
all under Perl start_server, loaded by wrk on 127.0.0.1:
  handover-A  demo-app --server A: handover's Router through the adapter
  native-A    plain-A --handover: the framework's own app in handover's native mode
  plain-A     bench/plain-A: the bare framework, socket taken from
              SERVER_STARTER_PORT by hand

For each round and each variant (order reversed every other round):
  steady   wrk for --duration seconds, no restart
  restart  wrk for --duration seconds while start_server gets HUP every --hup-every s
  exit     one GET /sleep?ms=2500 in flight, HUP (start_server sends TERM to the
           old generation after its 1 s --interval, while the request is still
           running); time from its response to the old generation's exit as
           start_server reports it ("old worker P died")
Prints one table per adapter pair with medians over rounds, and the ratios the
targets use (steady throughput handover / plain, failed requests under restart).

Usage: bench/hot_restart.py [--adapters actix,hyper,axum] [--rounds 3] [--duration 10]
                            [--hup-every 2] [--connections 64] [--threads 1]
                            [--workers 1]
Needs: wrk and start_server (apt-get install wrk libserver-starter-perl);
builds release binaries (demo-app, plain-A) with cargo first.
"""
import argparse, os, re, signal, statistics, subprocess, sys, tempfile, threading, time, urllib.request

from stderr_lines import StderrLines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")


class Supervisor(StderrLines):
    """start_server --port 127.0.0.1:0 around one variant; stderr read in the background."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(
            ["start_server", "--port", "127.0.0.1:0", "--"] + argv,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env, text=True, start_new_session=True)
        self.follow(self.proc)
        try:
            _, m = self.find(r"listening on (127\.0\.0\.1:\d+)", 20)
        except Exception:
            self.stop()
            raise
        self.addr = m.group(1)

    def hup(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self):
        if self.proc.poll() is not None:
            return
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
    # The latency distribution line, not the "+/- Stdev" column (e.g. "98.99%").
    m = re.search(r"^\s+99%\s+(\S+)", out, re.M)
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
    """name -> (argv, env), in run order, for each adapter A: handover-A (demo-app:
    the handover Router through the adapter), native-A (plain-A's own app served
    by handover's NativeFactory), plain-A (the bare framework)."""
    env = dict(os.environ, RUST_LOG="info", WORKERS=str(args.workers))
    env.pop("SERVER_STARTER_PORT", None)
    out = {}
    for a in args.adapters:
        out["handover-" + a] = ([os.path.join(TARGET, "demo-app"), "--config", cfg, "--server", a], env)
        out["native-" + a] = ([os.path.join(TARGET, "plain-" + a), "--handover", cfg], env)
        out["plain-" + a] = ([os.path.join(TARGET, "plain-" + a)], env)
    return out


def measure(args, argv, env, r):
    """One round of one variant under a fresh start_server; appends to `r`."""
    sup = Supervisor(argv, env)
    try:
        time.sleep(0.5)
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
    finally:
        sup.stop()


def failed(rows):
    return sum(x["failed"] for x in rows)


def report(adapter, runs):
    """Markdown table for handover-A, native-A and plain-A, then the ratios."""
    med = statistics.median
    h, n, p = runs["handover-" + adapter], runs["native-" + adapter], runs["plain-" + adapter]
    print()
    print("### %s" % adapter)
    print()
    print("| server | mode | restarts | failed requests | req/s | p99 ms | max ms | last response to exit ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in (("handover-" + adapter, h), ("native-" + adapter, n), ("plain-" + adapter, p)):
        for mode in ("steady", "restart"):
            rows = r[mode]
            print("| %s | %s | %s | %d | %.0f | %.2f | %.2f | %s |" % (
                name, mode, r["restarts"] if mode == "restart" else 0, failed(rows),
                med(x["rps"] for x in rows), med(x["p99"] for x in rows), med(x["max"] for x in rows),
                "%.1f" % med(r["exit"]) if mode == "restart" else ""))
    print()
    steady = lambda r: med(x["rps"] for x in r["steady"])
    print("steady throughput handover / plain: %.3f" % (steady(h) / steady(p)))
    print("steady throughput native / plain: %.3f" % (steady(n) / steady(p)))
    print("failed requests under restart handover / native / plain: %d / %d / %d" % (
        failed(h["restart"]), failed(n["restart"]), failed(p["restart"])))
    print("handover max latency, restart / steady: %.2f" % (med(x["max"] for x in h["restart"]) / med(x["max"] for x in h["steady"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", type=lambda v: [a for a in v.split(",") if a], default="actix,hyper,axum",
                    help="comma-separated adapters; each A compares handover-A with plain-A")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--hup-every", type=float, default=2.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if not args.adapters:
        ap.error("--adapters: need at least one adapter")
    packages = ["demo-app"] + ["plain-" + a for a in args.adapters]
    subprocess.run(["cargo", "build", "--release", "-q"] + [x for p in packages for x in ("-p", p)], cwd=ROOT, check=True)
    cfg = os.path.join(tempfile.mkdtemp(), "bench.toml")
    with open(cfg, "w") as f:
        f.write('[http]\nworkers = %d\nshutdown_timeout = "30s"\ndrain_linger = "2s"\n' % args.workers)
    plan = variants(args, cfg)
    names = list(plan)
    runs = {name: {"steady": [], "restart": [], "exit": [], "restarts": 0} for name in names}
    for rnd in range(args.rounds):
        for name in names if rnd % 2 == 0 else names[::-1]:
            argv, env = plan[name]
            r = runs[name]
            measure(args, argv, env, r)
            print("round %d %-16s steady %8.0f req/s, restart %8.0f req/s, %d failed, exit %.1f ms" % (
                rnd + 1, name, r["steady"][-1]["rps"], r["restart"][-1]["rps"],
                r["restart"][-1]["failed"], r["exit"][-1]), file=sys.stderr)

    print()
    print("wrk -t%d -c%d -d%ds, %d rounds alternated, HUP every %gs, server workers %d; "
          "medians over rounds (restarts and failed requests: totals)" % (
              args.threads, args.connections, args.duration, args.rounds, args.hup_every, args.workers))
    for a in args.adapters:
        report(a, runs)


if __name__ == "__main__":
    main()
