"""The golden path as a list of steps, and the fault table.

A fault is one row of FAULTS: its stage says where it acts, `expect` is the SPEC
section 2 code a correct client reports, `params` are its defaults, `action` is
  stage "login":     async (request, params, sim) -> response, or None to log in normally
  stage "upgrade":   async (request, params, sim) -> response refusing the upgrade, or None
  stage "handshake": async (transport, head, welcome, params) -> True if it wrote `welcome`
                     (writes the 101 response `head` itself)
  stage "run":       (steps, params) -> steps, a rewrite of the golden path's steps
To add a fault, write its action and add a row.
"""

import asyncio
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, List, Optional, Union

from aiohttp import web

import sim_frames as wsf

EVENT_TYPES = ("agent_started", "agent_thinking", "tool_executing", "tool_completed",
               "agent_completed")


# ---- steps of a run -------------------------------------------------------

@dataclass(frozen=True)
class Peer:
    """Stands for the run_id of another session's run (waits for one to exist)."""
    wait_ms: float


@dataclass
class Event:
    type: str
    data: Dict[str, Any]
    root: Dict[str, Any] = field(default_factory=dict)  # extra top-level keys
    delay_ms: Optional[float] = None  # None: the scenario's delay for this type
    run_id: Union[None, str, Peer] = None  # None: the session's own run
    big: int = 0  # stream data.thought of this many bytes
    broadcast: bool = False  # also write it to every other open session


@dataclass
class Text:
    """A text frame that is not an event (payload may be invalid UTF-8)."""
    payload: bytes
    label: str
    delay_ms: float = 0


@dataclass
class Raw:
    """Bytes written as they are: deliberately broken framing."""
    data: bytes
    label: str
    delay_ms: float = 0


@dataclass
class Close:
    code: int
    reason: str
    delay_ms: float = 0


@dataclass
class Drop:
    """TCP reset, no close frame."""
    delay_ms: float = 0


@dataclass
class Eof:
    """Orderly TCP (and TLS) shutdown, no close frame."""
    delay_ms: float = 0


Step = Union[Event, Text, Raw, Close, Drop, Eof]


def golden_steps(options: Dict[str, Any]) -> List[Step]:
    """After the last step the server keeps the connection open."""
    text = options["response"]
    steps: List[Step] = [Event("agent_started", {"agent": "triage_agent", "status": "started"})]
    for i in range(options["thinking_repeats"]):
        steps.append(Event("agent_thinking",
                           {"thought": f"Step {i + 1}: choosing a tool for the request",
                            "step": i + 1},
                           big=options["big_thinking"] if i == 0 else 0))
    steps += [
        Event("tool_executing", {"tool": "echo", "args": {"text": text}}),
        Event("tool_completed", {"tool": "echo", "result": {"text": text}}),
        # supervisor_result: the real product's mark of the run's last agent_completed
        Event("agent_completed", {"result": text, "status": "completed",
                                  "supervisor_result": "completed"},
              root={"final_response": text}),
    ]
    return steps


def _index(steps: List[Step], type_: str) -> int:
    for i, s in enumerate(steps):
        if isinstance(s, Event) and s.type == type_:
            return i
    raise ValueError(f"no {type_} in the run")


def _upto(steps: List[Step], type_: str) -> List[Step]:
    return steps[:_index(steps, type_) + 1]


def _insert_after(steps: List[Step], type_: str, *new: Step) -> List[Step]:
    i = _index(steps, type_) + 1
    return steps[:i] + list(new) + steps[i:]


def _edit(steps: List[Step], type_: str, **changes: Any) -> List[Step]:
    i = _index(steps, type_)
    return steps[:i] + [replace(steps[i], **changes)] + steps[i + 1:]


# ---- run faults -----------------------------------------------------------

GARBAGE = {
    "opcode": wsf.frame(0x3, b"reserved opcode"),
    "rsv": wsf.frame(wsf.TEXT, b'{"type":"heartbeat"}', rsv=wsf.RSV1 | wsf.RSV2 | wsf.RSV3),
    "masked": wsf.masked_frame(wsf.TEXT, b'{"type":"heartbeat"}', b"\x11\x22\x33\x44"),
    "control_long": wsf.frame(wsf.PING, b"p" * 126),
    "control_fragmented": wsf.frame(wsf.PING, b"p", fin=False),
    "continuation": wsf.frame(wsf.CONT, b"orphan continuation"),
}


def _ws_garbage(steps, p):
    kind = p["kind"]
    return _upto(steps, "agent_started") + [Raw(GARBAGE[kind], f"garbage:{kind}")]


def _events_order(steps, p):
    steps = list(steps)
    tool = steps.pop(_index(steps, "tool_executing"))
    j = _index(steps, "agent_thinking")
    return steps[:j] + [tool] + steps[j:]


