#!/usr/bin/python3
"""WebSocket client for the conformance suite, on the Python `websockets`
package (Debian python3-websockets), a client nobody here wrote.

Usage: ws_client.py SCENARIO URL [ARGS]. Prints one JSON object per line;
the last line is the result. Scenarios:

  echo URL             text, binary, ping/pong, then a client-initiated close
  too_big URL BYTES    sends a message of BYTES bytes; reports the close code
  fragments URL        a text and a binary message sent in fragments, then
                       a text frame that is not UTF-8; reports the echoes
                       and the close code
  hold URL             opens, prints {"open": true}, then waits for the
                       server's Close (or stdin to close: then closes itself)
  hold_many URL N      opens N, prints {"open": N}, then waits for every
                       server Close; prints the closes by code
  echo_load URL C SECS C connections, each sending a 32-byte text and
                       waiting for its echo, for SECS seconds; prints the
                       round trips (for bench/websocket_echo.py)
  deploy URL N         N clients, each sending a message every 50 ms and
                       reconnecting after each server Close, until stdin
                       closes; prints {"connected": N} once all are in,
                       and {"on": GENERATION} at each (re)connection
"""

import asyncio
import json
import sys

import websockets


def out(obj):
    print(json.dumps(obj), flush=True)


def closed_info(ws):
    """The server's Close code (None when none arrived: an abnormal closure)."""
    rcvd = getattr(ws, "close_rcvd", None)
    return {"code": rcvd.code if rcvd is not None else None,
            "reason": rcvd.reason if rcvd is not None else None}


async def echo(url):
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send("hello")
        text = await ws.recv()
        await ws.send(b"\x00\x01\xfe\xff")
        binary = await ws.recv()
        pong = await asyncio.wait_for(await ws.ping(b"p1"), 10)
        await ws.close(1000, "client done")
        out({"text": text, "binary": list(binary), "pong": pong is None or True,
             "close": closed_info(ws)})


async def too_big(url, size):
    async with websockets.connect(url, max_size=None) as ws:
        try:
            await ws.send(b"x" * size)
            reply = await asyncio.wait_for(ws.recv(), 10)
            out({"answered": len(reply)})
        except websockets.ConnectionClosed:
            out({"close": closed_info(ws)})


async def fragments(url):
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(["hel", "lo, ", "w\u00f6rld"])
        text = await ws.recv()
        await ws.send([b"\x00\x01", b"\xfe\xff"])
        binary = await ws.recv()
        # A text frame whose bytes are not UTF-8 (the client's own framing,
        # below `send`, which only sends valid text).
        await ws.write_frame(True, 0x1, b"ok \xc3\x28")
        try:
            reply = await asyncio.wait_for(ws.recv(), 10)
            out({"text": text, "binary": list(binary), "answered": repr(reply)})
        except websockets.ConnectionClosed:
            out({"text": text, "binary": list(binary), "close": closed_info(ws)})


async def hold(url):
    ws = await websockets.connect(url, max_size=None)
    out({"open": True})
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    waiting = asyncio.ensure_future(ws.wait_closed())
    done, _ = await asyncio.wait([waiting, stdin_closed], return_when=asyncio.FIRST_COMPLETED)
    if waiting not in done:
        await ws.close(1000, "client done")
    out({"close": closed_info(ws), "by_client": waiting not in done})


async def hold_many(url, n):
    sockets = []
    for _ in range(n):
        sockets.append(await websockets.connect(url, max_size=None, open_timeout=30))
    out({"open": n})
    await asyncio.gather(*(ws.wait_closed() for ws in sockets))
    codes = {}
    for ws in sockets:
        code = str(closed_info(ws)["code"])
        codes[code] = codes.get(code, 0) + 1
    out({"closes": codes})


async def echo_load(url, conns, secs):
    payload = "x" * 32
    count = [0]
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + secs

    async def one():
        async with websockets.connect(url, max_size=None, compression=None) as ws:
            while loop.time() < stop_at:
                await ws.send(payload)
                await ws.recv()
                count[0] += 1

    started = loop.time()
    await asyncio.gather(*(one() for _ in range(conns)))
    out({"round_trips": count[0], "seconds": loop.time() - started})


