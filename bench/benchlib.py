"""What the benchmarks share: the simulator, gpprobed's configuration, the peers' command
lines, measuring a child (wait4: CPU and peak RSS), fidelity against the sim's event log,
percentiles and tables. Loopback only."""
import json
import os
import pathlib
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from urllib.parse import urlsplit

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIM = ROOT / "tests" / "sim" / "gpsim.py"
MKCERTS = ROOT / "tests" / "sim" / "mkcerts.sh"
PEERS = ROOT / "bench" / "peers"
PYTHON = "/usr/bin/python3"  # Debian's, with python3-aiohttp; not a pyenv shim
NODE = "/usr/bin/node"
PASSWORD = "s3cret-pass"
CLIENTS = ("gpprobed", "python", "node")


def gpprobed_path():
    p = os.environ.get("GPPROBED") or str(ROOT / "build" / "daemon" / "gpprobed")
    if not os.access(p, os.X_OK):
        sys.exit(f"gpprobed not found at {p}: build it (meson setup build && ninja -C build), "
                 "or set GPPROBED")
    return p


def ensure_node_peer():
    if not (PEERS / "node" / "node_modules" / "ws").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(PEERS / "node")],
                       check=True, stdout=subprocess.DEVNULL)


def certs():
    d = pathlib.Path(tempfile.gettempdir()) / "gpprobe-bench-certs"
    subprocess.run(["bash", str(MKCERTS), str(d)], check=True, capture_output=True)
    return d


