"""The simulator's state: scenario (fault, params, options, delays), the control
plane's rules for applying it, counters, the event log and issued tokens."""

import asyncio
import collections
import fnmatch
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

from aiohttp import web

from sim_faults import EVENT_TYPES, FAULTS, stage_group

DEFAULT_DELAY_MS = 20.0


class ConfigError(ValueError):
    pass


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.lower() in ("1", "yes", "true", "on", "0", "no", "false", "off"):
        return v.lower() in ("1", "yes", "true", "on")
    raise ConfigError(f"not a boolean: {v!r}")


def _number(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ConfigError(f"not a number: {v!r}")
    try:
        return float(v)
    except ValueError:
        raise ConfigError(f"not a number: {v!r}") from None


def _seconds(v: Any) -> Optional[float]:
    """An interval in seconds; 0 or null turns the feature off."""
    if v is None:
        return None
    s = _number(v)
    if s < 0:
        raise ConfigError(f"negative interval: {v!r}")
    return s or None


def _count(minimum: int) -> Callable[[Any], int]:
    def conv(v: Any) -> int:
        n = _number(v)
        if n != int(n) or n < minimum:
            raise ConfigError(f"want an integer >= {minimum}: {v!r}")
        return int(n)
    return conv


def _coalesce(v: Any) -> int:
    """Frames per transport write: an integer, or true for a whole run in one write."""
    if v is True or (isinstance(v, str) and v.lower() in ("yes", "true", "on", "all")):
        return 1 << 30
    if v is False:
        return 1
    return _count(1)(v)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        if v not in allowed:
            raise ConfigError(f"want one of {', '.join(allowed)}: {v!r}")
        return v
    return conv


def _text(v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"not a string: {v!r}")
    return v


# name -> (converter, default). Each is a valid (if awkward) server behaviour.
OPTIONS: Dict[str, tuple] = {
    "interleave": (_bool, False),          # heartbeat + ack before every event
    "ack": (_bool, False),                 # {"type":"ack"} after each user_message
    "welcome": (_bool, True),              # connection_established on accept
    "ping_interval": (_seconds, None),     # WebSocket PING frames every N s
    "heartbeat_interval": (_seconds, None),  # {"type":"heartbeat"} every N s
    "fragment": (_count(1), 1),            # each event as N fragments (+ empty final)
    "coalesce": (_coalesce, 1),            # frames per transport write
    "big_thinking": (_count(0), 0),        # bytes of data.thought in agent_thinking
    "id_location": (_choice("root", "data", "payload"), "root"),
    "thinking_repeats": (_count(1), 1),
    "response": (_text, "ready"),          # the final response text
    "delay_jitter": (_count(0), 0),        # ms: each event's delay + uniform(0, N)
}


def parse_options(raw: Dict[str, Any], base: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    opts = dict(base) if base is not None else {k: d for k, (_, d) in OPTIONS.items()}
    for k, v in raw.items():
        if k not in OPTIONS:
            raise ConfigError(f"unknown option {k!r}")
        try:
            opts[k] = OPTIONS[k][0](v)
        except ConfigError as e:
            raise ConfigError(f"option {k}: {e}") from None
    return opts


def parse_delays(raw: Dict[str, Any]) -> Dict[str, float]:
    out = {}
    for k, v in raw.items():
        if k != "default" and k not in EVENT_TYPES:
            raise ConfigError(f"unknown delay type {k!r} "
                              f"(want default or {', '.join(EVENT_TYPES)})")
        ms = _number(v)
        if ms < 0:
            raise ConfigError(f"negative delay for {k}")
        out[k] = ms
    return out


def parse_params(fault: Optional[str], raw: Dict[str, Any],
                 table: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    table = FAULTS if table is None else table
    if fault is None:
        if raw:
            raise ConfigError("params without a fault")
        return {}
    if fault not in table:
        raise ConfigError(f"unknown fault {fault!r}")
    spec = table[fault]
    params = dict(spec.params)
    for k, v in raw.items():
        if k not in params:
            known = ", ".join(params) or "none"
            raise ConfigError(f"fault {fault}: unknown param {k!r} (known: {known})")
        if isinstance(params[k], str):
            v = _text(v)
        else:
            v = _number(v)
            if v < 0:
                raise ConfigError(f"fault {fault}: negative {k}")
        allowed = spec.choices.get(k)
        if allowed and v not in allowed:
            raise ConfigError(f"fault {fault}: {k} must be one of {', '.join(allowed)}")
        params[k] = v
    return params


@dataclass(frozen=True)
class Scenario:
    fault: Optional[str] = None
    params: Dict[str, Any] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=lambda: parse_options({}))
    delays: Dict[str, float] = field(default_factory=dict)

    def delay_ms(self, event_type: str) -> float:
        return self.delays.get(event_type, self.delays.get("default", DEFAULT_DELAY_MS))

    def without_fault(self) -> "Scenario":
        return Scenario(None, {}, self.options, self.delays)

    def to_json(self) -> Dict[str, Any]:
        return {"fault": self.fault, "params": self.params, "options": self.options,
                "delays": self.delays}


class Control:
    """What the next logins and WebSocket sessions do.

    A scenario with `count` applies to the next `count` logins (login faults) or
    accepted WebSocket sessions (every other fault, or no fault), then reverts to the
    startup options and delays with no fault. With `user` (a glob), the fault applies
    only to logins and sessions of matching emails (a session's email is its token's);
    the others get the options and delays without the fault, and do not count."""

    def __init__(self, startup: Scenario, faults: Optional[Dict[str, Any]] = None):
        self.faults = FAULTS if faults is None else faults  # a profile's fault table
        self.startup = startup
        self.current = startup
        self.remaining: Optional[int] = None
        self.user: Optional[str] = None

    def reset(self) -> None:
        self.current, self.remaining, self.user = self.startup, None, None

    def configure(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise ConfigError("want a JSON object")
        unknown = set(body) - {"fault", "params", "options", "delays", "count", "user"}
        if unknown:
            raise ConfigError(f"unknown keys: {', '.join(sorted(unknown))}")
        for k in ("params", "options", "delays"):
            if not isinstance(body.get(k, {}), dict):
                raise ConfigError(f"{k} must be an object")
        cur = self.current
        fault = body.get("fault", cur.fault)
        if fault is not None and not isinstance(fault, str):
            raise ConfigError("fault must be a string or null")
        if "fault" in body or "params" in body:
            params = parse_params(fault, body.get("params", {}), self.faults)
        else:
            params = cur.params
        options = parse_options(body["options"], self.startup.options) if "options" in body \
            else cur.options
        delays = parse_delays(body["delays"]) if "delays" in body else cur.delays
        count = body.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or count < 1):
            raise ConfigError("count must be a positive integer or null")
        user = body.get("user", self.user)
        if user is not None and not isinstance(user, str):
            raise ConfigError("user must be a string (a glob) or null")
        self.current = Scenario(fault, params, options, delays)
        self.remaining = count
        self.user = user

    def take(self, group: str, email: Optional[str] = None) -> Scenario:
        """The scenario for one login ("login") or one WebSocket session ("ws") of the
        user `email` (None when unknown)."""
        cur = self.current
        if stage_group(cur.fault, self.faults) != group:
            return cur.without_fault()
        if self.user is not None and not (
                email and fnmatch.fnmatchcase(email.lower(), self.user.lower())):
            return cur.without_fault()
        if self.remaining is not None:
            self.remaining -= 1
            if self.remaining <= 0:
                self.current = Scenario(None, {}, self.startup.options, self.startup.delays)
                self.remaining, self.user = None, None
        return cur

    def to_json(self) -> Dict[str, Any]:
        return {**self.current.to_json(), "count": self.remaining, "user": self.user}


class EventLog:
    """Every text frame written, and every user_message read, bounded (oldest dropped)."""

    def __init__(self, maxlen: int):
        self._written: collections.deque = collections.deque(maxlen=maxlen)
        self._received: collections.deque = collections.deque(maxlen=maxlen)
        self._seq = 0

    def wrote(self, session: str, run_id: Optional[str], type_: str, t_start: int,
              t_done: int, t_due: Optional[int] = None) -> None:
        """t_mono_ns: just after the frame was handed to the transport (a reader on
        this host may already have it, a few microseconds earlier);
        t_write_start_ns: just before its first byte was; t_due_ns (agent events): when the
        scenario's delay meant it to be written (t_write_start_ns - t_due_ns: the sim's own
        lateness)."""
        self._seq += 1
        e = {"seq": self._seq, "session": session, "run_id": run_id, "type": type_,
             "t_mono_ns": t_done, "t_write_start_ns": t_start}
        if t_due is not None:
            e["t_due_ns"] = t_due
        self._written.append(e)

    def received(self, session: str, run_id: str, t_ns: int,
                 traceparent: Optional[str] = None) -> None:
        self._seq += 1
        entry = {"seq": self._seq, "session": session, "run_id": run_id,
                 "type": "user_message", "t_mono_ns": t_ns}
        if traceparent is not None:  # the request frame carried one (payload or root)
            entry["traceparent"] = traceparent
        self._received.append(entry)

    def query(self, run_id: Optional[str] = None) -> Dict[str, Any]:
        def pick(entries):
            return [e for e in entries if run_id is None or e["run_id"] == run_id]
        return {"events": pick(self._written), "user_messages": pick(self._received),
                "dropped": self._seq - len(self._written) - len(self._received)}

    def clear(self) -> None:
        self._written.clear()
        self._received.clear()
        self._seq = 0


class Tokens:
    """Issued tokens (token -> email), oldest forgotten first."""

    def __init__(self, maxlen: int = 100000):
        self._tokens: "collections.OrderedDict[str, str]" = collections.OrderedDict()
        self._maxlen = maxlen

    def add(self, token: str, email: str) -> None:
        self._tokens[token] = email
        while len(self._tokens) > self._maxlen:
            self._tokens.popitem(last=False)

    def __contains__(self, token: str) -> bool:
        return token in self._tokens

    def email(self, token: Optional[str]) -> Optional[str]:
        return self._tokens.get(token) if token else None


def mono_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


class Sim:
    """Shared state of one simulator process."""

    def __init__(self, startup: Scenario, password: str, static_token: Optional[str],
                 log_size: int, faults: Optional[Dict[str, Any]] = None):
        self.faults = FAULTS if faults is None else faults
        self.control = Control(startup, self.faults)
        self.password = password
        self.static_token = static_token
        self.tokens = Tokens()
        self.stats: collections.Counter = collections.Counter()
        self.faults_by_name: collections.Counter = collections.Counter()
        self.close_codes: collections.Counter = collections.Counter()
        self.log = EventLog(log_size)
        self.trace_log: collections.deque = collections.deque(maxlen=log_size)  # sim_trace.py
        self.require_traceparent = False
        self.sessions: set = set()
        self.stopping = asyncio.Event()
        self.runs_changed = asyncio.Condition()

    def valid_token(self, token: Optional[str]) -> bool:
        return bool(token) and (token in self.tokens or token == self.static_token)

    def note_fault(self, scenario: Scenario) -> None:
        if scenario.fault:
            self.stats["faults_applied"] += 1
            self.faults_by_name[scenario.fault] += 1

    def reset(self) -> None:
        self.control.reset()
        self.stats.clear()
        self.faults_by_name.clear()
        self.close_codes.clear()
        self.log.clear()
        self.trace_log.clear()

    def stats_json(self) -> Dict[str, Any]:
        keys = ("logins", "logins_ok", "login_repeated_headers", "ws_sessions", "ws_rejected", "runs",
                "faults_applied", "messages_received", "malformed_received", "client_pings",
                "pings_sent", "pongs_received", "heartbeats_sent", "traceparent_rejected")
        out: Dict[str, Any] = {k: self.stats[k] for k in keys}
        out["active_sessions"] = len(self.sessions)
        out["faults"] = dict(self.faults_by_name)
        out["client_close_codes"] = {str(k): v for k, v in self.close_codes.items()}
        return out

    async def wait_peer_run(self, me: Any, timeout: float) -> Optional[str]:
        """The run_id of another session's run, waiting up to `timeout` for one."""
        def peer() -> Optional[str]:
            for s in self.sessions:
                if s is not me and s.run_id:
                    return s.run_id
            return None
        async with self.runs_changed:
            try:
                await asyncio.wait_for(self.runs_changed.wait_for(peer), timeout)
            except asyncio.TimeoutError:
                pass
            return peer()


def repeated_header(request) -> Optional[str]:
    """The first header name the request carries twice (case-insensitively), as sent."""
    seen = set()
    for name, _ in request.raw_headers:
        text = name.decode("latin-1")
        if text.lower() in seen:
            return text
        seen.add(text.lower())
    return None


async def login_request(request, sim: "Sim", faults) -> tuple:
    """Counts a login, reads its JSON body and applies a login fault of `faults`: (body or
    None, the fault's response or None). Shared by every profile's login. A header sent
    twice is refused as a real server refuses it (400 "Duplicate 'Content-Type' header")."""
    sim.stats["logins"] += 1
    dup = repeated_header(request)
    if dup is not None:
        sim.stats["login_repeated_headers"] += 1
        return None, web.json_response({"detail": f"Duplicate '{dup}' header"}, status=400)
    try:
        body = await request.json()
    except ValueError:
        body = None
    email = body.get("email") if isinstance(body, dict) else None
    scenario = sim.control.take("login", email if isinstance(email, str) else None)
    if scenario.fault:
        sim.note_fault(scenario)
        return body, await faults[scenario.fault].action(request, scenario.params, sim)
    return body, None
