#!/usr/bin/env python3
"""HTTP/2 throughput: for each adapter A, three servers with the same routes
under Perl start_server, loaded by h2load over h2c (prior knowledge):
  handover-A  demo-app --server A: handover's Router through the adapter
  native-A    plain-A --handover: the framework's own app in handover's native mode
  plain-A     bench/plain-A with H2=1: the bare framework's own HTTP/2
              (hyper-util's auto::Builder; actix-web's listen_auto_h2c;
              axum::serve, which serves h2c with or without H2=1)

Each round runs every variant once (order reversed every other round):
h2load -c CLIENTS -m STREAMS -D DURATION on `GET /`. Prints the medians
and the ratios handover / plain and native / plain.

Usage: bench/h2_throughput.py [--adapters actix,hyper,axum] [--rounds 3] [--duration 10]
                              [--clients 16] [--streams 10] [--workers 1] [--no-build]
Needs: h2load (nghttp2-client) and start_server (libserver-starter-perl);
builds release binaries (demo-app, plain-A) with cargo first.
"""
import argparse, os, re, signal, statistics, subprocess, sys, tempfile, time

from stderr_lines import StderrLines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")


class Supervisor(StderrLines):
    """Perl start_server --port 127.0.0.1:0 around one variant."""

    def __init__(self, argv, env):
        self.proc = subprocess.Popen(
            ["start_server", "--port", "127.0.0.1:0", "--"] + argv,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env, text=True, start_new_session=True)
        self.follow(self.proc)
        _, m = self.find(r"listening on (127\.0\.0\.1:\d+)", 20)
        self.addr = m.group(1)

    def stop(self):
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.kill()


def h2load(addr, args):
    cmd = ["h2load", "-D", str(args.duration), "-c", str(args.clients), "-m", str(args.streams),
           "http://%s/" % addr]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    s = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out)
    if not (m and s) or "Application protocol: h2c" not in out:
        raise RuntimeError("h2load: no h2c summary:\n" + out)
    return float(m.group(1)), int(s.group(2))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", type=lambda v: [a for a in v.split(",") if a], default="actix,hyper,axum")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--streams", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        packages = ["demo-app"] + ["plain-" + a for a in args.adapters]
        subprocess.run(["cargo", "build", "--release", "-q"] + [x for p in packages for x in ("-p", p)],
                       cwd=ROOT, check=True)
    cfg = os.path.join(tempfile.mkdtemp(), "bench.toml")
    with open(cfg, "w") as f:
        f.write('[http]\nworkers = %d\n' % args.workers)
    env = dict(os.environ, RUST_LOG="info", WORKERS=str(args.workers))
    env.pop("SERVER_STARTER_PORT", None)
    plan = []
    for a in args.adapters:
        plain = os.path.join(TARGET, "plain-" + a)
        plan += [("handover-" + a, [os.path.join(TARGET, "demo-app"), "--config", cfg, "--server", a], env),
                 ("native-" + a, [plain, "--handover", cfg], env),
                 ("plain-" + a, [plain], dict(env, H2="1"))]
    runs = {name: [] for name, _, _ in plan}
    failed = {name: 0 for name, _, _ in plan}
    for rnd in range(args.rounds):
        for name, argv, e in (plan if rnd % 2 == 0 else plan[::-1]):
            sup = Supervisor(argv, e)
            try:
                time.sleep(0.5)
                rps, bad = h2load(sup.addr, args)
            finally:
                sup.stop()
            runs[name].append(rps)
            failed[name] += bad
            print("round %d %-16s %9.0f req/s, %d failed" % (rnd + 1, name, rps, bad), file=sys.stderr)
    med = {name: statistics.median(r) for name, r in runs.items()}
    print()
    print("h2load -c %d -m %d -D %ds over h2c, %d rounds alternated, server workers %d; medians"
          % (args.clients, args.streams, args.duration, args.rounds, args.workers))
    print()
    print("| adapter | server | req/s (median) | vs plain | failed | rounds |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for a in args.adapters:
        base = med["plain-" + a]
        for name in ("handover-" + a, "native-" + a, "plain-" + a):
            print("| %s | %s | %.0f | %.3f | %d | %s |" % (
                a, name, med[name], med[name] / base, failed[name],
                ", ".join("%.0f" % r for r in runs[name])))


if __name__ == "__main__":
    main()
