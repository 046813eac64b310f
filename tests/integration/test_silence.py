"""Silences (maintenance windows, issue 13; SPEC section 8 "issue 13 silences"): `gpprobectl
silence NAME --for DUR --reason TEXT` writes STATE_DIR/NAME.silence, which the real gpprobed
watches. While silenced, runs go on and are recorded, every run's journal entry names the silence,
the alert entry is held back (raised at the silence's end if still alerting), the status file and
the metrics say `silenced`, and a gate answers exactly as without it, naming it. Silences survive
a restart, expire by themselves and can be lifted; a bad file is journaled once and ignored.
Fixtures: conftest.py (sim, base_config), journal.py (journal), harness.py (daemon)."""
import datetime
import json
import os
import re
import stat
import subprocess
import time

import pytest

from conftest import base_config
from journal import message_ids
from test_gpprobectl import gpprobectl_path, iso, recent, status_doc, write_atomic

MID = message_ids()
RUN_MIDS = [MID["RUN_PASSED"], MID["RUN_DEGRADED"], MID["RUN_FAILED"]]
REASON = "deploy of v2 \u00e9t\u00e9"   # non-ASCII on purpose: UTF-8 end to end


def cfg(sim, interval="300ms", **sections):
    probe = {"Interval": interval, "Jitter": "0"}
    probe.update(sections.pop("Probe", {}))
    return base_config(sim, Probe=probe, **sections)


def ctl(d, *args, env=None):
    """gpprobectl with this daemon's status and state directories."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("GPPROBE_")}
    e.update(env or {})
    argv = [gpprobectl_path(), "--status-dir", str(d.status_path.parent), "--state-dir",
            str(d.state_path.parent), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=e)


def gp(journal, **match):
    return journal.entries(SYSLOG_IDENTIFIER="gpprobed", **match)


def ts(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def metric(path, name):
    """The value of NAME{probe="sim"} in a MetricsFile=, or None when absent."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    m = re.search(rf'^{name}{{probe="sim"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else None


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timeout ({timeout}s) waiting for {what}"
        time.sleep(0.02)


def without_figures(line):
    """A gate line without what changes from one run to the next ("3.2s ago", "6 consecutive")."""
    return re.sub(r"\d+(\.\d+)?(ms|s|min|h)?( \d+(\.\d+)?(ms|s|min|h))*", "N", line.strip())


# ==== the daemon: journal, status, metrics, gate ==============================================

