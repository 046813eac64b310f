"""W3C Trace Context on the simulator's product endpoints: every request's traceparent (and
tracestate) is recorded, for tests to read at GET /_sim/traces; with --require-traceparent a
request without exactly one well-formed traceparent is refused with 400, as a strict backend
or gateway would."""

import re
from typing import Any, Dict, Optional

from aiohttp import web

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def traceparent_valid(value: Optional[str]) -> bool:
    m = _TRACEPARENT.match(value or "")
    return bool(m) and set(m.group(1)) != {"0"} and set(m.group(2)) != {"0"}


def _entry(request: web.Request) -> Dict[str, Any]:
    values = request.headers.getall("traceparent", [])
    value = values[0] if len(values) == 1 else None
    return {"method": request.method, "path": request.path,
            "upgrade": request.headers.get("Upgrade", "").lower() == "websocket",
            "traceparent": value, "count": len(values), "valid": traceparent_valid(value),
            "tracestate": request.headers.get("tracestate")}


@web.middleware
async def record(request: web.Request, handler) -> web.StreamResponse:
    sim = request.app["sim"]
    if request.path.startswith("/_sim/"):
        return await handler(request)
    e = _entry(request)
    sim.trace_log.append(e)
    if sim.require_traceparent and not e["valid"]:
        sim.stats["traceparent_rejected"] += 1
        return web.json_response({"detail": "missing or malformed traceparent"}, status=400)
    return await handler(request)


async def get_traces(request: web.Request) -> web.Response:
    return web.json_response({"requests": list(request.app["sim"].trace_log)})
