#!/usr/bin/python3
"""Measurement fidelity: how late each client says an event arrived, against the time the
simulator wrote it. Both sides read CLOCK_MONOTONIC on this host.

The simulator logs, per frame, t_write_start_ns (just before the write) and t_mono_ns (just
after the write returned; a reader may see the bytes before that). gpprobed reports absolute
times with GPPROBE_MONO_TIMES=1 (t0_mono_us, at_mono_us); the peers print the same fields.
Error = client time - sim time, per event (first appearance of each type of each run):
"vs start" is an upper bound on the client's own lateness (it includes the sim's Python
write path), "vs end" a lower bound (can be negative). The floor client (blocking recv, a
clock read as recv returns, nothing else) is the physical limit: loopback delivery plus one
wakeup, through the same sim write path. With TLS and without (the sim serves ws:// when
started without a certificate).

Prints figures; asserts nothing. Default ~2.5 minutes; --quick ~25 s.
"""
import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402

CLIENTS = ("gpprobed", "python", "node", "floor")


def collect(sim, runs, batches):
    gp = B.gpprobed_path()
    cfg = B.gpprobe_config(sim)
    per_batch = max(1, runs // batches)
    results = {c: [] for c in CLIENTS}
    for _ in range(batches):  # interleaved, so that drift hits every client alike
        for c in CLIENTS:
            if c == "gpprobed":
                for _ in range(per_batch):
                    m = B.measure([gp, "--config", str(cfg), "--once", "--json"],
                                  env={"GPPROBE_MONO_TIMES": "1"})
                    results[c] += m.results()
                continue
            argv = B.floor_argv(sim, per_batch) if c == "floor" else \
                B.peer_argv(c, sim, runs=per_batch)
            m = B.measure(argv)
            if m.rc != 0:
                sys.exit(f"{c} failed: {m.err[-1500:]}")
            results[c] += m.results()
    return results


def report(title, sim, results):
    log = sim.events()
    rows = []
    floor = None
    for c in CLIENTS:
        bad = [r for r in results[c] if r["result"] != "pass"]
        start, end = B.fidelity(results[c], log)
        ms = lambda v: [x / 1000 for x in v]  # noqa: E731
        start, end = ms(start), ms(end)
        if c == "floor":
            floor = (B.pct(start, 50), B.pct(start, 99))
        rows.append([c, len(start), len(bad), B.f3(B.pct(start, 50)), B.f3(B.pct(start, 95)),
                     B.f3(B.pct(start, 99)), B.f3(max(start) if start else float("nan")),
                     B.f3(B.pct(end, 50)), B.f3(B.pct(end, 99))])
    for r in rows:
        r.append(B.f3(float(r[3]) - floor[0]) if r[3] != "-" else "-")
        r.append(B.f3(float(r[5]) - floor[1]) if r[5] != "-" else "-")
    print(f"## {title}")
    B.table(["client", "events", "failed runs", "p50 ms vs start", "p95", "p99", "max",
             "p50 vs end", "p99 vs end", "p50 over floor", "p99 over floor"], rows)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, help="runs per client and mode (default 60; quick 10)")
    a = ap.parse_args(argv)
    runs = a.runs or (10 if a.quick else 60)
    B.ensure_node_peer()
    print(f"# measurement fidelity (Users=1, {runs} runs per client, 5 events each)\n"
          f"{B.machine()}\n", flush=True)
    for tls in (False, True):
        sim = B.Sim(tls=tls)
        try:
            results = collect(sim, runs, batches=min(5, runs))
            report("TLS (wss)" if tls else "no TLS (ws)", sim, results)
        finally:
            sim.stop()
    print("Error = client's CLOCK_MONOTONIC time of the event - the sim's, in ms: vs start = "
          "before the sim's write (includes its Python write path), vs end = after it returned. "
          "Over floor = the client's percentile minus the floor client's.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
