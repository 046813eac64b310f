"""The staging simulator does what its fault table and options say, on the wire.

Run: /usr/bin/python3 -m pytest -q tests/sim
Most checks use RawWS, a socket-level client that sees every frame as sent (opcode,
FIN, RSV, mask, and which frames arrived in one TLS record); a few use aiohttp and
websockets to prove real client libraries accept the simulator's framing.
"""

import asyncio
import base64
import http.client
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections import deque
from contextlib import contextmanager

import aiohttp
import pytest
import websockets

import sim_frames as wsf

HERE = pathlib.Path(__file__).resolve().parent
PYTHON = "/usr/bin/python3"
EXPECT = ["agent_started", "agent_thinking", "tool_executing", "tool_completed",
          "agent_completed"]
PASSWORD = "s3cret-pass"


# ---- the simulator process ----------------------------------------------------------

class SimProcess:
    def __init__(self, workdir, *args, certs=None, tls=True, client_ca=False):
        self.dir = pathlib.Path(tempfile.mkdtemp(dir=workdir))
        port_file, bh_file = self.dir / "port", self.dir / "bh-port"
        argv = [PYTHON, str(HERE / "gpsim.py"), "--port", "0", "--port-file", str(port_file),
                "--blackhole-port-file", str(bh_file)]
        self.ctx = None
        if tls:
            argv += ["--tls-cert", str(certs / "server.pem"),
                     "--tls-key", str(certs / "server.key")]
            if client_ca:
                argv += ["--tls-client-ca", str(certs / "client-ca.pem")]
            self.ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        self.stdout = open(self.dir / "stdout", "w+")
        self.proc = subprocess.Popen(argv + list(args), stdout=self.stdout,
                                     stderr=open(self.dir / "stderr", "w"))
        deadline = time.monotonic() + 15
        while not port_file.exists():
            assert self.proc.poll() is None, (self.dir / "stderr").read_text()
            assert time.monotonic() < deadline, "gpsim did not start"
            time.sleep(0.02)
        self.port = int(port_file.read_text())
        self.blackhole_port = int(bh_file.read_text())

    def stop(self, timeout=5.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def stderr_text(self):
        return (self.dir / "stderr").read_text()

    def vm_hwm_kib(self):
        status = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))

    # -- HTTP --
    def request(self, method, path, body=None, headers=None, timeout=5.0):
        if self.ctx:
            conn = http.client.HTTPSConnection("localhost", self.port, context=self.ctx,
                                               timeout=timeout)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        try:
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json", **(headers or {})})
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type", ""), r.getheader("Location"), r.read()
        finally:
            conn.close()

    def json(self, method, path, body=None):
        status, _, _, data = self.request(method, path, body)
        assert status == 200, data
        return json.loads(data)

    def configure(self, **cfg):
        return self.json("POST", "/_sim/config", cfg)

    def stats(self):
        return self.json("GET", "/_sim/stats")

    def events(self, run_id=None):
        return self.json("GET", "/_sim/events" + (f"?run_id={run_id}" if run_id else ""))

    def login(self, email="probe@example.com", password=PASSWORD):
        status, _, _, data = self.request("POST", "/auth/login",
                                          {"email": email, "password": password})
        assert status == 200, data
        return json.loads(data)["access_token"]

    @contextmanager
    def ws(self, **kw):
        if "token" not in kw:
            kw["token"] = self.login()
        ws = RawWS(self.port, self.ctx, **kw)
        try:
            yield ws
        finally:
            ws.close()

    def run(self, **kw):
        """One run on a fresh session: every item until agent_completed, a close or EOF."""
        with self.ws() as ws:
            assert ws.status == 101
            ws.user_message(kw.pop("run_id", "run-1"))
            return ws.collect(**kw)


