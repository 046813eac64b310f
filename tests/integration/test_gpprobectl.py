"""`gpprobectl` against crafted status files (SPEC sections 2, 3 and 5): every gate option and exit
code, fail-closed on anything unreadable, `wait` driven by an atomic writer like the daemon's
(temp file + rename), `status` and `history` output, and usage errors."""
import datetime
import json
import os
import shutil
import tempfile
import pathlib
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAME = "staging"


def gpprobectl_path():
    p = os.environ.get("GPPROBECTL") or str(ROOT / "build" / "daemon" / "gpprobectl")
    if not os.access(p, os.X_OK):
        pytest.fail(f"gpprobectl binary not found at {p} (build first, or set GPPROBECTL)")
    return p


def iso(t):
    dt = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def status_doc(runs, *, interval_ms=60000, alerting=False, updated_at=None, finished_at=None,
               name=NAME, duration_ms=1180.2):
    """A schema-1 status document as gpprobed writes it. runs: [(started_at, result)], oldest
    first; the last one is `last`, finishing duration_ms after its start (or at finished_at)."""
    now = time.time()
    history = [{"run_id": f"run-{i}", "started_at": iso(t), "result": r,
                "code": None if r == "pass" else ("slo.total" if r == "degraded" else "events.timeout"),
                "duration_ms": duration_ms} for i, (t, r) in enumerate(runs)]
    counts = {r: sum(1 for _, x in runs if x == r) for r in ("pass", "degraded", "fail")}
    fails = 0
    for _, r in reversed(runs):
        if r != "fail":
            break
        fails += 1
    passes = 0
    for _, r in reversed(runs):
        if r == "fail":
            break
        passes += 1
    last = None
    if runs:
        t, r = runs[-1]
        end = finished_at if finished_at is not None else min(t + duration_ms / 1000, max(now, t))
        last = {"run_id": f"run-{len(runs) - 1}", "started_at": iso(t), "finished_at": iso(end),
                "result": r, "stage": None if r != "fail" else "events",
                "code": history[-1]["code"],
                "reason": None if r == "pass" else "no tool_completed within 30s",
                "duration_ms": duration_ms, "users": 1,
                "phases_ms": {"preflight": None, "login": 120.4, "ws_connect": 45.2,
                              "first_event": 310.0, "complete": 1100.0},
                "events": [{"type": "agent_started", "at_ms": 310.0, "count": 1}]}
    n = len(runs)
    return {
        "schema": 1,
        "name": name,
        "updated_at": iso(updated_at if updated_at is not None else now),
        "daemon": {"version": "0.1.0", "pid": 4242, "started_at": iso(now - 3600),
                   "interval_ms": interval_ms},
        "last": last,
        "consecutive_failures": fails,
        "consecutive_passes": passes,
        "alerting": alerting,
        "last_pass_at": next((iso(t) for t, r in reversed(runs) if r != "fail"), None),
        "last_failure_at": next((iso(t) for t, r in reversed(runs) if r == "fail"), None),
        "window": {"runs": n, "pass": counts["pass"], "degraded": counts["degraded"],
                   "fail": counts["fail"],
                   "success_ratio": (counts["pass"] + counts["degraded"]) / n if n else 0.0,
                   "duration_ms": {"p50": duration_ms if n else None, "p95": duration_ms if n else None,
                                   "p99": duration_ms if n else None, "max": duration_ms if n else None}},
        "history": history,
    }


def recent(*results, step=1.0, end=None):
    """Runs with the given results, the newest started `step` seconds before `end` (now)."""
    end = time.time() if end is None else end
    return [(end - step * (len(results) - i), r) for i, r in enumerate(results)]


def write_atomic(path, data):
    """Like gpprobed: a temporary file in the same directory, then rename over the name."""
    path = pathlib.Path(path)
    tmp = path.parent / f".{path.name}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data if isinstance(data, bytes) else json.dumps(data).encode())
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


@pytest.fixture
def ctl(sdir):
    binary = gpprobectl_path()

    def run(*args, timeout=30, env=None, status_dir=True):
        e = dict(os.environ)
        e.pop("GPPROBE_STATUS_DIR", None)
        e.update(env or {})
        argv = [binary] + (["--status-dir", str(sdir)] if status_dir else []) + list(args)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e)

    return run


def put(sdir, doc, name=NAME):
    write_atomic(sdir / f"{name}.json", doc)