def test_silenced_failures_are_recorded_and_named_but_raise_no_alert_until_unsilenced(sim, daemon, journal,
                                                                                     tmp_path):
    sim.configure(fault="agent_error")  # every run fails
    mfile = tmp_path / "sim.prom"
    d = daemon(cfg(sim, Probe={"AlertAfter": "2"}, Output={"MetricsFile": str(mfile)}), journal=journal,
               watch=False)
    # Silenced before the first run finished (Interval= 300ms; the first run takes a moment).
    r = ctl(d, "silence", "sim", "--for", "1h", "--reason", REASON, env={"SUDO_USER": "alice"})
    assert r.returncode == 0, r.stderr
    assert "sim: silenced until" in r.stdout and f"by alice: {REASON}" in r.stdout, r.stdout
    doc = d.wait_status(lambda s: (s.get("silence") or {}).get("reason") == REASON and s["alerting"]
                        and d.runs_in(s) >= 4, timeout=20, what="4 silenced failures")
    sil = doc["silence"]
    assert sil["by"] == "alice"
    assert 3590 < ts(sil["until"]) - time.time() <= 3600, sil
    # The figures are true: the runs are recorded and the probe is alerting.
    assert doc["consecutive_failures"] >= 4 and doc["last"]["code"] == "events.error"
    assert metric(mfile, "gpprobe_silenced") == 1
    assert metric(mfile, "gpprobe_silence_end_timestamp_seconds") == pytest.approx(ts(sil["until"]), abs=0.01)
    assert metric(mfile, "gpprobe_alerting") == 1

    # The gate answers as it would, and names the silence.
    gate = ctl(d, "gate", "sim")
    assert gate.returncode == 1, gate.stdout
    assert gate.stdout.startswith("closed: sim: alerting after"), gate.stdout
    assert gate.stdout.rstrip().endswith(f"(silenced until {sil['until']} by alice: {REASON})"), gate.stdout
    st = ctl(d, "status", "sim")
    assert "ALERTING; SILENCED: silenced until" in st.stdout and REASON in st.stdout, st.stdout
    sj = json.loads(ctl(d, "status", "sim", "--json").stdout)[0]
    assert sj["silence"] == {"until": sil["until"], "reason": REASON, "by": "alice"}, sj

    runs = gp(journal, MESSAGE_ID=RUN_MIDS)
    assert len(runs) >= 4
    silenced_runs = [e for e in runs if e.get("GPPROBE_SILENCED_UNTIL")]
    # Every run after the silence began names it (the first may have ended before it).
    assert len(silenced_runs) >= len(runs) - 1, [e["MESSAGE"] for e in runs]
    for e in silenced_runs:
        assert e["GPPROBE_SILENCED_UNTIL"] == sil["until"]
        assert e["GPPROBE_SILENCE_REASON"] == REASON
        assert e["MESSAGE"].endswith(f"(silenced until {sil['until']}: {REASON})"), e["MESSAGE"]
        assert e["PRIORITY"] == "3"
    assert gp(journal, MESSAGE_ID=MID["ALERT_RAISED"]) == []
    began = gp(journal, MESSAGE_ID=MID["SILENCED"])
    assert len(began) == 1 and began[0]["GPPROBE_SILENCED_BY"] == "alice", began
    assert began[0]["GPPROBE_SILENCE_REASON"] == REASON

    # Lifted while still failing: the alert held back is raised at once, without waiting for a run.
    r = ctl(d, "unsilence", "sim")
    assert r.returncode == 0 and r.stdout == "sim: silence lifted\n", r
    wait_for(lambda: gp(journal, MESSAGE_ID=MID["ALERT_RAISED"]), 5, "the alert entry after unsilence")
    alert = gp(journal, MESSAGE_ID=MID["ALERT_RAISED"])
    assert len(alert) == 1 and alert[0]["PRIORITY"] == "2", alert
    ended = gp(journal, MESSAGE_ID=MID["SILENCE_ENDED"])
    assert len(ended) == 1 and "silence lifted" in ended[0]["MESSAGE"], ended
    d.wait_status(lambda s: s.get("silence") is None, timeout=5, what="silence: null")
    wait_for(lambda: metric(mfile, "gpprobe_silenced") == 0, 5, "gpprobe_silenced 0")
    assert metric(mfile, "gpprobe_silence_end_timestamp_seconds") is None
    gate2 = ctl(d, "gate", "sim")
    assert gate2.returncode == 1 and "silenced" not in gate2.stdout, gate2.stdout
    assert without_figures(gate2.stdout) == without_figures(gate.stdout.split(" (silenced")[0])
    # Runs after it no longer name it, and one more failure raises nothing new (already raised).
    n = len(gp(journal, MESSAGE_ID=RUN_MIDS))
    wait_for(lambda: len(gp(journal, MESSAGE_ID=RUN_MIDS)) >= n + 2, 10, "two more runs")
    assert not gp(journal, MESSAGE_ID=RUN_MIDS)[-1].get("GPPROBE_SILENCED_UNTIL")
    assert len(gp(journal, MESSAGE_ID=MID["ALERT_RAISED"])) == 1
    d.stop()


