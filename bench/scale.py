#!/usr/bin/python3
"""Scale: Users= 1, 10, 100, 1000 over TLS, gpprobed beside the Python and Node.js peers
(asyncio.gather / Promise.all of N sessions), each size against a fresh simulator.

Per client and size: wall time of the run, user+sys CPU (total; per session; marginal per
session, without the start-up; both relative to Users=10), peak RSS, PSS and USS, sessions passed, and the fidelity error of every
event (vs the sim's write start). gpprobed runs as `--once` (which writes its step-by-step trace
to stderr, a line per event) and as a daemon for two runs (memory and fidelity without the
trace). --baseline PATH adds another gpprobed binary (e.g. a build of an earlier commit) as a
client of the same invocation: before and after against the same simulators.

The simulator must not be the bottleneck, or it times itself: it runs as --workers N processes
on one port (default: one per CPU), and each event is due at a random time (delay_jitter: up to
--jitter ms after the scenario's delay; the first event --first-delay ms after the request, when
every session's request has been written), as 1000 users' answers are. For each client run the
script prints the simulator's own figures: how late it wrote events against their due time
(p50/p99 of t_write_start - t_due) and its CPU use while events were due, per worker, as CPU
seconds per wall second (1.0 = a whole CPU). `--workers 1 --jitter 0 --first-delay 20` is the
burst scenario of earlier versions of this script (every session's events due at once).

Prints figures; asserts nothing. Default ~5 minutes; --quick (1, 10, 100) ~1.5 minutes.
"""
import argparse
import json
import os
import pathlib
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402


class SimCpu:
    """Samples the sim workers' CPU seconds every 20 ms while a client runs (a thread)."""

    def __init__(self, sim):
        self.sim, self.samples, self._stop = sim, [], threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), self.sim.worker_cpu_s()))
            except OSError:
                pass
            self._stop.wait(0.02)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    def per_worker(self, t0, t1):
        """Per worker: CPU seconds per wall second between monotonic times t0 and t1 (the
        samples just outside the window, so it is never shorter than asked)."""
        before = [s for s in self.samples if s[0] <= t0] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= t1] or self.samples[-1:]
        a, b = before[-1], after[0]
        if b[0] <= a[0]:
            return []
        return [(cb - ca) / (b[0] - a[0]) for ca, cb in zip(a[1], b[1])]


def sim_figures(log, cpu):
    """The sim's own lateness (ms) and its workers' CPU per wall second while events were due."""
    ev = [e for e in log["events"] if "t_due_ns" in e]
    if not ev:
        return float("nan"), float("nan"), []
    late = [(e["t_write_start_ns"] - e["t_due_ns"]) / 1e6 for e in ev]
    t0 = min(e["t_due_ns"] for e in ev) / 1e9
    t1 = max(e["t_mono_ns"] for e in ev) / 1e9
    return B.pct(late, 50), B.pct(late, 99), cpu.per_worker(t0, t1)


def fmt_cpu(per):
    return "/".join(f"{x:.2f}" for x in per) if per else "-"


def run_once(sim, client, n, gpprobed):
    sim.reset()
    if client.startswith("gpprobed"):
        cfg = B.gpprobe_config(sim, users=n)
        argv = [gpprobed[client], "--config", str(cfg), "--once", "--json"]
        env = {"GPPROBE_MONO_TIMES": "1"}
    else:
        argv, env = B.peer_argv(client, sim, users=n), None
    with SimCpu(sim) as cpu:
        m = B.measure(argv, env=env)
    res = m.results()
    if not res:
        sys.exit(f"{client} Users={n} printed nothing: rc={m.rc} {m.err[-1500:]}")
    return m, res[0], sim.events(), cpu


def daemon(sim, n, exe, runs=2):
    """The daemon's memory over two runs, and the fidelity of the last (no trace output,
    unlike --once: the daemon's own timing)."""
    work = pathlib.Path(tempfile.mkdtemp(prefix="gpprobe-bench-scale-"))
    status = work / "status.json"
    cfg = B.gpprobe_config(sim, users=n, workdir=work,
                           Probe={"Interval": "1s", "Jitter": "0"},
                           Output={"StatusFile": str(status),
                                   "StateFile": str(work / "state"), "Journal": "no"})
    sim.reset()

    seen = {"mtime": None}

    def done():
        # parsed only when rewritten (once a run): at Users=1000 the document is a megabyte,
        # and parsing it every poll would load the CPUs the clients and the simulator share
        try:
            mtime = status.stat().st_mtime_ns
            if mtime == seen["mtime"]:
                return False
            seen["mtime"] = mtime
            st = json.loads(status.read_text())
        except (OSError, ValueError):
            return False
        return st.get("window", {}).get("runs", 0) >= runs

    with SimCpu(sim) as cpu:
        m = B.measure([exe, "--config", str(cfg)], env={"GPPROBE_MONO_TIMES": "1"},
                      stop_when=done, poll=0.1, timeout=600)
    last = json.loads(status.read_text())["last"]
    log = sim.events()
    ours = {"events": [e for e in log["events"] if e["run_id"] in
                       {s["run_id"] for s in B.sessions_of(last)}]}
    start, _ = B.fidelity([last], ours)
    return m, last, [x / 1000 for x in start], sim_figures(ours, cpu)