def one_line(res):
    lines = res.stdout.splitlines()
    assert len(lines) == 1, res
    return lines[0]


def assert_gate(res, rc, *words):
    assert res.returncode == rc, res
    line = one_line(res)
    prefix = {0: "open: ", 1: "closed: ", 2: "unknown: "}[rc]
    assert line.startswith(prefix + NAME + ": "), res
    for w in words:
        assert w in line, res
    return line


# ---- gate: open and closed -------------------------------------------------------------------

def test_gate_opens_on_a_fresh_passing_status(sdir, ctl):
    put(sdir, status_doc(recent("pass", "pass", "pass")))
    assert_gate(ctl("gate", NAME), 0, "not alerting", "100%")


def test_gate_is_closed_while_alerting_even_if_the_last_run_passed(sdir, ctl):
    put(sdir, status_doc(recent("fail", "fail", "fail", "pass"), alerting=True))
    assert_gate(ctl("gate", NAME), 1, "alerting")


def test_gate_without_options_tolerates_a_failed_last_run_that_is_not_alerting(sdir, ctl):
    put(sdir, status_doc(recent("pass", "fail")))
    assert_gate(ctl("gate", NAME), 0)


def test_require_last_pass_closes_on_a_failed_last_run(sdir, ctl):
    put(sdir, status_doc(recent("pass", "fail")))
    assert_gate(ctl("gate", NAME, "--require-last-pass"), 1, "failed", "events.timeout")


def test_require_last_pass_opens_on_a_passed_last_run(sdir, ctl):
    put(sdir, status_doc(recent("fail", "pass")))
    assert_gate(ctl("gate", NAME, "--require-last-pass"), 0)


def test_degraded_last_run_closes_unless_allow_degraded(sdir, ctl):
    put(sdir, status_doc(recent("pass", "degraded")))
    assert_gate(ctl("gate", NAME, "--require-last-pass"), 1, "degraded", "--allow-degraded")
    assert_gate(ctl("gate", NAME, "--require-last-pass", "--allow-degraded"), 0)
    # without --require-last-pass a degraded run is a success (SPEC: success_ratio counts it)
    assert_gate(ctl("gate", NAME), 0)
    assert_gate(ctl("gate", NAME, "--allow-degraded"), 0)


def test_window_alone_requires_every_run_of_the_window_to_succeed(sdir, ctl):
    put(sdir, status_doc(recent("fail", "pass", "degraded", "pass")))
    assert_gate(ctl("gate", NAME, "--window", "3"), 0, "100% of the last 3 runs")
    assert_gate(ctl("gate", NAME, "--window", "4"), 1, "75%", "last 4 runs")
    # a window larger than the history uses what there is
    assert_gate(ctl("gate", NAME, "--window", "50"), 1, "last 4 runs")


def test_min_success_ratio_over_a_window(sdir, ctl):
    put(sdir, status_doc(recent("fail", "pass", "fail", "pass", "pass")))
    assert_gate(ctl("gate", NAME, "--window", "4", "--min-success-ratio", "0.75"), 0)  # equal is enough
    assert_gate(ctl("gate", NAME, "--window", "4", "--min-success-ratio", "0.76"), 1, "below")
    assert_gate(ctl("gate", NAME, "--window", "5", "--min-success-ratio", "60%"), 0)
    assert_gate(ctl("gate", NAME, "--window", "5", "--min-success-ratio", "61%"), 1)


def test_min_success_ratio_alone_uses_the_files_window(sdir, ctl):
    runs = recent(*(["pass"] * 19 + ["fail"]))
    put(sdir, status_doc(runs))
    assert_gate(ctl("gate", NAME, "--min-success-ratio", "0.95"), 0, "95% of the last 20 runs")
    assert_gate(ctl("gate", NAME, "--min-success-ratio", "0.96"), 1, "95%", "below 96%")
    assert_gate(ctl("gate", NAME, "--min-success-ratio", "0"), 0)


# ---- gate: unknown (fail closed) -------------------------------------------------------------

def test_stale_updated_at_is_unknown_with_default_max_age_of_three_intervals(sdir, ctl):
    now = time.time()
    put(sdir, status_doc(recent("pass", end=now - 2.0), interval_ms=1000, updated_at=now - 2.0))
    assert_gate(ctl("gate", NAME), 0)
    put(sdir, status_doc(recent("pass", end=now - 4.0), interval_ms=1000, updated_at=now - 4.0))
    assert_gate(ctl("gate", NAME), 2, "--max-age 3s", "is gpprobed running?")
    assert_gate(ctl("gate", NAME, "--max-age", "10s"), 0)


