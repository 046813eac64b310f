"""gpprobed as a daemon against the simulator: the journal (a private journald, read back with
journalctl), the status file (SPEC section 5), sd_notify, signals and scheduling (SPEC sections
3, 5, 6, 7). Fixtures: conftest.py (sim, base_config), journal.py (journal), harness.py (notify,
daemon)."""
import datetime
import json
import math
import os
import random
import re
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import SIM_PASSWORD, base_config, gpprobed_path, render
from harness import FileWrites
from journal import message_ids

MID = message_ids()
RUN_MIDS = [MID["RUN_PASSED"], MID["RUN_DEGRADED"], MID["RUN_FAILED"]]
KIND = {v: k for k, v in MID.items()}
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|\+00:00)$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PHASE_FIELDS = {"login": "GPPROBE_LOGIN_MS", "ws_connect": "GPPROBE_WS_CONNECT_MS",
                "first_event": "GPPROBE_FIRST_EVENT_MS", "complete": "GPPROBE_COMPLETE_MS"}
AGENT_ERROR = "model quota exceeded"  # the sim's agent_error message


def cfg(sim, interval="300ms", jitter="0", **sections):
    """base_config with a short Interval= and no Jitter= unless given."""
    probe = {"Interval": interval, "Jitter": jitter}
    probe.update(sections.pop("Probe", {}))
    return base_config(sim, Probe=probe, **sections)


def fast_cfg(sim, port, **output):
    """The fastest run there is: a fixed token (no login) and a WebSocket URL whose port refuses
    connections, so every run fails at once with net.connect; Interval=1ms."""
    return base_config(sim, Probe={"Interval": "1ms", "Jitter": "0"},
                       Login={"URL": None, "User": None, "PasswordFile": None,
                              "Token": "fixed-token-for-fast-runs"},
                       WebSocket={"URL": f"wss://127.0.0.1:{port}/ws"}, Output=output)


