#!/usr/bin/env python3
"""HTTP/2 hot restarts: h2load against a server while its supervisor gets a
HUP every --hup-every seconds for --duration seconds, under Perl's
start_server and ours, for each adapter over h2c and over TLS, beside the
reference: a plain hyper-util server (bench/plain-hyper with H2=1) whose
GracefulShutdown sends each connection hyper's two-step GOAWAY.

h2load (1.52) never reconnects an HTTP/2 client whose connection got a
GOAWAY: the client ends there. So each HUP gets its own h2load run of
nearly --hup-every seconds: it starts, its clients connect (all accepted by
the generation about to be replaced), the HUP follows, and the run ends
once its clients have met the GOAWAY. The figures are sums over the runs.
The old generation is told to stop about a second into each run: Perl's
start_server does so --interval (1 s) after the HUP, ours when the new
generation says READY=1, so under ours the HUP waits --load-first seconds
(except for the reference, which never says READY=1: ours then waits
--interval too).

Two loads, each a series of its own: 64 clients with one stream at a
time (-m 1), and 16 clients with 10 streams at a time (-m 10). For every
failed request the script reads h2load's --log-file: a request logged with
start time 0 was never sent (nghttp2 refused it locally after a GOAWAY
had arrived), so the server never saw it; one with a start time was sent
and failed (a stream reset after processing could have begun).

Usage: bench/h2_hot_restart.py [--adapters actix,hyper,axum] [--supervisors perl,ours]
                               [--duration 20] [--hup-every 2] [--load-first 0.9]
                               [--no-build]
Needs: h2load (nghttp2-client), Perl start_server, openssl; builds release
binaries (demo-app, plain-hyper, handover-supervisor) with cargo first.
"""
import argparse, json, os, re, signal, ssl, subprocess, sys, tempfile, threading, time, urllib.request

from stderr_lines import Failure, StderrLines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")
STARTERS = {"perl": "/usr/bin/start_server", "ours": os.path.join(TARGET, "start_server")}
LOADS = {"m1": ["-c", "64", "-m", "1"], "m10": ["-c", "16", "-m", "10"]}


