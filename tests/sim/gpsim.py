#!/usr/bin/python3
"""gpsim: the staging simulator for gpprobe's integration tests and benchmarks.

Speaks the agent-chat protocol of SPEC.md (login, WebSocket, five agent events) and
injects the faults of sim_faults.FAULTS. See README.md in this folder.
"""

import argparse
import asyncio
import base64
import fnmatch
import functools
import ipaddress
import json
import logging
import os
import secrets
import signal
import ssl
import sys
from typing import Any, Dict, List, Optional

from aiohttp import web

import sim_netra
import sim_trace
import sim_workers
from sim_faults import FAULTS, redirect_loop, unauthorized
from sim_session import Session, SimWebSocketResponse
from sim_state import (ConfigError, Scenario, Sim, login_request, parse_delays, parse_options,
                       parse_params)

log = logging.getLogger("gpsim")


# ---- product endpoints -------------------------------------------------------

async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def login(request: web.Request) -> web.StreamResponse:
    sim: Sim = request.app["sim"]
    hop = request.query.get("loop")
    if hop is not None:  # a client following login_redirect_loop
        return redirect_loop(int(hop) if hop.isdigit() else 0)
    body, resp = await login_request(request, sim, FAULTS)
    if resp is not None:
        return resp
    if not (isinstance(body, dict) and isinstance(body.get("email"), str)
            and isinstance(body.get("password"), str)):
        return web.json_response({"detail": "want JSON {\"email\": ..., \"password\": ...}"},
                                 status=400)
    if (not fnmatch.fnmatchcase(body["email"].lower(), "*@example.com")
            or body["password"] != sim.password):
        return unauthorized()
    issue = getattr(sim.tokens, "issue", None)  # --workers: signed tokens (sim_workers.py)
    token = issue(body["email"]) if issue else "tok." + secrets.token_hex(24)
    sim.tokens.add(token, body["email"])
    sim.stats["logins_ok"] += 1
    return web.json_response({"access_token": token, "token_type": "bearer"})


def _unbase64url(s: str) -> Optional[str]:
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def presented_token(request: web.Request, sim: "Sim") -> Optional[str]:
    """The token from subprotocol jwt.<token> (raw or base64url, as the real server takes it
    from beta-12 on), Authorization: Bearer, or ?token=."""
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    for proto in (p.strip() for p in offered.split(",")):
        if proto.startswith("jwt.") and len(proto) > 4:
            raw = proto[4:]
            decoded = None if sim.valid_token(raw) else _unbase64url(raw)
            return decoded if decoded is not None and sim.valid_token(decoded) else raw
    scheme, _, cred = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and cred.strip():
        return cred.strip()
    return request.query.get("token")


async def websocket(request: web.Request) -> web.StreamResponse:
    sim: Sim = request.app["sim"]
    ws = SimWebSocketResponse(protocols=("jwt-auth",), autoclose=False, autoping=False)
    if not ws.can_prepare(request):
        return web.json_response({"detail": "not a WebSocket upgrade"}, status=400)
    token = presented_token(request, sim)
    if not sim.valid_token(token):
        sim.stats["ws_rejected"] += 1
        return web.json_response({"detail": "Not authenticated"}, status=401)
    scenario = sim.control.take("ws", sim.tokens.email(token))
    sim.note_fault(scenario)
    fault = FAULTS.get(scenario.fault)
    if fault is not None and fault.stage == "upgrade":
        resp = await fault.action(request, scenario.params, sim)
        if resp is not None:
            sim.stats["ws_rejected"] += 1
            return resp
    session = Session(sim, scenario, request)
    session.token = token
    if fault is not None and fault.stage == "handshake":
        ws.handshake = functools.partial(session.write_handshake, fault)
    await ws.prepare(request)
    return await session.serve(ws)


# ---- control plane -------------------------------------------------------------

async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app["sim"].control.to_json())


async def post_config(request: web.Request) -> web.Response:
    sim: Sim = request.app["sim"]
    try:
        sim.control.configure(await request.json())
    except (ValueError, ConfigError) as e:  # ConfigError is a ValueError; JSON errors too
        return web.json_response({"error": str(e)}, status=400)
    return web.json_response(sim.control.to_json())


async def post_reset(request: web.Request) -> web.Response:
    sim: Sim = request.app["sim"]
    sim.reset()
    return web.json_response(sim.control.to_json())


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app["sim"].stats_json())


async def get_events(request: web.Request) -> web.Response:
    return web.json_response(request.app["sim"].log.query(request.query.get("run_id")))


async def get_faults(request: web.Request) -> web.Response:
    faults = request.app["sim"].faults
    return web.json_response({f.name: {"stage": f.stage, "expect": f.expect, "doc": f.doc,
                                       "params": f.params} for f in faults.values()})


@web.middleware
async def client_gone(request: web.Request, handler) -> web.StreamResponse:
    """A client hanging up in the middle of a fault is routine here, not a server error.
    The reply goes nowhere: aiohttp drops writes to a closed connection quietly."""
    try:
        return await handler(request)
    except ConnectionError:
        return web.Response(status=499, text="client closed the connection\n")


def build_app(sim: Sim, profile: str = "generic") -> web.Application:
    app = web.Application(client_max_size=1 << 20, middlewares=[client_gone, sim_trace.record])
    app["sim"] = sim
    if profile == "generic":
        app.add_routes([web.post("/auth/login", login), web.get("/ws", websocket)])
    else:
        sim_netra.setup(app, sim, sim_netra.PROFILES[profile])
    app.add_routes([
        web.get("/health", health),
        web.get("/_sim/config", get_config),
        web.post("/_sim/config", post_config),
        web.post("/_sim/reset", post_reset),
        web.get("/_sim/stats", get_stats),
        web.get("/_sim/events", get_events),
        web.get("/_sim/faults", get_faults),
        web.get("/_sim/traces", sim_trace.get_traces),
    ])
    return app


