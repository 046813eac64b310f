"""Streaming quality (issue 12) through the daemon: a stalled run (events.stall) and a passing one
carry their `stream` figures into the status file (`last.stream`), the journal
(GPPROBE_FRAMES, GPPROBE_LONGEST_SILENCE_MS, GPPROBE_SILENCE_AFTER, GPPROBE_FIRST_PARTIAL_MS) and
the metrics (gpprobe_stream_* histograms and gauges), and the histograms survive a restart in
StateFile=. Fixtures: conftest.py, journal.py, harness.py."""
import re

from conftest import base_config
from journal import message_ids

MID = message_ids()
RUN_MIDS = [MID["RUN_PASSED"], MID["RUN_DEGRADED"], MID["RUN_FAILED"]]


def cfg(sim, mfile):
    return base_config(sim, Probe={"Interval": "300ms", "Jitter": "0"},
                       Events={"EventTimeout": "5s", "StallTimeout": "700ms"},
                       Output={"MetricsFile": str(mfile)})


def metric(text, name):
    m = re.search(r"^" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_a_stall_then_a_pass_reach_status_journal_and_metrics_and_survive_a_restart(
        sim, daemon, journal, tmp_path):
    mfile = tmp_path / "sim.prom"
    sim.configure(fault="hang", params={"after": "agent_thinking"}, count=1)
    d = daemon(cfg(sim, mfile), journal=journal)
    doc = d.wait_runs(2, timeout=20)
    d.stop()
    doc = d.status()
    history = [h["result"] for h in doc["history"]]
    assert history[:2] == ["fail", "pass"], doc["history"]
    last = doc["last"]
    st = last["stream"]
    assert st["frames"] >= 5 and st["partials"] >= 1, st
    assert st["longest_silence_ms"] < 700, st

    es = journal.entries(SYSLOG_IDENTIFIER="gpprobed", MESSAGE_ID=RUN_MIDS)
    stall, ok = es[0], es[-1]
    assert stall["GPPROBE_CODE"] == "events.stall" and stall["GPPROBE_STAGE"] == "events", stall
    assert "no frame at all for 700ms" in stall["GPPROBE_REASON"], stall
    assert stall["GPPROBE_SILENCE_AFTER"] == "agent_thinking", stall
    assert float(stall["GPPROBE_LONGEST_SILENCE_MS"]) >= 700, stall
    assert stall["GPPROBE_FRAMES"] == "2", stall
    assert ok["GPPROBE_RUN_ID"] == last["run_id"]
    assert int(ok["GPPROBE_FRAMES"]) == st["frames"]
    assert abs(float(ok["GPPROBE_LONGEST_SILENCE_MS"]) - st["longest_silence_ms"]) <= 0.15
    assert abs(float(ok["GPPROBE_FIRST_PARTIAL_MS"]) - st["first_partial_ms"]) <= 0.15

    text = mfile.read_text()
    p = '{probe="sim"}'
    runs = len(doc["history"])
    assert metric(text, 'gpprobe_failures_total{probe="sim",code="events.stall"}') == 1
    assert metric(text, "gpprobe_stream_silence_seconds_count" + p) == runs
    # the stall's silence (>= 700 ms) is above 0.5 s; a healthy run's are not
    assert metric(text, 'gpprobe_stream_silence_seconds_bucket{probe="sim",le="0.5"}') == runs - 1
    assert metric(text, "gpprobe_stream_last_frames" + p) == st["frames"]
    assert abs(metric(text, "gpprobe_stream_last_longest_silence_seconds" + p) * 1000
               - st["longest_silence_ms"]) <= 0.1
    assert metric(text, 'gpprobe_stream_last_frame_gap_seconds{probe="sim",stat="max"}') is not None
    assert metric(text, "gpprobe_stream_frame_gap_seconds_count" + p) >= 1 + 4 * (runs - 1)

    # A restart from the same StateFile= keeps counting where it was.
    d2 = daemon(cfg(sim, mfile), status_file=d.status_path, state_file=d.state_path)
    d2.wait_status(lambda s: len(s["history"]) >= runs + 1, timeout=10, what="one more run")
    d2.stop()
    runs2 = len(d2.status()["history"])
    text = mfile.read_text()
    assert metric(text, "gpprobe_stream_silence_seconds_count" + p) == runs2 > runs
    assert metric(text, 'gpprobe_stream_silence_seconds_bucket{probe="sim",le="0.5"}') == runs2 - 1