def test_stale_last_run_is_unknown_even_with_a_fresh_updated_at(sdir, ctl):
    now = time.time()
    put(sdir, status_doc(recent("pass", end=now - 600), updated_at=now))
    assert_gate(ctl("gate", NAME, "--max-age", "5min"), 2, "last run finished")
    assert_gate(ctl("gate", NAME, "--max-age", "20min"), 0)


def test_status_from_the_future_is_unknown(sdir, ctl):
    now = time.time()
    put(sdir, status_doc(recent("pass", end=now + 3600), updated_at=now + 3600))
    assert_gate(ctl("gate", NAME), 2)


def test_missing_status_file_is_unknown(sdir, ctl):
    assert_gate(ctl("gate", NAME), 2, "No such file")


def test_missing_status_directory_is_unknown(tmp_path, ctl):
    res = ctl("--status-dir", str(tmp_path / "nope"), "gate", NAME, status_dir=False)
    assert_gate(res, 2)


def test_no_run_yet_is_unknown(sdir, ctl):
    put(sdir, status_doc([]))
    assert_gate(ctl("gate", NAME), 2, "no run yet")


def test_newer_schema_is_unknown(sdir, ctl):
    doc = status_doc(recent("pass"))
    doc["schema"] = 2
    put(sdir, doc)
    assert_gate(ctl("gate", NAME), 2, "newer gpprobe")


def corruptions():
    good = json.dumps(status_doc(recent("pass", "pass"))).encode()

    def mutate(f):
        d = status_doc(recent("pass", "pass"))
        f(d)
        return json.dumps(d).encode()

    return {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "truncated-by-one": good[:-1],
        "not-json": b"hello\n",
        "trailing-garbage": good + b"}",
        "non-utf8": good.replace(b"run-1", b"run-\xff"),
        "nul-byte": good.replace(b"run-1", b"run\x001"),
        "array-root": b"[" + good + b"]",
        "nested-garbage": b"[" * 100000 + b"]" * 100000,
        "alerting-as-string": mutate(lambda d: d.__setitem__("alerting", "false")),
        "alerting-missing": mutate(lambda d: d.pop("alerting")),
        "updated-at-number": mutate(lambda d: d.__setitem__("updated_at", 1764086400)),
        "last-not-object": mutate(lambda d: d.__setitem__("last", "pass")),
        "last-result-unknown": mutate(lambda d: d["last"].__setitem__("result", "ok")),
        "interval-zero": mutate(lambda d: d["daemon"].__setitem__("interval_ms", 0)),
        "window-ratio-lies": mutate(lambda d: d["window"].__setitem__("success_ratio", 0.5)),
        "history-entry-bad": mutate(lambda d: d["history"][0].__setitem__("result", None)),
        "duplicate-key": good[:-1] + b', "alerting": true}',
        "schema-string": mutate(lambda d: d.__setitem__("schema", "1")),
    }


@pytest.mark.parametrize("kind", sorted(corruptions()))
def test_corrupt_status_is_unknown_never_open(sdir, ctl, kind):
    put(sdir, corruptions()[kind])
    for extra in ([], ["--max-age", "1h"], ["--allow-degraded"]):
        assert_gate(ctl("gate", NAME, *extra), 2)


def test_unusual_files_are_unknown_without_hanging(sdir, ctl):
    os.mkfifo(sdir / f"{NAME}.json")
    assert_gate(ctl("gate", NAME, timeout=5), 2, "not a regular file")
    os.unlink(sdir / f"{NAME}.json")
    (sdir / f"{NAME}.json").mkdir()
    assert_gate(ctl("gate", NAME), 2)
    os.rmdir(sdir / f"{NAME}.json")
    with open(sdir / f"{NAME}.json", "wb") as f:
        f.truncate(17 * 1024 * 1024)  # sparse: cheap
    assert_gate(ctl("gate", NAME), 2, "too large")