class Supervisor(StderrLines):
    """A start_server around one server; its stderr read in the background."""

    def __init__(self, starter, argv, env):
        self.proc = subprocess.Popen(
            [STARTERS[starter], "--port", "127.0.0.1:0", "--"] + argv,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=env, text=True, start_new_session=True)
        self.follow(self.proc)
        try:
            _, m = self.find(r"listening on (127\.0\.0\.1:(\d+))", 20)
        except Exception:
            self.kill()
            raise
        self.addr, self.port = m.group(1), int(m.group(2))

    def hup(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    def stop(self):
        if self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.kill()


def whoami(url, context):
    """The serving generation's /whoami, over HTTP/1.1, retried for 10 s."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url + "whoami", timeout=5, context=context) as r:
                return json.loads(r.read())
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def established(port):
    """Established TCP connections to the server listening on `port`."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and fields[1].endswith(":%04X" % port):
                n += 1
    return n


def accept_queue(port):
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[1].endswith(":%04X" % port):
                return int(fields[4].split(":")[1], 16)
    return None


def wait_for(what, check, timeout=20):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise Failure("%s: not within %gs" % (what, timeout))
        time.sleep(0.005)


def h2load_run(url, load, seconds, log):
    """Starts h2load; returns (process, stdout lines, started event)."""
    cmd = ["h2load", "-D", "%dms" % int(seconds * 1000)] + LOADS[load] + ["--log-file=" + log, url]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, started = [], threading.Event()

    def read():
        for line in p.stdout:
            lines.append(line)
            if "Main benchmark duration is started" in line:
                started.set()
    t = threading.Thread(target=read, daemon=True)
    t.start()
    return p, lines, started, t


def summary(text):
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    if not m:
        raise Failure("no h2load summary:\n" + text)
    keys = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    return dict(zip(keys, map(int, m.groups())))


def failed_in_log(log):
    """(failed never sent, failed after being sent) from h2load's log file."""
    unsent = sent = 0
    with open(log) as f:
        for line in f:
            start, status, _ = line.rstrip("\n").split("\t")
            if status == "200":
                continue
            if start == "0":
                unsent += 1
            else:
                sent += 1
    return unsent, sent


def one_series(args, starter, name, argv, env, tls, load, work, context, notifies):
    """--duration seconds of HUPs every --hup-every s; the summed figures."""
    sup = Supervisor(starter, argv, env)
    scheme = "https" if tls else "http"
    url = "%s://127.0.0.1:%d/" % (scheme, sup.port)
    clients = int(LOADS[load][1])
    totals = {"hups": 0, "succeeded": 0, "failed": 0, "errored": 0, "timeout": 0,
              "unsent": 0, "sent_failed": 0, "seconds": 0.0}
    try:
        who = whoami(url, context)
        for i in range(int(args.duration / args.hup_every)):
            t0 = time.monotonic()
            log = os.path.join(work, "h2load-%s-%s-%s-%d.log" % (starter, name, load, i))
            if os.path.exists(log):
                os.remove(log)
            p, lines, started, reader = h2load_run(url, load, args.hup_every - 0.2, log)
            if not started.wait(20):
                raise Failure("h2load did not start:\n" + "".join(lines))
            # Every client connected and accepted by the generation to be replaced.
            wait_for("h2load's connections", lambda: established(sup.port) >= clients)
            wait_for("accepted", lambda: accept_queue(sup.port) == 0)
            old = who["pid"]
            if starter == "ours" and notifies:
                time.sleep(args.load_first)
            mark = sup.mark()
            sup.hup()
            sup.find(r"old worker %d died" % old, 30, mark)
            p.wait(timeout=60)
            reader.join(10)
            s = summary("".join(lines))
            unsent, sent = failed_in_log(log)
            totals["hups"] += 1
            for k in ("succeeded", "failed", "errored", "timeout"):
                totals[k] += s[k]
            totals["unsent"] += unsent
            totals["sent_failed"] += sent
            totals["seconds"] += time.monotonic() - t0
            who = whoami(url, context)
    finally:
        sup.stop()
    return totals


def variants(args, cfg, tls_cfg):
    """name -> (argv, env, tls) for each adapter over h2c and TLS, and the reference."""
    env = dict(os.environ, RUST_LOG="info", WORKERS="1")
    env.pop("SERVER_STARTER_PORT", None)
    out = {}
    for a in args.adapters:
        out["handover-%s h2c" % a] = ([os.path.join(TARGET, "demo-app"), "--config", cfg, "--server", a], env, False)
        out["handover-%s TLS" % a] = ([os.path.join(TARGET, "demo-app"), "--config", tls_cfg, "--server", a], env, True)
    out["plain-hyper h2c (reference)"] = ([os.path.join(TARGET, "plain-hyper")], dict(env, H2="1"), False)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", type=lambda v: [a for a in v.split(",") if a], default="actix,hyper,axum")
    ap.add_argument("--supervisors", type=lambda v: [s for s in v.split(",") if s], default="perl,ours")
    ap.add_argument("--duration", type=float, default=20)
    ap.add_argument("--hup-every", type=float, default=2)
    ap.add_argument("--load-first", type=float, default=0.9,
                    help="under our start_server, seconds of load before each HUP")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "demo-app", "-p", "plain-hyper",
                        "-p", "handover-supervisor"], cwd=ROOT, check=True)
    work = tempfile.mkdtemp()
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-keyout", key, "-out", cert, "-days", "1", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    common = '[http]\nworkers = 1\nshutdown_timeout = "30s"\ndrain_linger = "2s"\n'
    cfg, tls_cfg = os.path.join(work, "h2c.toml"), os.path.join(work, "tls.toml")
    with open(cfg, "w") as f:
        f.write(common)
    with open(tls_cfg, "w") as f:
        f.write(common + '[http.security_layer.tls]\ncertificate_chain = "%s"\nprivate_key = "%s"\n' % (cert, key))
    context = ssl.create_default_context(cafile=cert)
    plan = variants(args, cfg, tls_cfg)
    rows = []
    for starter in args.supervisors:
        for load in LOADS:
            # The variants alternate: the reference runs between ours.
            for name, (argv, env, tls) in plan.items():
                try:
                    notifies = name.startswith("handover-")
                    t = one_series(args, starter, name, argv, env, tls, load, work, context, notifies)
                except Failure as e:
                    print("%s %s %s: %s" % (starter, name, load, e), file=sys.stderr)
                    sys.exit(1)
                rows.append((starter, name, load, t))
                print("%-5s %-28s %-3s %2d HUPs: %7d ok, %3d failed (%d errored: %d never sent, %d sent), %d timeout" % (
                    starter, name, load, t["hups"], t["succeeded"], t["failed"], t["errored"],
                    t["unsent"], t["sent_failed"], t["timeout"]), file=sys.stderr)
    print()
    print("HUP every %gs for %gs (one h2load run per HUP; -m 1: 64 clients, -m 10: 16 clients x 10 streams), server workers 1"
          % (args.hup_every, args.duration))
    print()
    print("| supervisor | server | load | HUPs | succeeded | failed | errored | never sent | failed after sending | timeout |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for starter, name, load, t in rows:
        print("| %s | %s | -m %s | %d | %d | %d | %d | %d | %d | %d |" % (
            starter, name, load[1:], t["hups"], t["succeeded"], t["failed"], t["errored"],
            t["unsent"], t["sent_failed"], t["timeout"]))


if __name__ == "__main__":
    main()