class RawWS:
    """A WebSocket client at the socket level: it sees frames exactly as sent."""

    def __init__(self, port, ctx, *, token=None, auth="subprotocol", timeout=3.0,
                 keep_max=8 << 20):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        # suppress_ragged_eofs=False: an EOF without TLS close_notify raises SSLEOFError
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost",
                                    suppress_ragged_eofs=False) if ctx else raw
        self.timeout = timeout
        path, extra = "/ws", ""
        if token and auth == "subprotocol":
            extra = f"Sec-WebSocket-Protocol: jwt-auth, jwt.{token}\r\n"
        elif token and auth == "header":
            extra = f"Authorization: Bearer {token}\r\n"
        elif token and auth == "query":
            path += f"?token={token}"
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"{extra}\r\n").encode())
        self.head_reads, buf = [], b""
        while b"\r\n\r\n" not in buf:
            d = self.sock.recv(65536)
            if not d:
                break
            self.head_reads.append(time.monotonic())
            buf += d
        self.raw_head = buf
        head, _, rest = buf.partition(b"\r\n\r\n")
        m = re.match(rb"HTTP/1\.1 (\d+)", head)
        self.status = int(m.group(1)) if m else None
        self.headers = dict(line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:]
                            if b": " in line)
        if self.status not in (None, 101):
            length = int(self.headers.get("Content-Length", 0))
            while len(rest) < length:
                rest += self.sock.recv(65536)
        self.body = rest
        self.parser = wsf.FrameParser(keep_max)
        self.pending = deque(self.parser.feed(rest) if self.status == 101 else [])
        self.frames_per_read = []  # how many frames each recv() (one TLS record) completed
        self.pings = 0
        self.answer_pings = True

    def frame(self, timeout=None):
        """The next frame, or None at EOF."""
        while not self.pending:
            self.sock.settimeout(timeout or self.timeout)
            d = self.sock.recv(1 << 17)
            if not d:
                return None
            got = self.parser.feed(d)
            self.frames_per_read.append(len(got))
            self.pending.extend(got)
        return self.pending.popleft()

    def message(self, timeout=None):
        """The next data message (fragments joined) or close frame; None at EOF."""
        parts, first = [], None
        while True:
            f = self.frame(timeout)
            if f is None:
                return None
            if f.opcode == wsf.PING:
                self.pings += 1
                if self.answer_pings:
                    self.send_frame(wsf.PONG, f.payload)
                continue
            if f.opcode in (wsf.PONG, wsf.CLOSE):
                if f.opcode == wsf.CLOSE:
                    return f
                continue
            first = first or f
            parts.append(f.payload)
            if f.fin:
                return wsf.Frame(True, first.rsv, first.opcode, False,
                                 sum(len(p) for p in parts), b"".join(parts))

    def collect(self, until="agent_completed", timeout=None):
        """Items until `until` (or a quiet `timeout`): dicts for JSON text frames, bytes
        for other text, the close Frame, or None for EOF (the last item)."""
        items = []
        while True:
            try:
                m = self.message(timeout)
            except (TimeoutError, socket.timeout):
                return items
            if m is None or m.opcode == wsf.CLOSE:
                return items + [m]
            try:
                obj = json.loads(m.payload)
            except ValueError:
                items.append(m.payload)
                continue
            if obj.get("type") == "connection_established":
                continue
            items.append(obj)
            if obj.get("type") == until:
                return items

    def send_frame(self, opcode, payload):
        self.sock.sendall(wsf.masked_frame(opcode, payload, os.urandom(4)))

    def send_json(self, obj):
        self.send_frame(wsf.TEXT, json.dumps(obj).encode())

    def user_message(self, run_id, thread_id="thread-1"):
        self.send_json({"type": "user_message", "payload": {
            "content": "Reply with the word ready.", "thread_id": thread_id, "run_id": run_id}})

    def close(self):
        try:
            if self.status == 101:
                self.send_frame(wsf.CLOSE, wsf.close_payload(1000))
        except OSError:
            pass
        self.sock.close()


def types(items):
    return [i["type"] for i in items if isinstance(i, dict)]


def by_type(items, type_):
    return [i for i in items if isinstance(i, dict) and i["type"] == type_]


# ---- fixtures -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="gpsim-test-") as d:
        yield pathlib.Path(d)


@pytest.fixture(scope="session")
def certs(workdir):
    d = workdir / "certs"
    subprocess.run([str(HERE / "mkcerts.sh"), str(d)], check=True)
    return d


@pytest.fixture(scope="session")
def sim_proc(workdir, certs):
    p = SimProcess(workdir, certs=certs)
    yield p
    assert p.stop() == 0
    assert p.stderr_text() == ""  # no tracebacks, no asyncio warnings, whatever clients did


@pytest.fixture
def sim(sim_proc):
    sim_proc.json("POST", "/_sim/reset")
    return sim_proc


@pytest.fixture
def own_sim(workdir, certs):
    """A simulator of its own, for process-level checks (memory, signals)."""
    procs = []

    def start(*args, **kw):
        kw.setdefault("certs", certs)
        procs.append(SimProcess(workdir, *args, **kw))
        return procs[-1]
    yield start
    for p in procs:
        p.stop()


# ---- product endpoints ----------------------------------------------------------------

def test_health_answers_ok(sim):
    assert sim.json("GET", "/health") == {"status": "ok"}


def test_login_issues_a_bearer_token_to_example_com_users(sim):
    status, ctype, _, data = sim.request("POST", "/auth/login",
                                         {"email": "a@example.com", "password": PASSWORD})
    body = json.loads(data)
    assert status == 200 and ctype.startswith("application/json")
    assert body["token_type"] == "bearer" and body["access_token"].startswith("tok.")


@pytest.mark.parametrize("body,status", [
    ({"email": "a@example.com", "password": "wrong"}, 401),
    ({"email": "a@example.org", "password": PASSWORD}, 401),
    (b"{not json", 400),
    ({"email": "a@example.com"}, 400),
    ([1, 2], 400),
])
def test_login_refuses_bad_credentials_and_bodies(sim, body, status):
    got, ctype, _, data = sim.request("POST", "/auth/login", body)
    assert got == status and "detail" in json.loads(data)


