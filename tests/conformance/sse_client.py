#!/usr/bin/python3
"""Server-sent events client for the conformance suite, on Python's own
http.client (chunked decoding included; a cut stream raises IncompleteRead).

Usage: sse_client.py deploy HOST PORT PATH N. N clients read the stream,
reconnect after the server ends it (waiting its last `retry:`), until stdin
closes. Prints {"on": GENERATION} at each stream's first event and, at the
end, the figures as one JSON line.
"""

import http.client
import json
import sys
import threading
import time

lock = threading.Lock()


def out(obj):
    with lock:
        print(json.dumps(obj), flush=True)


class Stats:
    def __init__(self):
        self.streams = 0
        self.ended_with_final = 0
        self.ended_without_final = 0
        self.cut = 0
        self.failed = 0
        self.events = 0
        self.generations = set()
        self.gaps_ms = []


def read_stream(host, port, path, stats, stop, state):
    """One stream; returns the retry (ms) its final event asked for, or None."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", path, headers={"Accept": "text/event-stream"})
        resp = conn.getresponse()
        if resp.status != 200:
            stats.failed += 1
            return None
        stats.streams += 1
        fields = {}
        first = True
        last_final = False
        retry = None
        while True:
            line = resp.readline()
            if not line:
                break  # the last chunk arrived: a clean end
            line = line.decode().rstrip("\r\n")
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            # A blank line dispatches the event.
            if "retry" in fields:
                retry = int(fields["retry"])
            if fields.get("event") == "restart":
                last_final = True
            elif "data" in fields:
                last_final = False
                stats.events += 1
                generation = json.loads(fields["data"])["generation"]
                stats.generations.add(generation)
                if first:
                    first = False
                    if state.get("ended_at") is not None:
                        stats.gaps_ms.append((time.monotonic() - state["ended_at"]) * 1000)
                        state["ended_at"] = None
                    out({"on": generation})
            fields = {}
            if stop.is_set():
                return None
        state["ended_at"] = time.monotonic()
        if last_final:
            stats.ended_with_final += 1
        else:
            stats.ended_without_final += 1
        return retry
    except http.client.IncompleteRead:
        stats.cut += 1
        return None
    except (OSError, http.client.HTTPException):
        stats.failed += 1
        return None
    finally:
        conn.close()


def client(host, port, path, stats, stop):
    state = {"ended_at": None}
    while not stop.is_set():
        retry = read_stream(host, port, path, stats, stop, state)
        time.sleep((retry or 100) / 1000)


def main():
    _, scenario, host, port, path, n = sys.argv
    if scenario != "deploy":
        sys.exit(f"sse_client.py: unknown scenario {scenario!r}")
    stats = Stats()
    stop = threading.Event()
    threads = [threading.Thread(target=client, args=(host, int(port), path, stats, stop))
               for _ in range(int(n))]
    for t in threads:
        t.start()
    sys.stdin.read()
    stop.set()
    for t in threads:
        t.join()
    gaps = sorted(stats.gaps_ms)
    out({"streams": stats.streams, "ended_with_final": stats.ended_with_final,
         "ended_without_final": stats.ended_without_final, "cut": stats.cut,
         "failed": stats.failed, "events": stats.events,
         "generations": sorted(stats.generations),
         "reconnect_ms_max": round(gaps[-1], 1) if gaps else None,
         "reconnect_ms_median": round(gaps[len(gaps) // 2], 1) if gaps else None})


if __name__ == "__main__":
    main()