def test_unreadable_file_is_unknown(tmp_path):
    """A status file the caller may not read: exit 2. Root reads everything, so as root the
    check runs gpprobectl as nobody, in a directory nobody can enter."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="gpprobectl-unreadable-"))
    try:
        d.chmod(0o755)
        put(d, status_doc(recent("pass")))
        (d / f"{NAME}.json").chmod(0)
        binary = d / "gpprobectl"  # a copy nobody can run, wherever the build tree is
        shutil.copy(gpprobectl_path(), binary)
        argv = [str(binary), "--status-dir", str(d), "gate", NAME]
        if os.geteuid() == 0:
            argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert_gate(res, 2, "Permission denied")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_status_dir_comes_from_the_environment(sdir, ctl):
    put(sdir, status_doc(recent("pass")))
    res = ctl("gate", NAME, status_dir=False, env={"GPPROBE_STATUS_DIR": str(sdir)})
    assert_gate(res, 0)
    # --status-dir wins over the environment, before or after the command
    res = ctl("gate", NAME, "--status-dir", str(sdir), status_dir=False,
              env={"GPPROBE_STATUS_DIR": "/nonexistent"})
    assert_gate(res, 0)


# ---- usage errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    [],
    ["frob"],
    ["--bogus", "status"],
    ["--json", "status"],
    ["--status-dir"],
    ["gate"],
    ["gate", "a", "b"],
    ["gate", NAME, "--window", "0"],
    ["gate", NAME, "--window", "abc"],
    ["gate", NAME, "--window"],
    ["gate", NAME, "--min-success-ratio", "1.5"],
    ["gate", NAME, "--min-success-ratio", "nan"],
    ["gate", NAME, "--min-success-ratio", "-0.5"],
    ["gate", NAME, "--min-success-ratio", "0.9x"],
    ["gate", NAME, "--max-age", "5 parsecs"],
    ["gate", NAME, "--max-age", "0"],
    ["gate", NAME, "--json"],
    ["gate", NAME, "--passes", "3"],
    ["gate", "../etc/passwd"],
    ["gate", ".hidden"],
    ["gate", ""],
    ["wait", NAME],
    ["wait", NAME, "--passes", "0"],
    ["wait", NAME, "--passes", "-1"],
    ["wait", NAME, "--passes", "2", "--since", "yesterday"],
    ["wait", NAME, "--passes", "2", "--timeout", "-1s"],
    ["wait", "--passes", "2"],
    ["history"],
    ["history", NAME, "--limit", "0"],
    ["history", NAME, "--window", "3"],
    ["status", "--window", "3"],
    ["status", "a/b"],
])
def test_usage_errors_exit_64_with_a_message(sdir, ctl, args):
    put(sdir, status_doc(recent("pass")))
    res = ctl(*args)
    assert res.returncode == 64, res
    assert res.stdout == "", res
    assert res.stderr.startswith("gpprobectl"), res
    assert "Try 'gpprobectl --help'" in res.stderr


def test_help_and_version(ctl):
    res = ctl("--help")
    assert res.returncode == 0 and "gate NAME" in res.stdout
    res = ctl("gate", "--help")
    assert res.returncode == 0 and "wait NAME" in res.stdout
    res = ctl("--version")
    assert res.returncode == 0 and res.stdout.startswith("gpprobectl ")


# ---- status ----------------------------------------------------------------------------------

def test_status_prints_one_line_per_probe_and_why_a_file_is_bad(sdir, ctl):
    put(sdir, status_doc(recent("pass", "fail", "fail"), alerting=True, name="alpha"), name="alpha")
    put(sdir, status_doc(recent("pass", "pass")), name="beta")
    write_atomic(sdir / "gamma.json", b'{"schema": 1, "na')
    (sdir / ".beta.json.tmp1").write_text("partial")
    (sdir / "notes.txt").write_text("ignored")
    res = ctl("status")
    assert res.returncode == 2, res  # gamma is bad
    lines = res.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["alpha", "beta", "gamma"], res
    assert "fail" in lines[0] and "2 consecutive failures" in lines[0] and "ALERTING" in lines[0]
    assert "events.timeout" in lines[0]
    assert "33.3% of 3 runs" in lines[0]
    assert lines[1].startswith("beta: pass ") and "ago" in lines[1] and "took 1.18s" in lines[1]
    assert "100% of 2 runs" in lines[1] and "0 consecutive failures" in lines[1]
    assert "unknown" in lines[2] and "truncated" in lines[2]


def test_status_of_named_probes(sdir, ctl):
    put(sdir, status_doc(recent("pass")), name="beta")
    put(sdir, status_doc([]), name="fresh")
    res = ctl("status", "beta", "fresh")
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert lines[0].startswith("beta: pass")
    assert lines[1].startswith("fresh: no run yet")
    res = ctl("status", "beta", "missing")
    assert res.returncode == 2, res
    assert res.stdout.splitlines()[1].startswith("missing: unknown: ")


def test_status_of_an_empty_directory_is_unknown(sdir, ctl):
    res = ctl("status")
    assert res.returncode == 2 and "no status files" in res.stderr, res


def test_status_json(sdir, ctl):
    put(sdir, status_doc(recent("pass", "degraded", "fail")), name="alpha")
    (sdir / "bad.json").write_text("{")
    res = ctl("status", "--json")
    assert res.returncode == 2, res
    data = json.loads(res.stdout)
    assert [p["name"] for p in data] == ["alpha", "bad"]
    a, b = data
    assert a["valid"] is True and a["error"] is None
    assert a["result"] == "fail" and a["code"] == "events.timeout"
    assert a["consecutive_failures"] == 1 and a["alerting"] is False
    assert a["window_runs"] == 3 and abs(a["success_ratio"] - 2 / 3) < 1e-9
    assert a["duration_ms"] == 1180.2 and 0 <= a["age_ms"] < 60000
    assert a["interval_ms"] == 60000
    assert a["path"] == str(sdir / "alpha.json")
    assert b["valid"] is False and "truncated" in b["error"]
    res = ctl("status", "alpha", "--json")
    assert res.returncode == 0 and len(json.loads(res.stdout)) == 1


# ---- history ---------------------------------------------------------------------------------

def test_history_newest_first_with_limit(sdir, ctl):
    runs = recent("pass", "fail", "degraded", "pass")
    put(sdir, status_doc(runs))
    res = ctl("history", NAME)
    assert res.returncode == 0, res
    lines = res.stdout.splitlines()
    assert [ln.split()[1] for ln in lines] == ["pass", "degraded", "fail", "pass"]
    assert lines[0].split()[0] == iso(runs[-1][0])
    assert lines[1].split()[-1] == "slo.total" and lines[2].split()[-1] == "events.timeout"
    res = ctl("history", NAME, "--limit", "2")
    assert [ln.split()[1] for ln in res.stdout.splitlines()] == ["pass", "degraded"]


def test_history_json_is_the_files_entries_newest_first(sdir, ctl):
    doc = status_doc(recent("pass", "fail", "degraded"))
    put(sdir, doc)
    res = ctl("history", NAME, "--json")
    assert res.returncode == 0, res
    assert json.loads(res.stdout) == list(reversed(doc["history"]))
    res = ctl("history", NAME, "--json", "--limit", "1")
    assert json.loads(res.stdout) == [doc["history"][-1]]


def test_history_of_a_bad_file_exits_2(sdir, ctl):
    put(sdir, b"{\"schema\": 3}")
    res = ctl("history", NAME)
    assert res.returncode == 2 and res.stdout == "" and "newer gpprobe" in res.stderr, res


# ---- wait ------------------------------------------------------------------------------------

class Writer(threading.Thread):
    """Appends runs to the status file, atomically, like the daemon after each run."""

    def __init__(self, sdir, plan, interval_ms, old=(), delay=0.5, step=0.3):
        super().__init__(daemon=True)
        self.sdir, self.plan, self.interval_ms = sdir, plan, interval_ms
        self.runs = list(old)
        self.delay, self.step = delay, step
        self.written = []  # monotonic time of each write
        self.stop = threading.Event()

    def run(self):
        if self.stop.wait(self.delay):
            return
        for result in self.plan:
            self.runs.append((time.time(), result))
            put(self.sdir, status_doc(self.runs, interval_ms=self.interval_ms))
            self.written.append(time.monotonic())
            if self.stop.wait(self.step):
                return


def start_wait(sdir, *args, name=NAME):
    return subprocess.Popen([gpprobectl_path(), "--status-dir", str(sdir), "wait", name, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=30):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def test_wait_succeeds_after_n_fresh_passes(sdir):
    old = recent("pass", "pass", "pass", "pass")  # before --since (now): they do not count
    put(sdir, status_doc(old, interval_ms=300))
    w = Writer(sdir, ["pass", "pass", "pass", "pass", "pass"], 300, old=old)
    proc = start_wait(sdir, "--passes", "3", "--timeout", "20s")
    w.start()
    rc, out, err = finish(proc)
    done = time.monotonic()
    w.stop.set()
    w.join()
    assert rc == 0, (out, err)
    assert out.startswith(f"open: {NAME}: 3 consecutive passes since "), out
    assert len(w.written) >= 3 and done >= w.written[2]
    assert "0/3 passes since" in err and "1/3" in err and "2/3" in err and "3/3" in err, err


def test_wait_ignores_passes_of_runs_started_before_since(sdir):
    put(sdir, status_doc(recent("pass", "pass", "pass", step=0.2), interval_ms=60000))
    t0 = time.monotonic()
    proc = start_wait(sdir, "--passes", "1", "--timeout", "1500ms")
    rc, out, err = finish(proc)
    assert rc == 1, (out, err)
    assert "timed out with 0/1 passes" in out, out
    assert time.monotonic() - t0 >= 1.4
    # the same file with --since before those runs: already satisfied
    since = iso(time.time() - 60)
    proc = start_wait(sdir, "--passes", "3", "--since", since, "--timeout", "5s")
    rc, out, err = finish(proc)
    assert rc == 0, (out, err)
    assert since in out


def test_wait_counts_only_passes_after_an_explicit_since_in_the_future(sdir):
    put(sdir, status_doc(recent("pass"), interval_ms=200))
    since_t = time.time() + 1.0
    w = Writer(sdir, ["pass"] * 12, 200, old=recent("pass"), delay=0.2, step=0.2)
    proc = start_wait(sdir, "--passes", "2", "--since", iso(since_t), "--timeout", "20s")
    w.start()
    rc, out, err = finish(proc)
    w.stop.set()
    w.join()
    assert rc == 0, (out, err)
    counted = [t for t, _ in w.runs if t >= since_t - 0.001]
    assert len(counted) >= 2, (w.runs, since_t)


def test_wait_fails_fast_when_a_failure_makes_n_passes_impossible_in_time(sdir):
    put(sdir, status_doc(recent("pass"), interval_ms=2000))
    w = Writer(sdir, ["fail"], 2000, old=recent("pass"), delay=0.5)
    t0 = time.monotonic()
    proc = start_wait(sdir, "--passes", "3", "--timeout", "5s")
    w.start()
    rc, out, err = finish(proc)
    elapsed = time.monotonic() - t0
    w.join()
    assert rc == 1, (out, err)
    assert "cannot finish before the timeout" in out and "events.timeout" in out, out
    assert elapsed < 3.0, elapsed  # well before the 5 s timeout
    assert "0/3 passes" in err


def test_wait_failure_resets_the_count_when_there_is_still_time(sdir):
    put(sdir, status_doc(recent("pass"), interval_ms=200))
    plan = ["pass", "fail", "pass", "pass", "pass"]
    w = Writer(sdir, plan, 200, old=recent("pass"), step=0.3)
    proc = start_wait(sdir, "--passes", "2", "--timeout", "20s")
    w.start()
    rc, out, err = finish(proc)
    done = time.monotonic()
    w.stop.set()
    w.join()
    assert rc == 0, (out, err)
    assert len(w.written) >= 4 and done >= w.written[3], (w.written, done)  # not after pass #1
    assert "fail" in err


def test_wait_times_out_with_exit_1(sdir):
    put(sdir, status_doc(recent("pass"), interval_ms=60000))
    t0 = time.monotonic()
    proc = start_wait(sdir, "--passes", "1", "--timeout", "1s")
    rc, out, err = finish(proc)
    elapsed = time.monotonic() - t0
    assert rc == 1, (out, err)
    assert out.startswith(f"closed: {NAME}: timed out"), out
    assert 0.9 <= elapsed < 5, elapsed


def test_wait_missing_file_for_the_whole_timeout_is_unknown(sdir):
    proc = start_wait(sdir, "--passes", "1", "--timeout", "1s")
    rc, out, err = finish(proc)
    assert rc == 2, (out, err)
    assert out.startswith(f"unknown: {NAME}: timed out without a usable status"), out


def test_wait_corrupt_file_for_the_whole_timeout_is_unknown(sdir):
    put(sdir, b'{"schema": 1,')
    proc = start_wait(sdir, "--passes", "1", "--timeout", "1s")
    rc, out, err = finish(proc)
    assert rc == 2 and "truncated" in out, (out, err)


def test_wait_picks_up_a_file_that_appears_later(sdir):
    w = Writer(sdir, ["pass", "pass"], 300, delay=0.8)
    proc = start_wait(sdir, "--passes", "2", "--timeout", "20s")
    w.start()
    rc, out, err = finish(proc)
    w.join()
    assert rc == 0, (out, err)
    assert "No such file" in err  # said once while waiting


def test_wait_picks_up_a_status_directory_that_appears_later(tmp_path):
    d = tmp_path / "late"
    proc = subprocess.Popen([gpprobectl_path(), "--status-dir", str(d), "wait", NAME, "--passes", "1",
                             "--timeout", "20s"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.7)
    d.mkdir()
    time.sleep(0.3)
    put(d, status_doc([(time.time(), "pass")], interval_ms=300))
    rc, out, err = finish(proc)
    assert rc == 0, (out, err)


def cpu_seconds(pid):
    """utime + stime of a live process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_wait_blocks_on_inotify_without_busy_polling(sdir):
    put(sdir, status_doc(recent("pass"), interval_ms=60000))
    proc = start_wait(sdir, "--passes", "1", "--timeout", "4s")
    time.sleep(0.8)  # past start-up (slow under valgrind)
    before = cpu_seconds(proc.pid)
    time.sleep(3.0)
    spent = cpu_seconds(proc.pid) - before
    rc, out, err = finish(proc)
    assert rc == 1, (out, err)
    assert spent < 0.05, spent  # a busy poll would burn most of the 3 s