def test_golden_path_over_aiohttp_selects_jwt_auth_subprotocol(sim):
    token = sim.login()

    async def main():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"https://localhost:{sim.port}/ws", ssl=sim.ctx,
                                    protocols=("jwt-auth", f"jwt.{token}")) as ws:
                assert ws.protocol == "jwt-auth"
                welcome = await ws.receive_json(timeout=3)
                await ws.send_json({"type": "user_message", "payload": {
                    "content": "hi", "thread_id": "t-7", "run_id": "r-7"}})
                got = []
                while not got or got[-1]["type"] != "agent_completed":
                    got.append(await ws.receive_json(timeout=3))
                return welcome, got

    welcome, got = asyncio.run(main())
    assert welcome["type"] == "connection_established" and welcome["connection_id"]
    assert types(got) == EXPECT
    assert all(e["run_id"] == "r-7" and e["thread_id"] == "t-7" for e in got)
    assert got[1]["data"]["thought"] and got[2]["data"]["tool"]
    assert "result" in got[3]["data"]
    assert got[-1]["final_response"] == "ready" and got[-1]["data"]["result"] == "ready"


@pytest.mark.parametrize("auth", ["header", "query"])
def test_token_accepted_as_bearer_header_or_query(sim, auth):
    with sim.ws(auth=auth) as ws:
        assert ws.status == 101 and "Sec-WebSocket-Protocol" not in ws.headers
        ws.user_message("r-auth")
        assert types(ws.collect()) == EXPECT


def test_websockets_library_with_bearer_header_passes(sim):
    token = sim.login()

    async def main():
        async with websockets.connect(f"wss://localhost:{sim.port}/ws", ssl=sim.ctx,
                                      extra_headers={"Authorization": f"Bearer {token}"}) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "user_message", "payload": {"run_id": "r-w"}}))
            return [json.loads(await ws.recv()) for _ in EXPECT]
    assert types(asyncio.run(main())) == EXPECT


@pytest.mark.parametrize("token", [None, "tok.never-issued"])
def test_missing_or_unknown_token_is_refused_with_401_before_upgrade(sim, token):
    with sim.ws(token=token) as ws:
        assert ws.status == 401
    assert sim.stats()["ws_rejected"] == 1


def test_json_ping_is_answered_with_pong(sim):
    with sim.ws() as ws:
        ws.send_json({"type": "ping"})
        assert types(ws.collect(until="pong")) == ["pong"]


def test_websocket_ping_from_client_is_answered_with_pong_frame(sim):
    with sim.ws() as ws:
        assert ws.message().opcode == wsf.TEXT  # welcome
        ws.send_frame(wsf.PING, b"are you there")
        f = ws.frame()
        assert (f.opcode, f.payload) == (wsf.PONG, b"are you there")


def test_event_log_times_are_taken_on_write_before_the_client_reads(sim):
    with sim.ws() as ws:
        sent = time.monotonic_ns()
        ws.user_message("r-log")
        read_at = []
        while not read_at or read_at[-1][0] != "agent_completed":
            m = ws.message()
            read_at.append((json.loads(m.payload)["type"], time.monotonic_ns()))
    log = sim.events("r-log")
    assert [e["type"] for e in log["events"]] == EXPECT
    assert len(log["user_messages"]) == 1
    t_user = log["user_messages"][0]["t_mono_ns"]
    assert sent <= t_user <= log["events"][0]["t_mono_ns"]
    for e, (type_, t_read) in zip(log["events"], read_at[1:]):
        # the reader may get the bytes a little before the writer takes t_mono_ns
        assert e["type"] == type_ and e["t_write_start_ns"] <= t_read
        assert e["t_write_start_ns"] <= e["t_mono_ns"] < t_read + 5_000_000


def test_delays_set_per_type_through_control(sim):
    sim.configure(delays={"agent_thinking": 150, "default": 5})
    sim.run(run_id="r-delay")
    t = {e["type"]: e["t_mono_ns"] for e in sim.events("r-delay")["events"]}
    assert t["agent_thinking"] - t["agent_started"] >= 150e6
    assert t["tool_executing"] - t["agent_thinking"] < 100e6


# ---- login faults ---------------------------------------------------------------------

@pytest.mark.parametrize("fault,status,ctype,has_token", [
    ("login_wrong_password", 401, "application/json", False),
    ("login_500", 500, "application/json", False),
    ("login_html", 200, "text/html", False),
    ("login_no_token", 200, "application/json", False),
])
def test_login_fault_answers_as_described(sim, fault, status, ctype, has_token):
    sim.configure(fault=fault)
    got, got_ctype, _, data = sim.request("POST", "/auth/login",
                                          {"email": "a@example.com", "password": PASSWORD})
    assert got == status and got_ctype.startswith(ctype)
    if ctype == "text/html":
        assert data.startswith(b"<!doctype html>")
    else:
        assert "access_token" not in json.loads(data)


