"""StateFile= as the daemon writes it: one line per run appended after the whole state, the
whole state rewritten (compacted) every max(History=, 16) runs, and a restart that replays the
appended runs (docs/architecture.md, docs/reliability.md)."""
import json
import socket

import pytest

from conftest import base_config


@pytest.fixture
def refused_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()


def fast_cfg(sim, port, interval="1ms", **output):
    """Every run fails at once with net.connect (a fixed token, a refusing WebSocket port)."""
    return base_config(sim, Probe={"Interval": interval, "Jitter": "0"},
                       Login={"URL": None, "User": None, "PasswordFile": None,
                              "Token": "fixed-token-for-fast-runs"},
                       WebSocket={"URL": f"wss://127.0.0.1:{port}/ws"}, Output=output)


def state_lines(path):
    """The state file: its document, and the appended runs after it (all whole lines)."""
    text = path.read_text()
    assert text.endswith("\n"), text[-300:]
    lines = text.splitlines()
    return json.loads(lines[0]), [json.loads(x)["run"] for x in lines[1:]]


def test_runs_are_appended_compacted_every_16_and_replayed_after_a_restart(sim, daemon,
                                                                          refused_port):
    d = daemon(fast_cfg(sim, refused_port, History="2"))
    s = d.wait_status(lambda s: s["consecutive_failures"] >= 40, timeout=30, what="40 runs")
    d.stop()
    s = d.status()
    n = s["consecutive_failures"]
    doc, appended = state_lines(d.state_path)
    assert doc["schema"] == 1
    # rewritten at the first run, then every 16 runs: never more than 16 lines behind
    assert len(appended) <= 16 and doc["runs_total"]["fail"] > 16, (len(appended), doc["runs_total"])
    assert doc["runs_total"]["fail"] + len(appended) == n
    for r in appended:
        assert r["result"] == "fail" and r["code"] == "net.connect" and r["alerting"] is True, r
    assert [r["run_id"] for r in (doc["entries"] + appended)[-2:]] == [h["run_id"] for h in s["history"]]

    # a restart replays them: the streak goes on from n, the window holds the last run before
    d2 = daemon(fast_cfg(sim, refused_port, interval="1h", History="2"), status_file=d.status_path,
                state_file=d.state_path)
    s2 = d2.wait_status(lambda s: s["consecutive_failures"] > n, timeout=10, what="one more run")
    d2.stop()
    assert s2["consecutive_failures"] == n + 1 and s2["alerting"] is True
    assert s2["history"][0]["run_id"] == s["history"][-1]["run_id"]
    doc2, appended2 = state_lines(d.state_path)
    # the first save after a start is a whole rewrite: nothing appended yet
    assert appended2 == [] and doc2["runs_total"]["fail"] == n + 1
