"""`gpprobed --once --json` against the simulator: every failure code of SPEC section 2 that a
single session can produce, the valid-but-awkward server behaviours, and the exit codes."""
import json
import pathlib
import resource
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from conftest import PYTHON, SIM, SIM_PASSWORD, Sim, base_config, gpprobed_path

EXPECT = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]


def assert_fail(res, stage, code, *reason_parts):
    assert res.json is not None, res
    assert res.rc == 1, res
    last = res.json
    assert last["result"] == "fail", res
    assert last["stage"] == stage, res
    assert last["code"] == code, res
    for part in reason_parts:
        assert part in last["reason"], res


def assert_pass(res):
    assert res.json is not None, res
    assert res.rc == 0, res
    assert res.json["result"] == "pass", res
    assert res.json["code"] is None
    assert [e["type"] for e in res.json["events"]] == EXPECT, res


# ---- the happy path ----------------------------------------------------------------------------

def test_pass_reports_every_event_in_order_with_times_not_before_injected_delays(sim, probe):
    delays = {"agent_started": 120, "agent_thinking": 80, "tool_executing": 60,
              "tool_completed": 40, "agent_completed": 100}
    sim.configure(delays=delays)
    res = probe(base_config(sim))
    assert_pass(res)
    last = res.json
    cumulative = 0
    for ev in last["events"]:
        cumulative += delays[ev["type"]]
        # never earlier than injected; generous upper bound that cannot flake on a busy machine
        assert ev["at_ms"] >= cumulative, last
        assert ev["at_ms"] < cumulative + 2000, last
        assert ev["count"] >= 1
    ph = last["phases_ms"]
    assert ph["login"] > 0 and ph["ws_connect"] > 0
    assert ph["first_event"] == last["events"][0]["at_ms"]
    assert ph["complete"] == last["events"][-1]["at_ms"]
    assert last["users"] == 1
    assert last["duration_ms"] >= ph["complete"]
    assert set(last["login_ms"]) == {"dns", "connect", "tls", "first_byte", "total"}
    assert last["login_ms"]["tls"] > 0  # a real TLS handshake was measured
    # the run id is the one the server saw in the request
    seen = sim.events(last["run_id"])
    assert [e["type"] for e in seen["events"]] == EXPECT


def test_pass_trace_on_stderr_names_each_step_with_its_time(sim, probe):
    res = probe(base_config(sim))
    assert res.rc == 0, res
    for step in ("login POST", "WebSocket established", "request sent", "event agent_started",
                 "event agent_completed", "result: pass"):
        assert step in res.stderr, res.stderr
    assert res.stderr.lstrip().startswith("[")  # every line carries its time


def test_pass_without_json_prints_a_human_line(sim, probe):
    res = probe(base_config(sim), json_out=False)
    assert res.rc == 0, res
    assert res.stdout.startswith("pass in "), res.stdout


@pytest.mark.parametrize("auth", ["subprotocol", "header", "query"])
def test_each_auth_mode_presents_the_token(sim, probe, auth):
    res = probe(base_config(sim, WebSocket={"Auth": auth}))
    assert_pass(res)


def test_fixed_token_skips_login(sim, probe):
    body = json.dumps({"email": "probe@example.com", "password": SIM_PASSWORD}).encode()
    req = urllib.request.Request(sim.https + "/auth/login", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=sim.ctx, timeout=10) as r:
        token = json.loads(r.read())["access_token"]
    cfg = base_config(sim, Login={"URL": None, "User": None, "PasswordFile": None, "Token": token})
    res = probe(cfg)
    assert_pass(res)
    assert res.json["phases_ms"]["login"] is None
    assert token not in res.stdout + res.stderr


@pytest.mark.parametrize("header", ["Content-Type: application/json", "content-type: application/json"])
def test_header_naming_the_default_replaces_it_and_is_sent_once(sim, probe, header):
    # The shipped gpprobe.conf's commented line, uncommented: a real server answers 400
    # "Duplicate 'Content-Type' header" to a request that carries it twice (so does gpsim:
    # aiohttp's parser, before the login handler counts anything).
    cfg = base_config(sim, Login={"Header": header})
    res = probe(cfg)
    assert_pass(res)
    stats = sim.get("/_sim/stats")
    assert (stats["logins"], stats["logins_ok"], stats["login_repeated_headers"]) == (1, 1, 0), stats
    shown = probe(cfg, "--check-config")
    assert shown.rc == 0, shown
    assert f"\nHeader=\nHeader={header}\nBody=" in shown.stdout, shown.stdout


