"""Netra profiles: gpsim as the real Netra Apex backend at tags beta-10, beta-12 and
beta-17 (netra-systems/zen), as docs/netra.md describes it with its evidence.

Written from a reading of that source, not copied from it. What differs from the generic
profile: JWT-like tokens and the real login shapes, a ticket endpoint (beta-17),
authentication AFTER the 101 (error frame + close 1008), the tag's subprotocol
answer, the tag's welcome, server-made run ids, a supervisor that runs five sub-agents
(each with its own agent_started .. agent_completed), a final supervisor agent_completed
whose answer sits in payload.results.reporting.data.report, and delivery per user id
(every connection of an identity gets every run of that identity).
"""

import asyncio
import base64
import binascii
import collections
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs

from aiohttp import web

from sim_faults import FAULTS, Fault, unauthorized
from sim_session import Session, SimWebSocketResponse
from sim_state import Scenario, Sim, login_request, mono_ns

FIVE = ("agent_started", "agent_thinking", "tool_executing", "tool_completed",
        "agent_completed")
SUB_AGENTS = (("triage", None), ("data", "data_query"), ("optimization", "cost_analyzer"),
              ("actions", "action_planner"), ("reporting", "report_generator"))
DEMO_USER = "demo-user-001"
JWT_SECRET = secrets.token_bytes(32)


@dataclass(frozen=True)
class Profile:
    name: str
    tag: str
    ws_paths: Tuple[str, ...]
    ticket: bool           # POST /api/websocket/ticket, ?ticket= on the WebSocket
    ids: str               # user id format: "uuid" (beta-10) or "auth_user" (beta-12+)
    demo: bool             # DEMO_MODE exists in the source (auth_permissiveness.py)


PROFILES: Dict[str, Profile] = {
    "netra-beta-10": Profile("netra-beta-10", "beta-10", ("/ws", "/websocket"), False,
                             "uuid", False),
    "netra-beta-12": Profile("netra-beta-12", "beta-12", ("/ws", "/websocket"), False,
                             "auth_user", True),
    # /ws/isolated: the only mode whose authentication reads ?ticket= (websocket_ssot.py@beta-17
    # _handle_isolated_mode -> unified_auth_ssot.authenticate_websocket, METHOD 4)
    "netra-beta-17": Profile("netra-beta-17", "beta-17", ("/ws", "/ws/isolated", "/api/v1/websocket"), True,
                             "auth_user", True),
}


def user_id_for(profile: Profile, email: str) -> str:
    """Deterministic per email. beta-10: a uuid (AuthUser.id default uuid4); from beta-12
    the AuthUser.id default is generate_base_id("auth_user") = auth_user_<ms>_<n>_<hex8>."""
    e = email.lower()
    if profile.ids == "uuid":
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, e))
    h = hashlib.sha256(e.encode()).hexdigest()
    return f"auth_user_{1757000000000 + int(h[:8], 16) % 100000000}_{int(h[8:10], 16)}_{h[10:18]}"


