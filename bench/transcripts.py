#!/usr/bin/python3
"""What failure transcripts (issue 12) cost per run: gpprobed with and without them, side by
side, against the same simulator over TLS.

  A. gpprobed as a daemon for M runs at a short Interval=: passing runs and failing runs
     (the sim's agent_error fault), each with Transcripts=0 (nothing recorded) and with
     Transcripts=20 (recorded every run; written for the failing ones). CPU per run (startup
     amortized), split into the network thread (recording) and the main thread (writing),
     and the bytes of transcript written per run.
  B. one failing run per fresh process: `gpprobed --once` vs `gpprobed --once --transcript
     FILE`, median of N.

Prints figures; asserts nothing. Default ~1.5 minutes; --quick ~30 s.
"""
import argparse
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import benchlib as B  # noqa: E402


def configure(sim, fault):
    sim.call("POST", "/_sim/config", {"fault": fault, "params": {}, "options": {}, "delays": {},
                                      "count": None})


def daemon(sim, runs, interval, transcripts, fault):
    work = pathlib.Path(tempfile.mkdtemp(prefix="gpprobe-bench-tx-"))
    cfg = B.gpprobe_config(sim, workdir=work,
                           Probe={"Interval": f"{int(interval * 1000)}ms", "Jitter": "0"},
                           Output={"StatusFile": str(work / "status.json"),
                                   "StateFile": str(work / "bench.state"), "Journal": "no",
                                   "Transcripts": str(transcripts)})
    sim.reset()
    configure(sim, fault)
    m = B.measure([B.gpprobed_path(), "--config", str(cfg)],
                  stop_when=lambda: sim.stats()["runs"] >= runs, poll=0.1, timeout=runs * 10 + 60)
    done = max(sim.stats()["runs"], 1)
    files = list((work / "bench.transcripts").glob("*.json")) if transcripts else []
    mean_file = sum(f.stat().st_size for f in files) / len(files) if files else 0
    written = mean_file if fault else 0  # a passing run writes none
    return m, done, written, len(files)


def once(sim, reps, fault):
    work = pathlib.Path(tempfile.mkdtemp(prefix="gpprobe-bench-tx-once-"))
    cfg = B.gpprobe_config(sim, workdir=work)
    out = work / "t.json"
    argv = {"--once": [B.gpprobed_path(), "--config", str(cfg), "--once", "--json"],
            "--once --transcript": [B.gpprobed_path(), "--config", str(cfg), "--once", "--json",
                                    "--transcript", str(out)]}
    got = {k: [] for k in argv}
    sim.reset()
    configure(sim, fault)
    for _ in range(reps):
        for k, a in argv.items():
            m = B.measure(a)
            res = m.results()
            if not res or res[0]["code"] != "events.error":
                sys.exit(f"{k} did not fail with events.error: rc={m.rc} {m.err[-1500:]}")
            got[k].append(m)
    return got, out.stat().st_size


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, help="runs per daemon (default 100; quick 25)")
    ap.add_argument("--reps", type=int, help="fresh-process repetitions (default 11; quick 5)")
    ap.add_argument("--interval", type=float, default=0.2, help="seconds between runs (0.2)")
    a = ap.parse_args(argv)
    runs = a.runs or (25 if a.quick else 100)
    reps = a.reps or (5 if a.quick else 11)
    print(f"# what failure transcripts cost per run\n{B.machine()}\n", flush=True)
    sim = B.Sim(tls=True)
    try:
        rows = []
        base = {}
        for verdict, fault in (("pass", None), ("fail (agent_error)", "agent_error")):
            for tx in (0, 20):
                m, done, written, kept = daemon(sim, runs, a.interval, tx, fault)
                per = m.cpu / done * 1000
                net = m.threads.get("others", 0) / done * 1000
                main_t = m.threads.get("main", 0) / done * 1000
                base.setdefault(verdict, per)
                rows.append([verdict, f"Transcripts={tx}", done, B.f3(per),
                             f"{(per / base[verdict] - 1) * 100:+.1f}%" if tx else "-",
                             B.f3(net), B.f3(main_t), f"{written:.0f}", kept])
        print(f"## A. the daemon, {runs} runs one every {a.interval}s")
        B.table(["runs that", "setting", "runs", "CPU ms per run", "vs Transcripts=0",
                 "network thread ms/run", "main thread ms/run", "transcript bytes written/run",
                 "files kept"], rows)
        got, size = once(sim, reps, "agent_error")
        plain = B.median([m.cpu for m in got["--once"]]) * 1000
        rows = []
        for k, ms in got.items():
            cpu = B.median([m.cpu for m in ms]) * 1000
            rows.append([k, B.f1(cpu), B.f2(cpu / plain), B.f1(B.median([m.maxrss_kib for m in ms]) / 1024),
                         size if "transcript" in k else 0])
        print(f"## B. one failing run per fresh process (median of {reps})")
        B.table(["gpprobed", "CPU ms", "x --once", "peak RSS MiB", "transcript bytes"], rows)
        print("CPU = user+sys from wait4 (startup amortized over the runs in A); the thread split "
              "is read from /proc just before the stop (10 ms clock ticks: coarse at this "
              "scale); bytes written = the mean size of the transcript files kept (each written "
              "once through a temporary file and a rename).")
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