def test_preflight_passes_when_health_answers(sim, probe):
    res = probe(base_config(sim, Preflight={"URL": f"{sim.https}/health", "ExpectStatus": "200"}))
    assert_pass(res)
    assert res.json["phases_ms"]["preflight"] > 0


# ---- valid but awkward servers -----------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"interleave": True},
    {"ping_interval": 0.02},
    {"fragment": 3},
    {"coalesce": True},
    {"big_thinking": 1048576},
    {"id_location": "root"},
    {"id_location": "data"},
    {"id_location": "payload"},
    {"thinking_repeats": 4},
], ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_awkward_but_valid_server_still_passes(sim, probe, options):
    sim.configure(options=options, delays={"agent_started": 60, "agent_thinking": 60})
    res = probe(base_config(sim))
    assert_pass(res)


def test_repeated_thinking_is_counted(sim, probe):
    sim.configure(options={"thinking_repeats": 3})
    res = probe(base_config(sim))
    assert_pass(res)
    thinking = [e for e in res.json["events"] if e["type"] == "agent_thinking"][0]
    assert thinking["count"] == 3


def test_unknown_type_is_ignored_without_strict(sim, probe):
    sim.configure(fault="unknown_type")
    assert_pass(probe(base_config(sim)))


def test_non_json_frame_is_ignored_without_strict(sim, probe):
    sim.configure(fault="non_json")
    res = probe(base_config(sim))
    assert_pass(res)


# ---- every failure code ------------------------------------------------------------------------

FAULTS = [
    # fault, params, config overrides, stage, code, reason parts
    ("login_wrong_password", {}, {}, "login", "login.status", ["401"]),
    ("login_500", {}, {}, "login", "login.status", ["500"]),
    ("login_html", {}, {}, "login", "login.token", ["not JSON", "text/html"]),
    ("login_no_token", {}, {}, "login", "login.token", ["access_token"]),
    ("ws_401", {}, {}, "ws_connect", "ws.upgrade", ["401"]),
    ("ws_403", {}, {}, "ws_connect", "ws.upgrade", ["403"]),
    ("ws_404", {}, {}, "ws_connect", "ws.upgrade", ["404"]),
    ("ws_close", {"code": 1011, "reason": "internal error"}, {}, "events", "ws.closed",
     ["1011", "internal error"]),
    ("ws_drop", {}, {}, "events", "ws.closed", ["1006"]),
    ("ws_garbage", {}, {}, "events", "ws.protocol", []),
    ("events_order", {}, {}, "events", "events.order", ["tool_executing", "agent_thinking"]),
    ("events_missing", {}, {}, "events", "events.missing", ["tool_completed"]),
    # Every type is Repeatable= by default (sub-agents repeat them): a config that allows only
    # the middle three to repeat fails a second agent_started.
    ("events_duplicate", {}, {"Events": {"Repeatable": "agent_thinking tool_executing tool_completed"}},
     "events", "events.order", ["agent_started"]),
    ("agent_error", {"message": "model quota exceeded"}, {}, "events", "events.error",
     ["model quota exceeded"]),
    ("stall", {"before": "tool_completed"}, {"Events": {"EventTimeout": "1s"}}, "events",
     "events.timeout", ["tool_completed", "1s", "agent_started agent_thinking tool_executing"]),
    ("unknown_type", {}, {"Events": {"Strict": "yes"}}, "events", "events.unexpected", ["agent_mood"]),
    ("non_json", {}, {"Events": {"Strict": "yes"}}, "events", "events.malformed", ["not json"]),
    ("foreign_run_id", {}, {}, "events", "events.crosstalk", ["run_id"]),
    ("empty_response", {}, {}, "response", "response.empty", []),
    ("wrong_response", {"text": "I cannot help with that"}, {"Events": {"ResponseMatch": "^ready$"}},
     "response", "response.mismatch", ["I cannot help with that", "^ready$"]),
]