def mib(kib):
    return B.f1(kib / 1024) if kib else "-"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--users", type=int, nargs="*", help="sizes (default 1 10 100 1000)")
    ap.add_argument("--no-daemon", action="store_true", help="skip the daemon runs")
    ap.add_argument("--no-peers", action="store_true", help="gpprobed only")
    ap.add_argument("--baseline", metavar="GPPROBED", help="another gpprobed to run beside")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="simulator processes (default: one per CPU)")
    ap.add_argument("--jitter", type=int, default=1000, help="ms, see above (default 1000)")
    ap.add_argument("--first-delay", type=int, default=500, help="ms (default 500)")
    a = ap.parse_args(argv)
    sizes = a.users or ([1, 10, 100] if a.quick else [1, 10, 100, 1000])
    gpprobed = {"gpprobed": B.gpprobed_path()}
    if a.baseline:
        gpprobed["gpprobed-baseline"] = a.baseline
    clients = list(gpprobed) + ([] if a.no_peers else [c for c in B.CLIENTS if c != "gpprobed"])
    if not a.no_peers:
        B.ensure_node_peer()
    print(f"# scale: Users=N over TLS\n{B.machine()}\n"
          f"simulator: {a.workers} worker(s), first event {a.first_delay} ms after the request, "
          f"each event up to {a.jitter} ms late at random; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n", flush=True)
    rows, drows, per10, cpu1, marg10 = [], [], {}, {}, {}
    for n in sizes:
        sim = B.Sim(tls=True, log_size=max(200000, n * 20), workers=a.workers,
                    options={"delay_jitter": a.jitter}, delays={"agent_started": a.first_delay})
        try:
            for c in clients:
                m, res, log, cpu = run_once(sim, c, n, gpprobed)
                sessions = B.sessions_of(res)
                passed = sum(1 for s in sessions if s["result"] == "pass")
                start, _ = B.fidelity([res], log)
                start = [x / 1000 for x in start]
                late50, late99, simcpu = sim_figures(log, cpu)
                per = m.cpu * 1000 / n
                if n == 1:
                    cpu1[c] = m.cpu * 1000
                marg = (m.cpu * 1000 - cpu1[c]) / (n - 1) if c in cpu1 and n > 1 else float("nan")
                if n == 10:
                    per10[c], marg10[c] = per, marg
                rows.append([n, c, f"{passed}/{n}", B.f1(m.wall * 1000), B.f1(m.cpu * 1000),
                             B.f3(per), B.f2(per / per10[c]) if c in per10 else "-", B.f3(marg),
                             B.f2(marg / marg10[c]) if c in marg10 and marg == marg else "-",
                             mib(m.maxrss_kib), mib(m.pss_kib), mib(m.uss_kib),
                             B.f3(B.pct(start, 50)), B.f3(B.pct(start, 99)),
                             B.f3(max(start) if start else float("nan")),
                             B.f3(late50), B.f3(late99), fmt_cpu(simcpu)])
                print(" | ".join(map(str, rows[-1])), flush=True)
            if not a.no_daemon:
                for c, exe in gpprobed.items():
                    d, last, start, (late50, late99, simcpu) = daemon(sim, n, exe)
                    passed = sum(1 for s in B.sessions_of(last) if s["result"] == "pass")
                    idle = sum(v["Private_Clean"] + v["Private_Dirty"] for v in d.mappings.values())
                    drows.append([n, c, f"{passed}/{n}", mib(d.maxrss_kib), mib(d.pss_kib),
                                  mib(d.uss_kib), mib(idle), B.f1(d.cpu * 1000), B.f3(B.pct(start, 50)),
                                  B.f3(B.pct(start, 99)),
                                  B.f3(max(start) if start else float("nan")),
                                  B.f3(late99), fmt_cpu(simcpu)])
                    print(" | ".join(map(str, drows[-1])), flush=True)
        finally:
            sim.stop()
    print("\n## one run per process")
    B.table(["Users", "client", "passed", "wall ms", "CPU ms", "CPU ms/session", "x Users=10",
             "marginal ms/session", "x Users=10", "peak RSS MiB", "PSS MiB", "USS MiB", "error p50 ms", "p99", "max",
             "sim late p50 ms", "sim late p99", "sim CPU/s per worker"], rows)
    if drows:
        print("## gpprobed as a daemon, two runs at each size (fidelity: the second run)")
        B.table(["Users", "client", "passed", "peak RSS MiB", "peak PSS MiB", "peak USS MiB",
                 "USS MiB after the runs", "CPU ms (start + 2 runs)", "error p50 ms", "p99", "max", "sim late p99 ms",
                 "sim CPU/s per worker"], drows)
    print("marginal = (CPU at N - CPU at Users=1) / (N - 1): a session's cost without the "
          "process's start-up, which CPU ms/session spreads over the sessions. "
          "wall = the client process from start to exit; error = the client's time of each "
          "event - the sim's write start (bench/fidelity.py explains), over every event of "
          "every session. PSS and USS: peaks of /proc/PID/smaps_rollup sampled every 50 ms "
          "(USS = private clean + dirty); USS after the runs: /proc/PID/smaps once the status file "
          "says the second run is done, before the stop. sim late = the sim's write start - the event's due "
          "time; sim CPU/s = each worker's CPU seconds per wall second from the first event's "
          f"due time to the last event's write (1.0 = a whole CPU; {os.cpu_count()} CPUs, shared "
          "with the client).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