def test_an_alert_held_back_by_a_silence_is_not_followed_by_a_recovered_entry(sim, daemon, journal):
    sim.configure(fault="agent_error", count=2)  # F F P P ...
    d = daemon(cfg(sim, interval="1s", Probe={"AlertAfter": "2", "RecoverAfter": "1"}), journal=journal,
               watch=False)
    assert ctl(d, "silence", "sim", "--for", "1h", "--reason", "maintenance").returncode == 0
    doc = d.wait_status(lambda s: d.runs_in(s) >= 3, timeout=20, what="3 runs")
    assert [h["result"] for h in doc["history"][:3]] == ["fail", "fail", "pass"], doc["history"]
    assert not doc["alerting"] and doc["silence"]["reason"] == "maintenance"
    d.stop()
    assert gp(journal, MESSAGE_ID=[MID["ALERT_RAISED"], MID["RECOVERED"]]) == []


def test_an_alert_held_back_across_a_restart_is_raised_once_by_the_next_daemon(sim, daemon, journal):
    sim.configure(fault="agent_error")
    c = cfg(sim, Probe={"AlertAfter": "2"})
    d = daemon(c, journal=journal, watch=False)
    assert ctl(d, "silence", "sim", "--for", "1h", "--reason", "window").returncode == 0
    d.wait_status(lambda s: s["alerting"] and s.get("silence"), timeout=20, what="a silenced alert")
    held = d.state_path.parent / "sim.silence.held"
    wait_for(held.exists, 3, "the held-back marker")
    d.stop()
    # Lifted while no daemon runs: the next one raises the alert, once.
    assert ctl(d, "unsilence", "sim").returncode == 0
    d2 = daemon(c, journal=journal, watch=False, status_file=d.status_path, state_file=d.state_path)
    wait_for(lambda: gp(journal, MESSAGE_ID=MID["ALERT_RAISED"]), 20, "the alert entry of the next daemon")
    assert not held.exists()
    d2.stop()
    # A third daemon finds the alert announced: no second alert entry.
    d3 = daemon(c, journal=journal, watch=False, status_file=d.status_path, state_file=d.state_path)
    d3.wait_status(lambda s: s["daemon"]["pid"] == d3.pid and s["last"] is not None, timeout=20,
                   what="a run of the third daemon")
    d3.stop()
    assert len(gp(journal, MESSAGE_ID=MID["ALERT_RAISED"])) == 1


def test_a_silence_survives_a_restart_and_expires_by_itself(sim, daemon, journal, tmp_path):
    mfile = tmp_path / "sim.prom"
    c = cfg(sim, interval="1h", Output={"MetricsFile": str(mfile)})
    d = daemon(c, journal=journal, watch=False)
    d.wait_runs(1, timeout=20)
    assert ctl(d, "silence", "sim", "--for", "6s", "--reason", "short window").returncode == 0
    # No run is due for an hour: the daemon sees the file change and says so at once.
    doc = d.wait_status(lambda s: s.get("silence") is not None, timeout=3, what="the silence in the status")
    until = ts(doc["silence"]["until"])
    wait_for(lambda: metric(mfile, "gpprobe_silenced") == 1, 3, "gpprobe_silenced 1")
    d.stop()

    d2 = daemon(c, journal=journal, watch=False, status_file=d.status_path, state_file=d.state_path)
    doc = d2.wait_status(lambda s: s["daemon"]["pid"] == d2.pid and s.get("silence") is not None
                         and d2.runs_in(s) >= 2, timeout=20, what="the silence after the restart")
    assert ts(doc["silence"]["until"]) == until
    run = gp(journal, MESSAGE_ID=RUN_MIDS)[-1]
    assert run["GPPROBE_SILENCE_REASON"] == "short window", run
    # Expires by itself, on time, without a run: journaled once, the file removed.
    d2.wait_status(lambda s: s.get("silence") is None, timeout=until - time.time() + 3, what="the expiry")
    assert time.time() >= until - 0.05
    wait_for(lambda: metric(mfile, "gpprobe_silenced") == 0, 3, "gpprobe_silenced 0")
    assert not (d.state_path.parent / "sim.silence").exists()
    ended = gp(journal, MESSAGE_ID=MID["SILENCE_ENDED"])
    assert len(ended) == 1 and "silence expired" in ended[0]["MESSAGE"], ended
    # Said when set, and again by the restarted daemon that found it in force.
    began = gp(journal, MESSAGE_ID=MID["SILENCED"])
    assert len(began) == 2 and {e["GPPROBE_SILENCED_UNTIL"] for e in began} == {doc["silence"]["until"]}, began
    assert ctl(d2, "silence", "sim").stdout == "sim: not silenced\n"
    d2.stop()