# ---- process -----------------------------------------------------------------

class _Blackhole(asyncio.Protocol):
    """Accepts TCP, reads and discards, never sends a byte."""
    open: set = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        _Blackhole.open.add(transport)

    def data_received(self, data: bytes) -> None:
        pass

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        _Blackhole.open.discard(self.transport)


def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _key_values(items: List[str], what: str) -> Dict[str, Any]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what} wants KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def parse_args(argv: List[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="gpsim", description="staging simulator for gpprobe")
    ap.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the port here (atomically) once listening")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--tls-client-ca", help="require client certificates signed by this CA")
    ap.add_argument("--password", default="s3cret-pass", help="the password of *@example.com")
    ap.add_argument("--static-token", help="a token accepted without logging in")
    ap.add_argument("--profile", default="generic",
                    choices=["generic"] + sorted(sim_netra.PROFILES),
                    help="generic, or the real backend at a tag (see README: Netra profiles)")
    ap.add_argument("--fault", metavar="NAME")
    ap.add_argument("--param", action="append", default=[], metavar="K=V")
    ap.add_argument("--option", action="append", default=[], metavar="K=V")
    ap.add_argument("--delay", action="append", default=[], metavar="TYPE=MS")
    ap.add_argument("--blackhole-port-file",
                    help="also listen on a port that accepts TCP and never answers")
    ap.add_argument("--event-log-size", type=int, default=100000)
    ap.add_argument("--require-traceparent", action="store_true",
                    help="refuse product requests without one well-formed W3C traceparent (400)")
    ap.add_argument("--workers", type=int, default=1,
                    help="N processes on one port (SO_REUSEPORT), for benchmarks: see sim_workers.py")
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error("--workers wants 1 or more")
    if args.workers > 1 and (not args.port_file or args.profile != "generic"
                             or args.blackhole_port_file):
        ap.error("--workers N > 1 needs --port-file, the generic profile and no blackhole")
    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        ap.error(f"--host must be a loopback address, not {args.host!r}")
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    if args.tls_client_ca and not args.tls_cert:
        ap.error("--tls-client-ca needs --tls-cert")
    args.faults = FAULTS if args.profile == "generic" else \
        sim_netra.fault_table(sim_netra.PROFILES[args.profile])
    if args.fault is not None and args.fault not in args.faults:
        choices = ", ".join(map(repr, sorted(args.faults)))
        ap.error(f"argument --fault: invalid choice: {args.fault!r} (choose from {choices})")
    try:
        args.scenario = Scenario(args.fault,
                                 parse_params(args.fault, _key_values(args.param, "--param"),
                                              args.faults),
                                 parse_options(_key_values(args.option, "--option")),
                                 parse_delays(_key_values(args.delay, "--delay")))
    except ConfigError as e:
        ap.error(str(e))
    return args


def tls_context(args: argparse.Namespace) -> Optional[ssl.SSLContext]:
    if not args.tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    if args.tls_client_ca:
        ctx.load_verify_locations(args.tls_client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def serve(args: argparse.Namespace, worker=None) -> None:
    """worker: (listening socket, token key, control port file) of a --workers child."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    sim = Sim(args.scenario, args.password, args.static_token, args.event_log_size, args.faults)
    sim.require_traceparent = args.require_traceparent
    ctx = tls_context(args)
    runner = web.AppRunner(build_app(sim, args.profile), access_log=None, handle_signals=False)
    await runner.setup()
    if worker is not None:
        sock, key, control_file = worker
        sim.tokens = sim_workers.SignedTokens(key)
        await web.SockSite(runner, sock, ssl_context=ctx, shutdown_timeout=1.0).start()
        csock = sim_workers.control_socket(args.host)  # this worker's own: reset, events, stats
        await web.SockSite(runner, csock, ssl_context=ctx, shutdown_timeout=1.0).start()
        write_atomic(control_file, f"{os.getpid()} {csock.getsockname()[1]}\n")
        await stop.wait()
        sim.stopping.set()
        await asyncio.gather(*(s.shutdown(grace=0.5) for s in list(sim.sessions)))
        await runner.cleanup()
        return
    # A deep accept queue: Users=1000 connects at once (the default 128 drops SYNs, costing 1 s).
    site = web.TCPSite(runner, args.host, args.port, ssl_context=ctx, shutdown_timeout=1.0,
                       backlog=4096)
    await site.start()
    port = runner.addresses[0][1]

    blackhole = None
    if args.blackhole_port_file:
        blackhole = await loop.create_server(_Blackhole, args.host, 0)
        write_atomic(args.blackhole_port_file, f"{blackhole.sockets[0].getsockname()[1]}\n")
    if args.port_file:
        write_atomic(args.port_file, f"{port}\n")
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"gpsim listening on {'https' if ctx else 'http'}://{host}:{port}", flush=True)

    await stop.wait()
    sim.stopping.set()
    await asyncio.gather(*(s.shutdown(grace=0.5) for s in list(sim.sessions)))
    if blackhole is not None:
        blackhole.close()
        for t in list(_Blackhole.open):
            t.abort()
    await runner.cleanup()


def main(argv: List[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="gpsim: %(levelname)s %(message)s")
    args = parse_args(argv)
    if args.workers > 1:
        return sim_workers.run(args.workers, args.host, args.port, args.port_file, 4096,
                               lambda sock, key, f: asyncio.run(serve(args, (sock, key, f))),
                               write_atomic)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