def test_login_slow_delays_then_logs_in(sim):
    sim.configure(fault="login_slow", params={"ms": 300})
    t0 = time.monotonic()
    sim.login()
    assert time.monotonic() - t0 >= 0.3


def test_blackhole_fault_never_answers_login(sim):
    sim.configure(fault="blackhole")
    with pytest.raises((TimeoutError, socket.timeout)):
        sim.request("POST", "/auth/login", {"email": "a@example.com", "password": PASSWORD},
                    timeout=0.5)


def test_blackhole_port_accepts_tcp_and_never_sends_a_byte(sim):
    with socket.create_connection(("127.0.0.1", sim.blackhole_port), timeout=0.3) as s:
        s.sendall(b"\x16\x03\x01\x00\x05hello")  # looks like a TLS ClientHello start
        with pytest.raises((TimeoutError, socket.timeout)):
            s.recv(1)


def test_login_redirect_loop_redirects_to_itself_forever(sim):
    sim.configure(fault="login_redirect_loop")
    status, _, location, _ = sim.request("POST", "/auth/login", {})
    assert status == 307 and location == "/auth/login?loop=1"
    status, _, location, _ = sim.request("POST", location, {})
    assert status == 307 and location == "/auth/login?loop=2"

    async def follow():
        async with aiohttp.ClientSession() as s:
            await s.post(f"https://localhost:{sim.port}/auth/login", json={}, ssl=sim.ctx,
                         max_redirects=5)
    with pytest.raises(aiohttp.TooManyRedirects):
        asyncio.run(follow())


# ---- upgrade and handshake faults --------------------------------------------------------

@pytest.mark.parametrize("code", [401, 403, 404])
def test_ws_refusal_faults_answer_their_status(sim, code):
    sim.configure(fault=f"ws_{code}")
    with sim.ws() as ws:
        assert ws.status == code and "detail" in json.loads(ws.body)


def test_ws_blackhole_never_answers_the_upgrade(sim):
    sim.configure(fault="ws_blackhole")
    with pytest.raises((TimeoutError, socket.timeout)):
        with sim.ws(timeout=0.5):
            pass


def test_trickle_handshake_writes_the_101_response_slowly(sim):
    sim.configure(fault="trickle_handshake", params={"ms": 300, "chunk": 8})
    t0 = time.monotonic()
    with sim.ws() as ws:
        assert ws.status == 101
        assert ws.head_reads[-1] - t0 >= 0.25 and len(ws.head_reads) > 10
        ws.user_message("r-trickle")
        assert types(ws.collect()) == EXPECT


def test_send_before_upgrade_coalesced_glues_first_frame_to_the_101(sim):
    sim.configure(fault="send_before_upgrade")
    with sim.ws() as ws:
        assert ws.status == 101 and len(ws.head_reads) == 1
        first = ws.frame()  # parsed from the same read as the headers
        assert ws.frames_per_read == [] and json.loads(first.payload)["type"] == \
            "connection_established"


def test_send_before_upgrade_early_writes_a_frame_before_the_status_line(sim):
    sim.configure(fault="send_before_upgrade", params={"mode": "early"})
    with sim.ws() as ws:
        assert ws.status is None and ws.raw_head[0] == wsf.FIN | wsf.TEXT
        assert b"HTTP/1.1 101" in ws.raw_head


# ---- run faults -----------------------------------------------------------------------

@pytest.mark.parametrize("fault,params,expected", [
    ("events_order", {}, ["agent_started", "tool_executing", "agent_thinking",
                          "tool_completed", "agent_completed"]),
    ("events_missing", {}, ["agent_started", "agent_thinking", "tool_executing",
                            "agent_completed"]),
    ("events_duplicate", {}, ["agent_started"] + EXPECT),
    ("unknown_type", {}, EXPECT[:2] + ["agent_mood"] + EXPECT[2:]),
    ("events_missing", {"type": "agent_thinking"}, ["agent_started"] + EXPECT[2:]),
])
def test_event_sequence_faults(sim, fault, params, expected):
    sim.configure(fault=fault, params=params)
    assert types(sim.run()) == expected


def test_agent_error_follows_thinking_and_ends_the_run(sim):
    sim.configure(fault="agent_error")
    items = sim.run(timeout=0.4)
    assert types(items) == ["agent_started", "agent_thinking", "agent_error"]
    assert items[-1]["data"]["error_message"] == "model quota exceeded"


def test_stall_stops_before_the_named_event_and_keeps_the_connection(sim):
    sim.configure(fault="stall", params={"before": "tool_executing"})
    with sim.ws() as ws:
        ws.user_message("r-stall")
        assert types(ws.collect(timeout=0.4)) == ["agent_started", "agent_thinking"]
        ws.send_json({"type": "ping"})
        assert types(ws.collect(until="pong")) == ["pong"]


