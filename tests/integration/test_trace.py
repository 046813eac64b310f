"""Issue 12: W3C trace context on every request of a run, the WebSocket connect's phases, and the
TLS certificates' expiry (result, status file, journal, metrics), against the simulator, which
records every traceparent it receives (GET /_sim/traces) and can refuse requests without one
(--require-traceparent)."""
import datetime
import re
import time

import pytest

from conftest import Sim, base_config, render
from journal import message_ids

MID = message_ids()
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")


def traces(sim):
    return sim.get("/_sim/traces")["requests"]


def two_steps(sim, cfg):
    """The config's text with two [Step] sections (a dict holds one)."""
    return render(cfg) + "".join(f"[Step]\nName=health-{i}\nURL={sim.https}/health\nMethod=GET\n\n"
                                 for i in (1, 2))


REQUEST_WITH_TRACEPARENT = ('{"type":"user_message","payload":{"content":"${prompt}",'
                            '"run_id":"${run_id}","traceparent":"${traceparent}"}}')


@pytest.fixture(scope="module")
def strict_sim(certs):
    s = Sim(certs, extra_args=["--require-traceparent"])
    yield s
    s.stop()


def test_traceparent_reaches_the_login_every_step_the_upgrade_and_the_request_frame(sim, probe):
    cfg = base_config(sim, Probe={"TraceState": "gpprobe=t1,vendor=x"},
                      Request={"Message": REQUEST_WITH_TRACEPARENT})
    res = probe(two_steps(sim, cfg))
    assert res.rc == 0 and res.json["result"] == "pass", res
    trace_id = res.json["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id) and set(trace_id) != {"0"}
    seen = traces(sim)
    assert [(t["method"], t["path"], t["upgrade"]) for t in seen] == [
        ("POST", "/auth/login", False), ("GET", "/health", False), ("GET", "/health", False),
        ("GET", "/ws", True)], seen
    spans = set()
    for t in seen:
        assert t["count"] == 1 and t["valid"], t
        m = TRACEPARENT.match(t["traceparent"])
        assert m and m.group(1) == trace_id, (t, trace_id)
        spans.add(m.group(2))
        assert t["tracestate"] == "gpprobe=t1,vendor=x", t
    assert len(spans) == 1, spans  # one session, one span id
    frames = sim.events()["user_messages"]
    assert len(frames) == 1 and frames[0]["traceparent"] == seen[-1]["traceparent"], frames


def test_sessions_share_the_trace_id_and_have_distinct_span_ids(sim, probe):
    res = probe(base_config(sim, Probe={"Users": "3"}))
    assert res.json["result"] == "pass", res
    trace_id = res.json["trace_id"]
    by_path = {}
    for t in traces(sim):
        m = TRACEPARENT.match(t["traceparent"] or "")
        assert m and m.group(1) == trace_id, t
        by_path.setdefault(t["path"], set()).add(m.group(2))
    assert len(by_path["/auth/login"]) == 3 and by_path["/auth/login"] == by_path["/ws"], by_path
    assert {s["span_id"] for s in res.json["sessions"]} == by_path["/ws"]


def test_each_run_has_a_new_trace_id(sim, probe):
    ids = {probe(base_config(sim)).json["trace_id"] for _ in range(2)}
    assert len(ids) == 2


def test_trace_context_off_sends_no_header_at_all(sim, probe):
    res = probe(two_steps(sim, base_config(sim, Probe={"TraceContext": "no", "TraceState": "a=b"})))
    assert res.json["result"] == "pass", res
    seen = traces(sim)
    assert len(seen) == 4
    assert all(t["count"] == 0 and t["tracestate"] is None for t in seen), seen


def test_a_header_of_the_same_name_wins_over_the_generated_one(sim, probe):
    mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    res = probe(base_config(sim, Login={"Header": ["Content-Type: application/json",
                                                   f"traceparent: {mine}"]}))
    assert res.json["result"] == "pass", res
    login = [t for t in traces(sim) if t["path"] == "/auth/login"]
    assert [(t["count"], t["traceparent"]) for t in login] == [(1, mine)]


def test_a_server_that_requires_traceparent_passes_and_refuses_without_it(strict_sim, probe):
    ok = probe(two_steps(strict_sim, base_config(strict_sim)))
    assert ok.json["result"] == "pass", ok
    off = probe(base_config(strict_sim, Probe={"TraceContext": "no"}))
    assert (off.json["result"], off.json["stage"], off.json["code"]) == ("fail", "login", "login.status"), off
    assert "400" in off.json["reason"]


def test_bad_trace_state_is_a_config_error(sim, probe):
    res = probe(base_config(sim, Probe={"TraceState": "no-equals-sign"}), "--check-config", json_out=False)
    assert res.rc != 0 and "TraceState=" in res.stderr, res


def test_websocket_phases_add_up_to_the_connect(sim, probe):
    res = probe(base_config(sim))
    ws = res.json["ws_ms"]
    assert set(ws) == {"dns", "connect", "tls", "upgrade", "ready"}, ws
    assert all(isinstance(ws[k], float) and ws[k] >= 0 for k in ws), ws
    assert ws["tls"] > 0 and ws["upgrade"] > 0
    total = ws["connect"] + ws["tls"] + ws["upgrade"] + ws["ready"]
    assert abs(total - res.json["phases_ms"]["ws_connect"]) <= 0.5, (ws, res.json["phases_ms"])


def test_slow_101_shows_in_the_upgrade_phase_not_in_tls(sim, probe):
    sim.configure(fault="trickle_handshake", params={"ms": 600, "chunk": 40})
    res = probe(base_config(sim, SLO={"Connect": "0"}))
    ws = res.json["ws_ms"]
    assert res.json["result"] == "pass", res
    assert ws["upgrade"] >= 400 and ws["tls"] < 300 and ws["connect"] < 300, ws


def days_left(iso):
    t = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    return (t - time.time()) / 86400


def test_certificate_expiry_is_in_the_result_for_both_endpoints(sim, probe):
    res = probe(base_config(sim))
    certs = res.json["tls_certs"]
    for ep in ("login", "websocket"):
        assert 3640 < days_left(certs[ep]["leaf_expires_at"]) < 3660, certs  # mkcerts: 10 years
        assert certs[ep]["earliest_expires_at"] <= certs[ep]["leaf_expires_at"]
        assert abs(certs[ep]["days_left"] - days_left(certs[ep]["earliest_expires_at"])) < 1


@pytest.fixture(scope="module")
def expiring_sim(certs):
    """A simulator whose certificate expires in 3 days (mkcerts.sh made it when the suite began)."""
    s = Sim(certs, extra_args=["--tls-cert", str(certs / "expiring.pem"),
                               "--tls-key", str(certs / "expiring.key")])
    yield s
    s.stop()


def test_expiring_certificate_in_status_metrics_and_one_journal_warning(expiring_sim, daemon, journal, tmp_path):
    metrics = tmp_path / "gpprobe.prom"
    cfg = base_config(expiring_sim, Probe={"Interval": "300ms", "Jitter": "0"},
                      Output={"MetricsFile": str(metrics)})
    d = daemon(cfg, journal=journal)
    d.wait_runs(3)
    d.stop()
    last = d.status()["last"]
    assert last["result"] == "pass", last
    for ep in ("login", "websocket"):
        c = last["tls_certs"][ep]
        assert abs(days_left(c["leaf_expires_at"]) - 3) <= 1, c
        assert abs(c["days_left"] - 3) <= 1, c
    text = metrics.read_text()
    for ep in ("login", "websocket"):
        for cert in ("leaf", "earliest"):
            m = re.search(rf'^gpprobe_tls_cert_expiry_timestamp_seconds{{probe="sim",endpoint="{ep}",'
                          rf'cert="{cert}"}} (\d+)$', text, re.M)
            assert m, (ep, cert, text)
            assert abs((int(m.group(1)) - time.time()) / 86400 - 3) <= 1
    warns = journal.entries(SYSLOG_IDENTIFIER="gpprobed", MESSAGE_ID=MID["CERT_EXPIRING"])
    # three runs or more, one warning per endpoint: once a day
    assert sorted(w["GPPROBE_ENDPOINT"] for w in warns) == ["login", "websocket"], warns
    for w in warns:
        assert w["PRIORITY"] == "4" and abs(float(w["GPPROBE_CERT_DAYS_LEFT"]) - 3) <= 1, w
        assert "expires" in w["MESSAGE"], w


def test_no_warning_when_the_certificate_is_outside_the_window(expiring_sim, daemon, journal):
    cfg = base_config(expiring_sim, Probe={"Interval": "300ms", "Jitter": "0"},
                      TLS={"CertExpiryWarn": "2d"})
    d = daemon(cfg, journal=journal)
    d.wait_runs(2)
    d.stop()
    assert not journal.entries(SYSLOG_IDENTIFIER="gpprobed", MESSAGE_ID=MID["CERT_EXPIRING"])


def test_trace_id_in_status_file_and_journal_matches_what_the_server_saw(sim, daemon, journal):
    cfg = base_config(sim, Probe={"Interval": "300ms", "Jitter": "0"})
    d = daemon(cfg, journal=journal)
    d.wait_runs(2)
    d.stop()
    doc = d.status()
    runs = journal.entries(SYSLOG_IDENTIFIER="gpprobed",
                           MESSAGE_ID=[MID["RUN_PASSED"], MID["RUN_DEGRADED"], MID["RUN_FAILED"]])
    seen = {TRACEPARENT.match(t["traceparent"]).group(1) for t in traces(sim)}
    assert doc["last"]["trace_id"] in seen
    assert runs[-1]["GPPROBE_TRACE_ID"] == doc["last"]["trace_id"], runs[-1]
    assert {e["GPPROBE_TRACE_ID"] for e in runs} <= seen
    e = runs[-1]
    for field, key in (("GPPROBE_WS_TCP_MS", "connect"), ("GPPROBE_WS_TLS_MS", "tls"),
                       ("GPPROBE_WS_UPGRADE_MS", "upgrade"), ("GPPROBE_WS_READY_MS", "ready"),
                       ("GPPROBE_WS_DNS_MS", "dns")):
        assert abs(float(e[field]) - doc["last"]["ws_ms"][key]) <= 0.15, (field, e, doc["last"]["ws_ms"])
