"""Shared by the bench scripts: a child process's stderr, read line by line in
the background with the time each line was read, and searched with a timeout."""
import os
import re
import signal
import threading
import time


class Failure(Exception):
    """A bench run that cannot go on; the script reports it and exits 1."""


class StderrLines:
    """Mixin for a class that starts a process with stderr=PIPE, text=True and
    start_new_session=True, then calls `self.follow(proc)`."""

    def follow(self, proc):
        self.lines = []  # (time.monotonic(), line)
        self.eof = False
        self.cond = threading.Condition()
        self._followed = proc
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stderr:
            with self.cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def mark(self):
        """The number of lines read so far: a `start` for `find`."""
        with self.cond:
            return len(self.lines)

    def find(self, pattern, timeout, start=0, fail=True):
        """(read time, match) of the first line from index `start` matching
        `pattern`; at the timeout or the end of the output, raises Failure
        (or returns None when `fail` is false)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for at, line in self.lines[start:]:
                    m = rx.search(line)
                    if m:
                        return at, m
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    if not fail:
                        return None
                    why = ("the output ended (exit status %s)" % self._followed.poll()
                           if self.eof else "%g s passed" % timeout)
                    raise Failure("no line matching %r before %s; last lines:\n%s"
                                  % (pattern, why, self.tail()))
                self.cond.wait(min(left, 0.5))

    def kill(self):
        """SIGKILL to the followed process's group (it was started with
        start_new_session=True), then reap it."""
        try:
            os.killpg(self._followed.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._followed.wait()

    def tail(self, n=25):
        with self.cond:
            return "\n".join("    " + l for _, l in self.lines[-n:])
