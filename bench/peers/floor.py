#!/usr/bin/python3
"""The floor for the fidelity benchmark: the least a client can do to learn when an event
arrived. Blocking sockets, no event loop, no framework: logs in, upgrades by hand, sends the
user_message, then sits in recv() and takes CLOCK_MONOTONIC the moment recv returns, before
parsing anything. No checks beyond the event types: not a peer, a measuring stick for
"loopback delivery plus one wakeup". Same JSON lines as probe.py (one session per run).
"""
import argparse
import base64
import http.client
import json
import os
import socket
import ssl
import struct
import sys
import time
import uuid
from urllib.parse import urlsplit

LAST = "agent_completed"


def now_us():
    return time.monotonic_ns() // 1000


def connect(url, ctx):
    u = urlsplit(url)
    port = u.port or (443 if u.scheme in ("https", "wss") else 80)
    sock = socket.create_connection((u.hostname, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if u.scheme in ("https", "wss"):
        sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    return sock, u


def login(args, ctx):
    u = urlsplit(args.login_url)
    cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    kw = {"context": ctx} if u.scheme == "https" else {}
    c = cls(u.hostname, u.port, **kw)
    c.request("POST", u.path, json.dumps({"email": "probe1@example.com",
                                          "password": args.password}),
              {"Content-Type": "application/json"})
    token = json.loads(c.getresponse().read())["access_token"]
    c.close()
    return token


def frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def frames(buf):
    """Complete (opcode, payload) frames at the start of buf, and what is left."""
    out = []
    while len(buf) >= 2:
        n, off = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                break
            n, off = struct.unpack("!H", buf[2:4])[0], 4
        elif n == 127:
            if len(buf) < 10:
                break
            n, off = struct.unpack("!Q", buf[2:10])[0], 10
        if len(buf) < off + n:
            break
        out.append((buf[0] & 0x0F, buf[off:off + n]))
        buf = buf[off + n:]
    return out, buf


def one_run(args, ctx):
    token = login(args, ctx)
    sock, u = connect(args.ws_url, ctx)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: jwt-auth, jwt.{token}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, buf = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    sock.setblocking(not args.spin)
    run_id = str(uuid.uuid4())
    ready = False
    t0 = None
    seen = {}
    while LAST not in seen:
        got, buf = frames(buf)
        for op, payload in got:
            if op != 1:
                continue
            type_ = json.loads(payload).get("type")
            if not ready and type_ == "connection_established":
                ready = True
                msg = {"type": "user_message", "payload": {"content": "Reply with the word ready.",
                                                           "thread_id": str(uuid.uuid4()),
                                                           "run_id": run_id}}
                sock.sendall(frame(1, json.dumps(msg).encode()))
                t0 = now_us()
            elif ready and type_ not in seen:
                seen[type_] = at
        if LAST in seen:
            break
        if args.spin:  # never sleeps: no wakeup in the measurement, one CPU burnt
            while True:
                try:
                    data = sock.recv(65536)
                    break
                except (BlockingIOError, ssl.SSLWantReadError):
                    continue
        else:
            data = sock.recv(65536)
        at = now_us()
        if not data:
            raise RuntimeError("connection closed")
        buf += data
    sock.sendall(frame(8, struct.pack("!H", 1000)))
    sock.close()
    return {"result": "pass", "code": None, "reason": None, "duration_ms": None,
            "sessions": [{"index": 1, "run_id": run_id, "result": "pass", "t0_mono_us": t0,
                          "events": [{"type": t, "at_ms": (a - t0) / 1000, "at_mono_us": a,
                                      "count": 1} for t, a in seen.items()]}]}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--login-url", required=True)
    ap.add_argument("--ws-url", required=True)
    ap.add_argument("--ca")
    ap.add_argument("--password", default="s3cret-pass")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--spin", action="store_true",
                    help="busy-poll the socket: loopback delivery without the reader's wakeup")
    args = ap.parse_args(argv)
    ctx = ssl.create_default_context(cafile=args.ca) if args.ca else None
    for _ in range(args.runs):
        print(json.dumps(one_run(args, ctx)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