def test_non_json_text_frame_between_events(sim):
    sim.configure(fault="non_json")
    items = sim.run()
    assert items[2] == b"this is not json" and types(items) == EXPECT


def test_foreign_run_id_on_one_event(sim):
    sim.configure(fault="foreign_run_id")
    items = sim.run(run_id="r-own")
    assert types(items) == EXPECT
    ids = [i["run_id"] for i in items]
    assert ids[1].startswith("run-foreign-") and ids[:1] + ids[2:] == ["r-own"] * 4


def test_empty_response_has_no_response_anywhere(sim):
    sim.configure(fault="empty_response")
    last = sim.run()[-1]
    assert last["final_response"] == "" and "result" not in last["data"]


def test_wrong_response_carries_params_text(sim):
    sim.configure(fault="wrong_response")
    last = sim.run()[-1]
    assert last["final_response"] == last["data"]["result"] == "I cannot help with that"


@pytest.mark.parametrize("params,code,reason", [({}, 1011, "internal error"),
                                                ({"code": 4000, "reason": "bye"}, 4000, "bye")])
def test_ws_close_sends_a_close_frame_after_thinking(sim, params, code, reason):
    sim.configure(fault="ws_close", params=params)
    items = sim.run()
    assert types(items) == ["agent_started", "agent_thinking"]
    assert (items[-1].close_code, items[-1].close_reason) == (code, reason)


def test_ws_drop_aborts_without_close_frame_or_close_notify(sim):
    sim.configure(fault="ws_drop")
    with sim.ws() as ws:
        ws.user_message("r-drop")
        got = []
        with pytest.raises((ssl.SSLEOFError, ConnectionResetError)):
            while True:
                got.append(json.loads(ws.message().payload)["type"])
        assert got == ["connection_established", "agent_started"]


def test_ws_drop_is_a_tcp_reset(own_sim):
    sim = own_sim("--fault", "ws_drop", tls=False)
    with sim.ws() as ws:
        ws.user_message("r-rst")
        with pytest.raises(ConnectionResetError):
            while ws.message():
                pass


def test_ws_eof_closes_tls_and_tcp_without_close_frame(sim):
    sim.configure(fault="ws_eof")
    items = sim.run()
    assert types(items) == ["agent_started"] and items[-1] is None


@pytest.mark.parametrize("kind,check", [
    ("opcode", lambda f: f.opcode == 0x3),
    ("rsv", lambda f: f.opcode == wsf.TEXT and f.rsv == 0x70),
    ("masked", lambda f: f.masked),
    ("control_long", lambda f: f.opcode == wsf.PING and f.length == 126),
    ("control_fragmented", lambda f: f.opcode == wsf.PING and not f.fin),
    ("continuation", lambda f: f.opcode == wsf.CONT),
])
def test_ws_garbage_writes_an_invalid_frame_after_agent_started(sim, kind, check):
    sim.configure(fault="ws_garbage", params={"kind": kind})
    with sim.ws() as ws:
        ws.user_message("r-garbage")
        assert json.loads(ws.frame().payload)["type"] == "connection_established"
        assert json.loads(ws.frame().payload)["type"] == "agent_started"
        assert check(ws.frame())


def test_invalid_utf8_text_frame_after_agent_started(sim):
    sim.configure(fault="invalid_utf8")
    with sim.ws() as ws:
        ws.user_message("r-utf8")
        ws.message(), ws.message()
        bad = ws.message()
        assert bad.opcode == wsf.TEXT
        with pytest.raises(UnicodeDecodeError):
            bad.payload.decode()


def test_slow_events_waits_before_every_event(sim):
    sim.configure(fault="slow_events", params={"ms": 80})
    sim.run(run_id="r-slow")
    log = sim.events("r-slow")
    times = [log["user_messages"][0]["t_mono_ns"]] + [e["t_mono_ns"] for e in log["events"]]
    assert all(b - a >= 80e6 for a, b in zip(times, times[1:]))


def test_crosstalk_delivers_another_sessions_run_id(sim):
    sim.configure(fault="crosstalk", count=1, params={"wait_ms": 2000})
    with sim.ws() as victim, sim.ws() as other:
        other.user_message("r-other")
        victim.user_message("r-victim")
        items = victim.collect()
        other_items = other.collect()
    assert [i["run_id"] for i in items].count("r-other") == 1
    assert types(items) == EXPECT[:2] + ["agent_thinking"] + EXPECT[2:]
    assert {i["run_id"] for i in other_items} == {"r-other"}


def test_broadcast_writes_one_event_to_every_session(sim):
    sim.configure(fault="broadcast", count=1)
    with sim.ws() as sender, sim.ws() as bystander:
        assert bystander.message().opcode == wsf.TEXT  # welcome
        sender.user_message("r-sender")
        assert types(sender.collect()) == EXPECT
        leaked = bystander.collect(until="agent_thinking")
    assert leaked[0]["run_id"] == "r-sender"


