#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind: a repeatable
measure of what each layer costs, unlike req/s on a shared 2-core machine.

For each adapter A and each variant (handover-A, native-A, plain-A; see
hot_restart.py), the server runs under Perl start_server inside
`valgrind --tool=callgrind`; once it listens, its counters are zeroed
(callgrind_control -z), wrk sends `GET /` on 8 keep-alive connections for
--duration seconds, the server is stopped, and the instructions it executed
(user space, every thread) are divided by the requests wrk completed.
With --h2 the load is h2load over h2c instead (8 connections, 10 streams
each), and plain-A serves HTTP/2 (H2=1; see h2_throughput.py).

handover-A runs with no app middleware; handover-A+error,date runs the same
binary with `[app] middleware = ["error", "date"]`, and the difference is
printed as the cost of those two middleware.

--app api-template runs demo-app's api-template (the Vapor API template's
routes, ported) for the handover rows instead of demo-app, and --path picks
the route every request asks for (default /): `--app api-template --path
/hello` (JSON) and `--path /plaintext` are the Vapor port's middleware-free
routes, which plain-A and native-A serve too, written on the framework
(plain-actix only with VAPOR_ROUTES=1, which the script sets then).

Every row is printed with its ratio to plain-A and the issue's target for
it (framework-agnostic and every new path: <= 1.03; native: <= 1.01).
--rows picks rows by name (handover, handover+error,date, native, plain;
plain is always measured, as the base). --keep DIR keeps each row's
callgrind output there (DIR/ROW.out) for `callgrind_annotate --inclusive=yes`.

Usage: bench/instructions.py [--adapters actix,hyper,axum] [--duration 8] [--h2]
                             [--rows handover,native] [--keep DIR]
                             [--app demo|api-template] [--path /]
Needs: valgrind, wrk (or h2load with --h2), start_server; builds release
binaries with cargo first.
"""
import argparse, os, re, subprocess, sys

from served import TARGET, build, callgrind_total, served, setup


def load(addr, duration, h2, path):
    """Runs the load; returns the requests completed (all of them 2xx, or
    it raises: a row that answers 404 measures nothing)."""
    url = "http://%s%s" % (addr, path)
    if h2:
        out = subprocess.run(["h2load", "-c8", "-m10", "-D%d" % duration, url],
                             capture_output=True, text=True, check=True).stdout
        status = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
        if status and any(int(n) for n in status.groups()[1:]):
            raise RuntimeError("non-2xx answers from %s: %s" % (url, status.group(0)))
        return int(re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out).group(1))
    out = subprocess.run(["wrk", "-t1", "-c8", "-d%ds" % duration, url],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError("non-2xx answers from %s:\n%s" % (url, out))
    return int(re.search(r"(\d+) requests in", out).group(1))


# The targets, instructions per request against plain-A.
TARGETS = {"handover": 1.03, "handover+error,date": None, "native": 1.01, "plain": None}


def measure(argv, env, duration, work, h2, path, keep=None):
    with served(argv, env, work, callgrind=True) as (_, addr):
        requests = load(addr, duration, h2, path)
    return callgrind_total(work, keep) / requests, requests


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", type=lambda v: [a for a in v.split(",") if a], default="actix,hyper,axum")
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--h2", action="store_true", help="h2load over h2c instead of wrk over HTTP/1.1")
    ap.add_argument("--rows", type=lambda v: [r for r in v.split(",") if r],
                    default=list(TARGETS), help="rows to measure (plain always is)")
    ap.add_argument("--keep", metavar="DIR", help="keep each row's callgrind output in DIR")
    ap.add_argument("--app", choices=["demo", "api-template"], default="demo",
                    help="the handover rows' binary: demo-app, or its api-template")
    ap.add_argument("--path", default="/", help="the route every request asks for")
    args = ap.parse_args()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    build(args.adapters)
    work, cfg, env = setup('[http]\nworkers = 1\n', RUST_LOG="info", WORKERS="1")
    cfg_mw = os.path.join(work, "bench-middleware.toml")
    with open(cfg_mw, "w") as f:
        f.write('[http]\nworkers = 1\n[app]\nmiddleware = ["error", "date"]\n')
    if args.app == "api-template":
        # plain-actix adds the template's routes only when asked: actix-web's
        # cost per request grows with an app's routes.
        env["VAPOR_ROUTES"] = "1"
    costs = []
    proto = "h2c" if args.h2 else "HTTP/1.1"
    print("| adapter | server | protocol | request | instructions per request | vs plain | target | met | requests |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: | --- | ---: |")
    for a in args.adapters:
        plain = os.path.join(TARGET, "plain-" + a)
        demo = os.path.join(TARGET, "demo-app" if args.app == "demo" else "api-template")
        plain_env = dict(env, H2="1") if args.h2 else env
        rows = [("handover", [demo, "--config", cfg, "--server", a], env),
                ("handover+error,date", [demo, "--config", cfg_mw, "--server", a], env),
                ("native", [plain, "--handover", cfg], env),
                ("plain", [plain], plain_env)]
        rows = [r for r in rows if r[0] in args.rows or r[0] == "plain"]
        results = {}
        for row, argv, e in rows:
            keep = args.keep and os.path.join(
                args.keep, "%s-%s%s.out" % (row, a, "-h2" if args.h2 else ""))
            results[row] = measure(argv, e, args.duration, work, args.h2, args.path, keep)
        base = results["plain"][0]
        for row, _, _ in rows:
            per, n = results[row]
            prefix = "handover-" if args.app == "demo" else "api-template-"
            name = row.replace("handover", prefix + a, 1) if row.startswith("handover") \
                else "%s-%s" % (row, a)
            target = TARGETS.get(row)
            print("| %s | %s | %s | GET %s | %.0f | %.3f | %s | %s | %d |" % (
                a, name, proto, args.path, per, per / base,
                "<= %.2f" % target if target else "",
                ("yes" if per / base <= target else "**no**") if target else "",
                n))
            sys.stdout.flush()
        if "handover" in results and "handover+error,date" in results:
            bare = results["handover"][0]
            with_mw = results["handover+error,date"][0]
            costs.append("%s: error + date middleware cost %+.0f instructions per request (%+.1f%%)"
                         % (a, with_mw - bare, 100.0 * (with_mw - bare) / bare))
    print()
    for line in costs:
        print(line)


if __name__ == "__main__":
    main()
