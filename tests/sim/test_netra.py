"""The netra profiles reproduce the real backend's wire at beta-10, beta-12 and beta-17
(docs/netra.md), and each netra fault shows on the wire as README.md says.

Run: /usr/bin/python3 -m pytest -q tests/sim
"""

import base64
import hashlib
import json
import os
import pathlib
import re
import socket
import tempfile
import uuid

import pytest

import sim_frames as wsf
from test_sim import PASSWORD, RawWS, SimProcess

TAGS = ("beta-10", "beta-12", "beta-17")
PROMPT = "Reply with the word ready."


def expected_user_id(tag, email):
    e = email.lower()
    if tag == "beta-10":
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, e))
    h = hashlib.sha256(e.encode()).hexdigest()
    return f"auth_user_{1757000000000 + int(h[:8], 16) % 100000000}_{int(h[8:10], 16)}_{h[10:18]}"


def b64url(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


class NetraWS(RawWS):
    """RawWS with any path and any extra handshake headers."""

    def __init__(self, port, *, path="/ws", headers=(), timeout=3.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock, self.timeout = raw, timeout
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n{extra}\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = self.sock.recv(65536)
            if not d:
                break
            buf += d
        head, _, rest = buf.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.1 (\d+)", head)
        self.status = int(m.group(1)) if m else None
        self.headers = {k.lower(): v for k, v in (
            line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)}
        self.parser = wsf.FrameParser(8 << 20)
        from collections import deque
        self.pending = deque(self.parser.feed(rest) if self.status == 101 else [])
        self.frames_per_read, self.pings, self.answer_pings = [], 0, True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def json_msg(self, timeout=None):
        m = self.message(timeout)
        if m is None or m.opcode == wsf.CLOSE:
            return m
        return json.loads(m.payload)

    def start(self, kind="start_agent", text=PROMPT, thread_id=None):
        if kind == "start_agent":
            self.send_json({"type": "start_agent", "payload": {
                "user_request": text, "thread_id": thread_id, "context": {}, "settings": {}}})
        else:
            self.send_json({"type": "user_message", "payload": {
                "content": text, "references": [], "thread_id": thread_id}})

    def until_final(self, timeout=3.0):
        """Frames until the final supervisor agent_completed (payload.supervisor_result)."""
        out = []
        while True:
            try:
                m = self.json_msg(timeout)
            except (TimeoutError, socket.timeout):
                return out
            out.append(m)
            if not isinstance(m, dict):
                return out
            if m.get("type") == "agent_completed" and "supervisor_result" in (m.get("payload") or {}):
                return out


class Netra(SimProcess):
    def __init__(self, workdir, profile, *args):
        super().__init__(workdir, "--profile", f"netra-{profile}", "--delay", "default=1",
                         *args, tls=False)
        self.tag = profile

    def login_full(self, email="probe@example.com"):
        status, _, _, data = self.request("POST", "/auth/login",
                                          {"email": email, "password": PASSWORD})
        assert status == 200, data
        return json.loads(data)

    def connect(self, token=None, email="probe@example.com", path="/ws", how=None, **kw):
        """A session presenting the token the way the tag's frontend does."""
        if token is None:
            token = self.login_full(email)["access_token"]
        how = how or ("ticket" if self.tag == "beta-17" else "subprotocol")
        headers = []
        if how == "ticket":
            # only the isolated mode reads a ticket at beta-17
            t = self.ticket(token)
            path = (path if path.endswith("/isolated") else path + "/isolated") + f"?ticket={t['ticket_id']}"
        elif how == "subprotocol":
            headers.append(("Sec-WebSocket-Protocol", f"jwt-auth, jwt.{b64url(token)}"))
        elif how == "raw":
            headers.append(("Sec-WebSocket-Protocol", f"jwt-auth, jwt.{token}"))
        elif how == "header":
            headers.append(("Authorization", f"Bearer {token}"))
        elif how == "query":
            path += f"?token={token}"
        return NetraWS(self.port, path=path, headers=headers, **kw)

    def ticket(self, token, body=None):
        status, _, _, data = self.request("POST", "/api/websocket/ticket",
                                          {"ttl_seconds": 300} if body is None else body,
                                          headers={"Authorization": f"Bearer {token}"})
        assert status == 200, data
        return json.loads(data)


@pytest.fixture(scope="module")
def nwork():
    with tempfile.TemporaryDirectory(prefix="gpsim-netra-") as d:
        yield pathlib.Path(d)


@pytest.fixture(scope="module", params=TAGS)
def nsim_proc(request, nwork):
    p = Netra(nwork, request.param)
    yield p
    assert p.stop() == 0
    assert p.stderr_text() == ""


@pytest.fixture
def nsim(nsim_proc):
    nsim_proc.json("POST", "/_sim/reset")
    return nsim_proc


def final_of(frames):
    f = frames[-1]
    assert f["type"] == "agent_completed" and f["payload"]["supervisor_result"] == "completed"
    return f


def welcome_user(tag, w):
    return w["data"]["user_id"]


# ---- healthy runs ---------------------------------------------------------------------

def test_login_shapes(nsim):
    j = nsim.login_full("Probe7@example.com")
    assert j["token_type"] == "Bearer" and j["expires_in"] == 900
    assert j["access_token"].count(".") == 2 and j["refresh_token"]
    assert j["user"] == {"id": expected_user_id(nsim.tag, "Probe7@example.com"),
                         "email": "Probe7@example.com"}
    st, _, _, data = nsim.request("POST", "/auth/login", {"email": "probe@example.com",
                                                          "password": "nope"})
    assert (st, json.loads(data)) == (401, {"detail": "Invalid credentials"})
    assert nsim.request("POST", "/auth/login", {"email": "probe@example.com"})[0] == 422
    assert nsim.request("POST", "/auth/login", b"not json")[0] == 500


def test_healthy_run_per_tag(nsim):
    with nsim.connect() as ws:
        assert ws.status == 101
        proto = ws.headers.get("sec-websocket-protocol")
        assert proto == (None if nsim.tag == "beta-17" else "jwt-auth")
        w = ws.json_msg()
        uid = expected_user_id(nsim.tag, "probe@example.com")
        if nsim.tag == "beta-10":
            assert w["type"] == "system_message"
            assert w["data"]["event"] == "connection_established" and w["data"]["user_id"] == uid
        else:
            assert w["type"] == ("connect" if nsim.tag == "beta-12" else "connection_established")
            assert w["data"]["user_id"] == uid[:8] + "..." == "auth_use..."
        ws.start()
        frames = ws.until_final()
    final = final_of(frames)
    run_id = final["payload"]["run_id"]
    thread = frames[0]["payload"]["thread_id"]
    assert frames[0] == {"type": "thread_created", "payload": {"thread_id": thread}}
    assert re.fullmatch(rf"run_{thread}_\d{{1,5}}_[0-9a-f]{{8}}", run_id)
    report = final["payload"]["results"]["reporting"]["data"]["report"]
    assert report.startswith("ready")
    types = [f["type"] for f in frames]
    for t in ("agent_started", "tool_executing", "tool_completed", "agent_completed"):
        assert t in types
    assert types.count("agent_completed") == 7  # 5 sub-agents, Supervisor, final
    if nsim.tag == "beta-17":
        assert final["final_response"] == "Task completed" and final["critical"] is True
        assert "reasoning" in types  # sub-agents' thinking frames, type overridden
        assert types.count("agent_thinking") == 1  # the Supervisor's
        ids = [f.get("run_id") for f in frames[2:-1]]
    else:
        assert "final_response" not in final and types.count("agent_thinking") == 6
        ids = [f.get("run_id") for f in frames[3:-1]]
    assert set(ids) == {run_id}
    ev = nsim.events(run_id)
    assert ev["user_messages"][0]["run_id"] == run_id
    assert ev["events"][-1]["type"] == "agent_completed"


def test_triage_has_no_tool_and_user_message_has_second_agent_started(nsim):
    with nsim.connect() as ws:
        ws.json_msg()
        ws.start()
        first = ws.until_final()
        thread = first[0]["payload"]["thread_id"]
        ws.start("user_message", "Now say the word again.", thread)
        frames = ws.until_final()
    assert frames[0]["type"] == frames[1]["type"] == "agent_started"
    assert frames[1] == {"type": "agent_started",
                         "payload": {"thread_id": thread, "run_id": frames[1]["payload"]["run_id"]}}
    names = [f.get("agent_name") for f in frames if f["type"] in ("tool_executing",)]
    assert "triage" not in names and names == ["data", "optimization", "actions", "reporting"]
    assert final_of(frames)["payload"]["results"]["reporting"]["data"]["report"].startswith("again")


def test_client_run_id_is_ignored(nsim):
    with nsim.connect() as ws:
        ws.json_msg()
        ws.send_json({"type": "user_message", "run_id": "mine",
                       "payload": {"content": PROMPT, "run_id": "mine", "thread_id": "x"}})
        frames = ws.until_final()
    assert final_of(frames)["payload"]["run_id"].startswith("run_thread_")
    assert "mine" not in json.dumps(frames)


def test_token_forms_per_tag(nsim):
    tok = nsim.login_full()["access_token"]
    raw_ok = nsim.tag != "beta-10"  # beta-10 wants base64url in jwt.<...>
    for how, ok in (("header", True), ("query", True), ("raw", raw_ok), ("subprotocol", True)):
        with nsim.connect(tok, how=how) as ws:
            assert ws.status == 101
            m = ws.json_msg()
            assert (m["type"] != "error_message") == ok, (how, m)


def test_bad_token_gets_error_frame_then_close_1008_after_101(nsim):
    with nsim.connect("not-a-token", how="header") as ws:
        assert ws.status == 101
        err = ws.json_msg()
        close = ws.message()
    assert err["type"] == "error_message"
    assert err["error_code"] == ("VALIDATION_FAILED" if nsim.tag == "beta-10" else "AUTH_FAILED")
    assert close.opcode == wsf.CLOSE
    assert int.from_bytes(close.payload[:2], "big") == 1008
    with NetraWS(nsim.port) as ws:  # no token at all
        assert ws.status == 101
        err = ws.json_msg()
    assert err["error_code"] == ("NO_TOKEN" if nsim.tag == "beta-10" else "AUTH_FAILED")


def test_subprotocol_answer_per_tag(nsim):
    tok = nsim.login_full()["access_token"]
    with NetraWS(nsim.port, headers=[("Sec-WebSocket-Protocol", f"jwt.{b64url(tok)}")]) as ws:
        got = ws.headers.get("sec-websocket-protocol")
    assert got == {"beta-10": None, "beta-12": "jwt-auth",
                   "beta-17": f"jwt.{b64url(tok)}"}[nsim.tag]


def test_ticket_endpoint_beta17(nwork):
    p = Netra(nwork, "beta-17")
    try:
        tok = p.login_full()["access_token"]
        t = p.ticket(tok)
        assert set(t) == {"ticket_id", "expires_at", "created_at", "ttl_seconds",
                          "single_use", "websocket_url"}
        assert t["ttl_seconds"] == 300 and t["single_use"] is True
        assert t["websocket_url"].endswith("/ws?ticket=" + t["ticket_id"])
        assert p.request("POST", "/api/websocket/ticket", {})[0] == 401
        with NetraWS(p.port, path=f"/ws/isolated?ticket={t['ticket_id']}") as ws:
            assert ws.json_msg()["type"] == "connection_established"
        with NetraWS(p.port, path=f"/ws/isolated?ticket={t['ticket_id']}") as ws:  # single use
            assert ws.json_msg()["error_code"] == "AUTH_FAILED"
        # main mode never reads a ticket (websocket_ssot.py@beta-17): a fresh one is refused
        t2 = p.ticket(tok)
        with NetraWS(p.port, path=f"/ws?ticket={t2['ticket_id']}") as ws:
            assert ws.json_msg()["error_code"] == "AUTH_FAILED"
        with NetraWS(p.port, path="/api/v1/websocket",
                     headers=[("Sec-WebSocket-Protocol", f"jwt-auth, jwt.{tok}")]) as ws:
            assert ws.headers["sec-websocket-protocol"] == f"jwt.{tok}"
            assert ws.json_msg()["type"] == "connection_established"
    finally:
        assert p.stop() == 0
        assert p.stderr_text() == ""


def test_two_sessions_of_one_user_see_each_others_runs(nsim):
    tok = nsim.login_full()["access_token"]
    with nsim.connect(tok) as a, nsim.connect(tok) as b:
        a.json_msg(), b.json_msg()
        a.start()
        fa, fb = a.until_final(), b.until_final()
    assert final_of(fa)["payload"]["run_id"] == final_of(fb)["payload"]["run_id"]


# ---- faults ---------------------------------------------------------------------------

def faulted(nsim, fault, **params):
    nsim.configure(fault=fault, params=params, count=1)
    with nsim.connect() as ws:
        status, proto = ws.status, ws.headers.get("sec-websocket-protocol")
        first = ws.json_msg() if status == 101 else None
        frames = []
        if isinstance(first, dict) and first["type"] != "error_message":
            ws.start()
            frames = ws.until_final(timeout=1.0)
        else:
            frames = [ws.message()] if status == 101 else []
    return status, proto, first, frames


def test_fault_table_lists_netra_faults(nsim):
    table = nsim.json("GET", "/_sim/faults")
    assert table["subagent_error"]["expect"] == "events.error"
    assert ("demo_mode" in table) == (nsim.tag != "beta-10")
    assert "events_order" not in table
    st, _, _, data = nsim.request("POST", "/_sim/config", {"fault": "events_order"})
    assert st == 400


def test_subagent_error_then_workflow_completes(nsim):
    _, _, _, frames = faulted(nsim, "subagent_error")
    errs = [f for f in frames if f["type"] == "agent_error"]
    assert len(errs) == 1
    e = errs[0]
    if nsim.tag == "beta-17":
        assert e["error"] and e["agent_name"] == "data"
    else:
        assert e["payload"]["error_message"] and e["agent_name"] == "data"
    res = final_of(frames)["payload"]["results"]
    assert res["data"]["error"] and res["data"]["success"] is False
    assert res["reporting"]["data"]["report"]


def test_no_tools(nsim):
    _, _, _, frames = faulted(nsim, "no_tools")
    final_of(frames)
    assert not [f for f in frames if f["type"] in ("tool_executing", "tool_completed")]


def test_placeholder_answer(nsim):
    _, _, _, frames = faulted(nsim, "placeholder_answer")
    final = final_of(frames)
    assert final["payload"]["results"]["reporting"]["data"] is None
    if nsim.tag == "beta-17":
        assert final["final_response"] == "Task completed"


def test_stall_after_data_thinking(nsim):
    _, _, _, frames = faulted(nsim, "stall")
    last = frames[-1]
    assert last["type"] in ("agent_thinking", "reasoning")
    agent = last.get("agent_name") or last["metadata"]["agent_name"]
    assert agent == "data"


def test_foreign_run_interleaves_another_run_id(nsim):
    _, _, _, frames = faulted(nsim, "foreign_run")
    ids = {f.get("run_id") or (f.get("payload") or {}).get("run_id") for f in frames}
    ids.discard(None)
    assert len(ids) == 2


def test_demo_mode_accepts_bad_token_as_demo_user(nsim):
    if nsim.tag == "beta-10":
        assert nsim.request("POST", "/_sim/config", {"fault": "demo_mode"})[0] == 400
        return
    nsim.configure(fault="demo_mode")
    with nsim.connect("garbage-token", how="header") as ws:
        w = ws.json_msg()
    assert w["data"]["user_id"] == "demo-use..."


def test_auth_after_upgrade(nsim):
    status, _, first, frames = faulted(nsim, "auth_after_upgrade")
    assert status == 101 and first["type"] == "error_message"
    assert frames[0].opcode == wsf.CLOSE
    assert int.from_bytes(frames[0].payload[:2], "big") == 1008


def test_dropped_events_only_final(nsim):
    _, _, _, frames = faulted(nsim, "dropped_events")
    assert len(frames) == 1
    final_of(frames)


def test_no_subprotocol(nsim):
    nsim.configure(fault="no_subprotocol", count=1)
    tok = nsim.login_full()["access_token"]
    with nsim.connect(tok, how="subprotocol") as ws:
        assert ws.status == 101 and "sec-websocket-protocol" not in ws.headers


def test_generic_faults_rejected_at_startup(nwork):
    import subprocess
    r = subprocess.run(["/usr/bin/python3", str(pathlib.Path(__file__).parent / "gpsim.py"),
                        "--profile", "netra-beta-10", "--fault", "events_order"],
                       capture_output=True)
    assert r.returncode == 2