def test_huge_frame_and_huge_login_are_streamed_in_bounded_memory(own_sim):
    sim = own_sim()
    before = sim.vm_hwm_kib()
    sim.configure(fault="huge_frame")
    with sim.ws(keep_max=1 << 16) as ws:
        ws.user_message("r-huge")
        ws.frame(), ws.frame()  # welcome, agent_started
        big = ws.frame(timeout=30)
        assert big.opcode == wsf.TEXT and big.fin and big.length > 100 << 20
        assert json.loads(ws.frame().payload)["type"] == "tool_executing"
    sim.configure(fault="huge_login", params={"bytes": 64 << 20})
    status, ctype, _, body = sim.request("POST", "/auth/login", {}, timeout=30)
    assert status == 200 and len(body) == 64 << 20
    assert json.loads(body)["access_token"]
    assert sim.vm_hwm_kib() - before < 32 << 10


def test_huge_streams_stop_at_once_when_the_client_leaves(own_sim):
    sim = own_sim()
    sim.configure(fault="huge_login")  # 1 GiB
    conn = http.client.HTTPSConnection("localhost", sim.port, context=sim.ctx, timeout=5)
    conn.request("POST", "/auth/login", body=b"{}")
    assert len(conn.getresponse().read(1 << 20)) == 1 << 20
    conn.close()
    sim.configure(fault="huge_frame", params={"bytes": 1 << 30})
    with sim.ws() as ws:
        ws.user_message("r-leave")
        got = 0
        while got < 1 << 20:
            got += len(ws.sock.recv(1 << 16))
    t0 = time.monotonic()
    assert sim.json("GET", "/health") == {"status": "ok"}
    assert time.monotonic() - t0 < 1.0  # not busy pushing a gigabyte into a dead socket
    time.sleep(0.2)
    assert sim.stderr_text() == ""


def test_big_thinking_option_sends_a_thought_of_that_size(sim):
    sim.configure(options={"big_thinking": 1 << 20})
    items = sim.run()
    assert types(items) == EXPECT and len(items[1]["data"]["thought"]) == 1 << 20


# ---- awkward options ------------------------------------------------------------------

def test_interleave_puts_heartbeat_and_ack_before_every_event(sim):
    sim.configure(options={"interleave": True})
    assert types(sim.run()) == [t for e in EXPECT for t in ("heartbeat", "ack", e)]


def test_welcome_option_off_sends_no_connection_established(sim):
    sim.configure(options={"welcome": False})
    with sim.ws() as ws:
        ws.user_message("r-quiet")
        assert json.loads(ws.message().payload)["type"] == "agent_started"


def test_ack_option_acknowledges_the_user_message(sim):
    sim.configure(options={"ack": True})
    assert types(sim.run()) == ["ack"] + EXPECT


def test_ping_interval_sends_ping_frames_and_counts_pongs(sim):
    sim.configure(options={"ping_interval": 0.03}, delays={"default": 40})
    with sim.ws() as ws:
        ws.user_message("r-ping")
        assert types(ws.collect()) == EXPECT
    stats = sim.stats()
    assert ws.pings >= 3 and stats["pings_sent"] >= ws.pings
    assert stats["pongs_received"] >= ws.pings - 1


def test_heartbeat_interval_sends_heartbeat_messages(sim):
    sim.configure(options={"heartbeat_interval": 0.03}, delays={"default": 40})
    items = sim.run()
    assert types(items).count("heartbeat") >= 3
    assert [t for t in types(items) if t != "heartbeat"] == EXPECT


def test_fragment_sends_continuation_frames_python_websockets_style(sim):
    sim.configure(options={"fragment": 3})
    with sim.ws() as ws:
        ws.user_message("r-frag")
        frames = []
        while len(frames) < 4 * 6:  # welcome + five events, 4 frames each
            frames.append(ws.frame())
    for i in range(0, len(frames), 4):
        msg = frames[i:i + 4]
        assert [(f.opcode, f.fin) for f in msg] == \
            [(wsf.TEXT, False), (wsf.CONT, False), (wsf.CONT, False), (wsf.CONT, True)]
        assert msg[1].length and msg[3].length == 0
        json.loads(b"".join(f.payload for f in msg))


def test_fragmented_events_reassemble_in_aiohttp(sim):
    sim.configure(options={"fragment": 4})
    token = sim.login()

    async def main():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"https://localhost:{sim.port}/ws?token={token}",
                                    ssl=sim.ctx) as ws:
                await ws.receive_json(timeout=3)
                await ws.send_json({"type": "user_message", "payload": {"run_id": "r-fa"}})
                return [await ws.receive_json(timeout=3) for _ in EXPECT]
    assert types(asyncio.run(main())) == EXPECT


