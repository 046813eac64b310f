"""Streaming quality (issue 12) with `gpprobed --once --json` against the simulator: frames, bytes,
gaps, the longest silence and partials in `stream`; a stream with no frame at all for
StallTimeout= is `events.stall`, told apart from `events.timeout` (frames, but not the awaited
one); a slow trickle of partials is degraded by [SLO] Silence= or FirstPartial=."""
from conftest import base_config

EXPECT = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]


def stream_of(res):
    assert res.json is not None, res
    st = res.json["stream"]
    assert st is not None, res
    return st


def test_a_passing_run_reports_its_frames_gaps_silence_and_partials(sim, probe):
    delays = {"agent_started": 150, "agent_thinking": 60, "tool_executing": 400,
              "tool_completed": 30, "agent_completed": 50}
    sim.configure(delays=delays, options={"thinking_repeats": 3})
    res = probe(base_config(sim))
    assert res.rc == 0 and res.json["result"] == "pass", res
    st = stream_of(res)
    counts = {e["type"]: e["count"] for e in res.json["events"]}
    assert counts["agent_thinking"] == 3
    # every frame after the request: the events, and nothing else from this simulator
    assert st["frames"] == sum(counts.values()) + res.json.get("ignored_frames", 0), st
    assert st["bytes"] > 100 * st["frames"] / 2, st
    assert st["partials"] == 3, st  # agent_thinking is a Partial= type by default
    thinking_at = next(e["at_ms"] for e in res.json["events"] if e["type"] == "agent_thinking")
    assert st["first_partial_ms"] == thinking_at
    assert st["partials_per_s"] is not None and 0 < st["partials_per_s"] <= 1000 / 40, st
    # the 400 ms before tool_executing is the longest gap and the longest silence (a gap is
    # measured between two arrivals: the one before it may come late, so allow some slack)
    assert 350 <= st["frame_gap_ms"]["max"] < 2400, st
    assert st["frame_gap_ms"]["p50"] <= st["frame_gap_ms"]["max"]
    assert st["event_gap_ms"]["max"] == st["frame_gap_ms"]["max"], st
    assert st["longest_silence_ms"] == st["frame_gap_ms"]["max"], st
    assert st["silence_after"] == "agent_thinking", st
    assert "longest_silence_session" not in st  # Users=1


def test_no_frame_for_stall_timeout_is_events_stall_naming_the_silence_and_last_event(sim, probe):
    sim.configure(fault="hang", params={"after": "agent_thinking"})
    res = probe(base_config(sim, Events={"EventTimeout": "10s", "StallTimeout": "1s"}))
    assert res.rc == 1, res
    last = res.json
    assert (last["result"], last["stage"], last["code"]) == ("fail", "events", "events.stall"), res
    for part in ("no frame at all for 1s", "StallTimeout=", "after agent_thinking", "tool_executing",
                 "saw agent_started agent_thinking"):
        assert part in last["reason"], last["reason"]
    assert last["duration_ms"] < 6000, last  # StallTimeout= decided, not EventTimeout=
    st = stream_of(res)
    assert st["frames"] == 2 and st["silence_after"] == "agent_thinking", st
    assert 1000 <= st["longest_silence_ms"] < 4000, st
    assert "stream: 2 frames" in res.stderr and "after agent_thinking" in res.stderr, res.stderr


def test_the_same_hang_without_stall_timeout_stays_events_timeout(sim, probe):
    sim.configure(fault="hang", params={"after": "agent_thinking"})
    res = probe(base_config(sim, Events={"EventTimeout": "1s"}))
    assert res.json["code"] == "events.timeout", res
    assert res.json["stream"]["longest_silence_ms"] >= 1000, res


