#!/usr/bin/env python3
"""Hot-restart benchmark: for each adapter A, three servers with the same routes,
all under Perl start_server, loaded by wrk on 127.0.0.1:
  handover-A  demo-app --server A: handover's Router through the adapter
  native-A    plain-A --handover: the framework's own app in handover's native mode
  plain-A     bench/plain-A: the bare framework, socket taken from
              SERVER_STARTER_PORT by hand

Steady throughput, paired: for each adapter A the three servers run at once,
each under its own start_server, and wrk loads them in turn for --slice-seconds
each, --slices times (order reversed every other slice). Each slice gives a
server's requests per second and p99 against plain-A's in the same slice; the
table shows the medians of those paired ratios and their spread. On a shared
2-core VM the machine itself runs in fast and slow stretches (plain-A
included, by as much as a quarter, pinned or not), so ratios of one server's
run against another's run seconds later measure the machine; ratios within a
slice measure the servers.

Then, for each round and each variant (order reversed every other round), a
fresh start_server:
  restart  wrk for --duration seconds while start_server gets HUP every --hup-every s
  exit     one GET /sleep?ms=2500 in flight, HUP (start_server sends TERM to the
           old generation after its 1 s --interval, while the request is still
           running); time from its response to the old generation's exit as
           start_server reports it ("old worker P died")
Prints one table per adapter with the steady medians, the restart medians
over rounds and failed requests under restart, then the ratios the targets
use: each server's paired steady throughput and p99 against plain-A's and the
targets (>= 0.97 of plain's requests per second, p99 no more than 5 % above
plain's).

With --plot FILE.svg it then draws the picture: for each adapter, handover-A
and plain-A each run --plot-seconds under start_server with a HUP every
--hup-every seconds, loaded by --plot-connections keep-alive clients (one
process each, `GET /` one request at a time, reconnecting after a failure);
the figure shows requests answered and requests failed per 100 ms over time,
with the HUPs marked. Failed: the connection was refused, reset or closed
before the whole response, or the status was not 2xx (wrk's counting). The
clients are Python, so the rates are the clients' and far below wrk's: the
picture is about what happens at each HUP, the tables about throughput.
--rounds 0 draws the picture only. Needs matplotlib (Debian python3-matplotlib).

With --pin SERVER,CLIENT (CPU numbers, e.g. --pin 1,0) start_server and every
generation it starts run on CPU SERVER and wrk on CPU CLIENT (taskset), so
neither steals the other's core mid-run: on a 2-core machine unpinned rounds
split into a fast and a slow group depending on where the scheduler put them.

Usage: bench/hot_restart.py [--adapters actix,hyper,axum] [--rounds 3] [--duration 10]
                            [--slices 15] [--slice-seconds 2]
                            [--hup-every 2] [--connections 64] [--threads 1]
                            [--workers 1] [--plot FILE.svg] [--plot-seconds 10]
                            [--plot-connections 8] [--pin SERVER,CLIENT]
Needs: wrk and start_server (apt-get install wrk libserver-starter-perl);
builds release binaries (demo-app, plain-A) with cargo first.
"""
import argparse, multiprocessing, os, re, signal, socket, statistics, subprocess, sys, threading, time, urllib.request

from served import TARGET, build, setup
from stderr_lines import StderrLines

# Command prefixes that pin the server and wrk to a CPU each (--pin).
PIN = {"server": [], "client": []}


