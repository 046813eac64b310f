"""Users=N against the simulator: every session checked on its own, isolation faults caught and
the sessions involved named, one slow user failing the run by its index, and the fd limit
reported as the probe's own problem."""
import json
import os
import re
import resource
import subprocess
import time

import pytest

from conftest import SIM_PASSWORD, base_config, gpprobed_path, render, Result

EXPECT = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def clean(res):
    """An ASan/UBSan build (GPPROBED=build-asan/...) reports on stderr; a failing run's exit
    code 1 would hide it."""
    for mark in SANITIZER_REPORTS:
        assert mark not in res.stderr, res.stderr[-4000:]
    return res


@pytest.fixture
def run(probe):
    return lambda cfg, **kw: clean(probe(cfg, **kw))


def users_config(sim, n, **sections):
    cfg = base_config(sim, Probe={"Users": str(n), "Timeout": "60s"},
                      Login={"User": "probe${index}@example.com"},
                      WebSocket={"ConnectTimeout": "30s"}, **sections)
    return cfg


def aim(sim, user, **cfg):
    """The sim's fault for one user only (control key `user`)."""
    body = {"params": {}, "options": {}, "delays": {}, "count": None, **cfg, "user": user}
    return sim._post("/_sim/config", body)


def assert_every_session_passed(res, n):
    assert res.json is not None, res
    last = res.json
    assert res.rc == 0 and last["result"] == "pass", res
    assert last["users"] == n
    sessions = last["sessions"]
    assert [s["index"] for s in sessions] == list(range(1, n + 1))
    for s in sessions:
        assert s["result"] == "pass" and s["code"] is None, s
        assert [e["type"] for e in s["events"]] == EXPECT, s
        assert s["phases_ms"]["complete"] == s["events"][-1]["at_ms"], s
    run_ids = [s["run_id"] for s in sessions]
    assert len(set(run_ids)) == n and last["run_id"] not in run_ids
    spread = last["spread_ms"]
    assert spread["min"] <= spread["p50"] <= spread["p95"] <= spread["max"], spread
    assert spread["max"] == last["phases_ms"]["complete"]
    slowest = sessions[last["slowest_session"] - 1]
    assert slowest["phases_ms"]["complete"] == spread["max"]
    return sessions


@pytest.mark.parametrize("n", [2, 10, 100])
def test_every_session_passes_on_its_own_run_and_the_server_saw_each(sim, run, n):
    res = run(users_config(sim, n), timeout=120)
    sessions = assert_every_session_passed(res, n)
    log = sim.events()
    requested = {m["run_id"] for m in log["user_messages"]}
    assert {s["run_id"] for s in sessions} <= requested
    written = {}
    for e in log["events"]:
        written.setdefault(e["run_id"], []).append(e["type"])
    for s in sessions:  # each session saw exactly the events written for its own run
        assert [t for t in written[s["run_id"]] if t in EXPECT] == EXPECT, s["index"]
    assert sim.get("/_sim/stats")["ws_sessions"] == n


def test_one_thousand_users_complete_with_every_session_checked(sim, run):
    res = run(users_config(sim, 1000, SLO={"Login": "0", "Connect": "0", "FirstEvent": "0",
                                                    "Total": "0"}), timeout=180)
    assert_every_session_passed(res, 1000)


CROSSTALK = re.compile(r"^session (\d+): .* of session (\d+) \(this is session \1\)")


def test_crosstalk_is_caught_and_names_both_sessions(sim, run):
    sim.configure(fault="crosstalk")
    res = run(users_config(sim, 3))
    assert res.rc == 1 and res.json["code"] == "events.crosstalk", res
    assert res.json["stage"] == "events"
    m = CROSSTALK.match(res.json["reason"])
    assert m and m.group(1) != m.group(2), res.json["reason"]
    victims = [s for s in res.json["sessions"] if s["code"] == "events.crosstalk"]
    assert victims and all(v["result"] == "fail" for v in victims)


def test_broadcast_is_caught_as_crosstalk_naming_the_sessions(sim, run):
    sim.configure(fault="broadcast")
    res = run(users_config(sim, 4))
    assert res.rc == 1 and res.json["code"] == "events.crosstalk", res
    m = CROSSTALK.match(res.json["reason"])
    assert m and m.group(1) != m.group(2), res.json["reason"]
    for s in res.json["sessions"]:
        if s["code"] == "events.crosstalk":
            assert f"(this is session {s['index']})" in s["reason"], s


