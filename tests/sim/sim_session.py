"""One accepted WebSocket session: reads client frames through aiohttp, writes every
server frame itself (sim_frames), and plays the steps of each run.

All server writes of a session go through `self.lock`, one whole message (all its
fragments, or a streamed big frame) per hold, so pings, heartbeats and events never
interleave inside a frame, and a data message is never split by another one.
"""

import asyncio
import base64
import json
import logging
import random
import secrets
import socket
import struct
import uuid
from typing import Any, Dict, List, Optional, Tuple

from aiohttp import WSMsgType, web

import sim_frames as wsf
from sim_faults import (ECHO_TOKEN, ECHO_TOKEN_B64, FAULTS, Close, Drop, Eof, Event, Peer, Raw,
                        Step, Text, golden_steps, yield_and_drain)
from sim_state import Scenario, Sim, mono_ns

log = logging.getLogger("gpsim")

# A message to write: its frames, and what to log once written ((run_id, type) or None).
Message = Tuple[List[bytes], Optional[Tuple[Optional[str], str]]]

BIG_MARK = "@@gpsim-big@@"
FILL = b"x" * 65536
CLOSE_WAIT_S = 2.0


class SimWebSocketResponse(web.WebSocketResponse):
    """aiohttp performs the upgrade and parses client frames, and never writes a frame:
    close() only marks the response closed. `handshake`, when set, writes the 101
    response itself (trickling, or with frames glued to it)."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.handshake = None

    async def _write_headers(self) -> None:
        if self.handshake is None:
            return await super()._write_headers()
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        await self.handshake(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        if self._closed:
            return False
        self._closed = True
        self._close_code = code
        return True


class Session:
    def __init__(self, sim: Sim, scenario: Scenario, request: web.Request):
        self.sim = sim
        self.scenario = scenario
        self.options = scenario.options
        self.id = "c-" + secrets.token_hex(6)
        self.token: Optional[str] = None  # what the client presented (gpsim sets it)
        self.transport = request.transport
        self.protocol = request.protocol
        self.lock = asyncio.Lock()
        self.run_lock = asyncio.Lock()
        self.run_id: Optional[str] = None
        self.thread_id: Optional[str] = None
        self.welcome_sent = False
        self.close_sent = False
        self.peer_closed = asyncio.Event()
        self.finished = asyncio.Event()
        self.tasks: set = set()
        self.due_ns: Optional[int] = None  # set while _play writes agent events

    # ---- writing -----------------------------------------------------------

    def _write(self, data: bytes) -> None:
        t = self.transport
        if t is None or t.is_closing() or not self.protocol.connected:
            raise ConnectionResetError("connection closed")
        t.write(data)

    async def _drain(self) -> None:
        # aiohttp's protocol implements the transport's pause/resume_writing.
        await self.protocol._drain_helper()

    def _log(self, entry: Optional[Tuple[Optional[str], str]], t_start: int,
             t_done: Optional[int] = None) -> None:
        """Logs a frame written between monotonic times t_start and t_done (now)."""
        if entry is not None:
            self.sim.log.wrote(self.id, entry[0], entry[1], t_start, t_done or mono_ns(),
                               self.due_ns)

    async def send(self, messages: List[Message], *, one_write: bool = False) -> None:
        async with self.lock:
            if one_write:
                t0 = mono_ns()
                self._write(b"".join(f for frames, _ in messages for f in frames))
                t1 = mono_ns()
                for _, entry in messages:
                    self._log(entry, t0, t1)
            else:
                for frames, entry in messages:
                    t0 = mono_ns()
                    for f in frames:
                        self._write(f)
                    self._log(entry, t0)
            await self._drain()

    async def send_control(self, opcode: int, payload: bytes = b"") -> None:
        await self.send([([wsf.frame(opcode, payload)], None)])

    def text_message(self, payload: bytes, type_: str, run_id: Optional[str] = None) -> Message:
        frames = wsf.fragments(wsf.TEXT, payload, self.options["fragment"])
        return frames, (run_id if run_id is not None else self.run_id, type_)

    def json_message(self, obj: Dict[str, Any], run_id: Optional[str] = None) -> Message:
        return self.text_message(json.dumps(obj).encode(), obj["type"], run_id)

    async def send_big(self, prefix: bytes, n: int, suffix: bytes, entry) -> None:
        """One text frame of len(prefix) + n + len(suffix) bytes, never held in memory."""
        async with self.lock:
            t0 = mono_ns()
            self._write(wsf.header(wsf.TEXT, len(prefix) + n + len(suffix)) + prefix)
            while n > 0:
                k = min(n, len(FILL))
                self._write(FILL if k == len(FILL) else FILL[:k])
                n -= k
                await yield_and_drain(self.protocol)
            self._write(suffix)
            self._log(entry, t0)
            await self._drain()

    def welcome(self) -> Message:
        return self.json_message({"type": "connection_established", "connection_id": self.id})

    async def write_handshake(self, fault, head: bytes) -> None:
        """A handshake fault writes the 101 response `head` (and maybe the welcome)."""
        frames, entry = self.welcome()
        t0 = mono_ns()
        self.welcome_sent = await fault.action(self.transport, head, b"".join(frames),
                                               self.scenario.params)
        if self.welcome_sent:
            self._log(entry, t0)

    # ---- lifecycle ---------------------------------------------------------

    async def serve(self, ws: SimWebSocketResponse) -> SimWebSocketResponse:
        self.sim.sessions.add(self)
        self.sim.stats["ws_sessions"] += 1
        try:
            if not self.welcome_sent and self.options["welcome"]:
                await self.send([self.welcome()])
            self._every(self.options["ping_interval"], self._ping)
            self._every(self.options["heartbeat_interval"], self._heartbeat)
            await self._read_loop(ws)
        except ConnectionError:
            pass
        finally:
            await self._finish()
        return ws

    async def shutdown(self, grace: float) -> None:
        """Sim stopping: a going-away close (unless a frame is half written), an orderly
        TLS/TCP close, and an abort if that is not over within `grace` seconds."""
        t = self.transport
        if t is not None and not t.is_closing():
            if not self.lock.locked() and not self.close_sent:
                self.close_sent = True
                t.write(wsf.frame(wsf.CLOSE, wsf.close_payload(1001, "sim stopping")))
            t.close()
        try:
            await asyncio.wait_for(self.finished.wait(), grace)
        except asyncio.TimeoutError:
            if t is not None:
                t.abort()

    async def _finish(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.sim.sessions.discard(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self.finished.set()

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, ConnectionError):
            log.error("session %s: %r", self.id, exc, exc_info=exc)

    def _every(self, interval: Optional[float], fn) -> None:
        async def loop():
            while True:
                await asyncio.sleep(interval)
                await fn()
        if interval:
            self._spawn(loop())

    async def _ping(self) -> None:
        self.sim.stats["pings_sent"] += 1
        await self.send_control(wsf.PING, str(self.sim.stats["pings_sent"]).encode())

    async def _heartbeat(self) -> None:
        self.sim.stats["heartbeats_sent"] += 1
        await self.send([self.json_message({"type": "heartbeat"})])

    # ---- reading -----------------------------------------------------------

    async def _read_loop(self, ws: SimWebSocketResponse) -> None:
        stats = self.sim.stats
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.TEXT:
                stats["messages_received"] += 1
                await self._on_text(msg.data)
            elif msg.type == WSMsgType.BINARY:
                stats["messages_received"] += 1
            elif msg.type == WSMsgType.PING:
                stats["client_pings"] += 1
                await self.send_control(wsf.PONG, msg.data)
            elif msg.type == WSMsgType.PONG:
                stats["pongs_received"] += 1
            elif msg.type == WSMsgType.CLOSE:
                self.sim.close_codes[msg.data] += 1
                self.peer_closed.set()
                await self._close_reply(msg.data)
                return
            else:  # CLOSED (EOF), ERROR (bad client framing)
                self.peer_closed.set()
                if msg.type == WSMsgType.ERROR:
                    await self._close_reply(getattr(msg.data, "code", 1002))
                return

    async def _close_reply(self, code: int) -> None:
        if not self.close_sent and not self.transport.is_closing():
            self.close_sent = True
            await self.send_control(wsf.CLOSE, wsf.close_payload(code or None))
        self.transport.close()

    def client_json(self, data: str) -> Optional[Dict[str, Any]]:
        """A client text message as a JSON object, or None (counted as malformed)."""
        try:
            msg = json.loads(data)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            self.sim.stats["malformed_received"] += 1
            return None
        return msg

    async def _on_text(self, data: str) -> None:
        msg = self.client_json(data)
        if msg is None:
            return
        if msg.get("type") == "ping":
            await self.send([self.json_message({"type": "pong"})])
        elif msg.get("type") == "user_message":
            t = mono_ns()
            payload = msg.get("payload") if isinstance(msg.get("payload"), dict) else {}
            run_id = str(payload.get("run_id") or msg.get("run_id") or uuid.uuid4())
            thread_id = str(payload.get("thread_id") or msg.get("thread_id") or uuid.uuid4())
            tp = payload.get("traceparent", msg.get("traceparent"))
            self.sim.log.received(self.id, run_id, t, tp if isinstance(tp, str) else None)
            self._spawn(self._run(run_id, thread_id))

    # ---- a run -------------------------------------------------------------

    async def _run(self, run_id: str, thread_id: str) -> None:
        async with self.run_lock:
            self.run_id, self.thread_id = run_id, thread_id
            async with self.sim.runs_changed:
                self.sim.runs_changed.notify_all()
            self.sim.stats["runs"] += 1
            if self.options["ack"]:
                await self.send([self.json_message({"type": "ack", "run_id": run_id})])
            steps = golden_steps(self.options)
            fault = FAULTS.get(self.scenario.fault)
            if fault is not None and fault.stage == "run":
                steps = fault.action(steps, self.scenario.params)
            await self._play(steps)

    async def _play(self, steps: List[Step]) -> None:
        coalesce = self.options["coalesce"]
        for group in _groups(steps, coalesce):
            first = group[0]
            delay = first.delay_ms
            if isinstance(first, Event) and delay is None:
                delay = self.scenario.delay_ms(first.type)
            if isinstance(first, Event) and self.options["delay_jitter"]:
                delay += random.uniform(0, self.options["delay_jitter"])
            due = mono_ns() + int(delay * 1e6)
            await asyncio.sleep(delay / 1000)
            if isinstance(first, Event):
                self.due_ns = due  # the log's t_due_ns: how late the sim itself wrote them
                try:
                    await self._send_events(group, one_write=coalesce > 1)
                finally:
                    self.due_ns = None
            elif isinstance(first, Text):
                await self.send([self.text_message(first.payload, first.label)])
            elif isinstance(first, Raw):
                await self.send([([first.data], (self.run_id, first.label))])
            elif isinstance(first, Close):
                await self._close(first.code, first.reason)
                return
            elif isinstance(first, Drop):
                self._reset()
                return
            elif isinstance(first, Eof):
                self.transport.close()
                return

    async def _send_events(self, events: List[Event], one_write: bool) -> None:
        msgs: List[Message] = []
        for ev in events:
            run_id = await self._resolve_run_id(ev.run_id)
            obj = self._event_obj(ev, run_id)
            if self.options["interleave"]:
                msgs.append(self.json_message({"type": "heartbeat"}))
                msgs.append(self.json_message({"type": "ack"}))
            if ev.big:
                await self.send(msgs, one_write=one_write)
                msgs = []
                await self._send_big_event(obj, ev.big, (run_id, ev.type))
            else:
                msgs.append(self.text_message(json.dumps(obj).encode(), ev.type, run_id))
            if ev.broadcast:
                await self._broadcast(obj, run_id)
        if msgs:
            await self.send(msgs, one_write=one_write)

    async def _resolve_run_id(self, run_id) -> str:
        if run_id is None:
            return self.run_id
        if isinstance(run_id, Peer):
            peer = await self.sim.wait_peer_run(self, run_id.wait_ms / 1000)
            return peer or f"run-unknown-{uuid.uuid4()}"
        return run_id

    def _event_obj(self, ev: Event, run_id: str) -> Dict[str, Any]:
        ids = {"run_id": run_id, "thread_id": self.thread_id}
        obj: Dict[str, Any] = {"type": ev.type}
        loc = self.options["id_location"]
        if loc == "root":
            obj.update(ids)
            obj["data"] = dict(ev.data)
        elif loc == "data":
            obj["data"] = {**ids, **ev.data}
        else:
            obj["payload"] = {**ids, **ev.data}
        obj.update(ev.root)
        return self._echo(obj)

    def _echo(self, v: Any) -> Any:
        """ECHO_TOKEN and ECHO_TOKEN_B64 in strings become the session's token (echo_token)."""
        if isinstance(v, dict):
            return {k: self._echo(x) for k, x in v.items()}
        if isinstance(v, str) and "${echo:" in v:
            tok = self.token or ""
            b64 = base64.urlsafe_b64encode(tok.encode()).decode().rstrip("=")
            return v.replace(ECHO_TOKEN, tok).replace(ECHO_TOKEN_B64, b64)
        return v

    async def _send_big_event(self, obj: Dict[str, Any], size: int, entry) -> None:
        body = obj.get("data", obj.get("payload"))
        body["thought"] = BIG_MARK
        head, tail = json.dumps(obj).split(json.dumps(BIG_MARK))
        await self.send_big((head + '"').encode(), size, ('"' + tail).encode(), entry)

    async def _broadcast(self, obj: Dict[str, Any], run_id: str) -> None:
        payload = json.dumps(obj).encode()
        peers = [s for s in self.sim.sessions if s is not self]
        await asyncio.gather(*(s.send([s.text_message(payload, obj["type"], run_id)])
                               for s in peers), return_exceptions=True)

    async def _close(self, code: int, reason: str) -> None:
        self.close_sent = True
        frame = wsf.frame(wsf.CLOSE, wsf.close_payload(int(code), reason))
        await self.send([([frame], (self.run_id, "close"))])
        try:
            await asyncio.wait_for(self.peer_closed.wait(), CLOSE_WAIT_S)
        except asyncio.TimeoutError:
            pass
        self.transport.close()

    def _reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), no close frame, no TLS close_notify."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


def _groups(steps: List[Step], n: int) -> List[List[Step]]:
    """Consecutive plain events in groups of up to n (one transport write each)."""
    out: List[List[Step]] = []
    for s in steps:
        last = out[-1] if out else None
        if (n > 1 and isinstance(s, Event) and not s.big and last is not None
                and isinstance(last[0], Event) and not last[0].big and len(last) < n):
            last.append(s)
        else:
            out.append([s])
    return out
