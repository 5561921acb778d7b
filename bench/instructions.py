#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind: a repeatable
measure of what each layer costs, unlike req/s on a shared 2-core machine.

For each adapter A and each variant (handover-A, native-A, plain-A; see
hot_restart.py), the server runs under Perl start_server inside
`valgrind --tool=callgrind`; once it listens, its counters are zeroed
(callgrind_control -z), wrk sends `GET /` on 8 keep-alive connections for
--duration seconds, the server is stopped, and the instructions it executed
(user space, every thread) are divided by the requests wrk completed.

handover-A runs with no app middleware; handover-A+error,date runs the same
binary with `[app] middleware = ["error", "date"]`, and the difference is
printed as the cost of those two middleware.

Usage: bench/instructions.py [--adapters actix,hyper] [--duration 8]
Needs: valgrind, wrk, start_server; builds release binaries with cargo first.
"""
import argparse, glob, os, re, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")


def wait_for(path, pattern, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            m = re.search(pattern, f.read())
        if m:
            return m
        time.sleep(0.2)
    raise RuntimeError("timeout waiting for %r in %s" % (pattern, path))


def measure(argv, env, duration, work):
    log = os.path.join(work, "log")
    out = os.path.join(work, "cg.%p")
    cmd = ["start_server", "--port", "127.0.0.1:0", "--",
           "valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + argv
    with open(log, "w") as f:
        sup = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        pid = wait_for(log, r"starting new worker (\d+)").group(1)
        addr = wait_for(log, r"listening on (127\.0\.0\.1:\d+)").group(1)
        time.sleep(1)
        subprocess.run(["callgrind_control", "-z", pid], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = subprocess.run(["wrk", "-t1", "-c8", "-d%ds" % duration, "http://%s/" % addr],
                             capture_output=True, text=True, check=True).stdout
        requests = int(re.search(r"(\d+) requests in", res).group(1))
    finally:
        sup.terminate()
        sup.wait(timeout=60)
    total = 0
    for path in glob.glob(os.path.join(work, "cg.*")):
        with open(path) as f:
            m = re.search(r"^totals: (\d+)", f.read(), re.M)
        if m:
            total += int(m.group(1))
        os.remove(path)
    return total / requests, requests


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", type=lambda v: [a for a in v.split(",") if a], default="actix,hyper")
    ap.add_argument("--duration", type=int, default=8)
    args = ap.parse_args()
    packages = ["demo-app"] + ["plain-" + a for a in args.adapters]
    subprocess.run(["cargo", "build", "--release", "-q"] + [x for p in packages for x in ("-p", p)], cwd=ROOT, check=True)
    work = tempfile.mkdtemp()
    cfg = os.path.join(work, "bench.toml")
    with open(cfg, "w") as f:
        f.write('[http]\nworkers = 1\n')
    cfg_mw = os.path.join(work, "bench-middleware.toml")
    with open(cfg_mw, "w") as f:
        f.write('[http]\nworkers = 1\n[app]\nmiddleware = ["error", "date"]\n')
    env = dict(os.environ, RUST_LOG="info", WORKERS="1")
    env.pop("SERVER_STARTER_PORT", None)
    costs = []
    print("| adapter | server | instructions per request | vs plain | requests |")
    print("| --- | --- | ---: | ---: | ---: |")
    for a in args.adapters:
        plain = os.path.join(TARGET, "plain-" + a)
        demo = os.path.join(TARGET, "demo-app")
        rows = [("handover-" + a, [demo, "--config", cfg, "--server", a]),
                ("handover-%s+error,date" % a, [demo, "--config", cfg_mw, "--server", a]),
                ("native-" + a, [plain, "--handover", cfg]),
                ("plain-" + a, [plain])]
        results = {name: measure(argv, env, args.duration, work) for name, argv in rows}
        base = results["plain-" + a][0]
        for name, _ in rows:
            per, n = results[name]
            print("| %s | %s | %.0f | %.3f | %d |" % (a, name, per, per / base, n))
            sys.stdout.flush()
        bare = results["handover-" + a][0]
        with_mw = results["handover-%s+error,date" % a][0]
        costs.append("%s: error + date middleware cost %+.0f instructions per request (%+.1f%%)"
                     % (a, with_mw - bare, 100.0 * (with_mw - bare) / bare))
    print()
    for line in costs:
        print(line)


if __name__ == "__main__":
    main()