@pytest.fixture
def refused_port():
    """A loopback port bound but not listening: connecting to it is refused, and nobody else
    can take it meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


def ts(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def gp_entries(journal, **match):
    return journal.entries(SYSLOG_IDENTIFIER="gpprobed", **match)


def run_entries(journal, **match):
    return gp_entries(journal, MESSAGE_ID=RUN_MIDS, **match)


def close(a, b, tol=0.15):
    return a is not None and b is not None and abs(float(a) - float(b)) <= tol


def sim_token(sim):
    body = json.dumps({"email": "probe@example.com", "password": SIM_PASSWORD}).encode()
    req = urllib.request.Request(sim.https + "/auth/login", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=sim.ctx, timeout=10) as r:
        return json.loads(r.read())["access_token"]


def wait_user_messages(sim, n, timeout=5.0):
    """Until the sim has received n request frames (a run has reached its events stage)."""
    deadline = time.monotonic() + timeout
    while len(sim.events()["user_messages"]) < n:
        assert time.monotonic() < deadline, f"the sim saw fewer than {n} requests"
        time.sleep(0.02)


# ==== journal (SPEC section 6) ==================================================================

def test_journal_message_ids_are_distinct_128_bit_ids_for_every_kind_of_entry():
    for kind in ("RUN_PASSED", "RUN_DEGRADED", "RUN_FAILED", "ALERT_RAISED", "RECOVERED",
                 "STARTED", "RELOADED", "RELOAD_REJECTED", "RUN_SKIPPED"):
        assert re.fullmatch(r"[0-9a-f]{32}", MID.get(kind, "")), kind
    assert len(set(MID.values())) == len(MID), MID


def test_journal_has_one_entry_per_run_with_every_field(sim, daemon, journal):
    d = daemon(cfg(sim), journal=journal)
    d.wait_runs(3)
    d.stop()
    doc = d.status()
    es = run_entries(journal)
    assert len(es) == len(doc["history"]) >= 3, [e["MESSAGE"] for e in es]
    started = gp_entries(journal, MESSAGE_ID=MID["STARTED"])
    assert len(started) == 1 and started[0]["GPPROBE_NAME"] == "sim"
    assert int(started[0]["__REALTIME_TIMESTAMP"]) <= int(es[0]["__REALTIME_TIMESTAMP"])
    for e, h in zip(es, doc["history"]):
        assert e["SYSLOG_IDENTIFIER"] == "gpprobed"
        assert e["_PID"] == str(d.pid)
        assert e["MESSAGE_ID"] == MID["RUN_PASSED"] and e["PRIORITY"] == "6", e
        assert e["GPPROBE_NAME"] == "sim" and e["GPPROBE_RESULT"] == "pass"
        assert e["GPPROBE_CONSECUTIVE_FAILURES"] == "0"
        assert UUID.match(e["GPPROBE_RUN_ID"]), e
        assert e["MESSAGE"] and "\n" not in e["MESSAGE"]
        assert close(e["GPPROBE_DURATION_MS"], h["duration_ms"]), (e, h)
        for f in ("GPPROBE_STAGE", "GPPROBE_CODE", "GPPROBE_REASON"):  # pass: absent or empty
            assert not e.get(f), (f, e)
    assert len({e["GPPROBE_RUN_ID"] for e in es}) == len(es)
    last, e = doc["last"], es[-1]
    assert e["GPPROBE_RUN_ID"] == last["run_id"]
    assert close(e["GPPROBE_DURATION_MS"], last["duration_ms"])
    for phase, field in PHASE_FIELDS.items():
        assert close(e[field], last["phases_ms"][phase]), (field, e, last)
    assert [ev["type"] for ev in last["events"]] == [
        "agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
    for ev in last["events"]:
        assert close(e[f"GPPROBE_EVENT_{ev['type'].upper()}_MS"], ev["at_ms"]), (ev, e)


def test_journal_priority_and_message_id_follow_the_result(sim, daemon, journal):
    # run 1 degraded (first event after 600ms, SLO 300ms), run 2 failed, run 3 passed
    sim.configure(delays={"agent_started": 600}, count=1)
    d = daemon(cfg(sim, interval="1s", SLO={"FirstEvent": "300ms"}), journal=journal)
    d.wait_runs(1, timeout=10)
    sim.configure(fault="agent_error", count=1)
    d.wait_runs(3, timeout=10)
    d.stop()
    es = run_entries(journal)[:3]
    got = [(e["GPPROBE_RESULT"], e["PRIORITY"], KIND[e["MESSAGE_ID"]], e.get("GPPROBE_CODE"))
           for e in es]
    assert got == [("degraded", "4", "RUN_DEGRADED", "slo.first_event"),
                   ("fail", "3", "RUN_FAILED", "events.error"),
                   ("pass", "6", "RUN_PASSED", None)], got
    deg, fail, _ = es
    assert deg["GPPROBE_REASON"] and deg["GPPROBE_CONSECUTIVE_FAILURES"] == "0"
    assert fail["GPPROBE_STAGE"] == "events"
    assert AGENT_ERROR in fail["GPPROBE_REASON"], fail
    assert fail["GPPROBE_CONSECUTIVE_FAILURES"] == "1"
    assert "events.error" in fail["MESSAGE"]


def test_alert_raised_once_at_alert_after_failures_and_recovered_once_at_recover_after_passes(
        sim, daemon, journal):
    sim.configure(fault="agent_error", count=3)  # F F F P P P ...
    d = daemon(cfg(sim, Probe={"AlertAfter": "2", "RecoverAfter": "2"}), journal=journal)
    d.wait_runs(6, timeout=20)
    d.stop()
    es = gp_entries(journal, MESSAGE_ID=RUN_MIDS + [MID["ALERT_RAISED"], MID["RECOVERED"]])
    seq = [KIND[e["MESSAGE_ID"]] for e in es]
    runs = [i for i, e in enumerate(es) if e["MESSAGE_ID"] in RUN_MIDS]
    assert [es[i]["GPPROBE_RESULT"] for i in runs[:6]] == ["fail"] * 3 + ["pass"] * 3, seq
    assert [es[i]["GPPROBE_CONSECUTIVE_FAILURES"] for i in runs[:6]] == \
        ["1", "2", "3", "0", "0", "0"], seq
    alerts = [i for i, k in enumerate(seq) if k == "ALERT_RAISED"]
    recovered = [i for i, k in enumerate(seq) if k == "RECOVERED"]
    assert len(alerts) == 1 and len(recovered) == 1, seq
    # beside the run that crossed the threshold: the 2nd failure, the 2nd pass
    assert runs[0] < alerts[0] < runs[2], seq
    assert runs[3] < recovered[0] < runs[5], seq
    alert = es[alerts[0]]
    assert alert["PRIORITY"] == "2", alert
    assert alert["GPPROBE_NAME"] == "sim"
    assert alert.get("GPPROBE_CONSECUTIVE_FAILURES", "2") == "2"
    assert alert.get("GPPROBE_RUN_ID", es[runs[1]]["GPPROBE_RUN_ID"]) == es[runs[1]]["GPPROBE_RUN_ID"]
    assert int(es[recovered[0]]["PRIORITY"]) >= 5, es[recovered[0]]


def test_journal_catalog_explains_every_message_id(sim, daemon, journal):
    assert journal.catalog_installed, "systemd/gpprobe.catalog is missing"
    assert "gpprobe.catalog" not in journal.catalog_log, journal.catalog_log  # no parse errors
    known = journal.catalog_ids()
    missing = sorted(k for k, v in MID.items() if v not in known)
    assert not missing, f"no catalog entry for {missing}"
    d = daemon(cfg(sim), journal=journal)
    d.wait_runs(1)
    d.stop()
    text = journal.catalog_text(MID["RUN_PASSED"], SYSLOG_IDENTIFIER="gpprobed")
    assert "Subject:" in text and "gpprobe" in text, text
    assert "Defined-By: gpprobe" in text, text
    # journalctl -x fills in @FIELD@ from the entry
    assert "@GPPROBE_NAME@" not in text and "sim" in text, text
    assert journal.catalog_text(MID["STARTED"], SYSLOG_IDENTIFIER="gpprobed")


def test_password_and_token_never_reach_the_journal_stderr_or_files(sim, daemon, journal,
                                                                     tmp_path):
    # a password login, through a login failure, an upgrade refusal and an agent error
    sim.configure(fault="login_wrong_password", count=1)
    d = daemon(cfg(sim, interval="400ms"), journal=journal)
    d.wait_runs(1)
    sim.configure(fault="ws_403", count=1)
    d.wait_runs(2)
    sim.configure(fault="agent_error", count=1)
    d.wait_runs(4)
    d.stop()
    # a fixed token sent in the URL's query, refused once
    token = sim_token(sim)
    sim.configure(fault="ws_403", count=1)
    d2 = daemon(cfg(sim, interval="200ms",
                    Login={"URL": None, "User": None, "PasswordFile": None, "Token": token},
                    WebSocket={"Auth": "query"}), journal=journal)
    d2.wait_runs(2)
    d2.stop()
    codes = {e.get("GPPROBE_CODE") for e in run_entries(journal)}
    assert {"login.status", "ws.upgrade", "events.error"} <= codes, codes
    outputs = {"journal": json.dumps(journal.entries(), ensure_ascii=False)}
    for x in (d, d2):
        outputs[f"{x.dir.name} stderr"] = x.stderr()
        outputs[f"{x.dir.name} stdout"] = x.stdout_path.read_text(errors="replace")
        outputs[f"{x.dir.name} status"] = x.status_path.read_text()
        if x.state_path.exists():
            outputs[f"{x.dir.name} state"] = x.state_path.read_text()
    for what, text in outputs.items():
        assert SIM_PASSWORD not in text, what
        assert token not in text and token[4:] not in text, what
        assert not re.search(r"tok\.[0-9a-f]{48}", text), what


# ==== status file (SPEC section 5) ==============================================================

def test_status_file_is_schema_1_json_mode_0644_and_last_matches_the_last_run(sim, daemon):
    sim.configure(fault="agent_error", count=1)
    d = daemon(cfg(sim))
    d.wait_runs(4)
    d.stop()
    doc = d.status()
    assert stat.S_IMODE(os.stat(d.status_path).st_mode) == 0o644
    assert sorted(os.listdir(d.status_path.parent)) == [d.status_path.name]  # no temp files left
    assert doc["schema"] == 1 and doc["name"] == "sim"
    assert RFC3339_MS.match(doc["updated_at"]), doc["updated_at"]
    dm = doc["daemon"]
    assert dm["pid"] == d.pid and dm["interval_ms"] == 300 and dm["version"]
    assert RFC3339_MS.match(dm["started_at"])
    last, hist = doc["last"], doc["history"]
    for k in ("run_id", "started_at", "finished_at", "result", "stage", "code", "reason",
              "duration_ms", "users", "phases_ms", "events"):
        assert k in last, k
    assert UUID.match(last["run_id"]) and RFC3339_MS.match(last["finished_at"])
    assert set(last["phases_ms"]) >= {"preflight", "login", "ws_connect", "first_event", "complete"}
    assert (last["result"], last["stage"], last["code"]) == ("pass", None, None)
    assert last["users"] == 1 and last["phases_ms"]["preflight"] is None
    assert hist[-1]["started_at"] == last["started_at"]
    assert hist[-1]["result"] == last["result"] and hist[-1]["code"] == last["code"]
    assert hist[-1]["duration_ms"] == last["duration_ms"]
    assert ts(last["started_at"]) <= ts(last["finished_at"])
    assert (hist[0]["result"], hist[0]["code"]) == ("fail", "events.error")
    assert all(h["result"] == "pass" and h["code"] is None for h in hist[1:])
    assert doc["consecutive_failures"] == 0
    assert doc["consecutive_passes"] == len(hist) - 1
    assert doc["alerting"] is False
    assert RFC3339_MS.match(doc["last_pass_at"]) and RFC3339_MS.match(doc["last_failure_at"])
    assert ts(doc["last_failure_at"]) < ts(doc["last_pass_at"])
    assert ts(hist[0]["started_at"]) <= ts(doc["last_failure_at"]) < ts(hist[1]["started_at"])


def test_status_streaks_and_alerting_follow_the_scripted_sequence(sim, daemon):
    sim.configure(fault="agent_error", count=3)  # F F F P P P ...
    d = daemon(cfg(sim, Probe={"AlertAfter": "2", "RecoverAfter": "2"}))
    d.wait_runs(6, timeout=20)
    d.stop()
    snaps = d.snapshots[:6]  # the status file as it was after each run
    assert len(snaps) == 6, f"watcher saw {len(d.snapshots)} runs"
    row = [(s["last"]["result"], s["consecutive_failures"], s["consecutive_passes"], s["alerting"])
           for s in snaps]
    assert row == [("fail", 1, 0, False), ("fail", 2, 0, True), ("fail", 3, 0, True),
                   ("pass", 0, 1, True), ("pass", 0, 2, False), ("pass", 0, 3, False)], row
    assert snaps[0].get("last_pass_at") is None and RFC3339_MS.match(snaps[0]["last_failure_at"])
    assert snaps[3]["last_failure_at"] == snaps[2]["last_failure_at"]
    assert RFC3339_MS.match(snaps[3]["last_pass_at"])
    assert d.invalid_reads == []


def _check_window(doc):
    hist, w = doc["history"], doc["window"]
    n = len(hist)
    assert w["runs"] == n, (w, n)
    for r in ("pass", "degraded", "fail"):
        assert w[r] == sum(h["result"] == r for h in hist), (r, w)
    assert math.isclose(w["success_ratio"], (w["pass"] + w["degraded"]) / n, abs_tol=1e-3), w
    ds = sorted(h["duration_ms"] for h in hist)
    pw = w["duration_ms"]
    assert math.isclose(pw["max"], ds[-1], abs_tol=0.05), (pw, ds)
    for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        lo = ds[math.floor(q * (n - 1))]
        hi = ds[min(n - 1, math.ceil(q * n))]
        assert lo - 0.05 <= pw[key] <= hi + 0.05, (key, pw[key], ds)
    assert pw["p50"] <= pw["p95"] <= pw["p99"] <= pw["max"], pw


def test_status_window_counts_and_percentiles_are_consistent_with_history(sim, daemon):
    sim.configure(fault="agent_error", count=2)
    d = daemon(cfg(sim, interval="200ms"))
    d.wait_runs(7, timeout=20)
    d.stop()
    assert len(d.snapshots) >= 7
    for doc in d.snapshots + [d.status()]:
        _check_window(doc)
    w = d.status()["window"]
    assert w["fail"] == 2 and w["pass"] >= 5 and w["degraded"] == 0


def test_status_history_is_bounded_by_history_setting(sim, daemon):
    d = daemon(cfg(sim, interval="200ms", Output={"History": "3"}))
    d.wait_status(lambda s: d.runs_seen >= 6, timeout=20, what="6 runs")
    d.stop()
    for k, s in enumerate(d.snapshots, 1):
        assert len(s["history"]) == min(k, 3), (k, s["history"])
        assert s["window"]["runs"] == min(k, 3)
        assert s["history"][-1]["started_at"] == s["last"]["started_at"]
        starts = [ts(h["started_at"]) for h in s["history"]]
        assert starts == sorted(starts)  # oldest first
    assert len(d.status()["history"]) == 3


def test_status_file_readers_never_see_a_partial_document_over_2000_rewrites(
        sim, daemon, refused_port):
    """A reader in a tight loop (open + json.load) while the daemon rewrites the file at least
    2,000 times: every run rewrites it (the fastest run there is: refused connection,
    Interval=1ms), and so does every reload: when runs alone fall behind 100 rewrites/s, SIGHUPs
    make up the difference. inotify counts the rewrites exactly."""
    want, limit, pace = 2000, 60.0, 100.0
    d = daemon(fast_cfg(sim, refused_port, History="100"), state_file=False, watch=False)
    d.wait_status(lambda s: s["last"] is not None, timeout=10, what="a first run")
    writes = FileWrites(d.status_path)
    bad, reads, ids, hups = [], 0, set(), 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < limit:
            if reads % 64 == 0:
                n = writes.drain()
                if n >= want:
                    break
                if n < pace * (time.monotonic() - t0):
                    d.signal(signal.SIGHUP)
                    hups += 1
            with open(d.status_path, "rb") as f:
                raw = f.read()
            reads += 1
            try:
                doc = json.loads(raw)
            except ValueError:
                bad.append(raw)
                continue
            if doc.get("schema") != 1 or not isinstance(doc.get("history"), list):
                bad.append(raw)
            elif doc.get("last"):
                ids.add(doc["last"]["run_id"])
        took = time.monotonic() - t0
        d.stop()
        writes.drain()
    finally:
        writes.close()
    final = d.status()
    rewrites = writes.renames + writes.in_place
    print(f"\nstatus file: {rewrites} rewrites ({writes.in_place} in place), {len(ids)} runs "
          f"observed, {hups} SIGHUPs, {reads} reads in {took:.1f}s")
    assert not bad, f"{len(bad)} of {reads} reads were not a whole document: {bad[0][:300]!r}"
    assert writes.in_place == 0, "the status file was written in place, not replaced"
    assert rewrites >= want, f"only {rewrites} rewrites in {took:.0f}s ({reads} reads)"
    assert len(ids) >= 5 and final["last"]["code"] == "net.connect", final["last"]


def test_kill_9_at_random_moments_always_leaves_a_valid_status_file(sim, daemon, refused_port,
                                                                    tmp_path):
    seed = int(os.environ.get("GP_KILL_SEED", time.time_ns() % 100000))
    rnd = random.Random(seed)
    status, state = tmp_path / "k" / "sim.json", tmp_path / "k" / "sim.state"
    status.parent.mkdir()
    c = fast_cfg(sim, refused_port, History="100000")
    prev = 0
    for i in range(20):
        d = daemon(c, status_file=status, state_file=state, watch=False)
        if i == 0:
            d.wait_status(lambda s: True, timeout=10)
        time.sleep(rnd.uniform(0, 0.25))
        d.proc.kill()
        d.proc.wait(5)
        try:
            doc = json.loads(status.read_bytes())
        except ValueError as e:
            pytest.fail(f"kill {i + 1} (seed {seed}) left an invalid status file: {e}")
        assert doc["schema"] == 1 and isinstance(doc["history"], list), (i, seed)
        n = len(doc["history"])
        # the state file is saved just after the status file: a kill between them loses one run
        assert n >= prev - 1, f"kill {i + 1} (seed {seed}): history went from {prev} to {n}"
        prev = n
    print(f"\nkill -9 x20 (seed {seed}): {prev} runs kept")
    assert prev >= 10, f"only {prev} runs survived 20 kills (seed {seed})"
    d = daemon(c, status_file=status, state_file=state)  # and it still starts from that state
    s = d.wait_status(lambda s: len(s["history"]) > prev, timeout=10)
    assert s["consecutive_failures"] == len(s["history"])
    d.stop()


def test_restart_with_same_state_file_restores_history_and_streaks(sim, daemon, journal):
    sim.configure(fault="agent_error")  # every run fails
    c = cfg(sim, Probe={"AlertAfter": "2"})
    d1 = daemon(c)
    d1.wait_runs(3)
    d1.stop()
    s1 = d1.status()
    n = len(s1["history"])
    assert s1["consecutive_failures"] == n and s1["alerting"] is True
    d2 = daemon(c, status_file=d1.status_path, state_file=d1.state_path, journal=journal)
    s2 = d2.wait_status(lambda s: len(s["history"]) >= n + 1, timeout=10, what="one more run")
    d2.stop()
    s2 = d2.status()
    assert [h["started_at"] for h in s2["history"][:n]] == [h["started_at"] for h in s1["history"]]
    assert s2["consecutive_failures"] == len(s2["history"]) > n
    assert s2["consecutive_passes"] == 0 and s2["alerting"] is True
    assert s2["last_failure_at"] >= s1["last_failure_at"]
    # the alert was raised before the restart: not raised again
    assert gp_entries(journal, MESSAGE_ID=MID["ALERT_RAISED"]) == []
    assert run_entries(journal)[0]["GPPROBE_CONSECUTIVE_FAILURES"] == str(n + 1)


# ==== sd_notify (SPEC section 7) ================================================================

def _run_statuses(msgs):
    return [m["STATUS"] for m in msgs if "STATUS" in m and "READY" not in m
            and re.search(r"\b(pass|fail|degraded)\b", m["STATUS"])]


def test_notify_ready_after_start_and_status_after_each_run(sim, daemon, notify):
    sim.configure(fault="agent_error", count=1)
    d = daemon(cfg(sim), notify=notify)
    ready = notify.wait_for(lambda m: m.get("READY") == "1", timeout=5)
    assert ready.pid == d.pid
    assert ready.at - d.started_at < 3
    d.wait_runs(3)
    deadline = time.monotonic() + 3
    while len(_run_statuses(notify.messages())) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    d.stop()
    statuses = _run_statuses(notify.messages())
    assert len(statuses) >= 3, notify.messages()
    assert "fail" in statuses[0] and "events.error" in statuses[0], statuses
    assert "pass" in statuses[1] and "pass" in statuses[2], statuses
    assert all("\n" not in s and len(s) < 200 for s in statuses)


def test_watchdog_pings_keep_coming_during_a_stalled_run(sim, daemon, notify):
    sim.configure(fault="stall")  # stops before tool_completed, keeps the connection open
    c = cfg(sim, interval="1h", Probe={"Timeout": "40s"}, Events={"EventTimeout": "40s"})
    d = daemon(c, notify=notify, watchdog_usec=2_000_000)
    notify.wait_for(lambda m: m.get("READY") == "1", timeout=5)
    wait_user_messages(sim, 1)
    t0 = time.monotonic()
    time.sleep(30)
    t1 = time.monotonic()
    assert d.proc.poll() is None
    assert d.status()["history"] == [], "the stalled run must still be running"
    pings = [t for t in notify.watchdog_pings() if t0 <= t <= t1]
    assert pings and all(m.pid == d.pid for m in notify.messages() if m.get("WATCHDOG") == "1")
    gaps = [b - a for a, b in zip([t0] + pings, pings + [t1])]
    print(f"\nwatchdog: {len(pings)} pings in {t1 - t0:.1f}s, max gap {max(gaps):.3f}s")
    # WATCHDOG_USEC=2s: sd_event_set_watchdog pings between 1/2 and 3/4 of the timeout, like
    # systemd's own daemons (1.0-1.5s apart). What matters is that no gap reaches the timeout,
    # at which systemd would kill the service: allow scheduling delays on a loaded machine up to
    # 1.9s, still short of 2s.
    assert max(gaps) < 1.9, f"a {max(gaps):.3f}s gap between WATCHDOG=1 pings ({len(pings)} pings)"
    assert len(pings) >= 15, f"only {len(pings)} pings in 30s"
    d.stop()


def test_notify_reloading_then_ready_on_sighup(sim, daemon, notify):
    d = daemon(cfg(sim), notify=notify)
    notify.wait_for(lambda m: m.get("READY") == "1", timeout=5)
    d.wait_runs(1)
    mark = notify.mark()
    d.signal(signal.SIGHUP)
    reloading = notify.wait_for(lambda m: m.get("RELOADING") == "1", since=mark)
    after = mark + next(i for i, m in enumerate(notify.messages(mark)) if m is reloading) + 1
    ready = notify.wait_for(lambda m: m.get("READY") == "1", since=after)
    assert ready.at >= reloading.at
    d.wait_runs(d.runs_seen + 1)  # and it keeps running
    d.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_notify_stopping_and_exit_0_on(sim, daemon, notify, sig):
    d = daemon(cfg(sim), notify=notify)
    d.wait_runs(1)
    mark = notify.mark()
    rc, took = d.stop(sig)
    assert rc == 0 and took <= 2
    notify.wait_for(lambda m: m.get("STOPPING") == "1", since=mark, timeout=1)


# ==== signals and scheduling (SPEC section 3) ====================================================

def test_sighup_applies_a_valid_changed_config(sim, daemon, journal):
    d = daemon(cfg(sim), journal=journal)
    d.wait_runs(4)
    d.write_config(cfg(sim, Probe={"Name": "renamed"}, Output={"History": "2"}))
    d.signal(signal.SIGHUP)
    journal.wait_for(SYSLOG_IDENTIFIER="gpprobed", MESSAGE_ID=MID["RELOADED"])
    seen = d.runs_seen
    doc = d.wait_status(lambda s: s["name"] == "renamed" and d.runs_seen >= seen + 2, timeout=10,
                        what="two runs under the new name")
    assert len(doc["history"]) == 2 and doc["window"]["runs"] == 2
    d.stop()
    es = run_entries(journal)
    reloaded = gp_entries(journal, MESSAGE_ID=MID["RELOADED"])
    assert len(reloaded) == 1
    assert int(reloaded[0]["PRIORITY"]) >= 5
    after = [e for e in es if int(e["__REALTIME_TIMESTAMP"]) > int(reloaded[0]["__REALTIME_TIMESTAMP"])]
    assert len(after) >= 2 and all(e["GPPROBE_NAME"] == "renamed" for e in after), after
    assert gp_entries(journal, MESSAGE_ID=MID["RELOAD_REJECTED"]) == []


def test_sighup_does_not_postpone_the_next_run(sim, daemon):
    d = daemon(cfg(sim, interval="1s"))
    doc = d.wait_runs(1)
    first = ts(doc["history"][0]["started_at"])
    for _ in range(5):  # e.g. configuration management reloading a few times in a row
        d.signal(signal.SIGHUP)
        time.sleep(0.05)
    doc = d.wait_runs(2, timeout=8)
    d.stop()
    gap = ts(doc["history"][1]["started_at"]) - first
    # Interval=1s, Jitter=0: the next run is due 1s after the first, reloads or not (300ms slack)
    assert 0.998 <= gap <= 1.3, f"the second run started {gap:.3f}s after the first"


def test_sighup_rejects_an_invalid_config_and_keeps_running_the_old_one(sim, daemon, journal):
    d = daemon(cfg(sim), journal=journal)
    d.wait_runs(1)
    good = cfg(sim, Probe={"Name": "renamed"})
    good["Output"] = {"StatusFile": str(d.status_path), "StateFile": str(d.state_path)}
    lines = render(good).split("\n")
    at = lines.index("[Probe]") + 1
    lines.insert(at, "NoSuchKey=1")
    d.write_config("\n".join(lines))
    lineno = at + 1
    d.signal(signal.SIGHUP)
    es = journal.wait_for(SYSLOG_IDENTIFIER="gpprobed", MESSAGE_ID=MID["RELOAD_REJECTED"])
    e = es[-1]
    assert f"{d.cfg_path}:{lineno}" in e["MESSAGE"], e["MESSAGE"]
    assert int(e["PRIORITY"]) <= 4, e
    assert f"{d.cfg_path}:{lineno}" in d.stderr()
    seen = d.runs_seen
    doc = d.wait_runs(seen + 2)  # the old configuration keeps running
    assert doc["name"] == "sim"
    d.stop()
    assert gp_entries(journal, MESSAGE_ID=MID["RELOADED"]) == []
    assert {e["GPPROBE_NAME"] for e in run_entries(journal)} == {"sim"}


def test_sigusr1_starts_a_run_now(sim, daemon):
    d = daemon(cfg(sim, interval="1h"))
    d.wait_runs(1, timeout=5)  # the first run starts at once
    time.sleep(0.5)
    assert d.runs_seen == 1 and len(d.status()["history"]) == 1
    t = time.time()
    d.signal(signal.SIGUSR1)
    doc = d.wait_runs(2, timeout=5)
    started = ts(doc["history"][-1]["started_at"])
    assert -0.05 <= started - t <= 1.0, f"the run started {started - t:.3f}s after SIGUSR1"
    d.stop()


def test_sigusr1_during_a_run_is_ignored_and_said_so(sim, daemon, journal):
    d = daemon(cfg(sim, interval="1h", Events={"EventTimeout": "2s"}), journal=journal)
    d.wait_runs(1)
    sim.configure(fault="stall", count=1)
    d.signal(signal.SIGUSR1)
    wait_user_messages(sim, 2)  # run 2 is waiting for tool_completed, for 2s
    mark = len(d.stderr())
    d.signal(signal.SIGUSR1)  # while it runs: ignored
    doc = d.wait_runs(2, timeout=6)
    assert doc["last"]["code"] == "events.timeout"
    time.sleep(1.0)
    assert d.runs_seen == 2 and len(d.status()["history"]) == 2, "the second SIGUSR1 started a run"
    said = re.compile(r"(?i)SIGUSR1.*(ignor|in progress|already|busy)")
    assert said.search(d.stderr()[mark:]), d.stderr()[mark:]
    assert any(said.search(e["MESSAGE"]) for e in gp_entries(journal)), \
        [e["MESSAGE"] for e in gp_entries(journal)]
    d.stop()


def test_sigterm_during_a_stalled_run_exits_0_within_2s_and_records_nothing(
        sim, daemon, journal, notify):
    c = cfg(sim, interval="1h", Probe={"Timeout": "40s"}, Events={"EventTimeout": "40s"})
    d = daemon(c, journal=journal, notify=notify)
    d.wait_runs(1)
    sim.configure(fault="stall")
    d.signal(signal.SIGUSR1)
    wait_user_messages(sim, 2)
    time.sleep(0.3)
    before = d.status()
    rc, took = d.stop()  # asserts exit 0 within 2 s
    after = d.status()
    assert len(after["history"]) == 1 and after["last"]["run_id"] == before["last"]["run_id"]
    assert after["consecutive_failures"] == 0
    if d.state_path.exists():
        st = json.loads(d.state_path.read_text())
        entries = st.get("entries", st.get("history"))
        assert entries is None or len(entries) == 1, st
    es = run_entries(journal)
    assert [e["GPPROBE_RESULT"] for e in es] == ["pass"], [e["MESSAGE"] for e in es]
    notify.wait_for(lambda m: m.get("STOPPING") == "1", timeout=1)


@pytest.mark.parametrize("interval,jitter,jmax", [("400ms", "300ms", 0.3), ("400ms", "50%", 0.2),
                                                  ("300ms", "0", 0.0)])
def test_runs_are_spaced_by_interval_plus_jitter(sim, daemon, interval, jitter, jmax):
    sim.configure(delays={"default": 0})
    ival = int(interval[:-2]) / 1000
    d = daemon(cfg(sim, interval=interval, jitter=jitter))
    doc = d.wait_runs(7, timeout=20)
    d.stop()
    h = doc["history"]
    starts = [ts(x["started_at"]) for x in h]
    durs = [x["duration_ms"] / 1000 for x in h]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    for g, dur in zip(gaps, durs):
        # start to start: at least Interval=, at most Interval= + Jitter= + the run. Slots do not
        # drift, but a run's recorded start includes the hand-off to the network thread (a few ms,
        # more on a loaded 2-core machine), so one late start makes the next gap shorter: 20ms
        # slack below, 100ms above.
        assert ival - 0.02 <= g <= ival + jmax + dur + 0.1, \
            f"gap {g:.3f}s outside [{ival}, {ival + jmax:.3f} + run]: gaps {gaps}, runs {durs}"
    if jmax:
        # uniform over [0, jmax]: six draws are not all within 20ms of each other
        assert max(gaps) - min(gaps) > 0.02, f"no jitter visible: {gaps}"


def test_a_run_longer_than_the_interval_never_overlaps_and_the_skip_is_logged(sim, daemon, journal):
    sim.configure(delays={"default": 150})  # a run takes ~0.8 s; Interval=300ms
    d = daemon(cfg(sim, interval="300ms"), journal=journal)
    active = []
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            active.append(sim.get("/_sim/stats")["active_sessions"])
            stop.wait(0.05)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        doc = d.wait_runs(4, timeout=20)
    finally:
        stop.set()
        t.join()
    d.stop()
    h = doc["history"]
    for a, b in zip(h, h[1:]):
        end = ts(a["started_at"]) + a["duration_ms"] / 1000
        assert ts(b["started_at"]) >= end - 0.002, ("overlap", a, b)
    assert all(x["duration_ms"] > 300 for x in h)
    assert max(active) <= 1, "two WebSocket sessions at once"
    skipped = gp_entries(journal, MESSAGE_ID=MID["RUN_SKIPPED"])
    assert skipped, [e["MESSAGE"] for e in gp_entries(journal)]
    assert "skip" in skipped[0]["MESSAGE"].lower() and skipped[0]["GPPROBE_NAME"] == "sim"
    assert int(skipped[0]["PRIORITY"]) <= 5


# ==== start and output (SPEC sections 2, 3, 6) ================================================

@pytest.mark.parametrize("bad_line,lineno", [("Interval=soon", 3), ("NoSuchKey=1", 3)])
def test_config_error_at_start_exits_78_naming_file_and_line(sim, tmp_path, bad_line, lineno):
    c = cfg(sim)
    lines = render(c).split("\n")
    assert lines[0] == "[Probe]" and lines[1].startswith("Name=")
    lines.insert(2, bad_line)
    p = tmp_path / "bad.conf"
    p.write_text("\n".join(lines).replace("@password", str(tmp_path / "nopw")))
    p.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "JOURNAL_STREAM")}
    r = subprocess.run([gpprobed_path(), "--config", str(p)], capture_output=True, text=True,
                       timeout=10, env=env)
    assert r.returncode == 78, r
    assert f"{p}:{lineno}" in r.stderr, r.stderr


def test_without_a_journal_run_lines_go_to_stderr(sim, daemon):
    assert not os.path.exists("/run/systemd/journal/socket")  # the host has no journald
    sim.configure(fault="agent_error", count=1)
    d = daemon(cfg(sim))
    d.wait_runs(2)
    d.stop()
    lines = d.stderr().splitlines()
    fails = [ln for ln in lines if "events.error" in ln]
    assert len(fails) == 1 and AGENT_ERROR in fails[0], lines
    assert any(re.search(r"\bpass\b", ln) for ln in lines), lines
    assert any("started" in ln for ln in lines), lines


def test_with_a_journal_the_same_lines_also_go_to_stderr(sim, daemon, journal):
    sim.configure(fault="agent_error", count=1)
    d = daemon(cfg(sim), journal=journal)
    d.wait_runs(2)
    d.stop()
    lines = d.stderr().splitlines()
    msgs = [e["MESSAGE"] for e in gp_entries(journal)]
    assert len(msgs) >= 3  # started + 2 runs
    missing = [m for m in msgs if not any(ln.endswith(m) for ln in lines)]
    assert not missing, (missing, lines)


def test_stderr_that_is_the_journal_gets_no_duplicate_lines(sim, daemon, journal):
    d = daemon(cfg(sim), journal=journal, journal_stream=True)
    d.wait_runs(2)
    d.stop()
    msgs = [e["MESSAGE"] for e in run_entries(journal)]
    assert len(msgs) >= 2
    err = d.stderr()
    assert not [m for m in msgs if m in err], err


# ==== failure transcripts (issue 12) ============================================================

def ctl(*args):
    from test_gpprobectl import gpprobectl_path
    return subprocess.run([gpprobectl_path(), *args], capture_output=True, text=True, timeout=30)


def test_failed_runs_keep_the_newest_transcripts_named_by_status_and_journal(sim, daemon, journal):
    d = daemon(cfg(sim, interval="1h", Output={"Transcripts": "2"}), journal=journal)
    doc = d.wait_runs(1, timeout=10)
    tdir = d.state_path.parent / "sim.transcripts"
    assert doc["last"]["result"] == "pass" and "transcript" not in doc["last"]
    assert doc["transcripts"] == str(tdir)
    assert not tdir.exists() or not list(tdir.iterdir())  # a pass leaves none
    sim.configure(fault="agent_error")
    ids = []
    for n in (2, 3, 4):
        d.signal(signal.SIGUSR1)
        doc = d.wait_runs(n, timeout=10)
        assert doc["last"]["code"] == "events.error", doc["last"]
        ids.append(doc["last"]["run_id"])
        path = tdir / f"{ids[-1]}.json"
        assert doc["last"]["transcript"] == str(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.getuid()
    assert stat.S_IMODE(tdir.stat().st_mode) == 0o700
    assert sorted(p.name for p in tdir.iterdir()) == sorted(f"{i}.json" for i in ids[1:])  # Transcripts=2
    es = run_entries(journal, GPPROBE_RUN_ID=ids[-1])
    assert es and es[-1]["GPPROBE_TRANSCRIPT"] == str(tdir / f"{ids[-1]}.json"), es
    assert all("GPPROBE_TRANSCRIPT" not in e for e in run_entries(journal, GPPROBE_RESULT="pass"))

    sd = ["--status-dir", str(d.status_path.parent)]
    newest = ctl(*sd, "transcript", "sim")
    assert newest.returncode == 0, newest.stderr
    assert f"sim run {ids[-1]}" in newest.stdout and "events.error" in newest.stdout
    assert re.search(r"\+\s*\d+\.\d{3} ms  << text \d+ B  \{\"type\": \"agent_error\"", newest.stdout), newest.stdout
    older = ctl(*sd, "transcript", "sim", ids[1], "--json")
    assert older.returncode == 0 and json.loads(older.stdout)["run_id"] == ids[1]
    gone = ctl(*sd, "transcript", "sim", ids[0])
    assert gone.returncode == 2 and "no such transcript" in gone.stderr, gone
    bad = ctl(*sd, "transcript", "sim", "12345")
    assert bad.returncode == 64 and "not a run id" in bad.stderr, bad
    d.stop()


def test_transcripts_0_records_and_keeps_none(sim, daemon):
    sim.configure(fault="agent_error")
    d = daemon(cfg(sim, interval="1h", Output={"Transcripts": "0"}))
    doc = d.wait_runs(1, timeout=10)
    assert doc["last"]["result"] == "fail" and "transcript" not in doc["last"]
    assert "transcripts" not in doc
    assert not (d.state_path.parent / "sim.transcripts").exists()
    r = ctl("--status-dir", str(d.status_path.parent), "transcript", "sim")
    assert r.returncode == 2 and "keeps no transcripts" in r.stderr, r
    d.stop()