def test_wait_wakes_up_promptly_when_the_file_is_replaced(sdir):
    put(sdir, status_doc(recent("pass"), interval_ms=60000))
    proc = start_wait(sdir, "--passes", "1", "--timeout", "20s")
    time.sleep(1.5)
    put(sdir, status_doc(recent("pass") + [(time.time(), "pass")], interval_ms=60000))
    written = time.monotonic()
    rc, out, err = finish(proc)
    assert rc == 0, (out, err)
    assert time.monotonic() - written < 1.0


# ---- against the real daemon -----------------------------------------------------------------

def daemon_cfg(sim, **probe):
    from conftest import base_config
    p = {"Interval": "300ms", "Jitter": "0"}
    p.update(probe)
    return base_config(sim, Probe=p)


def test_real_daemon_passes_wait_gate_status_and_history(sim, daemon, sdir, ctl):
    d = daemon(daemon_cfg(sim), status_file=sdir / "sim.json")
    res = ctl("wait", "sim", "--passes", "2", "--timeout", "30s", timeout=40)
    assert res.returncode == 0, (res, d.stderr()[-2000:])
    res = ctl("gate", "sim", "--require-last-pass", "--window", "2")
    assert res.returncode == 0 and res.stdout.startswith("open: sim: "), res
    res = ctl("status", "sim", "--json")
    assert res.returncode == 0, res
    (st,) = json.loads(res.stdout)
    assert st["valid"] and st["result"] == "pass" and st["interval_ms"] == 300, st
    res = ctl("history", "sim", "--json")
    assert res.returncode == 0 and len(json.loads(res.stdout)) >= 2, res
    d.stop()