def test_coalesce_writes_events_in_one_write_and_default_does_not(sim):
    with sim.ws() as ws:
        ws.user_message("r-apart")
        ws.collect()
        assert max(ws.frames_per_read) == 1
    sim.configure(options={"coalesce": True})
    with sim.ws() as ws:
        ws.user_message("r-together")
        assert types(ws.collect()) == EXPECT
        assert max(ws.frames_per_read) == 5  # one TLS record: one transport write
    assert len({e["t_mono_ns"] for e in sim.events("r-together")["events"]}) == 1
    assert len({e["t_mono_ns"] for e in sim.events("r-apart")["events"]}) == 5


def test_coalesce_two_groups_frames_in_pairs(sim):
    sim.configure(options={"coalesce": 2})
    with sim.ws() as ws:
        ws.user_message("r-pairs")
        ws.collect()
        assert sorted(ws.frames_per_read[1:]) == [1, 2, 2]


@pytest.mark.parametrize("where", ["data", "payload"])
def test_id_location_moves_run_and_thread_ids(sim, where):
    sim.configure(options={"id_location": where})
    items = sim.run(run_id="r-loc")
    assert types(items) == EXPECT
    for i in items:
        assert "run_id" not in i and i[where]["run_id"] == "r-loc"
        assert i[where]["thread_id"] == "thread-1"
    assert items[-1]["final_response"] == "ready" and items[-1][where]["result"] == "ready"


def test_thinking_repeats_and_response_options(sim):
    sim.configure(options={"thinking_repeats": 3, "response": "done"})
    items = sim.run()
    assert types(items) == EXPECT[:1] + ["agent_thinking"] * 3 + EXPECT[2:]
    assert items[-1]["final_response"] == "done"


# ---- control plane --------------------------------------------------------------------

def test_count_applies_to_n_sessions_then_reverts_to_no_fault(sim):
    cfg = sim.configure(fault="events_missing", count=2, options={"ack": True})
    assert cfg["count"] == 2
    assert "tool_completed" not in types(sim.run())
    assert sim.json("GET", "/_sim/config")["count"] == 1
    assert "tool_completed" not in types(sim.run())
    assert types(sim.run()) == EXPECT  # ack reverted with the fault
    cfg = sim.json("GET", "/_sim/config")
    assert cfg["fault"] is None and cfg["count"] is None and cfg["options"]["ack"] is False
    assert sim.stats()["faults_applied"] == 2


def test_login_fault_count_is_used_by_logins_not_sessions(sim):
    token = sim.login()
    sim.configure(fault="login_500", count=1)
    with sim.ws(token=token) as ws:
        assert ws.status == 101
    assert sim.request("POST", "/auth/login", {})[0] == 500
    sim.login()


def test_user_aims_the_fault_at_matching_emails_only(sim):
    assert sim.configure(fault="events_missing", user="probe3@example.com")["user"] \
        == "probe3@example.com"
    assert types(sim.run()) == EXPECT  # probe@example.com's session: no fault
    with sim.ws(token=sim.login("probe3@example.com")) as ws:
        ws.user_message("run-3")
        assert "tool_completed" not in types(ws.collect())
    sim.configure(fault="login_500", user="probe2@*", count=1)
    sim.login()  # another user: logs in, and does not use up the count
    status = sim.request("POST", "/auth/login",
                         {"email": "probe2@example.com", "password": PASSWORD})[0]
    assert status == 500
    cfg = sim.json("GET", "/_sim/config")
    assert cfg["fault"] is None and cfg["user"] is None  # reverted with the count


def test_null_count_keeps_the_fault_until_changed(sim):
    sim.configure(fault="ws_403")
    for _ in range(3):
        with sim.ws() as ws:
            assert ws.status == 403
    sim.configure(fault=None)
    with sim.ws() as ws:
        assert ws.status == 101


@pytest.mark.parametrize("body", [
    {"fault": "no_such_fault"},
    {"fault": "ws_close", "params": {"colour": 1}},
    {"fault": "ws_garbage", "params": {"kind": "nonsense"}},
    {"options": {"no_such_option": 1}},
    {"options": {"fragment": 0}},
    {"delays": {"agent_sleeping": 5}},
    {"count": 0},
    {"surprise": 1},
    {"fault": None, "params": {"ms": 5}},
    {"user": 3},
])
def test_control_rejects_invalid_config_with_400(sim, body):
    status, _, _, data = sim.request("POST", "/_sim/config", body)
    assert status == 400 and json.loads(data)["error"]


def test_stats_count_logins_sessions_runs_messages_and_reset_clears(sim):
    sim.configure(fault="events_order")
    sim.run()
    sim.json("GET", "/health")
    s = sim.stats()
    assert (s["logins"], s["logins_ok"], s["ws_sessions"], s["runs"]) == (1, 1, 1, 1)
    assert s["messages_received"] == 1 and s["faults"] == {"events_order": 1}
    assert s["client_close_codes"] == {"1000": 1}
    sim.json("POST", "/_sim/reset")
    assert sim.stats()["logins"] == 0 and sim.events()["events"] == []
    assert sim.json("GET", "/_sim/config")["fault"] is None


