#!/usr/bin/env python3
"""Resident memory with idle keep-alive connections: what each variant holds
for --connections clients that made one request and keep their connection.

For each adapter A and each variant (handover-A, native-A, plain-A; see
hot_restart.py), the server runs under Perl start_server with one worker;
once it listens, its RSS is read (/proc/PID/status, VmRSS: the worker's
whole process), then --connections keep-alive connections each send
`GET /` and read the whole answer, and stay open; the RSS is read again,
and each connection is checked to be still open (a closed one reads EOF).
The handover variants get `keep_alive = "120s"`; the plain frameworks keep
their defaults (actix-web 5 s, hyper and axum none), and the measure is
taken well within 5 s of the last request. The variants alternate over
--rounds rounds; the table gives medians, and the ratio of each to plain-A
with issue 18's target (at most 1.1).

Usage: bench/idle_rss.py [--adapters actix,hyper,axum] [--connections 2000]
                         [--rounds 3] [--no-build]
Needs: start_server; builds release binaries with cargo first.
"""
import argparse, os, re, resource, socket, statistics, sys

from served import TARGET, build, served, setup

TARGET_RATIO = 1.1


def rss_kib(pid):
    with open("/proc/%s/status" % pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


def one_request(sock):
    """Sends `GET /` and reads the whole answer (its Content-Length body)."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before the answer")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError("unexpected answer: %r" % head[:80])
    length = int(re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed inside the body")
        body += chunk


def still_open(sock):
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def measure(argv, env, work, connections):
    """Returns (RSS KiB listening, RSS KiB with the idle connections, open)."""
    with served(argv, env, work) as (pid, addr):
        host, port = addr.rsplit(":", 1)
        socks = []
        try:
            # A first request, so that lazily built state exists in every variant.
            with socket.create_connection((host, int(port)), timeout=10) as first:
                one_request(first)
            before = rss_kib(pid)
            for _ in range(connections):
                sock = socket.create_connection((host, int(port)), timeout=10)
                socks.append(sock)
                one_request(sock)
            after = rss_kib(pid)
            alive = sum(still_open(s) for s in socks)
            return before, after, alive
        finally:
            for s in socks:
                s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", type=lambda v: [a for a in v.split(",") if a], default="actix,hyper,axum")
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.connections + 256
    if soft < want:
        if hard < want:
            sys.exit("idle_rss: the open-file limit (%d) is below %d connections" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if not args.no_build:
        build(args.adapters)
    work, cfg, env = setup('[http]\nworkers = 1\nkeep_alive = "120s"\n', RUST_LOG="info", WORKERS="1")
    print("| adapter | server | RSS listening MiB | RSS with %d idle MiB | KiB per connection | vs plain | target | met | open |"
          % args.connections)
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for a in args.adapters:
        plain = os.path.join(TARGET, "plain-" + a)
        variants = [("handover-" + a, [os.path.join(TARGET, "demo-app"), "--config", cfg, "--server", a]),
                    ("native-" + a, [plain, "--handover", cfg]),
                    ("plain-" + a, [plain])]
        results = {name: [] for name, _ in variants}
        for r in range(args.rounds):
            order = variants if r % 2 == 0 else list(reversed(variants))
            for name, argv in order:
                results[name].append(measure(argv, env, work, args.connections))
        base = statistics.median(after for _, after, _ in results["plain-" + a])
        for name, _ in variants:
            runs = results[name]
            before = statistics.median(b for b, _, _ in runs)
            after = statistics.median(x for _, x, _ in runs)
            alive = min(o for _, _, o in runs)
            ratio = after / base
            ours = not name.startswith("plain")
            print("| %s | %s | %.1f | %.1f | %.1f | %.3f | %s | %s | %d |" % (
                a, name, before / 1024, after / 1024, (after - before) / args.connections, ratio,
                "<= %.1f" % TARGET_RATIO if ours else "",
                ("yes" if ratio <= TARGET_RATIO else "**no**") if ours else "", alive))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
