#!/usr/bin/env python3
"""WebSockets and server-sent events across hot deploys, and the time a
drain takes to close N open WebSockets.

1. Hot deploys: the demo app (release build) under Perl's start_server and
   ours, for each adapter. --ws-clients WebSocket clients (the Python
   `websockets` package, tests/conformance/ws_client.py) each send a
   message to /ws/echo every 50 ms and reconnect after each server Close,
   while the supervisor gets --hups HUPs (each once every client is back
   and the old generation has exited). Reported: closes by code, abnormal
   closures (1006: no Close frame), messages sent and answered, messages
   that crossed a server Close (sent, never answered; RFC 6455 lets no
   answer follow a Close). Then the same with --sse-clients clients of
   /events (tests/conformance/sse_client.py): streams ended with the final
   event, cut streams, and the time from a stream's end to the first event
   of the next generation.
2. Drain time: the demo app bound by itself (no supervisor, drain_delay 0),
   N sockets open (--drain-sockets), TERM; reported: the app's own "drain
   took" figure, from the drain's start to its last connection closed,
   with close_grace 0s (the close handshake alone) and the default 1s.

Usage: bench/websocket_deploy.py [--adapters actix,hyper] [--supervisors perl,ours]
                                 [--ws-clients 100] [--sse-clients 50] [--hups 5]
                                 [--drain-sockets 100,1000] [--no-build]
Needs: /usr/bin/python3 with python3-websockets, Perl start_server; builds
release binaries (demo-app, handover-supervisor) with cargo first.
"""
import argparse, json, os, signal, subprocess, sys, tempfile, threading, queue, time

from stderr_lines import Failure, StderrLines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")
STARTERS = {"perl": "/usr/bin/start_server", "ours": os.path.join(TARGET, "start_server")}
CLIENTS = os.path.join(ROOT, "tests", "conformance")


class Proc(StderrLines):
    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.follow(self.proc)
        _, m = self.find(r"listening on (127\.0\.0\.1:(\d+))", 20)
        self.addr, self.port = m.group(1), int(m.group(2))

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait(self, timeout=60):
        return self.proc.wait(timeout=timeout)


class Client:
    """A Python client; its JSON lines in a queue, its stdin to end it."""

    def __init__(self, script, args):
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(CLIENTS, script)] + args,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self, what, timeout=60):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise Failure("no line from the client for %s" % what)

    def wait_on(self, n, what):
        """Waits for n {"on": ...} lines (n (re)connections)."""
        seen = 0
        while seen < n:
            seen += "on" in self.next(what)

    def end(self, key):
        self.proc.stdin.close()
        while True:
            line = self.next("the figures")
            if key in line:
                self.proc.wait(timeout=30)
                return line


def deploy(starter, adapter, cfg, script, path, n, hups):
    sup = Proc([STARTERS[starter], "--port", "127.0.0.1:0", "--",
                os.path.join(TARGET, "demo-app"), "--config", cfg, "--server", adapter])
    try:
        host, port = sup.addr.split(":")
        args = (["deploy", "ws://%s%s" % (sup.addr, path), str(n)] if script == "ws_client.py"
                else ["deploy", host, port, path, str(n)])
        client = Client(script, args)
        client.wait_on(n, "every client connected")
        started = time.monotonic()
        for _ in range(hups):
            mark = sup.mark()
            sup.signal(signal.SIGHUP)
            _, m = sup.find(r"old worker (\d+) died, status:(\d+)", 60, start=mark)
            if m.group(2) != "0":
                raise Failure("an old generation exited %s" % m.group(2))
            client.wait_on(n, "every client back")
        took = time.monotonic() - started
        result = client.end("closes" if script == "ws_client.py" else "streams")
        result["seconds"] = round(took, 1)
        return result
    finally:
        sup.signal(signal.SIGTERM)
        sup.wait()


def drain_time(adapter, work, sockets, grace):
    cfg = os.path.join(work, "drain-%s.toml" % grace)
    with open(cfg, "w") as f:
        f.write('[http]\nport = 0\nworkers = 1\ndrain_delay = "0s"\nshutdown_timeout = "60s"\n'
                '[http.websocket]\nclose_grace = "%s"\n' % grace)
    app = Proc([os.path.join(TARGET, "demo-app"), "--config", cfg, "--server", adapter])
    client = Client("ws_client.py", ["hold_many", "ws://%s/ws/echo" % app.addr, str(sockets)])
    client.next("the sockets open", 120)
    app.signal(signal.SIGTERM)
    _, m = app.find(r"drain took ([0-9.]+)(ms|s|µs)", 120)
    closes = client.next("the closes", 120)["closes"]
    app.wait()
    value, unit = float(m.group(1)), m.group(2)
    ms = value * {"ms": 1, "s": 1000, "µs": 0.001}[unit]
    return ms, closes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", type=lambda v: [a for a in v.split(",") if a], default="actix,hyper")
    ap.add_argument("--supervisors", type=lambda v: [s for s in v.split(",") if s], default="perl,ours")
    ap.add_argument("--ws-clients", type=int, default=100)
    ap.add_argument("--sse-clients", type=int, default=50)
    ap.add_argument("--hups", type=int, default=5)
    ap.add_argument("--drain-sockets", type=lambda v: [int(n) for n in v.split(",") if n], default="100,1000")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "demo-app", "-p", "handover-supervisor"],
                       cwd=ROOT, check=True)
    work = tempfile.mkdtemp()
    cfg = os.path.join(work, "app.toml")
    with open(cfg, "w") as f:
        f.write('[http]\nworkers = 1\nshutdown_timeout = "30s"\n')
    try:
        print("| adapter | supervisor | WebSocket clients x HUPs | closes by code | abnormal (1006) | sent | answered | crossed a Close | seconds |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for starter in args.supervisors:
            for adapter in args.adapters:
                r = deploy(starter, adapter, cfg, "ws_client.py", "/ws/echo", args.ws_clients, args.hups)
                print("| %s | %s | %d x %d | %s | %d | %d | %d | %d | %s |" % (
                    adapter, starter, args.ws_clients, args.hups,
                    ", ".join("%s: %s" % kv for kv in sorted(r["closes"].items())),
                    r["abnormal"], r["sent"], r["answered"], r["unanswered"], r["seconds"]), flush=True)
        print()
        print("| adapter | supervisor | SSE clients x HUPs | streams | ended with the final event | cut | failed | reconnect to first event, median / max ms |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for starter in args.supervisors:
            for adapter in args.adapters:
                r = deploy(starter, adapter, cfg, "sse_client.py", "/events", args.sse_clients, args.hups)
                print("| %s | %s | %d x %d | %d | %d | %d | %d | %s / %s |" % (
                    adapter, starter, args.sse_clients, args.hups, r["streams"],
                    r["ended_with_final"], r["cut"], r["failed"],
                    r["reconnect_ms_median"], r["reconnect_ms_max"]), flush=True)
        print()
        print("| adapter | open sockets | close_grace | drain start to last socket closed (ms) | closes by code |")
        print("| --- | --- | --- | --- | --- |")
        for adapter in args.adapters:
            for n in args.drain_sockets:
                for grace in ["0s", "1s"]:
                    ms, closes = drain_time(adapter, work, n, grace)
                    print("| %s | %d | %s | %.1f | %s |" % (
                        adapter, n, grace, ms,
                        ", ".join("%s: %s" % kv for kv in sorted(closes.items()))), flush=True)
    except Failure as e:
        print("bench failed: %s" % e, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