def test_login_refuses_a_header_sent_twice_as_a_real_server_does(sim):
    # aiohttp's own parser refuses a second Content-Type, Content-Length or Host before any
    # handler runs; the login refuses any other name sent twice, and counts it.
    body = json.dumps({"email": "probe@example.com", "password": PASSWORD}).encode()
    conn = http.client.HTTPSConnection("localhost", sim.port, context=sim.ctx, timeout=5.0)
    try:
        conn.putrequest("POST", "/auth/login")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("X-Probe", "1")
        conn.putheader("x-probe", "2")
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        status, data = r.status, json.loads(r.read())
    finally:
        conn.close()
    assert status == 400 and data["detail"] == "Duplicate 'x-probe' header"
    s = sim.stats()
    assert (s["logins"], s["logins_ok"], s["login_repeated_headers"]) == (1, 0, 1)
    sim.login()  # each header once: accepted, not counted
    assert sim.stats()["login_repeated_headers"] == 1


def test_readme_lists_every_fault_with_its_stage_and_expected_code():
    from sim_faults import FAULTS
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| `([\w.]+)` \|",
                      (HERE / "README.md").read_text(), re.M)
    assert {n: (stage, code) for n, stage, code in rows} == \
        {f.name: (f.stage, f.expect) for f in FAULTS.values()}


def test_fault_table_lists_every_fault_with_its_expected_code(sim):
    table = sim.json("GET", "/_sim/faults")
    assert table["ws_close"]["expect"] == "ws.closed"
    assert table["ws_close"]["params"] == {"code": 1011, "reason": "internal error"}
    assert len(table) >= 33


# ---- the process ----------------------------------------------------------------------

def test_cli_fault_option_and_delay_apply_from_start_over_plain_http(own_sim):
    sim = own_sim("--fault", "wrong_response", "--param", "text=nope", "--option",
                  "thinking_repeats=2", "--delay", "agent_thinking=60", tls=False)
    assert sim.stdout.seek(0) == 0 and \
        sim.stdout.read() == f"gpsim listening on http://127.0.0.1:{sim.port}\n"
    items = sim.run(run_id="r-cli")
    assert types(items) == EXPECT[:2] + ["agent_thinking"] + EXPECT[2:]
    assert items[-1]["final_response"] == "nope"


def test_sigterm_stops_promptly_with_open_sessions_and_says_going_away(own_sim):
    sim = own_sim("--fault", "stall")
    ws = RawWS(sim.port, sim.ctx, token=sim.login())
    ws.user_message("r-term")
    ws.collect(timeout=0.3)
    t0 = time.monotonic()
    assert sim.stop() == 0 and time.monotonic() - t0 < 2.5
    closing = ws.collect(timeout=1)
    assert closing[-1] is None or closing[-1].close_code == 1001
    ws.close()


def test_cli_refuses_a_non_loopback_host():
    p = subprocess.run([PYTHON, str(HERE / "gpsim.py"), "--host", "0.0.0.0"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "loopback" in p.stderr


def test_client_ca_requires_a_client_certificate(own_sim, certs):
    sim = own_sim(client_ca=True)
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
        sim.login()
    sim.ctx.load_cert_chain(str(certs / "client.pem"), str(certs / "client.key"))
    assert sim.login()


# ---- the certificates -------------------------------------------------------------------

@pytest.mark.parametrize("name,error", [
    ("server", None),
    ("expired", "certificate has expired"),
    ("notyet", "certificate is not yet valid"),
    ("wronghost", "hostname mismatch"),
    ("selfsigned", "self-signed certificate"),
    ("unknownca", "unable to get local issuer certificate"),
])
def test_certificates_fail_verification_for_their_reason(certs, name, error):
    p = subprocess.run(["openssl", "verify", "-CAfile", str(certs / "ca.pem"),
                        "-verify_hostname", "localhost", "-verify_ip", "127.0.0.1",
                        str(certs / f"{name}.pem")], capture_output=True, text=True)
    if error is None:
        assert p.returncode == 0, p.stderr
    else:
        assert p.returncode != 0 and error in p.stdout + p.stderr


def test_client_certificate_chains_to_the_client_ca_and_keys_match(certs):
    p = subprocess.run(["openssl", "verify", "-CAfile", str(certs / "client-ca.pem"),
                        "-purpose", "sslclient", str(certs / "client.pem")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    for name in ("ca", "server", "expired", "notyet", "wronghost", "selfsigned", "unknownca",
                 "client-ca", "client"):
        ssl.create_default_context().load_cert_chain(str(certs / f"{name}.pem"),
                                                     str(certs / f"{name}.key"))


def test_mkcerts_is_idempotent(certs):
    before = {p.name: p.stat().st_mtime_ns for p in certs.iterdir()}
    subprocess.run([str(HERE / "mkcerts.sh"), str(certs)], check=True)
    assert {p.name: p.stat().st_mtime_ns for p in certs.iterdir()} == before
