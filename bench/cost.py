#!/usr/bin/python3
"""Cost of one golden-path run over TLS: gpprobed beside the Python (aiohttp) and Node.js (ws)
peers, against the same simulator, in the same run.

  A. one run per fresh process (`gpprobed --once` vs a peer doing one run): user+sys CPU and
     peak RSS from wait4, median of N repetitions, the clients interleaved;
  B. per run inside a long-running process: gpprobed as a daemon at a short Interval= for M
     runs vs each peer looping M runs at the same pace in one process; CPU / M (startup
     included, amortized) and the process's peak RSS.

Prints figures; asserts nothing. Default ~2 minutes; --quick ~30 s.
"""
import argparse
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402


FLOOR = "floor (2 TLS handshakes)"
PATH_FLOOR = "path floor (handshakes + exchange)"
FLOORS = (FLOOR, PATH_FLOOR)


def once(sim, reps):
    gp = B.gpprobed_path()
    cfg = B.gpprobe_config(sim)
    argv = {"gpprobed": [gp, "--config", str(cfg), "--once", "--json"],
            "python": B.peer_argv("python", sim), "node": B.peer_argv("node", sim),
            FLOOR: B.floor_tls_argv(sim), PATH_FLOOR: B.floor_path_argv(sim)}
    got = {c: [] for c in argv}
    for _ in range(reps):
        for c in argv:
            m = B.measure(argv[c])
            res = m.results() if c not in FLOORS else [{"result": "pass"}]
            if m.rc != 0 or not res or res[0]["result"] != "pass":
                sys.exit(f"{c} failed: rc={m.rc} {m.out[-500:]} {m.err[-1500:]}")
            got[c].append(m)
    return got


def looped_floor(sim, argv, runs):
    m = B.measure(argv, timeout=runs * 10 + 60)
    if m.rc != 0:
        sys.exit(f"floor failed: {m.err[-1500:]}")
    return m, runs


def mib(kib):
    return B.f1(kib / 1024) if kib else "-"  # "-": the process ended before a sample


def daemon(sim, runs, interval, where):
    work = pathlib.Path(tempfile.mkdtemp(prefix="gpprobe-bench-daemon-"))
    # where production keeps them: the status file on tmpfs (/run/gpprobe), the state file on
    # the disk (/var/lib/gpprobe; here the temporary directory's file system)
    status = (B.tmpfs_dir() or work) / "status.json"
    cfg = B.gpprobe_config(sim, workdir=work,
                           Probe={"Interval": f"{int(interval * 1000)}ms", "Jitter": "0"},
                           Output={"StatusFile": str(status), "StateFile": str(work / "state"),
                                   "Journal": "no"})
    sim.reset()
    m = B.measure([B.gpprobed_path(), "--config", str(cfg)],
                  stop_when=lambda: sim.stats()["runs"] >= runs, poll=0.1, timeout=runs * 10 + 60)
    done = sim.stats()["runs"]
    where[:] = [status.parent, work]
    return m, done