class Supervisor(StderrLines):
    """start_server --port 127.0.0.1:0 around one variant; stderr read in the background."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(
            PIN["server"] + ["start_server", "--port", "127.0.0.1:0", "--"] + argv,
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
    p = subprocess.Popen(PIN["client"] + cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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


def variants(adapters, cfg, env):
    """name -> (argv, env), in run order, for each adapter A: handover-A (demo-app:
    the handover Router through the adapter), native-A (plain-A's own app served
    by handover's NativeFactory), plain-A (the bare framework)."""
    out = {}
    for a in adapters:
        out["handover-" + a] = ([os.path.join(TARGET, "demo-app"), "--config", cfg, "--server", a], env)
        out["native-" + a] = ([os.path.join(TARGET, "plain-" + a), "--handover", cfg], env)
        out["plain-" + a] = ([os.path.join(TARGET, "plain-" + a)], env)
    return out


def steady(args, plan, adapter, runs):
    """The paired steady slices of adapter's three servers, all running at once;
    appends each slice's wrk result to runs[name]["steady"]."""
    names = [v + adapter for v in ("handover-", "native-", "plain-")]
    sups = {}
    try:
        for name in names:
            sups[name] = Supervisor(*plan[name])
        for name in names:
            # Warm-up: connections, the allocator's pools and the CPU caches.
            wrk(sups[name].addr, 1, args.connections, args.threads)
        for i in range(args.slices):
            for name in names if i % 2 == 0 else names[::-1]:
                runs[name]["steady"].append(wrk(sups[name].addr, args.slice_seconds, args.connections, args.threads))
            print("slice %d %s" % (i + 1, ", ".join(
                "%s %.0f req/s" % (name, runs[name]["steady"][-1]["rps"]) for name in names)), file=sys.stderr)
    finally:
        for sup in sups.values():
            sup.stop()


def paired(runs, name, plain, key):
    """name's steady ratios to plain's in the same slice, for key (rps or p99)."""
    return [x[key] / y[key] for x, y in zip(runs[name]["steady"], runs[plain]["steady"])]


def quartiles(xs):
    """Lower quartile, median and upper quartile."""
    if len(xs) < 2:
        return xs[0], xs[0], xs[0]
    q = statistics.quantiles(xs, n=4)
    return q[0], statistics.median(xs), q[2]


def measure(args, argv, env, r):
    """One restart round of one variant under a fresh start_server; appends to `r`."""
    sup = Supervisor(argv, env)
    try:
        time.sleep(0.5)

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


BUCKET = 0.1  # seconds per point of the plot


def plot_client(addr, t0, seconds, out):
    """One keep-alive client for the plot: GET / one at a time from t0 for
    `seconds`; puts (answered, failed) counts per bucket on `out`."""
    host, port = addr.rsplit(":", 1)
    n = int(seconds / BUCKET) + 1
    ok, bad = [0] * n, [0] * n
    request = b"GET / HTTP/1.1\r\nHost: " + addr.encode() + b"\r\n\r\n"
    sock, buf = None, b""
    while time.monotonic() < t0:
        time.sleep(0.001)
    while True:
        now = time.monotonic() - t0
        if now >= seconds:
            break
        i = int(now / BUCKET)
        try:
            if sock is None:
                sock = socket.create_connection((host, int(port)), timeout=5)
                buf = b""
            sock.sendall(request)
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed before the response")
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            length = int(m.group(1)) if m else 0
            while len(buf) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed within the body")
                buf += chunk
            buf = buf[length:]
            if re.search(rb"(?im)^connection:\s*close", head):
                sock.close()
                sock = None
            if 200 <= status < 300:
                ok[i] += 1
            else:
                bad[i] += 1
        except (OSError, ValueError, IndexError):
            bad[i] += 1
            if sock is not None:
                sock.close()
            sock = None
            time.sleep(0.005)
    if sock is not None:
        sock.close()
    out.put((ok, bad))


def timeline(args, argv, env):
    """One server under start_server, loaded by the plot's clients, HUPed
    every --hup-every s; returns answered and failed per bucket, and the HUP times."""
    sup = Supervisor(argv, env)
    try:
        time.sleep(0.5)
        out = multiprocessing.Queue()
        t0 = time.monotonic() + 0.5
        procs = [multiprocessing.Process(target=plot_client, args=(sup.addr, t0, args.plot_seconds, out))
                 for _ in range(args.plot_connections)]
        for p in procs:
            p.start()
        hups = []
        while True:
            at = t0 + (len(hups) + 1) * args.hup_every
            if at >= t0 + args.plot_seconds - 0.5:
                break
            time.sleep(max(0.0, at - time.monotonic()))
            sup.hup()
            hups.append(time.monotonic() - t0)
        results = [out.get(timeout=args.plot_seconds + 30) for _ in procs]
        for p in procs:
            p.join()
    finally:
        sup.stop()
    # The last bucket is partial: left out.
    ok = [sum(col) for col in zip(*(r[0] for r in results))][:-1]
    bad = [sum(col) for col in zip(*(r[1] for r in results))][:-1]
    return ok, bad, hups


def draw(path, adapters, lines):
    """lines: adapter -> server -> (ok, bad, hups)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(adapters), 1, figsize=(10, 4.2 * len(adapters)), squeeze=False)
    colors = {"handover": "tab:blue", "plain": "tab:gray"}
    fails = {"handover": "tab:orange", "plain": "tab:red"}
    for ax, a in zip(axes[:, 0], adapters):
        # Failures are a handful against thousands answered: their own axis.
        ax2 = ax.twinx()
        most = 1
        for k, (server, (ok, bad, hups)) in enumerate(lines[a].items()):
            kind = server.split("-")[0]
            t = [i * BUCKET for i in range(len(ok))]
            ax.plot(t, ok, color=colors[kind], lw=1.2,
                    label="%s: answered (%d in all)" % (server, sum(ok)))
            ax2.bar([x + BUCKET * (0.25 + 0.5 * k) for x in t], bad, width=BUCKET / 2,
                    color=fails[kind], label="%s: failed (%d in all)" % (server, sum(bad)))
            most = max(most, max(bad))
        for i, h in enumerate(next(iter(lines[a].values()))[2]):
            ax.axvline(h, color="black", ls="--", lw=0.8, label="HUP" if i == 0 else None)
        ax.set_title("%s: requests per 100 ms across hot restarts (HUP every few seconds)" % a)
        ax.set_xlabel("seconds")
        ax.set_ylabel("answered per 100 ms")
        ax.set_ylim(bottom=0)
        ax2.set_ylabel("failed per 100 ms")
        ax2.set_ylim(0, most * 1.6)
        handles, labels = ax.get_legend_handles_labels()
        handles2, labels2 = ax2.get_legend_handles_labels()
        ax.legend(handles + handles2, labels + labels2, loc="upper center",
                  bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize="small", frameon=False)
    fig.tight_layout()
    fig.savefig(path)


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
            if not rows:
                continue
            print("| %s | %s | %s | %d | %.0f | %.2f | %.2f | %s |" % (
                name, mode, r["restarts"] if mode == "restart" else 0, failed(rows),
                med(x["rps"] for x in rows), med(x["p99"] for x in rows), med(x["max"] for x in rows),
                "%.1f" % med(r["exit"]) if mode == "restart" else ""))
    if p["steady"]:
        print()
        print("| server | steady req/s vs plain, paired (quartiles) | target | met "
              "| steady p99 vs plain, paired (quartiles) | target | met |")
        print("| --- | ---: | ---: | --- | ---: | ---: | --- |")
    for name in ("handover-" + adapter, "native-" + adapter) if p["steady"] else ():
        lo, rps, hi = quartiles(paired(runs, name, "plain-" + adapter, "rps"))
        llo, lat, lhi = quartiles(paired(runs, name, "plain-" + adapter, "p99"))
        print("| %s | %.3f (%.3f-%.3f) | >= 0.97 | %s | %.3f (%.3f-%.3f) | <= 1.05 | %s |" % (
            name, rps, lo, hi, "yes" if rps >= 0.97 else "**no**",
            lat, llo, lhi, "yes" if lat <= 1.05 else "**no**"))
    print()
    print("failed requests under restart handover / native / plain: %d / %d / %d" % (
        failed(h["restart"]), failed(n["restart"]), failed(p["restart"])))
    if h["restart"] and h["steady"]:
        print("handover max latency, restart / steady: %.2f" % (
            med(x["max"] for x in h["restart"]) / med(x["max"] for x in h["steady"])))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", type=lambda v: [a for a in v.split(",") if a], default="actix,hyper,axum",
                    help="comma-separated adapters; each A compares handover-A with plain-A")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds of wrk per restart round")
    ap.add_argument("--slices", type=int, default=15, help="paired steady slices per adapter")
    ap.add_argument("--slice-seconds", type=int, default=2, help="seconds of wrk per server and slice")
    ap.add_argument("--hup-every", type=float, default=2.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--plot", metavar="FILE.svg", help="also draw requests and failures over time across HUPs")
    ap.add_argument("--plot-seconds", type=float, default=10.0)
    ap.add_argument("--plot-connections", type=int, default=8)
    ap.add_argument("--pin", metavar="SERVER,CLIENT",
                    help="run the server on CPU SERVER and wrk on CPU CLIENT (taskset)")
    args = ap.parse_args()
    if args.pin:
        cpus = args.pin.split(",")
        if len(cpus) != 2 or not all(c.isdigit() for c in cpus):
            ap.error("--pin %r: expected two CPU numbers, SERVER,CLIENT (e.g. 1,0)" % args.pin)
        PIN["server"] = ["taskset", "-c", cpus[0]]
        PIN["client"] = ["taskset", "-c", cpus[1]]
    if args.plot:
        try:
            import matplotlib  # noqa: F401 (checked before the runs, not after)
        except ImportError:
            ap.error("--plot needs matplotlib, which %s cannot import (Debian: apt-get install "
                     "python3-matplotlib, then run this script with /usr/bin/python3)" % sys.executable)
    if not args.adapters:
        ap.error("--adapters: need at least one adapter")
    build(args.adapters)
    _, cfg, env = setup('[http]\nworkers = %d\nshutdown_timeout = "30s"\ndrain_linger = "2s"\n' % args.workers,
                        RUST_LOG="info", WORKERS=str(args.workers))
    plan = variants(args.adapters, cfg, env)
    names = list(plan)
    runs = {name: {"steady": [], "restart": [], "exit": [], "restarts": 0} for name in names}
    if args.rounds > 0 and args.slices > 0:
        for a in args.adapters:
            steady(args, plan, a, runs)
    for rnd in range(args.rounds):
        for name in names if rnd % 2 == 0 else names[::-1]:
            argv, env = plan[name]
            r = runs[name]
            measure(args, argv, env, r)
            print("round %d %-16s restart %8.0f req/s, %d failed, exit %.1f ms" % (
                rnd + 1, name, r["restart"][-1]["rps"],
                r["restart"][-1]["failed"], r["exit"][-1]), file=sys.stderr)

    if args.rounds > 0:
        print()
        print("wrk -t%d -c%d; steady: %d paired slices of %ds; restart: -d%ds, %d rounds alternated, "
              "HUP every %gs; server workers %d%s; medians (restarts and failed requests: totals)" % (
                  args.threads, args.connections, args.slices, args.slice_seconds, args.duration,
                  args.rounds, args.hup_every, args.workers,
                  ", server on CPU %s and wrk on CPU %s" % tuple(args.pin.split(",")) if args.pin else ""))
        for a in args.adapters:
            report(a, runs)
    if args.plot:
        lines = {}
        for a in args.adapters:
            lines[a] = {}
            for name in ("handover-" + a, "plain-" + a):
                argv, env = plan[name]
                lines[a][name] = timeline(args, argv, env)
                ok, bad, hups = lines[a][name]
                print("plot %-16s %d answered, %d failed, %d HUPs" % (name, sum(ok), sum(bad), len(hups)),
                      file=sys.stderr)
        draw(args.plot, args.adapters, lines)
        print("\nplot: %s (%d clients, %gs, HUP every %gs)" % (
            args.plot, args.plot_connections, args.plot_seconds, args.hup_every))


if __name__ == "__main__":
    main()