@pytest.mark.parametrize("content, why", [
    (b"not json", "not JSON"),
    (b'{"until":"2099-01-01T00:00:00Z","reason":"x"}', "more than 7 days ahead"),
    (b'{"until":"2026-01-01T00:00:00Z","reason":"a\\u001b[2Jb"}', "control character (U+001B"),
    (b'{"until":"2026-01-01T00:00:00Z","reason":"x","mute":true}', 'unknown member "mute"'),
    (b" " * 5000, "larger than 4096 bytes"),
    (None, "not a regular file"),   # a FIFO: refused without blocking the daemon
])
def test_a_bad_silence_file_is_journaled_once_and_ignored(sim, daemon, journal, content, why):
    sim.configure(fault="agent_error")
    d = daemon(cfg(sim, Probe={"AlertAfter": "1"}), journal=journal, watch=False, state_file=None)
    path = d.state_path.parent / "sim.silence"
    if content is None:
        os.mkfifo(path)
    else:  # atomically: a half-written file would be a second bad version
        tmp = path.with_name(".sim.silence.tmp")
        tmp.write_bytes(content)
        os.replace(tmp, path)
    # Its first read is at start; the runs then re-read it.
    d.wait_runs(3, timeout=20)
    doc = d.status()
    assert doc["silence"] is None and doc["alerting"]
    bad = [e for e in gp(journal) if "ignoring the silence file" in e["MESSAGE"]]
    assert len(bad) == 1, [e["MESSAGE"] for e in bad]
    assert why in bad[0]["MESSAGE"] and str(path) in bad[0]["MESSAGE"], bad[0]["MESSAGE"]
    assert len(gp(journal, MESSAGE_ID=MID["ALERT_RAISED"])) == 1
    assert not any(e.get("GPPROBE_SILENCED_UNTIL") for e in gp(journal, MESSAGE_ID=RUN_MIDS))
    assert path.exists() or content is None  # ignored, not removed
    d.stop()


# ==== gpprobectl alone ========================================================================

@pytest.fixture
def dirs(tmp_path):
    class D:
        status_path = tmp_path / "run" / "sim.json"
        state_path = tmp_path / "state" / "sim.state"
    D.status_path.parent.mkdir()
    D.state_path.parent.mkdir()
    return D


