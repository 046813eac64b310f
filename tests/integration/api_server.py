"""A stand-in for gpprobed's HTTPS API (issue 13), for gpprobectl's remote mode until the real
server is merged: the lead's contract, over real TLS with the test CA, in a thread of the test.

- GET /status: the bytes of a status file on disk (the same file the local mode reads), 200.
- GET /gate: not used by gpprobectl (it decides from /status); not served.
- POST /run: 202 {"run_id", "state": "running"}; 409 {"error", "run_id"} while one runs.
- GET /runs/ID: 202 running, 200 {"run_id", "state": "done", "result": {...}}, 404 unknown.
- A bearer token (when set) or a client certificate (when required); 401 otherwise.
- Faults for the fail-closed tests: `override = (status, body)` answers every request so.
"""
import http.server
import json
import ssl
import threading
import time
import uuid


class Api:
    def __init__(self, certs, status_path, *, token=None, client_ca=None, plain=False):
        self.status_path = status_path
        self.token = token
        self.override = None          # (status, body bytes) for every request
        self.run_seconds = 0.3        # how long a POST /run takes
        self.run_result = {"result": "pass"}
        self.busy_until = 0.0
        self.runs = {}                # id -> (done_at, result)
        self.requests = []            # (method, path, Authorization header)
        self.lock = threading.Lock()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, body):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def authorised(self):
                auth = self.headers.get("Authorization")
                with api.lock:
                    api.requests.append((self.command, self.path, auth))
                if api.token is None:
                    return True
                return auth == f"Bearer {api.token}"

            def do_GET(self):
                if api.override:
                    return self.reply(*api.override)
                if not self.authorised():
                    return self.reply(401, {"error": "unauthenticated"})
                if self.path == "/status":
                    try:
                        with open(api.status_path, "rb") as f:
                            return self.reply(200, f.read())
                    except OSError:
                        return self.reply(503, {"error": "no status yet"})
                if self.path.startswith("/runs/"):
                    rid = self.path[len("/runs/"):]
                    with api.lock:
                        run = api.runs.get(rid)
                    if run is None:
                        return self.reply(404, {"error": "unknown run"})
                    done_at, result = run
                    if time.monotonic() < done_at:
                        return self.reply(202, {"run_id": rid, "state": "running"})
                    return self.reply(200, {"run_id": rid, "state": "done", "result": result})
                return self.reply(404, {"error": "not found"})

            def do_POST(self):
                if api.override:
                    return self.reply(*api.override)
                if not self.authorised():
                    return self.reply(401, {"error": "unauthenticated"})
                if self.path != "/run":
                    return self.reply(404, {"error": "not found"})
                now = time.monotonic()
                with api.lock:
                    current = next((r for r, (t, _) in api.runs.items() if t > now), None)
                    if current:
                        return self.reply(409, {"error": "run in progress", "run_id": current})
                    rid = str(uuid.uuid4())
                    result = {"run_id": rid, "started_at": "2026-12-03T00:00:00.000Z",
                              "finished_at": "2026-12-03T00:00:01.000Z", "stage": None, "code": None,
                              "reason": None, "duration_ms": 812.5, "users": 1}
                    result.update(api.run_result)
                    result["run_id"] = rid
                    api.runs[rid] = (now + api.run_seconds, result)
                return self.reply(202, {"run_id": rid, "state": "running"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if not plain:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(certs / "server.pem"), str(certs / "server.key"))
            if client_ca:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(str(client_ca))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'http' if plain else 'https'}://localhost:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def start_busy_run(self, seconds):
        """A run in progress (as if started by the schedule): POST /run answers 409 meanwhile."""
        rid = str(uuid.uuid4())
        result = {"run_id": rid, "result": "pass", "stage": None, "code": None, "reason": None,
                  "duration_ms": 1.0}
        with self.lock:
            self.runs[rid] = (time.monotonic() + seconds, result)
        return rid

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
