#!/usr/bin/env python3
"""WebSocket echo: round trips per second, and instructions per message
counted by valgrind's callgrind, handover's socket routes against the same
echo written on each framework's own WebSocket support.

Variants, each under Perl start_server with one worker:
- handover-A: demo-app --server A, `GET /ws/echo` a socket route (the
  WebSocket handle, tokio-tungstenite on hyper, actix-http's own codec on
  actix, the drain's bookkeeping);
- plain-hyper (WS=1): hyper's upgrade with tokio-tungstenite directly;
- plain-actix: actix-ws, actix-web's own WebSockets.

The client is tests/conformance/ws_client.py echo_load (the Python
`websockets` package, no compression): --connections connections each
send a 32-byte text and wait for its echo. On this 2-core machine the
Python client shares the cores and is the slower side, so round trips per
second compare the variants under the same client, not the servers' own
limits; instructions per round trip (server only, every thread, counted
from just before the client connects, so the --connections handshakes are
in it too) is the steadier measure.

Each handover row is printed with its ratio to plain-A and issue 18's
target for every new path (at most 1.03).

Usage: bench/websocket_echo.py [--adapters actix,hyper] [--connections 8]
                               [--duration 5] [--no-build] [--no-callgrind]
                               [--keep DIR]
Needs: /usr/bin/python3 with python3-websockets, start_server, valgrind.
"""
import argparse, json, os, subprocess, sys

from served import ROOT, TARGET, build, callgrind_total, served, setup

CLIENT = os.path.join(ROOT, "tests", "conformance", "ws_client.py")


def run(argv, env, args, work, callgrind, keep=None):
    with served(argv, env, work, callgrind) as (_, addr):
        client = subprocess.Popen(["/usr/bin/python3", CLIENT, "echo_load", "ws://%s/ws/echo" % addr,
                                   str(args.connections), str(args.duration)],
                                  stdout=subprocess.PIPE, text=True)
        result = json.loads(client.communicate(timeout=args.duration * 4 + 60)[0].strip().splitlines()[-1])
    return result, callgrind_total(work, keep)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", type=lambda v: [a for a in v.split(",") if a], default="actix,hyper")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--keep", metavar="DIR", help="keep each row's callgrind output in DIR")
    args = ap.parse_args()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    if not args.no_build:
        build(args.adapters)
    work, cfg, env = setup('[http]\nworkers = 1\n', RUST_LOG="info", WORKERS="1", WS="1")
    print("| adapter | server | round trips/s | instructions per round trip | vs plain | target | met | round trips under callgrind |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for a in args.adapters:
        # plain first: the base of the handover row's ratio.
        rows = [("plain-" + a, [os.path.join(TARGET, "plain-" + a)]),
                ("handover-" + a, [os.path.join(TARGET, "demo-app"), "--config", cfg, "--server", a])]
        base = None
        for name, argv in rows:
            speed, _ = run(argv, env, args, work, False)
            per_s = speed["round_trips"] / speed["seconds"]
            if args.no_callgrind:
                print("| %s | %s | %.0f | | | | | |" % (a, name, per_s))
            else:
                keep = args.keep and os.path.join(args.keep, "%s-ws.out" % name)
                counted, total = run(argv, env, args, work, True, keep)
                n = counted["round_trips"]
                per = total / max(n, 1)
                base = base or per
                handover = name.startswith("handover")
                # The target for every new path: at most 1.03 of plain.
                print("| %s | %s | %.0f | %.0f | %.3f | %s | %s | %d |" % (
                    a, name, per_s, per, per / base, "<= 1.03" if handover else "",
                    ("yes" if per / base <= 1.03 else "**no**") if handover else "", n))
            sys.stdout.flush()

if __name__ == "__main__":
    main()
