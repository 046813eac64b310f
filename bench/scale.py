#!/usr/bin/python3
"""Scale: Users= 1, 10, 100, 1000 over TLS, gpprobed beside the Python and Node.js peers
(asyncio.gather / Promise.all of N sessions), each size against a fresh simulator.

Per client and size: wall time of the run, user+sys CPU (total and per session), peak RSS,
sessions passed, and the fidelity error of every event (vs the sim's write start). gpprobed
runs as `--once` (which writes its step-by-step trace to stderr, a line per event) and as a
daemon for two runs (peak RSS, the daemon target, and fidelity without the trace).

Prints figures; asserts nothing. Default ~2.5 minutes; --quick (1, 10, 100) ~40 s.
"""
import argparse
import json
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402


def run_once(sim, client, n):
    sim.reset()
    if client == "gpprobed":
        cfg = B.gpprobe_config(sim, users=n)
        argv = [B.gpprobed_path(), "--config", str(cfg), "--once", "--json"]
        m = B.measure(argv, env={"GPPROBE_MONO_TIMES": "1"})
    else:
        m = B.measure(B.peer_argv(client, sim, users=n))
    res = m.results()
    if not res:
        sys.exit(f"{client} Users={n} printed nothing: rc={m.rc} {m.err[-1500:]}")
    return m, res[0], sim.events()


def daemon(sim, n, runs=2):
    """The daemon's peak RSS over two runs, and the fidelity of the last (no trace output,
    unlike --once: the daemon's own timing)."""
    work = pathlib.Path(tempfile.mkdtemp(prefix="gpprobe-bench-scale-"))
    status = work / "status.json"
    cfg = B.gpprobe_config(sim, users=n, workdir=work,
                           Probe={"Interval": "1s", "Jitter": "0"},
                           Output={"StatusFile": str(status),
                                   "StateFile": str(work / "state"), "Journal": "no"})
    sim.reset()

    def done():
        try:
            st = json.loads(status.read_text())
        except (OSError, ValueError):
            return False
        return st.get("window", {}).get("runs", 0) >= runs

    m = B.measure([B.gpprobed_path(), "--config", str(cfg)], env={"GPPROBE_MONO_TIMES": "1"},
                  stop_when=done, poll=0.1, timeout=600)
    last = json.loads(status.read_text())["last"]
    start, _ = B.fidelity([last], sim.events())
    return m, last, [x / 1000 for x in start]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--users", type=int, nargs="*", help="sizes (default 1 10 100 1000)")
    ap.add_argument("--no-daemon", action="store_true", help="skip the daemon RSS runs")
    a = ap.parse_args(argv)
    sizes = a.users or ([1, 10, 100] if a.quick else [1, 10, 100, 1000])
    B.ensure_node_peer()
    print(f"# scale: Users=N over TLS\n{B.machine()}\n", flush=True)
    rows, drows = [], []
    for n in sizes:
        sim = B.Sim(tls=True, log_size=max(200000, n * 20))
        try:
            for c in B.CLIENTS:
                m, res, log = run_once(sim, c, n)
                sessions = B.sessions_of(res)
                passed = sum(1 for s in sessions if s["result"] == "pass")
                start, _ = B.fidelity([res], log)
                start = [x / 1000 for x in start]
                rows.append([n, c, f"{passed}/{n}", B.f1(m.wall * 1000), B.f1(m.cpu * 1000),
                             B.f3(m.cpu * 1000 / n), B.f1(m.maxrss_kib / 1024),
                             B.f1((m.rss_anon_kib or 0) / 1024), B.f3(B.pct(start, 50)),
                             B.f3(B.pct(start, 99)),
                             B.f3(max(start) if start else float("nan"))])
                print(" | ".join(map(str, rows[-1])), flush=True)
            if not a.no_daemon:
                d, last, start = daemon(sim, n)
                passed = sum(1 for s in B.sessions_of(last) if s["result"] == "pass")
                drows.append([n, f"{passed}/{n}", B.f1(d.maxrss_kib / 1024),
                              B.f1((d.rss_anon_kib or 0) / 1024), B.f1(d.cpu * 1000),
                              B.f3(B.pct(start, 50)), B.f3(B.pct(start, 99)),
                              B.f3(max(start) if start else float("nan"))])
        finally:
            sim.stop()
    print("\n## one run per process")
    B.table(["Users", "client", "passed", "wall ms", "CPU ms", "CPU ms/session",
             "peak RSS MiB", "RssAnon MiB (sampled)", "error p50 ms", "p99", "max"], rows)
    if drows:
        print("## gpprobed as a daemon, two runs at each size (fidelity: the second run)")
        B.table(["Users", "passed", "peak RSS MiB", "peak RssAnon MiB (sampled)",
                 "CPU ms (start + 2 runs)", "error p50 ms", "p99", "max"], drows)
    print("wall = the client process from start to exit; error = the client's time of each "
          "event - the sim's write start (bench/fidelity.py explains), over every event of "
          "every session.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