def test_frames_that_are_not_the_awaited_event_are_events_timeout_not_a_stall(sim, probe):
    # The agent did something else (heartbeats): the connection is alive, the event never came.
    sim.configure(fault="hang", params={"after": "agent_thinking"}, options={"heartbeat_interval": 0.2})
    res = probe(base_config(sim, Events={"EventTimeout": "2s", "StallTimeout": "1s"}))
    assert res.json["code"] == "events.timeout", res
    st = stream_of(res)
    assert st["frames"] > 4, st
    assert st["longest_silence_ms"] < 1000, st


def test_a_stall_before_any_frame_says_since_the_request(sim, probe):
    sim.configure(fault="stall", params={"before": "agent_started"})
    res = probe(base_config(sim, Events={"EventTimeout": "10s", "StallTimeout": "800ms"}))
    assert res.json["code"] == "events.stall", res
    assert "since the request" in res.json["reason"] and "agent_started" in res.json["reason"], res
    st = stream_of(res)
    assert st["frames"] == 0 and st["silence_after"] is None and st["first_partial_ms"] is None, st


def test_a_slow_trickle_of_partials_is_degraded_by_the_silence_slo(sim, probe):
    sim.configure(fault="trickle", params={"partials": 4, "ms": 400})
    res = probe(base_config(sim, SLO={"Silence": "250ms"}))
    assert res.rc == 2, res  # degraded
    last = res.json
    assert (last["result"], last["code"], last["stage"]) == ("degraded", "slo.silence", "events"), res
    assert "longest silence" in last["reason"] and "SLO 250ms" in last["reason"], last["reason"]
    st = stream_of(res)
    assert st["partials"] == 4, st
    assert st["longest_silence_ms"] >= 350, st
    # 3 intervals of 400 ms (arrival jitter aside): about 2.5 partials per second
    assert 0.5 < st["partials_per_s"] <= 2.8, st


def test_a_late_first_partial_is_degraded_by_the_first_partial_slo(sim, probe):
    sim.configure(fault="trickle", params={"partials": 2, "ms": 500})
    res = probe(base_config(sim, SLO={"FirstPartial": "300ms"}))
    last = res.json
    assert (last["result"], last["code"]) == ("degraded", "slo.first_partial"), res
    assert "first partial" in last["reason"] and "SLO 300ms" in last["reason"], last["reason"]
    assert stream_of(res)["first_partial_ms"] >= 500  # sent 500 ms after agent_started


def test_partial_types_are_configurable(sim, probe):
    sim.configure(options={"thinking_repeats": 2})
    res = probe(base_config(sim, Events={"Partial": "tool_completed"}))
    assert res.json["result"] == "pass", res
    st = stream_of(res)
    assert st["partials"] == 1 and st["partials_per_s"] is None, st
    assert st["first_partial_ms"] == next(e["at_ms"] for e in res.json["events"]
                                          if e["type"] == "tool_completed")


def test_users_2_report_each_session_and_the_run_s_worst(sim, probe):
    sim.configure(delays={"tool_executing": 300})
    res = probe(base_config(sim, Probe={"Users": "2", "Timeout": "30s"},
                            Login={"User": "probe${index}@example.com"}))
    assert res.json["result"] == "pass", res
    st = stream_of(res)
    sessions = [s["stream"] for s in res.json["sessions"]]
    assert st["frames"] == sum(s["frames"] for s in sessions), (st, sessions)
    assert st["partials"] == sum(s["partials"] for s in sessions)
    assert st["longest_silence_ms"] == max(s["longest_silence_ms"] for s in sessions)
    worst = st["longest_silence_session"]
    assert sessions[worst - 1]["longest_silence_ms"] == st["longest_silence_ms"]
    assert st["first_partial_ms"] == max(s["first_partial_ms"] for s in sessions)
    assert "longest_silence_session" not in sessions[0]


def test_stall_timeout_above_event_timeout_is_refused(probe, sim):
    res = probe(base_config(sim, Events={"EventTimeout": "2s", "StallTimeout": "5s"}))
    assert res.rc != 0 and res.json is None, res
    assert "StallTimeout=5s exceeds EventTimeout=2s" in res.stderr, res