def _events_duplicate(steps, p):
    i = _index(steps, p["type"])
    return steps[:i + 1] + [replace(steps[i])] + steps[i + 1:]


def _trickle(steps, p):
    """The thinking as params.partials agent_thinking frames, params.ms apart (the first too)."""
    i = _index(steps, "agent_thinking")
    rest = [x for x in steps[i:] if getattr(x, "type", None) != "agent_thinking"]
    partials = [Event("agent_thinking", {"thought": f"partial {n + 1}", "step": n + 1},
                      delay_ms=float(p["ms"])) for n in range(int(p["partials"]))]
    return steps[:i] + partials + rest


def _completed_with(steps, text):
    data = {"status": "completed", "supervisor_result": "completed"}
    if text:
        data["result"] = text
    return _edit(steps, "agent_completed", data=data, root={"final_response": text})


# Stand for the session's token in an event's data (sim_session.Session._event_obj): as presented,
# and as a jwt.<base64url> subprotocol carries it.
ECHO_TOKEN = "${echo:token}"
ECHO_TOKEN_B64 = "${echo:token_b64}"

INVALID_UTF8 = b'{"type":"agent_thinking","data":{"thought":"bad \xc3\x28 \xff bytes"}}'


def _run_faults() -> Dict[str, Callable]:
    return {
        "ws_close": lambda s, p: _upto(s, "agent_thinking") + [Close(p["code"], p["reason"])],
        "ws_drop": lambda s, p: _upto(s, "agent_started") + [Drop()],
        "ws_eof": lambda s, p: _upto(s, "agent_started") + [Eof()],
        "ws_garbage": _ws_garbage,
        "events_order": _events_order,
        "events_missing": lambda s, p: [x for x in s if getattr(x, "type", None) != p["type"]],
        "events_duplicate": _events_duplicate,
        "agent_error": lambda s, p: _upto(s, "agent_thinking") + [
            Event("agent_error", {"error_message": p["message"]}, delay_ms=0)],
        "stall": lambda s, p: s[:_index(s, p["before"])],
        "hang": lambda s, p: _upto(s, p["after"]),
        "trickle": _trickle,
        "unknown_type": lambda s, p: _insert_after(
            s, "agent_thinking", Event(p["type"], {"mood": "pensive"}, delay_ms=0)),
        "non_json": lambda s, p: _insert_after(
            s, "agent_thinking", Text(p["text"].encode(), "non_json")),
        "foreign_run_id": lambda s, p: _edit(s, p["type"], run_id=f"run-foreign-{uuid.uuid4()}"),
        "empty_response": lambda s, p: _completed_with(s, ""),
        "wrong_response": lambda s, p: _completed_with(s, p["text"]),
        "slow_events": lambda s, p: [replace(x, delay_ms=float(p["ms"])) if isinstance(x, Event)
                                     else x for x in s],
        "crosstalk": lambda s, p: _insert_after(s, "agent_thinking", Event(
            "agent_thinking", {"thought": "someone else's thought"}, delay_ms=0,
            run_id=Peer(float(p["wait_ms"])))),
        "broadcast": lambda s, p: _edit(s, "agent_thinking", broadcast=True),
        "huge_frame": lambda s, p: _edit(s, "agent_thinking", big=int(p["bytes"])),
        "invalid_utf8": lambda s, p: _insert_after(
            s, "agent_started", Text(INVALID_UTF8, "invalid_utf8")),
        "echo_token": lambda s, p: _upto(s, "agent_thinking") + [
            Event("agent_error", {"error_message": f"tool gateway rejected token {ECHO_TOKEN}",
                                  "auth": {"bearer": ECHO_TOKEN, "protocol": "jwt." + ECHO_TOKEN_B64}},
                  delay_ms=0)],
    }


# ---- login faults ---------------------------------------------------------

def unauthorized() -> web.Response:
    return web.json_response({"detail": "Incorrect email or password"}, status=401)


async def wait_disconnect(request: web.Request, stopping: asyncio.Event) -> None:
    """Hold a request unanswered until the client goes away or the sim stops.
    aiohttp 3.8 does not cancel a handler when its client disconnects, hence the check
    every half second."""
    while not stopping.is_set():
        t = request.transport
        if t is None or t.is_closing():
            return
        try:
            await asyncio.wait_for(stopping.wait(), 0.5)
        except asyncio.TimeoutError:
            pass


async def _blackhole(request, p, sim):
    await wait_disconnect(request, sim.stopping)
    return web.Response(status=503)


async def _login_slow(request, p, sim):
    await asyncio.sleep(float(p["ms"]) / 1000)
    return None


