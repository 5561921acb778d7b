"""What the bench scripts that measure one server at a time share: the
release binaries' place and their build, the servers' config and
environment, a server started under Perl start_server (inside callgrind
when asked) and waited for, and callgrind's instruction total."""
import contextlib, glob, os, re, subprocess, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.path.join(ROOT, "target", "release")


def build(adapters):
    """Builds the release binaries: demo-app and plain-A for each adapter A."""
    packages = ["demo-app"] + ["plain-" + a for a in adapters]
    subprocess.run(["cargo", "build", "--release", "-q"] + [x for p in packages for x in ("-p", p)],
                   cwd=ROOT, check=True)


def setup(config, **env):
    """A work directory holding `config` as bench.toml, the file's path, and
    the servers' environment (`env` added, no inherited SERVER_STARTER_PORT)."""
    work = tempfile.mkdtemp()
    cfg = os.path.join(work, "bench.toml")
    with open(cfg, "w") as f:
        f.write(config)
    env = dict(os.environ, **env)
    env.pop("SERVER_STARTER_PORT", None)
    return work, cfg, env


def wait_for(path, pattern, timeout=60):
    """The first match of `pattern` in the file at `path`, once it appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            m = re.search(pattern, f.read())
        if m:
            return m
        time.sleep(0.2)
    raise RuntimeError("timeout waiting for %r in %s" % (pattern, path))


@contextlib.contextmanager
def served(argv, env, work, callgrind=False):
    """Runs `argv` under `start_server --port 127.0.0.1:0` (inside
    `valgrind --tool=callgrind`, its output in `work`, when `callgrind`),
    waits for its worker to listen (and zeroes callgrind's counters), and
    yields (worker pid, "127.0.0.1:port"); stops it on the way out."""
    log = os.path.join(work, "log")
    wrap = (["valgrind", "--tool=callgrind", "--callgrind-out-file=" + os.path.join(work, "cg.%p")]
            if callgrind else [])
    with open(log, "w") as f:
        sup = subprocess.Popen(["start_server", "--port", "127.0.0.1:0", "--"] + wrap + argv,
                               stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        pid = wait_for(log, r"starting new worker (\d+)").group(1)
        addr = wait_for(log, r"listening on (127\.0\.0\.1:\d+)").group(1)
        time.sleep(1)
        if callgrind:
            subprocess.run(["callgrind_control", "-z", pid], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        yield pid, addr
    finally:
        sup.terminate()
        sup.wait(timeout=60)


def callgrind_total(work, keep=None):
    """The instructions of every callgrind output in `work` (all threads),
    the files removed, or the last one moved to `keep`."""
    total = 0
    for path in glob.glob(os.path.join(work, "cg.*")):
        with open(path) as f:
            m = re.search(r"^totals: (\d+)", f.read(), re.M)
        if m:
            total += int(m.group(1))
            if keep:
                os.replace(path, keep)
                continue
        os.remove(path)
    return total