def test_broadcast_with_one_user_passes(sim, run):
    sim.configure(fault="broadcast")
    res = run(users_config(sim, 1))
    assert res.rc == 0 and res.json["result"] == "pass", res


def test_one_stalled_user_fails_the_run_by_its_index(sim, run):
    aim(sim, "probe3@example.com", fault="stall", params={"before": "tool_completed"})
    res = run(users_config(sim, 5, Events={"EventTimeout": "1s"}))
    assert res.rc == 1, res
    last = res.json
    assert last["code"] == "events.timeout" and last["stage"] == "events"
    assert last["reason"].startswith("session 3: no tool_completed within 1s"), last["reason"]
    assert "more of" not in last["reason"]  # nobody else failed
    results = {s["index"]: s["result"] for s in last["sessions"]}
    assert results == {1: "pass", 2: "pass", 3: "fail", 4: "pass", 5: "pass"}
    assert last["spread_ms"]["max"] < 1000  # the spread covers the sessions that completed


def test_one_slow_login_degrades_the_run_naming_the_session(sim, run):
    aim(sim, "probe2@example.com", fault="login_slow", params={"ms": 700})
    res = run(users_config(sim, 4, SLO={"Login": "500ms"}))
    assert res.rc == 2 and res.json["code"] == "slo.login", res
    assert "in session 2" in res.json["reason"], res.json["reason"]


def test_several_failures_name_the_first_and_count_the_rest(sim, run):
    aim(sim, "probe[24]@example.com", fault="agent_error")
    res = run(users_config(sim, 4))
    assert res.rc == 1 and res.json["code"] == "events.error", res
    assert re.match(r"^session [24]: .*\(and 1 more of 4 sessions failed\)$", res.json["reason"]), res


def test_running_out_of_file_descriptors_is_the_probes_own_failure(sim, tmp_path):
    text = render(users_config(sim, 100)).replace("@password", str(tmp_path / "password"))
    (tmp_path / "password").write_text(SIM_PASSWORD + "\n")
    (tmp_path / "password").chmod(0o600)
    cfg = tmp_path / "users.conf"
    cfg.write_text(text)
    cfg.chmod(0o600)

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (100, 100))

    proc = subprocess.run([gpprobed_path(), "--config", str(cfg), "--once", "--json"],
                          capture_output=True, text=True, timeout=60, preexec_fn=low_limit)
    res = clean(Result(proc, cfg))
    assert res.rc == 1 and res.json["code"] == "internal", res
    assert "out of file descriptors" in res.json["reason"] and "LimitNOFILE" in res.json["reason"]


def epoll_watched_sockets(pid):
    """The most sockets any one epoll set of process pid watches (its fdinfo's tfd lines)."""
    best = 0
    fd_dir = f"/proc/{pid}/fd"
    try:
        fds = os.listdir(fd_dir)
        sockets = {fd for fd in fds if os.readlink(f"{fd_dir}/{fd}").startswith("socket:")}
        for fd in fds:
            if os.readlink(f"{fd_dir}/{fd}") != "anon_inode:[eventpoll]":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                watched = {line.split()[1] for line in f if line.startswith("tfd:")}
            best = max(best, len(watched & sockets))
    except (FileNotFoundError, ProcessLookupError):
        pass  # the process ended
    return best


def test_sessions_wait_in_one_epoll_set_not_a_poll_of_every_socket(sim, tmp_path):
    """libwebsockets runs on a libev loop (epoll, probes/ws.c): while 50 sessions wait for their
    events, one epoll set of the process watches every one of their sockets. lws 4.1's own loop
    poll()s every socket on each wakeup and has no epoll set."""
    n = 50
    sim.configure(delays={"default": 400})  # five events: the sessions stay open ~2 s
    pw = tmp_path / "password"
    pw.write_text(SIM_PASSWORD + "\n")
    pw.chmod(0o600)
    cfg = tmp_path / "users.conf"
    slo_off = {"Login": "0", "Connect": "0", "FirstEvent": "0", "Total": "0"}  # not timed here
    cfg.write_text(render(users_config(sim, n, SLO=slo_off)).replace("@password", str(pw)))
    cfg.chmod(0o600)
    proc = subprocess.Popen([gpprobed_path(), "--config", str(cfg), "--once", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = 0
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline and seen < n:
            seen = max(seen, epoll_watched_sockets(proc.pid))
            time.sleep(0.05)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err[-3000:]
    assert json.loads(out)["result"] == "pass"
    assert seen >= n, f"an epoll set watched at most {seen} sockets of {n} sessions"
