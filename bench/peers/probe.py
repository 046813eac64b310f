#!/usr/bin/python3
"""A peer of gpprobed for the benchmarks: the same golden path with aiohttp (Debian's
python3-aiohttp; run it with /usr/bin/python3), the same steps and checks as gpprobed's
default configuration:

  login (POST JSON, 200, token at access_token, a fresh connection), WebSocket with the token
  as subprotocol (jwt-auth, jwt.<token>), wait for connection_established, send the
  user_message, match the five events in order (Repeatable, Fail, run_id correlation at
  run_id / data.run_id / payload.run_id), check the final response, close with 1000.

Event times are taken when a message has been read, as CLOCK_MONOTONIC (time.monotonic_ns),
relative to the moment the request was written (t=0). One JSON line per run on stdout:
{"result", "code", "reason", "duration_ms", "sessions": [{"index", "run_id", "result", "code",
"reason", "t0_mono_us", "events": [{"type", "at_ms", "at_mono_us", "count"}]}]}.
"""
import argparse
import asyncio
import json
import ssl
import sys
import time
import uuid

import aiohttp

EXPECT = ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"]
REPEATABLE = {"agent_thinking", "tool_executing", "tool_completed"}
FAIL = {"agent_error", "agent_death", "error_message", "error"}
CORRELATE = (("run_id",), ("data", "run_id"), ("payload", "run_id"))
RESPONSE = (("final_response",), ("result",), ("data", "result"), ("payload", "result"))
ERROR = (("data", "error_message"), ("error_message",), ("message",))


def now_us():
    return time.monotonic_ns() // 1000


def path_get(obj, path):
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return None
        obj = obj[key]
    return obj


def first_string(obj, paths):
    for p in paths:
        v = path_get(obj, p)
        if isinstance(v, str):
            return v
    return None


class Failed(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code


class Session:
    def __init__(self, index, args):
        self.index = index
        self.args = args
        self.run_id = str(uuid.uuid4())
        self.thread_id = str(uuid.uuid4())
        self.t0 = None
        self.events = {}  # type -> [first_at_us, count]
        self.order = []

    def record(self, type_, at):
        if type_ in self.events:
            self.events[type_][1] += 1
        else:
            self.events[type_] = [at, 1]
            self.order.append(type_)

    def feed(self, data, at):
        """True when the terminal event arrived and the response checked out."""
        try:
            msg = json.loads(data)
        except ValueError:
            return False
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
            return False
        type_ = msg["type"]
        rid = first_string(msg, CORRELATE)
        if rid is not None and rid != self.run_id:
            raise Failed("events.crosstalk", f"{type_} carried run_id {rid!r}")
        if type_ in FAIL:
            self.record(type_, at)
            raise Failed("events.error", f"{type_}: {first_string(msg, ERROR)}")
        if type_ not in EXPECT:
            return False
        if type_ in self.events and type_ not in REPEATABLE:
            raise Failed("events.order", f"{type_} repeated")
        i = EXPECT.index(type_)
        if type_ not in self.events and any(t in self.events for t in EXPECT[i + 1:]):
            raise Failed("events.order", f"{type_} after a later event")
        self.record(type_, at)
        if type_ != EXPECT[-1]:
            return False
        missing = [t for t in EXPECT if t not in self.events]
        if missing:
            raise Failed("events.missing", "missing " + " ".join(missing))
        if not first_string(msg, RESPONSE):
            raise Failed("response.empty", "no response")
        return True

    async def login(self, http):
        body = {"email": self.args.user.replace("${index}", str(self.index)),
                "password": self.args.password}
        async with http.post(self.args.login_url, json=body) as r:
            data = await r.read()
            if r.status != 200:
                raise Failed("login.status", f"login answered HTTP {r.status}")
        try:
            token = json.loads(data).get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise Failed("login.token", "no access_token")
        return token

    async def run(self, http):
        a = self.args
        token = await self.login(http) if a.login_url else a.token
        ws = await http.ws_connect(a.ws_url, protocols=("jwt-auth", f"jwt.{token}"),
                                   autoping=True, max_msg_size=16 << 20,
                                   timeout=a.connect_timeout)
        try:
            while True:  # Ready=connection_established
                msg = await asyncio.wait_for(ws.receive(), a.connect_timeout)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    raise Failed("ws.closed", f"closed while waiting for ready: {msg.type}")
                try:
                    if json.loads(msg.data).get("type") == "connection_established":
                        break
                except (ValueError, AttributeError):
                    pass
            request = {"type": "user_message",
                       "payload": {"content": a.prompt, "thread_id": self.thread_id,
                                   "run_id": self.run_id}}
            await ws.send_str(json.dumps(request))
            self.t0 = now_us()
            while True:
                msg = await asyncio.wait_for(ws.receive(), a.event_timeout)
                at = now_us()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    if self.feed(msg.data, at):
                        break
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                  aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                    raise Failed("ws.closed", f"connection closed ({msg.type})")
        finally:
            await ws.close(code=1000)

    def to_json(self, error):
        return {"index": self.index, "run_id": self.run_id,
                "result": "fail" if error else "pass",
                "code": error.code if error else None,
                "reason": str(error) if error else None,
                "t0_mono_us": self.t0,
                "events": [{"type": t, "at_ms": round((self.events[t][0] - self.t0) / 1000, 3),
                            "at_mono_us": self.events[t][0], "count": self.events[t][1]}
                           for t in self.order]}


async def one_session(index, args, http):
    s = Session(index, args)
    error = None
    try:
        await asyncio.wait_for(s.run(http), args.timeout)
    except Failed as e:
        error = e
    except asyncio.TimeoutError:
        error = Failed("events.timeout", "timed out")
    except (aiohttp.ClientError, OSError) as e:
        error = Failed("net.connect", f"{type(e).__name__}: {e}")
    return s.to_json(error)


async def one_run(args, http):
    start = time.monotonic()
    sessions = await asyncio.gather(*(one_session(i + 1, args, http) for i in range(args.users)))
    failed = [s for s in sessions if s["result"] != "pass"]
    return {"result": "fail" if failed else "pass",
            "code": failed[0]["code"] if failed else None,
            "reason": f"session {failed[0]['index']}: {failed[0]['reason']}" if failed else None,
            "duration_ms": round((time.monotonic() - start) * 1000, 3),
            "sessions": sessions}


async def main(args):
    ctx = ssl.create_default_context(cafile=args.ca) if args.ca else None
    # One client session for the process; force_close gives the login and the WebSocket of
    # every session a fresh connection (DNS, TCP, TLS), like a new user (gpprobed too).
    connector = aiohttp.TCPConnector(ssl=ctx, force_close=True, use_dns_cache=False, limit=0)
    ok = True
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(args.runs):
            res = await one_run(args, http)
            ok = ok and res["result"] == "pass"
            if not args.quiet:
                print(json.dumps(res), flush=True)
            if args.interval:
                await asyncio.sleep(args.interval)
    return 0 if ok else 1


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--login-url")
    ap.add_argument("--token", help="instead of --login-url")
    ap.add_argument("--ws-url", required=True)
    ap.add_argument("--ca", help="CA file (https/wss)")
    ap.add_argument("--user", default="probe${index}@example.com")
    ap.add_argument("--password", default="s3cret-pass")
    ap.add_argument("--prompt", default="Reply with the word ready.")
    ap.add_argument("--users", type=int, default=1)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0, help="seconds between runs")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--connect-timeout", type=float, default=10)
    ap.add_argument("--event-timeout", type=float, default=30)
    ap.add_argument("--quiet", action="store_true", help="no per-run output")
    return ap.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