class Sim:
    """A fresh simulator process (TLS unless tls=False); with workers=N, N of them on one port
    (gpsim --workers, tests/sim/sim_workers.py): the control calls below go to every worker."""

    def __init__(self, tls=True, log_size=200000, workers=1, options=None, delays=None):
        self.tls = tls
        self.workers = []  # (pid, control port) per worker when workers > 1
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="gpprobe-bench-"))
        self.certs = certs()
        port_file = self.dir / "port"
        argv = [PYTHON, str(SIM), "--port", "0", "--port-file", str(port_file),
                "--event-log-size", str(log_size)]
        if workers > 1:
            argv += ["--workers", str(workers)]
        for k, v in (options or {}).items():  # the startup scenario: kept by reset()
            argv += ["--option", f"{k}={v}"]
        for k, v in (delays or {}).items():
            argv += ["--delay", f"{k}={v}"]
        if tls:
            argv += ["--tls-cert", str(self.certs / "server.pem"),
                     "--tls-key", str(self.certs / "server.key")]
        self.log = open(self.dir / "sim.log", "w")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("simulator did not start: " + (self.dir / "sim.log").read_text())
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        if workers > 1:
            self.workers = [tuple(map(int, line.split()))
                            for line in (self.dir / "port.workers").read_text().splitlines()]
        self.ctx = ssl.create_default_context(cafile=str(self.ca)) if tls else None

    @property
    def ca(self):
        return self.certs / "ca.pem"

    @property
    def base(self):
        return f"{'https' if self.tls else 'http'}://localhost:{self.port}"

    @property
    def ws(self):
        return f"{'wss' if self.tls else 'ws'}://localhost:{self.port}/ws"

    def call(self, method, path, body=None, port=None):
        data = json.dumps(body).encode() if body is not None else None
        base = self.base if port is None else self.base.rsplit(":", 1)[0] + f":{port}"
        req = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def call_all(self, method, path, body=None):
        """The answer of every worker (of the one process without workers)."""
        if not self.workers:
            return [self.call(method, path, body)]
        return [self.call(method, path, body, port=cport) for _, cport in self.workers]

    def reset(self):
        return self.call_all("POST", "/_sim/reset", {})[0]

    def events(self):
        """Every worker's event log, merged in write order."""
        logs = self.call_all("GET", "/_sim/events")
        return {"events": sorted((e for x in logs for e in x["events"]),
                                 key=lambda e: e["t_write_start_ns"]),
                "user_messages": sorted((e for x in logs for e in x["user_messages"]),
                                        key=lambda e: e["t_mono_ns"]),
                "dropped": sum(x["dropped"] for x in logs)}

    def stats(self):
        out = {}
        for st in self.call_all("GET", "/_sim/stats"):
            for k, v in st.items():
                if isinstance(v, int):
                    out[k] = out.get(k, 0) + v
        return out

    @staticmethod
    def _pid_cpu_s(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def worker_cpu_s(self):
        """CPU seconds (user+sys) of each process that serves: the workers, or the one."""
        return [self._pid_cpu_s(pid) for pid, _ in self.workers] or [self._pid_cpu_s(self.proc.pid)]

    def cpu_s(self):
        return sum(self.worker_cpu_s())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def gpprobe_config(sim, users=1, workdir=None, **sections):
    """Writes gpprobed's configuration for the sim (0600, with a password file); its path."""
    d = pathlib.Path(workdir or tempfile.mkdtemp(prefix="gpprobe-bench-"))
    pw = d / "password"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    cfg = {
        "Probe": {"Name": "bench", "Timeout": "120s", "Users": str(users)},
        "Login": {"URL": f"{sim.base}/auth/login", "User": "probe${index}@example.com",
                  "PasswordFile": str(pw)},
        "WebSocket": {"URL": sim.ws, "ConnectTimeout": "60s"},
        "Events": {"EventTimeout": "60s"},
        # SLOs off: a benchmark measures, it does not judge
        "SLO": {"Login": "0", "Connect": "0", "FirstEvent": "0", "Total": "0"},
    }
    if sim.tls:
        cfg["TLS"] = {"CAFile": str(sim.ca)}
    for sec, kv in sections.items():
        cfg.setdefault(sec, {}).update(kv)
    path = d / "bench.conf"
    path.write_text("".join(f"[{s}]\n" + "".join(f"{k}={v}\n" for k, v in kv.items()) + "\n"
                            for s, kv in cfg.items()))
    path.chmod(0o600)
    return path


def peer_argv(client, sim, users=1, runs=1, interval=0.0, quiet=False):
    common = ["--login-url", f"{sim.base}/auth/login", "--ws-url", sim.ws,
              "--users", str(users), "--runs", str(runs), "--interval", str(interval)]
    if sim.tls:
        common += ["--ca", str(sim.ca)]
    if quiet:
        common += ["--quiet"]
    if client == "python":
        return [PYTHON, str(PEERS / "probe.py")] + common
    if client == "node":
        return [NODE, str(PEERS / "probe.mjs")] + common
    raise ValueError(client)


def floor_argv(sim, runs):
    argv = [PYTHON, str(PEERS / "floor.py"), "--login-url", f"{sim.base}/auth/login",
            "--ws-url", sim.ws, "--runs", str(runs)]
    return argv + (["--ca", str(sim.ca)] if sim.tls else [])


def _build_c(name, libs):
    """bench/NAME.c, built once per source version with the system compiler."""
    src = ROOT / "bench" / f"{name}.c"
    exe = pathlib.Path(tempfile.gettempdir()) / f"gpprobe-bench-{name}-{int(src.stat().st_mtime)}"
    if not exe.exists():
        tmp = exe.with_suffix(".tmp")
        subprocess.run(["cc", "-O2", "-o", str(tmp), str(src)] + libs, check=True)
        tmp.rename(exe)
    return str(exe)


def floor_tls_argv(sim, runs=1, interval=0.0):
    """bench/floor-tls.c: the two TLS handshakes of a run and nothing else (the floor)."""
    port = sim.base.rsplit(":", 1)[1]
    return [_build_c("floor-tls", ["-lssl", "-lcrypto"]), "--ca", str(sim.ca), "--host", "localhost",
            "--port", port, "--runs", str(runs), "--interval", str(interval)]


def floor_path_argv(sim, runs=1, interval=0.0):
    """bench/floor-tls.c --path: the two handshakes plus the exchange a run needs, blocking, no
    checks (the path floor)."""
    login = urlsplit(f"{sim.base}/auth/login")
    ws = urlsplit(sim.ws)
    return floor_tls_argv(sim, runs, interval) + ["--path", "--login-path", login.path,
                                                   "--ws-path", ws.path or "/", "--password", PASSWORD]


def empty_linked_memory():
    """RSS, PSS, USS and private dirty (KiB) of an empty program linking gpprobed's libraries."""
    exe = _build_c("empty-linked", ["-lcurl", "-lwebsockets", "-ljansson", "-lsystemd", "-lssl", "-lcrypto"])
    proc = subprocess.Popen([exe])
    try:
        time.sleep(0.3)
        return _proc_status(proc.pid, "VmRSS"), *_smaps_rollup(proc.pid, dirty=True)
    finally:
        proc.kill()
        proc.wait()


def _smaps_rollup(pid, dirty=False):
    """(PSS, USS) in KiB, and with dirty=True the private dirty pages too: USS is the private
    pages, clean and dirty; PSS shares each shared page among the processes mapping it. Private
    clean pages are library pages no other process maps at the moment (USS depends on what else
    runs); private dirty ones (heap, stacks, the libraries' relocated data) are the process's
    own whatever else runs."""
    pss = uss = priv_dirty = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, rest = line.partition(":")
                if k == "Pss":
                    pss = int(rest.split()[0])
                elif k in ("Private_Clean", "Private_Dirty"):
                    uss += int(rest.split()[0])
                    if k == "Private_Dirty":
                        priv_dirty = int(rest.split()[0])
    except (OSError, ValueError):
        return (None, None, None) if dirty else (None, None)
    return (pss, uss, priv_dirty) if dirty else (pss, uss)


def smaps_by_mapping(pid):
    """{mapping: Counter(Rss, Pss, Private_Clean, Private_Dirty)} in KiB, by file name ([heap],
    [anon], [stack], the libraries)."""
    import collections
    out = collections.defaultdict(collections.Counter)
    cur = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                parts = line.split()
                if parts and "-" in parts[0] and not parts[0].endswith(":"):
                    cur = parts[5].rsplit("/", 1)[-1] if len(parts) > 5 else "[anon]"
                    continue
                k = parts[0].rstrip(":") if parts else ""
                if k in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                    out[cur][k] += int(parts[1])
    except (OSError, ValueError, IndexError):
        return {}
    return dict(out)


def tmpfs_dir():
    """A directory on tmpfs for the status file, as in production (/run/gpprobe): /run when it
    is tmpfs, else /dev/shm; None when neither is."""
    mounts = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            mounts[mnt] = fstype
    for d in ("/run", "/dev/shm"):
        if mounts.get(d) == "tmpfs" and os.access(d, os.W_OK):
            return pathlib.Path(tempfile.mkdtemp(prefix="gpprobe-bench-", dir=d))
    return None


class Measured:
    def __init__(self, rc, out, err, cpu, maxrss_kib, wall, rss_anon_kib=None, threads=None,
                 pss_kib=None, uss_kib=None):
        self.rc, self.out, self.err = rc, out, err
        self.cpu, self.maxrss_kib, self.wall = cpu, maxrss_kib, wall
        self.rss_anon_kib = rss_anon_kib
        self.pss_kib, self.uss_kib = pss_kib, uss_kib  # peaks seen by polling smaps_rollup
        self.dirty_kib = None  # peak private dirty pages (polled)
        self.mappings = {}     # smaps_by_mapping() just before the stop (stop_when)
        self.threads = threads or {}  # "main" / "others": CPU seconds just before the stop

    def results(self):
        """The run results a client printed (gpprobed --json: one object; peers: lines)."""
        text = self.out.strip()
        if not text:
            return []
        if text.startswith("{\n"):
            return [json.loads(text)]
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _rusage_tool():
    """bench/rusage.c, built once per source version with the system compiler."""
    src = ROOT / "bench" / "rusage.c"
    exe = pathlib.Path(tempfile.gettempdir()) / f"gpprobe-bench-rusage-{int(src.stat().st_mtime)}"
    if not exe.exists():
        tmp = exe.with_suffix(".tmp")
        subprocess.run(["cc", "-O2", "-o", str(tmp), str(src)], check=True)
        tmp.rename(exe)
    return str(exe)


def _proc_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _thread_cpu(pid):
    """CPU seconds of the main thread and of all the others."""
    tck = os.sysconf("SC_CLK_TCK")
    out = {"main": 0.0, "others": 0.0}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out["main" if int(tid) == pid else "others"] += (int(fields[11]) + int(fields[12])) / tck
    except OSError:
        pass
    return out


def measure(argv, env=None, timeout=600, stop_when=None, poll=0.05):
    """Runs argv to its end (or, with stop_when, until stop_when() is true, then SIGTERM).
    user+sys CPU, peak RSS and wall time are argv's alone (bench/rusage.c: wait4 and
    CLOCK_MONOTONIC around it); RssAnon is the peak seen by polling /proc."""
    e = dict(os.environ)
    e.update(env or {})
    report = pathlib.Path(tempfile.mkstemp(prefix="gpprobe-bench-rusage-")[1])
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    t = time.monotonic()
    proc = subprocess.Popen([_rusage_tool(), str(report)] + list(argv), stdout=out, stderr=err,
                            env=e)
    anon, pid, threads, pss, uss, dirty, mappings = 0, None, {}, 0, 0, 0, {}
    deadline = t + timeout
    while proc.poll() is None:
        if pid is None:
            first = report.read_text().split("\n", 1)[0]
            pid = int(first.split()[1]) if first.startswith("pid ") else None
        if pid is not None:
            anon = max(anon, _proc_status(pid, "RssAnon") or 0)
            p, u, d = _smaps_rollup(pid, dirty=True)
            pss, uss, dirty = max(pss, p or 0), max(uss, u or 0), max(dirty, d or 0)
            if stop_when is not None and stop_when():
                threads = _thread_cpu(pid)
                mappings = smaps_by_mapping(pid)
                proc.send_signal(signal.SIGTERM)
                stop_when = None
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(poll)
    wall = time.monotonic() - t
    last = report.read_text().split()
    report.unlink()
    out.seek(0)
    err.seek(0)
    if "exit" not in last:
        return Measured(proc.returncode, out.read().decode(), err.read().decode(), float("nan"),
                        float("nan"), wall)
    i = last.index("exit")
    rc, utime, stime, maxrss, wall_us = (int(x) for x in last[i + 1:i + 6])
    m = Measured(rc, out.read().decode(), err.read().decode(), (utime + stime) / 1e6, maxrss,
                 wall_us / 1e6, anon or None, threads, pss or None, uss or None)
    m.dirty_kib, m.mappings = dirty or None, mappings
    m.utime, m.stime = utime / 1e6, stime / 1e6
    return m


def sessions_of(res):
    """gpprobed lists `sessions` only when Users>1; with one, the run is the session."""
    return res.get("sessions") or [res]


def fidelity(results, log):
    """Per event (first appearance of each type in each session): the client's monotonic time
    minus the sim's, against write start and write end, in microseconds."""
    first = {}
    for e in log["events"]:
        first.setdefault((e["run_id"], e["type"]), e)
    vs_start, vs_end = [], []
    for res in results:
        for s in sessions_of(res):
            for ev in s["events"]:
                w = first.get((s["run_id"], ev["type"]))
                if w is None or ev.get("at_mono_us") is None:
                    continue
                vs_start.append(ev["at_mono_us"] - w["t_write_start_ns"] / 1000)
                vs_end.append(ev["at_mono_us"] - w["t_mono_ns"] / 1000)
    return vs_start, vs_end


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, -(-len(v) * p // 100) - 1))
    return v[int(k)]


def median(values):
    return statistics.median(values) if values else float("nan")


def table(headers, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    print(flush=True)


def f1(x):
    return "-" if x != x else f"{x:.1f}"  # NaN -> "-"


def f2(x):
    return f"{x:.2f}"


def f3(x):
    return "-" if x != x else f"{x:.3f}"


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node = subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout.strip()
    py = subprocess.run([PYTHON, "-c", "import aiohttp,sys;print(sys.version.split()[0], "
                         "'aiohttp', aiohttp.__version__)"], capture_output=True, text=True)
    return f"{os.cpu_count()} CPUs ({cpu}); Python {py.stdout.strip()}; Node {node}"
