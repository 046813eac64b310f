"""gpsim --workers N: N simulator processes serving one port, for the scale benchmark.

One Python process (one asyncio loop, one core at most) cannot write 5000 TLS frames in the
burst Users=1000 asks for without falling behind its own schedule, so the benchmark would time
the simulator rather than the client. Here the parent binds N listening sockets to the same
port with SO_REUSEPORT (the kernel spreads connections over them by their address hash), forks
one worker per socket, and waits. Each worker is a whole gpsim (its own Sim, event log and
control plane) that also listens on a control port of its own, so a caller can reach every
worker: `<port-file>.workers` lists "pid control-port" per worker, written before the port file.

What the workers do not share, and what is done instead:
- issued tokens: a login answered by one worker must open a WebSocket on another, so tokens are
  signed (HMAC with a key the parent makes before forking) and carry their email; any worker
  checks them without asking the others (SignedTokens);
- the event log, statistics and the scenario: per worker; the caller merges logs and sums
  statistics (bench/benchlib.py), and configures every worker through its control port;
- sessions of one user on different workers do not see each other's broadcasts: a benchmark
  gives every session its own user.
"""
import base64
import hashlib
import hmac
import os
import secrets
import signal
import socket
import sys
import time
from typing import Callable, List, Optional


class SignedTokens:
    """Tokens any worker can check: tok.<nonce>.<base64url(email)>.<hmac>."""

    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self, email: str) -> str:
        e = base64.urlsafe_b64encode(email.encode()).decode().rstrip("=")
        body = f"tok.{secrets.token_hex(8)}.{e}"
        return f"{body}.{self._mac(body)}"

    def add(self, token: str, email: str) -> None:
        pass  # nothing to remember: the token carries the email and its signature

    def __contains__(self, token: object) -> bool:
        if not isinstance(token, str) or token.count(".") != 3:
            return False
        body, _, mac = token.rpartition(".")
        return hmac.compare_digest(mac, self._mac(body))

    def email(self, token: Optional[str]) -> Optional[str]:
        if not token or token not in self:
            return None
        e = token.split(".")[2]
        try:
            return base64.urlsafe_b64decode(e + "=" * (-len(e) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None


def _listener(host: str, port: int, backlog: int) -> socket.socket:
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def control_socket(host: str) -> socket.socket:
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(128)
    return s


def run(n: int, host: str, port: int, port_file: str, backlog: int,
        worker: Callable[[socket.socket, bytes, str], None], write_atomic) -> int:
    """The parent: N sockets on one port, a worker per socket; SIGTERM/SIGINT stop them all.
    worker(sock, key, control_port_file) runs one gpsim in the child and returns at its end."""
    key = secrets.token_bytes(32)
    socks: List[socket.socket] = []
    for _ in range(n):
        socks.append(_listener(host, port if not socks else socks[0].getsockname()[1], backlog))
    port = socks[0].getsockname()[1]
    files = [f"{port_file}.w{i}" for i in range(n)]
    for f in files:
        if os.path.exists(f):
            os.unlink(f)
    pids, rc = [], 0
    for i, s in enumerate(socks):
        pid = os.fork()
        if pid == 0:
            for o in socks:
                if o is not s:
                    o.close()
            code = 0
            try:
                worker(s, key, files[i])
            except BaseException:  # noqa: B902 - report, then leave the child either way
                import traceback
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        pids.append(pid)
    for s in socks:
        s.close()

    stopping = []

    def stop(signum, frame):
        stopping.append(signum)
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    exited = {}
    deadline = time.monotonic() + 30
    while not all(os.path.exists(f) for f in files):
        done, status = os.waitpid(-1, os.WNOHANG)
        if done:
            exited[done] = status
        if done or time.monotonic() > deadline:
            stop(signal.SIGTERM, None)
            rc = 1
            break
        time.sleep(0.02)
    else:
        lines = [open(f).read().strip() for f in files]
        write_atomic(f"{port_file}.workers", "".join(line + "\n" for line in lines))
        write_atomic(port_file, f"{port}\n")
        print(f"gpsim: {n} workers on port {port}", flush=True)
    for p in pids:
        status = exited[p] if p in exited else os.waitpid(p, 0)[1]
        if os.waitstatus_to_exitcode(status) != 0 and not stopping:
            rc = 1
            stop(signal.SIGTERM, None)
    return rc