def test_real_daemon_failures_end_wait_early_and_close_the_gate(sim, daemon, sdir, ctl):
    sim.configure(fault="agent_error", count=1000)
    t0 = time.monotonic()
    proc = start_wait(sdir, "--passes", "3", "--timeout", "5s", name="sim")  # before its first run
    d = daemon(daemon_cfg(sim, Interval="2s", AlertAfter="2"), status_file=sdir / "sim.json")
    rc, out, err = finish(proc)
    assert rc == 1 and "cannot finish before the timeout" in out, (out, err, d.stderr()[-2000:])
    assert time.monotonic() - t0 < 4.5
    d.wait_runs(2, timeout=20)
    res = ctl("gate", "sim")
    assert res.returncode == 1 and "alerting" in res.stdout, res
    d.stop()


# ---- transcript (issue 12) ---------------------------------------------------------------------

RUN_ID = "0b7f0000-0000-4000-8000-000000000001"


def transcript_doc(run_id=RUN_ID):
    return {"schema": 1, "name": NAME, "run_id": run_id, "started_at": "2026-11-25T16:00:00.000Z", "result": "fail",
            "code": "events.timeout", "stage": "events", "reason": "no tool_completed within 1s",
            "duration_ms": 1012.5, "sessions": [{
                "index": 1, "result": "fail", "code": "events.timeout", "stage": "events",
                "reason": "no tool_completed within 1s", "dropped": 0, "entries": [
                    {"t_ms": 2.0, "kind": "http", "step": "login", "method": "POST",
                     "url": "https://a.example/auth/login", "status": 200},
                    {"t_ms": 12.5, "kind": "frame", "dir": "in", "opcode": "text", "size": 25,
                     "data": "{\"type\":\"agent_started\"}"},
                    {"t_ms": 1012.5, "kind": "await", "text": "tool_completed"}]}]}