def looped(sim, client, runs, interval):
    sim.reset()
    m = B.measure(B.peer_argv(client, sim, runs=runs, interval=interval, quiet=True),
                  timeout=runs * 10 + 60)
    if m.rc != 0:
        sys.exit(f"{client} failed: {m.err[-1500:]}")
    return m, sim.stats()["runs"]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, help="fresh-process repetitions (default 15; quick 5)")
    ap.add_argument("--runs", type=int, help="runs in one process (default 100; quick 20)")
    ap.add_argument("--interval", type=float, default=0.3, help="seconds between runs (0.3)")
    a = ap.parse_args(argv)
    reps = a.reps or (5 if a.quick else 15)
    runs = a.runs or (20 if a.quick else 100)
    B.ensure_node_peer()
    print(f"# cost of one golden-path run over TLS\n{B.machine()}\n"
          f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n", flush=True)
    sim = B.Sim(tls=True)
    try:
        got = once(sim, reps)
        base = B.median([m.cpu for m in got["gpprobed"]])
        floor = B.median([m.cpu for m in got[FLOOR]])
        pfloor = B.median([m.cpu for m in got[PATH_FLOOR]])
        rows = []
        for c in got:
            cpu = B.median([m.cpu for m in got[c]]) * 1000
            rows.append([c, B.f1(cpu), B.f1(cpu / (base * 1000)), B.f2(cpu / (floor * 1000)),
                         B.f2(cpu / (pfloor * 1000)),
                         mib(B.median([m.maxrss_kib for m in got[c]])),
                         mib(B.median([m.pss_kib or 0 for m in got[c]])),
                         mib(B.median([m.uss_kib or 0 for m in got[c]])),
                         mib(B.median([m.dirty_kib or 0 for m in got[c]])),
                         B.f1(B.median([m.wall for m in got[c]]) * 1000)])
        print(f"## A. one run per fresh process (median of {reps})")
        B.table(["client", "CPU ms", "x gpprobed", "x floor", "x path floor", "peak RSS MiB", "PSS MiB (sampled)",
                 "USS MiB (sampled)", "private dirty MiB (sampled)", "wall ms"], rows)

        # Each client's M-run process, and the median CPU of 3 one-run processes of the same
        # kind: (M-run CPU - one-run CPU) / (M - 1) is the steady cost of a run, start-up and
        # exit taken out (gpprobed's start-up is ~10 ms more than the floor's).
        where = []
        runners = {
            "gpprobed (daemon)": lambda n: daemon(sim, n, a.interval, where),
            "python (loop)": lambda n: looped(sim, "python", n, a.interval),
            "node (loop)": lambda n: looped(sim, "node", n, a.interval),
            f"{FLOOR} (loop)": lambda n: looped_floor(sim, B.floor_tls_argv(sim, n, a.interval), n),
            f"{PATH_FLOOR} (loop)": lambda n: looped_floor(sim, B.floor_path_argv(sim, n, a.interval), n),
        }
        got = {}
        for c, run in runners.items():
            one = B.median([run(1)[0].cpu for _ in range(3)])
            mm, n = run(runs)
            got[c] = (mm, n, mm.cpu / max(n, 1) * 1000, (mm.cpu - one) / max(n - 1, 1) * 1000)
        m, done, _, per = got["gpprobed (daemon)"]
        fper = got[f"{FLOOR} (loop)"][3]
        pper = got[f"{PATH_FLOOR} (loop)"][3]
        rows = [[c, n, B.f1(mm.cpu * 1000), B.f3(amortized), B.f3(steady), B.f2(steady / per),
                 B.f2(steady / fper), B.f2(steady / pper), mib(mm.maxrss_kib), mib(mm.pss_kib), mib(mm.uss_kib),
                 mib(mm.dirty_kib)]
                for c, (mm, n, amortized, steady) in got.items()]
        print(f"## B. {runs} runs in one long-running process, one every {a.interval}s")
        B.table(["client", "runs", "CPU ms total", "CPU ms per run (start-up amortized)",
                 "steady CPU ms per run", "x gpprobed", "x floor", "x path floor",
                 "peak RSS MiB", "peak PSS MiB (sampled)", "peak USS MiB (sampled)",
                 "peak private dirty MiB (sampled)"], rows)
        rss, pss, uss, dirty = B.empty_linked_memory()
        print(f"An empty program linking gpprobed's libraries (bench/empty-linked.c): RSS {mib(rss)} MiB, "
              f"PSS {mib(pss)} MiB, USS {mib(uss)} MiB, private dirty {mib(dirty)} MiB: the "
              "shared-library floor under any figure above.\n")
        print(f"gpprobed's status file in {where[0]}, state file in {where[1]}.\n")
        if m.mappings:
            print("gpprobed (daemon) by mapping, KiB, just before the stop (private = USS):")
            top = sorted(m.mappings.items(), key=lambda kv: -(kv[1]["Private_Clean"] + kv[1]["Private_Dirty"]))
            B.table(["mapping", "RSS", "PSS", "private clean", "private dirty"],
                    [[k, v["Rss"], v["Pss"], v["Private_Clean"], v["Private_Dirty"]] for k, v in top[:12]]
                    + [["all " + str(len(top)), *(sum(v[f] for _, v in top) for f in
                                                   ("Rss", "Pss", "Private_Clean", "Private_Dirty"))]])
        if m.threads:
            print(f"gpprobed's threads: network thread (the golden path) "
                  f"{m.threads['others'] / max(done, 1) * 1000:.3f} ms per run, main thread "
                  f"(scheduling, status and state files) {m.threads['main'] / max(done, 1) * 1000:.3f}"
                  " ms per run (10 ms clock ticks, read just before the stop).\n")
        print("CPU = user+sys from wait4; steady = (CPU of the M-run process - median CPU of three one-run "
              "processes of the same kind) / (M - 1), which the x columns compare; peak RSS "
              "= ru_maxrss (file-backed library pages included); PSS and USS (private pages) from "
              "/proc/PID/smaps_rollup, sampled every 50-100 ms (private dirty: heap, stacks and the libraries' "
              "relocated data, the process's own whatever else runs; private clean: library pages no other "
              "process maps at that moment); the floor is bench/floor-tls.c, "
              "the two verified TLS handshakes of a run with one reused SSL_CTX; the path floor is "
              "bench/floor-tls.c --path, those handshakes plus the bytes a run exchanges over them (login "
              "request and reply, upgrade, frames, close), blocking, one thread, no checks.")
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