async def yield_and_drain(protocol) -> None:
    """After each chunk of a big stream: wait while the transport is paused, and always
    let the loop run. A TLS transport whose peer is gone neither pauses nor reports
    closing until connection_lost has run, so a loop that only drained would spin
    through the whole payload without ever yielding."""
    await asyncio.sleep(0)
    await protocol._drain_helper()  # raises ConnectionResetError once the peer is gone


async def _huge_login(request, p, sim):
    """A valid JSON reply of p.bytes bytes, the token last, streamed in 64 KiB writes."""
    head = b'{"padding":"'
    tail = b'","access_token":"tok.huge-login-never-issued","token_type":"bearer"}'
    pad = max(0, int(p["bytes"]) - len(head) - len(tail))
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.content_length = len(head) + pad + len(tail)
    await resp.prepare(request)
    await resp.write(head)
    chunk = b"x" * 65536
    while pad > 0:
        n = min(pad, len(chunk))
        await resp.write(chunk[:n] if n < len(chunk) else chunk)
        pad -= n
        await yield_and_drain(request.protocol)
    await resp.write(tail)
    await resp.write_eof()
    return resp


def redirect_loop(n: int) -> web.Response:
    """307 keeps the method and body, so a client that follows it never gets out."""
    return web.Response(status=307, headers={"Location": f"/auth/login?loop={n + 1}"},
                        text="redirecting\n")


async def _login_redirect_loop(request, p, sim):
    return redirect_loop(0)


def _reply(make: Callable[[], web.StreamResponse]) -> Callable:
    async def action(request, p, sim):
        return make()
    return action


LOGIN_HTML = ("<!doctype html><html><head><title>Sign in</title></head>"
              "<body><h1>Please sign in</h1></body></html>\n")


# ---- upgrade and handshake faults -------------------------------------------