def put_transcripts(sdir, tmp_path, docs):
    tdir = tmp_path / "state" / f"{NAME}.transcripts"
    tdir.mkdir(parents=True)
    for i, d in enumerate(docs):
        p = tdir / f"{d['run_id']}.json"
        p.write_text(json.dumps(d))
        os.utime(p, (1000 + i, 1000 + i))
    status = status_doc([(time.time() - 5, "fail")])
    status["transcripts"] = str(tdir)
    put(sdir, status)
    return tdir


def test_transcript_prints_the_newest_and_one_by_run_id(sdir, tmp_path, ctl):
    older = RUN_ID.replace("0001", "0002")
    put_transcripts(sdir, tmp_path, [transcript_doc(older), transcript_doc()])
    r = ctl("transcript", NAME)
    assert r.returncode == 0, r
    assert r.stdout.startswith(f"{NAME} run {RUN_ID} started ")
    assert "      +2.000 ms  HTTP login POST https://a.example/auth/login -> 200" in r.stdout
    assert "  +1012.500 ms  --> the deadline passed here, awaiting tool_completed" in r.stdout
    r = ctl("transcript", NAME, older, "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == transcript_doc(older), r


def test_transcript_fails_closed_with_a_reason(sdir, tmp_path, ctl):
    tdir = put_transcripts(sdir, tmp_path, [transcript_doc()])
    (tdir / f"{RUN_ID}.json").write_text('{"schema":1,"name":"x"')
    r = ctl("transcript", NAME, RUN_ID)
    assert r.returncode == 2 and "not a gpprobe transcript" in r.stderr, r
    r = ctl("transcript", NAME, RUN_ID.replace("0001", "0009"))
    assert r.returncode == 2 and "no such transcript" in r.stderr, r
    r = ctl("transcript", "nosuchprobe")
    assert r.returncode == 2 and "nosuchprobe" in r.stderr, r
    for p in tdir.iterdir():
        p.unlink()
    tdir.rmdir()  # as before the first failure: the status file names a directory not made yet
    r = ctl("transcript", NAME)
    assert r.returncode == 2 and "no transcript yet" in r.stderr, r
    r = ctl("transcript", "--file", str(tmp_path / "missing.json"))
    assert r.returncode == 2 and "missing.json" in r.stderr, r


@pytest.mark.parametrize("args,message", [
    ((), "expects a probe NAME"),
    ((NAME, RUN_ID, "extra"), "expects a probe NAME"),
    ((NAME, "not-a-run-id"), "is not a run id"),
    ((NAME, "--file", "x.json"), "either NAME [RUN_ID] or --file FILE"),
    ((NAME, "--limit", "3"), "--limit is not an option of transcript"),
])
def test_transcript_usage_errors_exit_64(ctl, args, message):
    r = ctl("transcript", *args)
    assert r.returncode == 64 and message in r.stderr, r


def test_transcript_readable_only_by_its_owner_says_who_may_read_it():
    if os.getuid() != 0:
        pytest.skip("needs root to drop to another user")
    d = pathlib.Path(tempfile.mkdtemp(prefix="gpprobe-tx-"))
    try:
        d.chmod(0o755)
        f = d / f"{RUN_ID}.json"
        f.write_text(json.dumps(transcript_doc()))
        f.chmod(0o600)  # as gpprobed writes them
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", gpprobectl_path(),
                            "transcript", "--file", str(f)], capture_output=True, text=True)
        assert r.returncode == 2 and "run as root or as the service user" in r.stderr, r
    finally:
        shutil.rmtree(d)