def test_silence_writes_a_0644_file_the_daemon_reads_and_shows_it(dirs):
    r = ctl(dirs, "silence", "sim", "--for", "30min", "--reason", REASON, env={"SUDO_USER": "bob"})
    assert r.returncode == 0, r.stderr
    # No status file: a warning that the name may be misspelt, not a refusal.
    assert "no status file" in r.stderr and "sim" in r.stderr
    f = dirs.state_path.parent / "sim.silence"
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    doc = json.loads(f.read_bytes())
    assert set(doc) == {"until", "reason", "by", "created_at"} and doc["by"] == "bob"
    assert doc["reason"] == REASON
    assert ts(doc["until"]) - ts(doc["created_at"]) == pytest.approx(1800, abs=0.002)
    assert not [p for p in f.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
    shown = ctl(dirs, "silence", "sim")
    assert shown.returncode == 0 and shown.stdout.startswith("sim: silenced until ") and REASON in shown.stdout
    # Replaced by a new one.
    assert ctl(dirs, "silence", "sim", "--for", "1h", "--reason", "longer").returncode == 0
    assert json.loads(f.read_bytes())["reason"] == "longer"
    assert ctl(dirs, "unsilence", "sim").stdout == "sim: silence lifted\n"
    assert not f.exists()
    again = ctl(dirs, "unsilence", "sim")
    assert again.returncode == 0 and again.stdout == "sim: not silenced\n"


@pytest.mark.parametrize("args, why", [
    (["--for", "8d", "--reason", "x"], "longer than 7 days"),
    (["--for", "0", "--reason", "x"], "not a positive duration"),
    (["--for", "soon", "--reason", "x"], "not a positive duration"),
    (["--for", "1h"], "--for and --reason go together"),
    (["--reason", "x"], "--for and --reason go together"),
    (["--for", "1h", "--reason", ""], "--reason is empty"),
    (["--for", "1h", "--reason", "two\nlines"], "control character (U+000A"),
    (["--for", "1h", "--reason", "\x1b[31mred"], "control character (U+001B"),
    (["--for", "1h", "--reason", "r" * 201], "longer than 200 bytes"),
    (["--for", "1h", "--reason", "x", "--json"], "--json is not an option of silence"),
])
def test_silence_refuses_bad_arguments_with_a_usage_error(dirs, args, why):
    r = ctl(dirs, "silence", "sim", *args)
    assert r.returncode == 64, r
    assert why in r.stderr, r.stderr
    assert not (dirs.state_path.parent / "sim.silence").exists()


def test_silence_reports_an_unwritable_directory_and_a_bad_file(dirs, tmp_path):
    r = subprocess.run([gpprobectl_path(), "--state-dir", str(tmp_path / "missing"), "silence", "sim", "--for",
                        "1h", "--reason", "x"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "missing" in r.stderr, r
    (dirs.state_path.parent / "sim.silence").write_text("{}")
    shown = ctl(dirs, "silence", "sim")
    assert shown.returncode == 2 and "invalid, gpprobed ignores it" in shown.stderr, shown


def test_state_dir_comes_from_the_environment(dirs):
    r = subprocess.run([gpprobectl_path(), "silence", "sim", "--for", "1h", "--reason", "env"],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, GPPROBE_STATE_DIR=str(dirs.state_path.parent)))
    assert r.returncode == 0, r.stderr
    assert (dirs.state_path.parent / "sim.silence").exists()


@pytest.mark.parametrize("runs, alerting, code", [
    (("pass", "pass", "pass"), False, 0),
    (("pass", "fail", "fail", "fail"), True, 1),
])
def test_a_gate_answers_exactly_as_without_the_silence_and_names_it_only_while_in_force(dirs, runs, alerting,
                                                                                       code):
    end = time.time() - 120
    plain = status_doc(recent(*runs, end=end), alerting=alerting, name="sim", updated_at=end)
    answers = {}
    until = iso(time.time() + 600)
    for label, silence in [("none", None),
                           ("in force", {"until": until, "reason": REASON, "by": "carol",
                                         "created_at": iso(end)}),
                           ("over", {"until": iso(time.time() - 1), "reason": "old", "by": None,
                                     "created_at": None})]:
        doc = dict(plain, silence=silence) if silence else plain
        write_atomic(dirs.status_path, doc)
        r = ctl(dirs, "gate", "sim", "--max-age", "1h")
        assert r.returncode == code, (label, r)
        answers[label] = r.stdout.rstrip("\n")
        st = json.loads(ctl(dirs, "status", "sim", "--json").stdout)[0]
        assert (st["silence"] is not None) == (label == "in force"), (label, st)
    note = f" (silenced until {until} by carol: {REASON})"
    assert answers["in force"].endswith(note), answers
    # The same answer, word for word (only the clock's "ago" may have ticked between the calls).
    assert without_figures(answers["in force"][:-len(note)]) == without_figures(answers["none"]), answers
    # A silence over is not named, even while the file still holds it.
    assert without_figures(answers["over"]) == without_figures(answers["none"]), answers