async def _trickle_handshake(transport, head, welcome, p):
    step = max(1, int(p["chunk"]))
    pause = float(p["ms"]) / 1000 / -(-len(head) // step)
    for i in range(0, len(head), step):
        if transport.is_closing():
            raise ConnectionResetError("client went away during the trickle")
        transport.write(head[i:i + step])
        await asyncio.sleep(pause)
    return False


async def _send_before_upgrade(transport, head, welcome, p):
    if p["mode"] == "early":
        transport.write(welcome + head)
    else:
        transport.write(head + welcome)
    return True


# ---- the table --------------------------------------------------------------

@dataclass(frozen=True)
class Fault:
    name: str
    stage: str
    expect: str
    doc: str
    action: Callable
    params: Dict[str, Any] = field(default_factory=dict)
    choices: Dict[str, tuple] = field(default_factory=dict)  # allowed values of params


def _table() -> Dict[str, Fault]:
    run = _run_faults()
    rows = [
        # name, stage, expect, params, doc
        ("login_wrong_password", "login", "login.status", {}, "401 whatever the password"),
        ("login_500", "login", "login.status", {}, "500 with a JSON error"),
        ("login_html", "login", "login.token", {}, "200 text/html page"),
        ("login_no_token", "login", "login.token", {}, "200 JSON without access_token"),
        ("login_slow", "login", "slo.login", {"ms": 2500}, "delay params.ms, then log in"),
        ("blackhole", "login", "net.timeout", {}, "login request never answered"),
        ("huge_login", "login", "login.token", {"bytes": 1 << 30},
         "200 JSON of params.bytes, token last, streamed"),
        ("login_redirect_loop", "login", "login.status", {}, "307 to itself, forever"),
        ("ws_401", "upgrade", "ws.upgrade", {}, "refuse the upgrade with 401"),
        ("ws_403", "upgrade", "ws.upgrade", {}, "refuse the upgrade with 403"),
        ("ws_404", "upgrade", "ws.upgrade", {}, "refuse the upgrade with 404"),
        ("ws_blackhole", "upgrade", "net.timeout", {}, "upgrade request never answered"),
        ("trickle_handshake", "handshake", "slo.connect", {"ms": 3000, "chunk": 1},
         "101 response spread over params.ms in params.chunk-byte writes "
         "(net.timeout if it outlasts ConnectTimeout)"),
        ("send_before_upgrade", "handshake", "pass", {"mode": "coalesced"},
         "coalesced: 101 and the first frame in one write (valid); "
         "early: a frame before the status line (ws.upgrade)"),
        ("ws_close", "run", "ws.closed", {"code": 1011, "reason": "internal error"},
         "close frame after agent_thinking"),
        ("ws_drop", "run", "ws.closed", {}, "TCP reset after agent_started"),
        ("ws_eof", "run", "ws.closed", {}, "TCP/TLS shutdown without close frame after "
         "agent_started"),
        ("ws_garbage", "run", "ws.protocol", {"kind": "opcode"},
         "invalid frame after agent_started; kind: " + ", ".join(GARBAGE)),
        ("events_order", "run", "events.order", {}, "tool_executing before agent_thinking"),
        ("events_missing", "run", "events.missing", {"type": "tool_completed"},
         "skip params.type"),
        ("events_duplicate", "run", "events.order", {"type": "agent_started"},
         "params.type twice"),
        ("agent_error", "run", "events.error", {"message": "model quota exceeded"},
         "agent_error after agent_thinking"),
        ("stall", "run", "events.timeout", {"before": "tool_completed"},
         "stop before params.before, connection kept open"),
        ("hang", "run", "events.stall", {"after": "agent_thinking"},
         "no frame at all after params.after, connection kept open (events.stall with "
         "StallTimeout=; events.timeout without)"),
        ("trickle", "run", "slo.silence", {"partials": 4, "ms": 400},
         "the thinking as params.partials agent_thinking frames params.ms apart "
         "(slo.silence or slo.first_partial with [SLO] Silence= or FirstPartial= below params.ms)"),
        ("unknown_type", "run", "events.unexpected", {"type": "agent_mood"},
         "extra event type after agent_thinking (a pass unless Strict=yes)"),
        ("non_json", "run", "events.malformed", {"text": "this is not json"},
         "non-JSON text frame after agent_thinking (a pass unless Strict=yes)"),
        ("foreign_run_id", "run", "events.crosstalk", {"type": "agent_thinking"},
         "params.type carries a run_id nobody owns"),
        ("empty_response", "run", "response.empty", {},
         "agent_completed with final_response \"\" and no data.result"),
        ("wrong_response", "run", "response.mismatch", {"text": "I cannot help with that"},
         "final response params.text (a mismatch with ResponseMatch=^ready)"),
        ("slow_events", "run", "slo.first_event", {"ms": 5500},
         "params.ms before every event (slo.total when the sum exceeds SLO Total)"),
        ("crosstalk", "run", "events.crosstalk", {"wait_ms": 2000},
         "an extra event carrying another session's run_id (waits params.wait_ms for one; "
         "else an unknown id)"),
        ("broadcast", "run", "events.crosstalk", {},
         "agent_thinking also written to every other open session "
         "(the others see crosstalk; a pass with Users=1)"),
        ("huge_frame", "run", "ws.protocol", {"bytes": 100 << 20},
         "agent_thinking as one frame of params.bytes, streamed (a probe must cap it)"),
        ("invalid_utf8", "run", "ws.protocol", {},
         "a text frame with invalid UTF-8 after agent_started"),
        ("echo_token", "run", "events.error", {},
         "agent_error after agent_thinking quoting the session's token, as is and base64url "
         "(a transcript must redact it)"),
    ]
    actions = {
        "login_wrong_password": _reply(unauthorized),
        "login_500": _reply(lambda: web.json_response({"detail": "Internal Server Error"},
                                                      status=500)),
        "login_html": _reply(lambda: web.Response(text=LOGIN_HTML, content_type="text/html")),
        "login_no_token": _reply(lambda: web.json_response({"token_type": "bearer",
                                                            "expires_in": 3600})),
        "login_slow": _login_slow,
        "blackhole": _blackhole,
        "huge_login": _huge_login,
        "login_redirect_loop": _login_redirect_loop,
        "ws_401": _reply(lambda: web.json_response({"detail": "Not authenticated"}, status=401)),
        "ws_403": _reply(lambda: web.json_response({"detail": "Forbidden"}, status=403)),
        "ws_404": _reply(lambda: web.json_response({"detail": "Not Found"}, status=404)),
        "ws_blackhole": _blackhole,
        "trickle_handshake": _trickle_handshake,
        "send_before_upgrade": _send_before_upgrade,
        **run,
    }
    choices = {
        "ws_garbage": {"kind": tuple(GARBAGE)},
        "send_before_upgrade": {"mode": ("coalesced", "early")},
        "stall": {"before": EVENT_TYPES},
        "hang": {"after": EVENT_TYPES},
        "events_missing": {"type": EVENT_TYPES},
        "events_duplicate": {"type": EVENT_TYPES},
        "foreign_run_id": {"type": EVENT_TYPES},
    }
    return {name: Fault(name, stage, expect, doc, actions[name], params, choices.get(name, {}))
            for name, stage, expect, params, doc in rows}


FAULTS: Dict[str, Fault] = _table()


def stage_group(fault: Optional[str], table: Optional[Dict[str, "Fault"]] = None) -> str:
    """Which kind of request consumes a scenario: "login" or "ws"."""
    table = FAULTS if table is None else table
    return "login" if fault and table[fault].stage == "login" else "ws"