class Stats:
    def __init__(self):
        self.closes = {}
        self.abnormal = 0
        self.sent = 0
        self.answered = 0
        self.unanswered = 0
        self.connections = 0
        self.generations = set()
        self.failed_connects = 0


async def client(url, stats, stop, connected):
    first = True
    while not stop.is_set():
        try:
            ws = await websockets.connect(url, max_size=None, open_timeout=10)
        except (OSError, websockets.InvalidHandshake, asyncio.TimeoutError):
            stats.failed_connects += 1
            await asyncio.sleep(0.05)
            continue
        stats.connections += 1
        pending = set()
        seq = 0
        try:
            await ws.send("whoami")
            pending.add("whoami")
            while True:
                try:
                    reply = await asyncio.wait_for(ws.recv(), 0.05)
                    if reply.startswith("generation ") or reply == "whoami":
                        # A plain echo server (the demo's) echoes the question.
                        generation = int(reply.split()[1]) if reply != "whoami" else None
                        if generation is not None:
                            stats.generations.add(generation)
                        pending.discard("whoami")
                        out({"on": generation})
                        if first:
                            first = False
                            connected()
                    elif reply in pending:
                        pending.discard(reply)
                        stats.answered += 1
                except asyncio.TimeoutError:
                    if stop.is_set():
                        # The answers still on their way first.
                        deadline = asyncio.get_running_loop().time() + 5
                        while pending and asyncio.get_running_loop().time() < deadline:
                            try:
                                reply = await asyncio.wait_for(ws.recv(), 0.5)
                                if reply in pending:
                                    pending.discard(reply)
                                    stats.answered += 1
                            except asyncio.TimeoutError:
                                pass
                        await ws.close(1000, "client done")
                        break
                    seq += 1
                    message = f"m{seq}"
                    # Raises, sending nothing, once the server's Close is in.
                    await ws.send(message)
                    pending.add(message)
                    stats.sent += 1
        except websockets.ConnectionClosed:
            pass
        await ws.wait_closed()
        info = closed_info(ws)
        pending.discard("whoami")
        # Messages sent but unanswered when the server's Close came: they
        # crossed it (RFC 6455 lets no answer follow a Close).
        stats.unanswered += len(pending)
        if info["code"] is None:
            stats.abnormal += 1
        else:
            stats.closes[str(info["code"])] = stats.closes.get(str(info["code"]), 0) + 1


async def deploy(url, n):
    """Runs until stdin closes."""
    stats = Stats()
    stop = asyncio.Event()
    count = [0]

    def connected():
        count[0] += 1
        if count[0] == n:
            out({"connected": n})

    async def watch_stdin():
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        stop.set()

    watcher = asyncio.ensure_future(watch_stdin())
    await asyncio.gather(*(client(url, stats, stop, connected) for _ in range(n)))
    watcher.cancel()
    out({"closes": stats.closes, "abnormal": stats.abnormal, "sent": stats.sent,
         "answered": stats.answered, "unanswered": stats.unanswered,
         "connections": stats.connections, "generations": sorted(stats.generations),
         "failed_connects": stats.failed_connects})


def main():
    scenario, url = sys.argv[1], sys.argv[2]
    if scenario == "echo":
        asyncio.run(echo(url))
    elif scenario == "too_big":
        asyncio.run(too_big(url, int(sys.argv[3])))
    elif scenario == "fragments":
        asyncio.run(fragments(url))
    elif scenario == "hold":
        asyncio.run(hold(url))
    elif scenario == "echo_load":
        asyncio.run(echo_load(url, int(sys.argv[3]), float(sys.argv[4])))
    elif scenario == "hold_many":
        asyncio.run(hold_many(url, int(sys.argv[3])))
    elif scenario == "deploy":
        asyncio.run(deploy(url, int(sys.argv[3])))
    else:
        sys.exit(f"ws_client.py: unknown scenario {scenario!r}")


if __name__ == "__main__":
    main()