def _b64(obj: Any) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_jwt(user_id: str, email: str, kind: str, ttl: int) -> str:
    now = int(time.time())
    head = _b64({"alg": "HS256", "typ": "JWT"})
    body = _b64({"sub": user_id, "email": email, "iat": now, "exp": now + ttl,
                 "token_type": kind, "iss": "netra-auth-service", "jti": str(uuid.uuid4())})
    sig = _b64(hmac.new(JWT_SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{sig}"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


# ---- faults --------------------------------------------------------------------------

def _noop(*_a, **_k):
    return None


_NETRA_ROWS = [
    # name, expect, params, doc, profiles (None: all)
    ("subagent_error", "events.error", {"agent": "data", "message": "LLM request failed: quota exceeded"},
     "params.agent emits agent_error (the tag's shape) instead of its tools and agent_completed; "
     "the workflow goes on and the supervisor still completes, with results.<agent>.error set",
     None),
    ("no_tools", "events.missing", {}, "no tool_executing/tool_completed in any cycle", None),
    ("placeholder_answer", "response.empty", {},
     "the reporting agent returns no report (results.reporting.data null); the final "
     "carries only the supervisor fields (and, at beta-17, final_response \"Task completed\")",
     None),
    ("stall", "events.timeout", {},
     "events stop after the data agent's thinking frame; the connection stays open", None),
    ("foreign_run", "events.crosstalk", {"offset_ms": 30},
     "another run of the same identity (another server run_id) is delivered to the "
     "session, its events interleaved with ours", None),
    ("demo_mode", "ws.identity", {},
     "DEMO_MODE=1: every token accepted (bad or missing too), the welcome names "
     "demo-user-001, every session is that one user (their runs cross)", ("beta-12", "beta-17")),
    ("auth_after_upgrade", "ws.auth", {},
     "101, then the tag's auth error frame and close 1008, whatever the token", None),
    ("dropped_events", "events.missing", {},
     "no event of the run is delivered except the final supervisor agent_completed", None),
    ("no_subprotocol", "ws.upgrade", {},
     "beta-11: the 101 has no Sec-WebSocket-Protocol although the client offered some", None),
]
NETRA_ONLY = {r[0] for r in _NETRA_ROWS}


def fault_table(profile: Profile) -> Dict[str, Fault]:
    """The generic login and upgrade faults (they fit unchanged), and the netra faults."""
    table = {n: f for n, f in FAULTS.items() if f.stage in ("login", "upgrade")}
    for name, expect, params, doc, tags in _NETRA_ROWS:
        if tags is None or profile.tag in tags:
            table[name] = Fault(name, "netra", expect, doc, _noop, params)
    return table


# ---- login and ticket ----------------------------------------------------------------

class NetraAuth:
    """Issued tokens and tickets of one process (per-profile identity rules)."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self.tickets: Dict[str, Tuple[str, str, float, bool]] = {}

    def identity(self, sim: Sim, token: Optional[str]) -> Optional[Tuple[str, str]]:
        """(user_id, email) of a valid token, else None."""
        if not token:
            return None
        if sim.static_token and token == sim.static_token:
            return user_id_for(self.profile, "static@example.com"), "static@example.com"
        email = sim.tokens.email(token)
        return (user_id_for(self.profile, email), email) if email else None


def make_login(profile: Profile):
    async def login(request: web.Request) -> web.StreamResponse:
        sim: Sim = request.app["sim"]
        body, resp = await login_request(request, sim, sim.faults)
        if resp is not None:
            return resp
        if not isinstance(body, dict):  # request.json() or body.get() raising: 500
            return web.json_response({"detail": "Authentication failed"}, status=500)
        email, password = body.get("email"), body.get("password")
        if not email or not password:
            return web.json_response({"detail": "Email and password are required"}, status=422)
        if (not isinstance(email, str) or not isinstance(password, str)
                or not re.fullmatch(r"[^@\s]+@example\.com", email.lower())
                or password != sim.password):
            return web.json_response({"detail": "Invalid credentials"}, status=401)
        uid = user_id_for(profile, email)
        access = make_jwt(uid, email, "access", 900)
        refresh = make_jwt(uid, email, "refresh", 7 * 86400)
        sim.tokens.add(access, email)
        sim.stats["logins_ok"] += 1
        return web.json_response({"access_token": access, "refresh_token": refresh,
                                  "token_type": "Bearer", "expires_in": 900,
                                  "user": {"id": uid, "email": email}})
    return login


def make_ticket(profile: Profile, auth: NetraAuth):
    async def ticket(request: web.Request) -> web.StreamResponse:
        sim: Sim = request.app["sim"]
        scheme, _, cred = request.headers.get("Authorization", "").partition(" ")
        who = auth.identity(sim, cred.strip()) if scheme.lower() == "bearer" else None
        if who is None:
            return web.json_response({"detail": "Authentication required"}, status=401)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):  # FastAPI: the body model is a required parameter
            return web.json_response({"detail": [{"type": "missing", "loc": ["body"],
                                                  "msg": "Field required", "input": None}]},
                                     status=422)
        ttl = body.get("ttl_seconds", 300)
        if ttl is None:
            ttl = 300
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 30 <= ttl <= 3600:
            return web.json_response({"detail": [{"type": "value_error",
                                                  "loc": ["body", "ttl_seconds"],
                                                  "msg": "ttl_seconds must be 30..3600",
                                                  "input": ttl}]}, status=422)
        single = body.get("single_use", True)
        single = True if single is None else bool(single)
        tid = secrets.token_urlsafe(32)
        now = time.time()
        auth.tickets[tid] = (who[0], who[1], now + ttl, single)
        return web.json_response({
            "ticket_id": tid, "expires_at": now + ttl, "created_at": now, "ttl_seconds": ttl,
            "single_use": single,
            "websocket_url": f"wss://api-staging.netrasystems.ai/ws?ticket={tid}"})
    return ticket


# ---- WebSocket authentication, per tag -----------------------------------------------

@dataclass
class AuthOutcome:
    user_id: Optional[str] = None
    email: Optional[str] = None
    code: Optional[str] = None      # error code when it failed
    message: str = ""
    answer: Optional[str] = None    # Sec-WebSocket-Protocol to answer
    refuse: Optional[int] = None    # HTTP status instead of a 101


def _offered(request: web.Request) -> List[str]:
    h = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in h.split(",") if p.strip()]


def _b64url_decode(s: str) -> Optional[str]:
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _answer(profile: Profile, offered: List[str]) -> Tuple[Optional[str], bool]:
    """(protocol to answer, refuse). beta-10 answers jwt-auth only if offered; beta-12
    answers the first match in the client's order, a token-bearing jwt.X as "jwt-auth"
    even when "jwt-auth" itself was not offered; beta-17 prefers a token-bearing one and
    echoes it exactly. From beta-12 an offer with no supported protocol is refused."""
    if not offered:
        return None, False
    if profile.tag == "beta-10":
        return ("jwt-auth" if "jwt-auth" in offered else None), False
    if profile.tag == "beta-12":
        for p in offered:
            if p in ("jwt-auth", "jwt", "bearer"):
                return p, False
            if (p.startswith("jwt.") and len(p) > 4) or (p.startswith("jwt-auth.") and len(p) > 9):
                return "jwt-auth", False
            if p.startswith("bearer.") and len(p) > 7:
                return "bearer", False
        return None, True
    for p in offered:
        for pre in ("jwt.", "jwt-auth.", "bearer."):
            if p.startswith(pre) and len(p) > len(pre):
                return p, False
    for p in offered:
        if p in ("jwt-auth", "jwt", "bearer"):
            return p, False
    return None, True


def authenticate(profile: Profile, auth: NetraAuth, sim: Sim,
                 request: web.Request) -> AuthOutcome:
    offered = _offered(request)
    answer, refuse = _answer(profile, offered)
    out = AuthOutcome(answer=answer, refuse=403 if refuse else None)
    q = parse_qs(request.query_string)
    bearer = ""
    scheme, _, cred = request.headers.get("Authorization", "").partition(" ")
    if scheme == "Bearer" and cred.strip():
        bearer = cred.strip()

    def known(tok: Optional[str]) -> Optional[Tuple[str, str]]:
        return auth.identity(sim, tok)

    candidates: List[str] = []  # tokens found, in the tag's order
    if profile.tag == "beta-10":
        if bearer:
            candidates.append(bearer)
        for p in offered:
            if p.startswith("jwt."):
                dec = _b64url_decode(p[4:])  # a raw JWT there is not base64url: skipped
                if dec is not None:
                    candidates.append(dec)
                    break
        if q.get("token"):
            candidates.append(q["token"][0])
    else:
        for p in offered:
            for pre in ("jwt.", "jwt-auth.", "bearer."):
                if p.startswith(pre) and len(p) > len(pre):
                    raw = p[len(pre):]
                    dec = _b64url_decode(raw)
                    candidates.append(raw if known(raw) or not dec else dec)
        if bearer:
            candidates.append(bearer)
        for name in ("token", "jwt", "auth_token", "access_token") if profile.ticket else ("token",):
            if q.get(name):
                candidates.append(q[name][0])
                break
    for tok in candidates:
        who = known(tok)
        if who:
            out.user_id, out.email = who
            return out
    # Main mode (/ws) never reads a ticket: a ticket-only connection there fails authentication
    # (or, with DEMO_MODE, becomes the demo user). Isolated mode reads it.
    isolated = request.path.endswith("/isolated") or request.query.get("mode") == "isolated"
    if profile.ticket and isolated:
        for name in ("ticket", "auth_ticket", "ticket_id"):
            if q.get(name):
                t = auth.tickets.get(q[name][0])
                if t and time.time() <= t[2]:
                    if t[3]:
                        del auth.tickets[q[name][0]]
                    out.user_id, out.email = t[0], t[1]
                    return out
                candidates.append("ticket")
                break
    if profile.tag == "beta-10":
        if not candidates:
            out.code, out.message = ("NO_TOKEN",
                                     "No JWT token found in WebSocket headers or subprotocols")
        else:
            tok = candidates[0]
            out.code = "VALIDATION_FAILED"
            out.message = f"Invalid token | Debug: {len(tok)} chars, {tok.count('.')} dots"
    else:
        out.code = "AUTH_FAILED"
        if not candidates:
            out.message = ("WebSocket authentication failed. Supported formats: jwt.TOKEN, "
                           "jwt-auth.TOKEN, bearer.TOKEN. Error: no token found")
        else:
            out.message = ("JWT token validation failed. Ensure JWT_SECRET_KEY is configured "
                           "consistently. Error: invalid jwt")
    return out


class NetraWebSocketResponse(SimWebSocketResponse):
    """Answers exactly the Sec-WebSocket-Protocol the tag's code would (even one the
    client did not offer), or none."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.answer: Optional[str] = None

    def _handshake(self, request):  # type: ignore[override]
        self._protocols = tuple(_offered(request))  # no "don't overlap" warning from aiohttp
        headers, _protocol, compress, notakeover = super()._handshake(request)
        headers.pop("Sec-WebSocket-Protocol", None)
        if self.answer:
            headers["Sec-WebSocket-Protocol"] = self.answer
        return headers, self.answer, compress, notakeover


# ---- frames of one run, shaped per tag -------------------------------------------------

def answer_text(request_text: str) -> str:
    m = re.search(r"\bthe word (\w+)", request_text, re.I)
    word = m.group(1) if m else (re.findall(r"\w+", request_text) or ["ready"])[0]
    return (f"{word}. Summary of your request \"{request_text}\": the workload analysis "
            f"found no anomalies; see the recommendations above.")


class Shaper:
    """Builds the frames a run writes at one tag."""

    def __init__(self, tag: str, run_id: str, thread_id: str, user_id: str):
        self.tag, self.run_id, self.thread_id, self.user_id = tag, run_id, thread_id, user_id

    def _bridge(self, type_: str, agent: str, body: Dict[str, Any],
                with_user: bool = True) -> Dict[str, Any]:
        obj: Dict[str, Any] = {"type": type_, "run_id": self.run_id}
        if self.tag == "beta-12" and with_user:
            obj["user_id"] = self.user_id
        obj.update({"agent_name": agent, "timestamp": _now_iso(), "payload": body})
        return obj

    def _root(self, processed: Dict[str, Any]) -> Dict[str, Any]:
        # MANAGER emit_critical_event: {"timestamp", "critical": true, **processed}
        return {"timestamp": _now_iso(), "critical": True, **processed}

    def started(self, agent: str) -> Dict[str, Any]:
        msg = f"{agent} has started processing your request"
        if self.tag != "beta-17":
            return self._bridge("agent_started", agent,
                                {"status": "started", "context": {}, "message": msg})
        return self._root({"type": "agent_started", "user_id": None,
                           "thread_id": self.thread_id, "timestamp": _now_iso(),
                           "agent_name": agent, "task_description": "Processing request",
                           "status": "started", "context": {}, "message": msg,
                           "run_id": self.run_id})

    def thinking(self, agent: str, text: str, step: int, pct: int,
                 via_emitter: bool = False) -> Dict[str, Any]:
        if self.tag != "beta-17":
            return self._bridge("agent_thinking", agent,
                                {"reasoning": text, "step_number": step,
                                 "progress_percentage": pct, "status": "thinking"})
        if via_emitter:
            # notify_agent_thinking puts 'type': 'reasoning' in the data, which the
            # manager's spread lets override the frame's type
            return self._root({"type": "reasoning", "reasoning": text,
                               "timestamp": time.time(), "user_id": None,
                               "thread_id": self.thread_id,
                               "metadata": {"step_number": step, "agent_name": agent},
                               "run_id": self.run_id})
        return self._root({"type": "agent_thinking", "reasoning": text,
                           "timestamp": _now_iso(), "user_id": None,
                           "thread_id": self.thread_id, "step_number": step,
                           "progress_percentage": pct, "agent_name": agent,
                           "run_id": self.run_id})

    def tool_executing(self, agent: str, tool: str, params: Dict[str, Any]) -> Dict[str, Any]:
        msg = f"{agent} is using {tool}"
        if self.tag != "beta-17":
            return self._bridge("tool_executing", agent,
                                {"tool_name": tool, "parameters": params,
                                 "status": "executing", "message": msg})
        return self._root({"type": "tool_executing", "tool_name": tool, "tool_args": params,
                           "parameters": params, "execution_id": None,
                           "timestamp": _now_iso(), "user_id": None,
                           "thread_id": self.thread_id, "status": "executing",
                           "message": msg, "agent_name": agent, "run_id": self.run_id})

    def tool_completed(self, agent: str, tool: str, result: Dict[str, Any]) -> Dict[str, Any]:
        msg = f"{agent} completed {tool}"
        if self.tag != "beta-17":
            return self._bridge("tool_completed", agent,
                                {"tool_name": tool, "result": result, "execution_time_ms": 12.5,
                                 "status": "completed", "message": msg})
        return self._root({"type": "tool_completed", "tool_name": tool, "results": result,
                           "execution_time": 0, "duration": 0, "execution_id": None,
                           "timestamp": _now_iso(), "success": True, "user_id": None,
                           "thread_id": self.thread_id, "result": result,
                           "execution_time_ms": 12.5, "status": "completed", "message": msg,
                           "agent_name": agent, "run_id": self.run_id})

    def completed(self, agent: str, result: Dict[str, Any]) -> Dict[str, Any]:
        msg = f"{agent} has completed processing your request"
        if self.tag != "beta-17":
            return self._bridge("agent_completed", agent,
                                {"status": "completed", "result": result,
                                 "execution_time_ms": 40.0, "message": msg})
        return self._root({"type": "agent_completed", "status": "completed",
                           "final_response": result, "timestamp": _now_iso(),
                           "user_id": None, "thread_id": self.thread_id, "result": result,
                           "execution_time_ms": 40.0, "message": msg, "agent_name": agent,
                           "run_id": self.run_id})

    def error(self, agent: str, message: str) -> Dict[str, Any]:
        if self.tag != "beta-17":
            return self._bridge("agent_error", agent,
                                {"status": "error", "error_message": message,
                                 "error_context": {},
                                 "message": f"{agent} encountered an issue processing your request"},
                                with_user=False)
        return self._root({"error": message, "status": "error", "agent_name": agent,
                           "run_id": self.run_id, "timestamp": time.time(),
                           "type": "agent_error"})

    def final(self, results: Dict[str, Any]) -> Dict[str, Any]:
        payload: Dict[str, Any] = {"supervisor_result": "completed",
                                   "orchestration_successful": True,
                                   "user_isolation_verified": True, "results": results,
                                   "user_id": self.user_id, "run_id": self.run_id}
        if self.tag != "beta-10":
            payload["status"] = "completed"
        if self.tag != "beta-17":
            return {"type": "agent_completed", "payload": payload}
        return self._root({"type": "agent_completed", "status": "completed",
                           "final_response": "Task completed", "timestamp": time.time(),
                           "user_id": None, "thread_id": None, "payload": payload})


def _exec_result(agent: str, data: Any, error: Optional[str] = None) -> Dict[str, Any]:
    """AgentExecutionResult as it serialises (agents/supervisor/execution_context.py)."""
    return {"success": error is None, "agent_name": agent, "error": error,
            "duration": 0.04, "metadata": {}, "metrics": None, "data": data}


def run_frames(tag: str, fault: Optional[str], params: Dict[str, Any], run_id: str,
               thread_id: str, user_id: str, text: str, kind: str,
               new_thread: bool) -> List[Tuple[str, Dict[str, Any]]]:
    """The frames of one run: (delay type, frame). Ends early at a stall."""
    sh = Shaper(tag, run_id, thread_id, user_id)
    out: List[Tuple[str, Dict[str, Any]]] = []
    if new_thread:
        out.append(("thread_created", {"type": "thread_created",
                                       "payload": {"thread_id": thread_id}}))
    out.append(("agent_started", {"type": "agent_started",
                                  "payload": {"run_id": run_id, "agent_name": "Supervisor",
                                              "thread_id": thread_id}}))
    if kind == "user_message":
        out.append(("agent_started", {"type": "agent_started",
                                      "payload": {"thread_id": thread_id, "run_id": run_id}}))
    out.append(("agent_started", sh.started("Supervisor")))
    out.append(("agent_thinking", sh.thinking(
        "Supervisor", "Analyzing your request and selecting appropriate agents...", 1, 10)))
    answer = answer_text(text)
    data_of = {
        "triage": {"category": "workload_optimization", "priority": "medium",
                   "confidence_score": 0.92, "user_request": text},
        "data": {"data_summary": "42 workload records analysed", "rows_analyzed": 42},
        "optimization": {"recommendations": ["batch small requests",
                                             "cache repeated prompts"]},
        "actions": {"action_plan": [{"step": 1, "action": "enable prompt caching"}]},
        "reporting": {"report": answer, "summary": answer.split(".")[0]},
    }
    if fault == "placeholder_answer":
        data_of["reporting"] = None
    results: Dict[str, Any] = {"workflow_completed": True}
    for i, (agent, tool) in enumerate(SUB_AGENTS):
        out.append(("agent_started", sh.started(agent)))
        out.append(("agent_thinking", sh.thinking(
            agent, f"{agent}: working on the request", i + 2, 20 + 15 * i,
            via_emitter=True)))
        if fault == "stall" and agent == "data":
            return out
        if fault == "subagent_error" and agent == params.get("agent"):
            out.append(("agent_error", sh.error(agent, params["message"])))
            results[agent] = _exec_result(agent, None, params["message"])
            continue
        if tool and fault != "no_tools":
            out.append(("tool_executing", sh.tool_executing(agent, tool,
                                                            {"query": text[:60]})))
            out.append(("tool_completed", sh.tool_completed(agent, tool,
                                                            data_of[agent] or {})))
        out.append(("agent_completed", sh.completed(agent, data_of[agent] or {})))
        results[agent] = _exec_result(agent, data_of[agent])
    results["user_request"] = text
    out.append(("agent_completed", sh.completed("Supervisor", {
        "supervisor_result": "completed", "orchestration_successful": True,
        "user_isolation_verified": True, "results": results})))
    out.append(("agent_completed", sh.final(results)))
    if fault == "dropped_events":
        out = out[-1:]
    return out


# ---- the session ---------------------------------------------------------------------

class NetraSession(Session):
    def __init__(self, sim: Sim, scenario: Scenario, request: web.Request, profile: Profile,
                 auth: AuthOutcome):
        super().__init__(sim, scenario, request)
        self.profile = profile
        self.auth = auth
        self.identity = auth.user_id
        self.conn_id = ("conn_" if profile.tag == "beta-10" else "ssot_") + secrets.token_hex(4)

    def welcome(self):
        uid = self.identity
        if self.profile.tag == "beta-10":
            obj = {"type": "system_message",
                   "data": {"event": "connection_established", "connection_id": self.conn_id,
                            "user_id": uid, "server_time": _now_iso(),
                            "connection_ready": True, "environment": "staging",
                            "startup_complete": True,
                            "config": {"heartbeat_interval": 25,
                                       "max_message_size": 1048576},
                            "factory_pattern_enabled": True},
                   "timestamp": time.time(), "server_id": None, "correlation_id": None}
        else:
            obj = {"type": "connect" if self.profile.tag == "beta-12" else "connection_established",
                   "data": {"mode": "main",
                            "user_id": uid[:8] + "..." if uid else "unknown",
                            "connection_id": self.conn_id,
                            "golden_path_events": list(FIVE),
                            "features": {"full_business_logic": True,
                                         "golden_path_integration": True,
                                         "cloud_run_optimized": True,
                                         "emergency_fallback": True,
                                         "agent_orchestration": True},
                            "timestamp": _now_iso()},
                   "timestamp": time.time(), "server_id": None, "correlation_id": None}
        return self.json_message(obj)

    def auth_error(self) -> Dict[str, Any]:
        details: Dict[str, Any] = {}
        if self.profile.tag == "beta-10":
            details = {"environment": "staging", "ssot_authentication": True,
                       "error_code": self.auth.code,
                       "failure_context": {"error_code": self.auth.code,
                                           "error_message": self.auth.message}}
        return {"type": "error_message", "error_code": self.auth.code,
                "error_message": self.auth.message, "details": details,
                "timestamp": time.time(), "recovery_suggestions": None}

    async def serve(self, ws: SimWebSocketResponse) -> SimWebSocketResponse:
        self.sim.sessions.add(self)
        try:
            if self.identity is None:
                self.sim.stats["ws_rejected"] += 1
                self._spawn(self._read_loop(ws))
                await self.send([self.json_message(self.auth_error())])
                reason = "SSOT Auth failed" if self.profile.tag == "beta-10" \
                    else "Authentication failed"
                await self._close(1008, reason)
                return ws
            self.sim.stats["ws_sessions"] += 1
            self.sim.netra_users[self.identity].add(self)
            if self.options["welcome"]:
                await self.send([self.welcome()])
            self._every(self.options["ping_interval"], self._ping)
            self._every(self.options["heartbeat_interval"], self._heartbeat)
            await self._read_loop(ws)
        except ConnectionError:
            pass
        finally:
            if self.identity is not None:
                self.sim.netra_users[self.identity].discard(self)
            await self._finish()
        return ws

    async def _heartbeat(self) -> None:
        self.sim.stats["heartbeats_sent"] += 1
        t = "ping" if self.profile.tag == "beta-10" else "heartbeat"
        await self.send([self.json_message({"type": t, "timestamp": time.time()})])

    async def _on_text(self, data: str) -> None:
        msg = self.client_json(data)
        if msg is None:
            return
        t = msg.get("type")
        if t == "ping":
            await self.send([self.json_message({"type": "pong", "timestamp": time.time()})])
        elif t == "heartbeat":
            await self.send([self.json_message({"type": "heartbeat_ack",
                                                "timestamp": time.time()})])
        elif t in ("start_agent", "user_message"):
            p = msg.get("payload") if isinstance(msg.get("payload"), dict) else {}
            text = next((p[k] for k in ("user_request", "message", "content", "text")
                         if isinstance(p.get(k), str) and p[k]), "")
            if not text:
                await self.send([self.json_message({"type": "error",
                                                    "message": "Please enter a message"})])
                return
            threads = self.sim.netra_threads[self.identity]
            tid = p.get("thread_id")
            new = not (isinstance(tid, str) and tid in threads)
            if new:
                if threads and t == "user_message":
                    tid, new = threads[0], False  # the user's own thread
                else:
                    tid = "thread_" + secrets.token_hex(8)
                    threads.append(tid)
            self._spawn(self._run(t, text, tid, new, mono_ns()))
        else:
            await self.send([self.json_message({"type": "error",
                                                "message": f"Unknown message type: {t}"})])

    def _new_run_id(self, thread_id: str) -> str:
        return f"run_{thread_id}_{int(time.time() * 1000) % 100000}_{str(uuid.uuid4())[:8]}"

    async def _run(self, kind: str, text: str, thread_id: str, new_thread: bool,
                   t_read: int) -> None:
        async with self.run_lock:
            run_id = self._new_run_id(thread_id)
            self.sim.log.received(self.id, run_id, t_read)
            self.run_id, self.thread_id = run_id, thread_id
            self.sim.stats["runs"] += 1
            fault, params = self.scenario.fault, self.scenario.params
            fault = fault if fault in NETRA_ONLY else None
            frames = run_frames(self.profile.tag, fault, params, run_id, thread_id,
                                self.identity, text, kind, new_thread)
            plays = [self._play_frames(frames, run_id)]
            if fault == "foreign_run":
                other = self._new_run_id(thread_id)
                self.sim.stats["runs"] += 1
                ghost = run_frames(self.profile.tag, None, {}, other, thread_id,
                                   self.identity, "Summarise last week's GPU spend.",
                                   "user_message", False)
                plays.append(self._play_frames(ghost, other, params["offset_ms"]))
            await asyncio.gather(*plays)

    async def _play_frames(self, frames, run_id: str, offset_ms: float = 0) -> None:
        if offset_ms:
            await asyncio.sleep(offset_ms / 1000)
        for delay_type, obj in frames:
            await asyncio.sleep(self.scenario.delay_ms(delay_type) / 1000
                                if delay_type in FIVE else 0.002)
            await self._deliver(obj, run_id)

    async def _deliver(self, obj: Dict[str, Any], run_id: str) -> None:
        """MANAGER send_to_user: every open connection of this identity."""
        targets = list(self.sim.netra_users.get(self.identity, ())) or [self]
        payload = json.dumps(obj).encode()
        res = await asyncio.gather(*(s.send([s.text_message(payload, obj["type"], run_id)])
                                     for s in targets), return_exceptions=True)
        if self in targets and isinstance(res[targets.index(self)], ConnectionError):
            raise ConnectionResetError("own connection closed")


# ---- wiring --------------------------------------------------------------------------

def make_websocket(profile: Profile, auth: NetraAuth):
    async def websocket(request: web.Request) -> web.StreamResponse:
        sim: Sim = request.app["sim"]
        ws = NetraWebSocketResponse(autoclose=False, autoping=False)
        if not ws.can_prepare(request):
            return web.json_response({"detail": "not a WebSocket upgrade"}, status=400)
        out = authenticate(profile, auth, sim, request)
        scenario = sim.control.take("ws", out.email)
        sim.note_fault(scenario)
        fault = sim.faults.get(scenario.fault)
        if fault is not None and fault.stage == "upgrade":
            resp = await fault.action(request, scenario.params, sim)
            if resp is not None:
                sim.stats["ws_rejected"] += 1
                return resp
        if scenario.fault == "demo_mode":
            out.user_id, out.email, out.code = DEMO_USER, "demo@example.com", None
        elif scenario.fault == "auth_after_upgrade":
            out.user_id = None
            if not out.code:
                out.code = "VALIDATION_FAILED" if profile.tag == "beta-10" else "AUTH_FAILED"
                out.message = ("Invalid token | Debug: token rejected" if profile.tag == "beta-10"
                               else "JWT token validation failed. Error: token rejected")
        if scenario.fault == "no_subprotocol":
            out.answer, out.refuse = None, None
        if out.refuse:
            sim.stats["ws_rejected"] += 1
            return web.Response(status=out.refuse, text="No supported subprotocols\n")
        ws.answer = out.answer
        session = NetraSession(sim, scenario, request, profile, out)
        await ws.prepare(request)
        return await session.serve(ws)
    return websocket


def setup(app: web.Application, sim: Sim, profile: Profile) -> None:
    """Adds the profile's product routes to `app` (the control plane is gpsim's)."""
    sim.netra_users = collections.defaultdict(set)
    sim.netra_threads = collections.defaultdict(list)
    auth = NetraAuth(profile)
    app.router.add_post("/auth/login", make_login(profile))
    ws = make_websocket(profile, auth)
    for path in profile.ws_paths:
        app.router.add_get(path, ws)
    if profile.ticket:
        app.router.add_post("/api/websocket/ticket", make_ticket(profile, auth))


__all__ = ["PROFILES", "fault_table", "setup", "user_id_for", "unauthorized"]