@pytest.mark.parametrize("fault,params,overrides,stage,code,parts", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_gives_its_code(sim, probe, fault, params, overrides, stage, code, parts):
    sim.configure(fault=fault, params=params)
    res = probe(base_config(sim, **overrides))
    assert_fail(res, stage, code, *parts)


@pytest.mark.parametrize("stage", ["login", "step", "request"])
def test_template_failing_at_run_time_names_the_stage_that_expands_it(sim, probe, stage):
    # Issue 11: every run-time template failure said stage "preflight". User= is expanded per
    # run (plain text); a value that is not UTF-8 cannot go into a JSON template, which is known
    # only when the template expands.
    login = {"User": "${env:GP_NOT_UTF8}"}
    if stage != "login":  # a login that does not use ${user}
        login["Body"] = json.dumps({"email": "probe@example.com", "password": SIM_PASSWORD})
    sections = {
        "login": {},
        "step": {"Step": {"URL": f"{sim.https}/health", "Method": "POST", "Body": '{"u":"${user}"}'}},
        "request": {"Request": {"Message": '{"type":"user_message","payload":{"content":"${user}"}}'}},
    }[stage]
    res = probe(base_config(sim, Login=login, **sections), env={"GP_NOT_UTF8": "caf\udce9"})  # b"caf\xe9"
    assert_fail(res, stage, "internal", "${user}", "not valid UTF-8")


def test_run_timeout_bounds_a_stalled_run(sim, probe):
    sim.configure(fault="stall", params={"before": "agent_thinking"})
    res = probe(base_config(sim, Probe={"Timeout": "2s"}, Events={"EventTimeout": "30s"}))
    assert_fail(res, "events", "events.timeout", "agent_thinking", "2s")
    assert res.json["duration_ms"] < 4000


def test_preflight_status(sim, probe):
    res = probe(base_config(sim, Preflight={"URL": f"{sim.https}/no-such-page", "ExpectStatus": "200"}))
    assert_fail(res, "preflight", "preflight.status", "404")


def test_unresolvable_login_host_is_net_dns(sim, probe):
    res = probe(base_config(sim, Login={"URL": "https://nonexistent.invalid/auth/login"}))
    assert_fail(res, "login", "net.dns", "nonexistent.invalid")


def test_unresolvable_websocket_host_is_net_dns(sim, probe):
    res = probe(base_config(sim, WebSocket={"URL": "wss://nonexistent.invalid/ws"}))
    assert_fail(res, "ws_connect", "net.dns", "nonexistent.invalid")


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_refused_login_port_is_net_connect(sim, probe):
    res = probe(base_config(sim, Login={"URL": f"https://localhost:{closed_port()}/auth/login"}))
    assert_fail(res, "login", "net.connect")


def test_refused_websocket_port_is_net_connect(sim, probe):
    res = probe(base_config(sim, WebSocket={"URL": f"wss://localhost:{closed_port()}/ws"}))
    assert_fail(res, "ws_connect", "net.connect")


def test_silent_login_server_is_net_timeout(sim, probe):
    res = probe(base_config(sim, Probe={"Timeout": "2s"},
                            Login={"URL": f"https://localhost:{sim.blackhole_port}/auth/login"}))
    assert_fail(res, "login", "net.timeout")
    assert res.json["duration_ms"] < 4000


def test_silent_websocket_server_is_net_timeout(sim, probe):
    res = probe(base_config(sim, WebSocket={"URL": f"wss://localhost:{sim.blackhole_port}/ws",
                                            "ConnectTimeout": "1s"}))
    assert_fail(res, "ws_connect", "net.timeout", "1s")


def test_untrusted_certificate_is_tls_verify_at_login(sim, probe):
    res = probe(base_config(sim, TLS={"CAFile": None}))
    assert_fail(res, "login", "tls.verify")


def test_untrusted_certificate_is_tls_verify_at_websocket(sim, probe):
    cfg = base_config(sim)
    # log in with the right CA through a drop-in-free trick: a plain-HTTP-free path is not
    # available, so verify the WebSocket side with a fixed token and no CA.
    body = json.dumps({"email": "probe@example.com", "password": SIM_PASSWORD}).encode()
    req = urllib.request.Request(sim.https + "/auth/login", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=sim.ctx, timeout=10) as r:
        token = json.loads(r.read())["access_token"]
    cfg = base_config(sim, Login={"URL": None, "User": None, "PasswordFile": None, "Token": token},
                      TLS={"CAFile": None})
    res = probe(cfg)
    assert_fail(res, "ws_connect", "tls.verify")


@pytest.fixture
def plaintext_server():
    """A TCP server that answers anything with a plain HTTP error: TLS clients cannot handshake."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except (socket.timeout, OSError):
                continue
            try:
                c.settimeout(2)
                c.recv(4096)
                c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            finally:
                c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join(2)
    srv.close()


def test_tls_to_a_plaintext_server_is_tls_handshake_at_login(sim, probe, plaintext_server):
    res = probe(base_config(sim, Login={"URL": f"https://localhost:{plaintext_server}/auth/login"}))
    assert_fail(res, "login", "tls.handshake")


def test_tls_to_a_plaintext_server_is_tls_handshake_at_websocket(sim, probe, plaintext_server):
    res = probe(base_config(sim, WebSocket={"URL": f"wss://localhost:{plaintext_server}/ws"}))
    assert_fail(res, "ws_connect", "tls.handshake")


# ---- SLOs: degraded ----------------------------------------------------------------------------

def test_slow_login_over_slo_is_degraded(sim, probe):
    sim.configure(fault="login_slow", params={"ms": 1200})
    res = probe(base_config(sim, SLO={"Login": "500ms"}))
    assert res.rc == 2, res
    assert res.json["result"] == "degraded"
    assert res.json["code"] == "slo.login"
    assert "login took" in res.json["reason"] and "SLO 500ms" in res.json["reason"]


def test_slow_websocket_handshake_over_slo_is_degraded(sim, probe):
    sim.configure(fault="trickle_handshake", params={"ms": 1200})
    res = probe(base_config(sim, SLO={"Connect": "500ms"}))
    assert res.rc == 2, res
    assert res.json["result"] == "degraded"
    assert res.json["code"] == "slo.connect" and res.json["stage"] == "ws_connect"
    assert res.json["phases_ms"]["ws_connect"] >= 1200
    assert "WebSocket connect took" in res.json["reason"] and "SLO 500ms" in res.json["reason"]


def test_slow_first_event_over_slo_is_degraded(sim, probe):
    sim.configure(delays={"agent_started": 700})
    res = probe(base_config(sim, SLO={"FirstEvent": "300ms"}))
    assert res.rc == 2, res
    assert res.json["code"] == "slo.first_event"


def test_slow_run_over_total_slo_is_degraded(sim, probe):
    sim.configure(fault="slow_events", params={"ms": 250})
    res = probe(base_config(sim, SLO={"Total": "1s"}))
    assert res.rc == 2, res
    assert res.json["code"] == "slo.total"


def test_within_slo_is_pass(sim, probe):
    res = probe(base_config(sim, SLO={"Login": "10s", "Connect": "10s", "FirstEvent": "10s", "Total": "20s"}))
    assert_pass(res)


# ---- configuration and usage errors ------------------------------------------------------------

def test_bad_config_exits_78_naming_file_and_line(sim, probe):
    res = probe("[Probe]\nIntervl=5s\n[WebSocket]\nURL=wss://x/ws\n")
    assert res.rc == 78, res
    assert "sim.conf:2:" in res.stderr and "Intervl" in res.stderr
    assert res.stdout == ""


def test_unknown_option_exits_64(probe, sim):
    res = probe(base_config(sim), "--bogus")
    assert res.rc == 64, res


# ---- the probe's own trouble is never a verdict (issue 11: it exited 1, as a failed run) -------

def run_with_fd_limit(cfg_path, limit):
    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))  # soft and hard: not raisable
    return subprocess.run([gpprobed_path(), "--config", str(cfg_path), "--once", "--json"],
                          preexec_fn=lower, capture_output=True, text=True, timeout=60)


def test_engine_that_cannot_start_exits_71_never_1(sim, probe, tmp_path):
    # Too few file descriptors for libwebsockets' context (the engine): start-up fails. The
    # exact limit depends on the libraries, so a range is tried; a limit that lets the engine
    # start yields a run with a verdict instead.
    cfg_path = probe(base_config(sim, Probe={"Timeout": "5s"}), "--check-config").cfg_path
    startup_failures = []
    for limit in range(4, 17):
        r = run_with_fd_limit(cfg_path, limit)
        if r.stdout == "":  # no verdict: the probe's own trouble
            startup_failures.append(limit)
            assert r.returncode == 71, (limit, r.returncode, r.stderr[-500:])
            assert "gpprobed: cannot start" in r.stderr or "the run failed" in r.stderr, r.stderr[-500:]
        else:  # a run happened: its verdict and its code are on stdout
            assert r.returncode in (0, 1, 2) and json.loads(r.stdout)["result"], (limit, r.stderr[-500:])
    assert startup_failures, "no RLIMIT_NOFILE from 4 to 16 kept the engine from starting"


def test_result_that_cannot_be_written_to_stdout_exits_74(sim, probe, tmp_path):
    cfg_path = probe(base_config(sim), "--check-config").cfg_path
    with open("/dev/full", "w") as full:
        r = subprocess.run([gpprobed_path(), "--config", str(cfg_path), "--once", "--json"],
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 74, r.stderr[-500:]
    assert "cannot write the result to stdout" in r.stderr
    assert "result: pass" in r.stderr  # the run itself passed: the verdict is in the trace


def test_unwritable_explicit_status_file_exits_74_after_printing_the_verdict(sim, probe, tmp_path):
    res = probe(base_config(sim, Output={"StatusFile": str(tmp_path / "missing" / "sim.json")}))
    assert res.rc == 74, res
    assert res.json is not None and res.json["result"] == "pass", res
    assert "cannot write the status file" in res.stderr


def test_check_config_redacts_the_password(sim, probe, tmp_path):
    cfg = base_config(sim, Login={"PasswordFile": None, "Password": "hunter2-inline"})
    res = probe(cfg, "--check-config")
    assert res.rc == 0, res
    assert "hunter2-inline" not in res.stdout + res.stderr
    assert "[WebSocket]" in res.stdout and sim.wss in res.stdout
    assert "warning" in res.stderr.lower()  # inline Password= is warned about


# ---- the WebSocket session ends properly; plain ws:// works too --------------------------------

def test_pass_closes_the_websocket_with_code_1000(sim, probe):
    res = probe(base_config(sim))
    assert_pass(res)
    assert sim.get("/_sim/stats")["client_close_codes"] == {"1000": 1}


@pytest.fixture(scope="module")
def plain_sim(certs):
    """A simulator without TLS: http:// login, ws:// WebSocket."""
    s = Sim.__new__(Sim)
    s.certs = certs
    s.dir = pathlib.Path(tempfile.mkdtemp(prefix="gpprobe-plainsim-"))
    port_file = s.dir / "port"
    s.log = open(s.dir / "sim.log", "w")
    s.proc = subprocess.Popen([PYTHON, str(SIM), "--host", "127.0.0.1", "--port", "0",
                               "--port-file", str(port_file)], stdout=s.log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not port_file.exists():
        assert s.proc.poll() is None and time.monotonic() < deadline, (s.dir / "sim.log").read_text()
        time.sleep(0.05)
    s.port = int(port_file.read_text())
    yield s
    s.stop()


def test_plain_ws_and_http_pass(plain_sim, probe):
    p = plain_sim.port
    cfg = base_config(plain_sim, Login={"URL": f"http://127.0.0.1:{p}/auth/login"},
                      WebSocket={"URL": f"ws://127.0.0.1:{p}/ws"}, TLS={"CAFile": None})
    res = probe(cfg)
    assert_pass(res)
    assert res.json["login_ms"]["tls"] == 0


def test_once_writes_no_status_file_unless_set_explicitly(sim, probe, tmp_path):
    rundir = tmp_path / "run"
    rundir.mkdir()
    res = probe(base_config(sim), env={"RUNTIME_DIRECTORY": str(rundir)})
    assert_pass(res)
    assert list(rundir.iterdir()) == []

    status = tmp_path / "explicit.json"
    res = probe(base_config(sim, Output={"StatusFile": str(status)}))
    assert_pass(res)
    doc = json.loads(status.read_text())
    assert doc["schema"] == 1
    assert doc["last"]["run_id"] == res.json["run_id"]
    assert doc["window"]["runs"] == 1 and doc["consecutive_passes"] == 1
    assert oct(status.stat().st_mode & 0o777) == "0o644"


# ---- --transcript FILE (issue 12) --------------------------------------------------------------

def test_transcript_of_a_passing_run_is_written_for_ci(sim, probe, tmp_path):
    out = tmp_path / "t.json"
    res = probe(base_config(sim), "--once", "--json", "--transcript", str(out))
    assert res.rc == 0, res
    assert out.stat().st_mode & 0o777 == 0o600
    doc = json.loads(out.read_text())
    assert doc["schema"] == 1 and doc["run_id"] == res.json["run_id"] and doc["result"] == "pass"
    kinds = [e["kind"] for e in doc["sessions"][0]["entries"]]
    assert kinds[:2] == ["http", "upgrade"] and "t0" in kinds and kinds[-1] == "close", kinds
    frames = [e for e in doc["sessions"][0]["entries"] if e["kind"] == "frame"]
    # the request out, then the welcome and the five events in
    assert [f["dir"] for f in frames].count("out") == 1 and len(frames) >= 7, frames
    times = [e["t_ms"] for e in doc["sessions"][0]["entries"]]
    assert times == sorted(times) and times[-1] <= res.json["duration_ms"] + 1


def test_transcript_without_once_is_a_usage_error(sim, probe, tmp_path):
    res = probe(base_config(sim), "--transcript", str(tmp_path / "t.json"))
    assert res.rc == 64 and "--transcript goes with --once" in res.stderr, res
    assert not (tmp_path / "t.json").exists()


def test_unwritable_transcript_exits_74_after_printing_the_verdict(sim, probe, tmp_path):
    res = probe(base_config(sim), "--once", "--json", "--transcript", str(tmp_path / "missing" / "t.json"))
    assert res.rc == 74, res
    assert res.json is not None and res.json["result"] == "pass", res
    assert "cannot write the transcript" in res.stderr


def once_with_transcript(sim, probe, tmp_path, users):
    """A passing --once run of `users` sessions (a user each) with --transcript: (result, transcript, file)."""
    out = tmp_path / "t.json"
    res = probe(base_config(sim, Probe={"Users": str(users)}, Login={"User": "probe${index}@example.com"}),
                "--once", "--json", "--transcript", str(out))
    assert res.rc == 0, res
    return res, json.loads(out.read_text()), out


def test_transcript_keeps_each_session_apart(sim, probe, tmp_path):
    res, doc, _ = once_with_transcript(sim, probe, tmp_path, 3)
    assert [s["index"] for s in doc["sessions"]] == [1, 2, 3]
    for s, r in zip(doc["sessions"], res.json["sessions"]):
        kinds = [e["kind"] for e in s["entries"]]
        assert s["result"] == "pass" and kinds.count("http") == 1 and kinds.count("upgrade") == 1, kinds
        out_frames = [e for e in s["entries"] if e["kind"] == "frame" and e["dir"] == "out"]
        assert len(out_frames) == 1 and r["run_id"] in out_frames[0]["data"], out_frames  # its own request


def test_transcript_names_the_runs_trace_and_each_sessions_span(sim, probe, tmp_path):
    res, doc, out = once_with_transcript(sim, probe, tmp_path, 2)
    assert len(doc["trace_id"]) == 32 and doc["trace_id"] == res.json["trace_id"], doc["trace_id"]
    spans = [s["span_id"] for s in doc["sessions"]]
    assert spans == [s["span_id"] for s in res.json["sessions"]] and len(set(spans)) == 2, spans
    from test_gpprobectl import gpprobectl_path
    text = subprocess.run([gpprobectl_path(), "transcript", "--file", str(out)], capture_output=True, text=True,
                          timeout=30)
    assert text.returncode == 0 and f"trace id {doc['trace_id']}" in text.stdout, text
    assert f"(span {spans[1]})" in text.stdout, text.stdout
