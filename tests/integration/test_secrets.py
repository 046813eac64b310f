"""Secrets are never printed, logged, or written to any output (SPEC section 4): every mode
(--once, --check-config, the daemon) runs with a known password and a known token, passing and
failing, including servers that echo what they were sent (FastAPI's 422 quotes the login body;
an agent error or a close reason may quote the token). Every output is searched: stdout, stderr,
the journal, the status file, the state file, the metrics file and HTTP endpoints, and the running
daemon's /proc/PID/cmdline and /proc/PID/environ."""
import base64
import http.server
import json
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

from conftest import SIM_PASSWORD, Sim, base_config
from test_gpprobectl import gpprobectl_path

TOKEN = "tok.secret-matrix-" + "9f" * 20
PASSWORD = SIM_PASSWORD  # the sim's users' password; the login server below accepts it too
SHORTEST_PASSWORD = "pw-8byte"  # GP_SECRET_MIN: the shortest a configuration may hold
SHORT_SECRET = "t0k"  # shorter ones can only come from the server
SECRET_FORMS = [PASSWORD, TOKEN, TOKEN[4:], json.dumps(PASSWORD)[1:-1],
                urllib.parse.quote(PASSWORD, safe=""), urllib.parse.quote(TOKEN, safe=""),
                base64.urlsafe_b64encode(TOKEN.encode()).decode().rstrip("=")]  # jwt.<base64url>


def assert_no_secret(what, text):
    for s in SECRET_FORMS:
        assert s not in text, f"{what} holds a secret ({s[:6]}...): ...{text[max(0, text.find(s) - 200):text.find(s) + 60]}..."
    # a cut-off prefix of one (reasons are bounded): 8 characters or more
    for s in (PASSWORD, TOKEN):
        for m in re.finditer(re.escape(s[:8]), text):
            k = 8
            while k < len(s) and m.start() + k < len(text) and text[m.start() + k] == s[k]:
                k += 1
            raise AssertionError(f"{what} holds {k} characters of a secret: {text[m.start():m.start() + k + 3]!r}")


@pytest.fixture(scope="module")
def token_sim(certs):
    """A simulator that accepts TOKEN without a login."""
    s = Sim(certs, ["--static-token", TOKEN])
    yield s
    s.stop()


@pytest.fixture
def tsim(token_sim):
    token_sim.reset()
    yield token_sim
    token_sim.reset()


class LoginHandler(http.server.BaseHTTPRequestHandler):
    """POST /auth/login: TOKEN for the right password (401 otherwise). /auth/echo-json answers 422
    quoting the body as FastAPI does; /auth/echo-form answers 400 quoting it as a form; /auth/echo-
    header answers 401 quoting the headers."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = urllib.parse.urlsplit(self.path).path
        if path == "/auth/echo-json":
            status, out = 422, {"detail": [{"loc": ["body"], "input": json.loads(body or b"null")}]}
        elif path == "/auth/echo-form":
            status, out = 400, {"detail": "could not parse " + urllib.parse.urlencode(
                json.loads(body or b"{}"))}
        elif path == "/auth/echo-header":
            status, out = 401, {"detail": "bad headers", "headers": dict(self.headers)}
        elif path == "/auth/short-secret":  # a 3-byte secret the server gives (CaptureSecret=)
            status, out = 200, {"access_token": TOKEN, "ticket": SHORT_SECRET}
        else:
            try:
                ok = json.loads(body).get("password") == PASSWORD
            except ValueError:
                ok = False
            status, out = (200, {"access_token": TOKEN}) if ok else (401, {"detail": "no"})
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def login_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LoginHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def cfg(tsim, login_server, path="/auth/login", **sections):
    login = {"URL": f"{login_server}{path}", "Header": ["Content-Type: application/json",
                                                        "X-Api-Key: ${password}"]}
    login.update(sections.pop("Login", {}))
    return base_config(tsim, Login=login, **sections)


# ---- --once: a pass, then every way a server can echo a secret ------------------------------------

def test_once_pass_shows_no_secret(tsim, login_server, probe):
    res = probe(cfg(tsim, login_server))
    assert res.rc == 0, res
    assert_no_secret("stdout", res.stdout)
    assert_no_secret("stderr", res.stderr)


ECHOES = [
    # login path, sim fault, params, config overrides, code
    ("/auth/echo-json", None, {}, {}, "login.status"),
    ("/auth/echo-form", None, {}, {}, "login.status"),
    ("/auth/echo-header", None, {}, {}, "login.status"),
    ("/auth/login", "agent_error", {"message": f"token {TOKEN} is not allowed to run tools"}, {},
     "events.error"),
    ("/auth/login", "ws_close", {"code": 4001, "reason": f"bad {TOKEN}"}, {}, "ws.closed"),
    ("/auth/login", "wrong_response", {"text": f"your password is {PASSWORD}"},
     {"Events": {"ResponseMatch": "^ready$"}}, "response.mismatch"),
    ("/auth/login", "non_json", {"text": f"{'x' * 60}{TOKEN}"}, {"Events": {"Strict": "yes"}},
     "events.malformed"),
    ("/auth/login", "unknown_type", {"type": f"type-{TOKEN}"}, {"Events": {"Strict": "yes"}},
     "events.unexpected"),
    ("/auth/login", "ws_403", {}, {"WebSocket": {"Auth": "query"}}, "ws.upgrade"),
]


@pytest.mark.parametrize("path,fault,params,overrides,code", ECHOES,
                         ids=[f"{e[4]}:{e[0].split('/')[-1]}" for e in ECHOES])
def test_once_failure_echoing_a_secret_shows_no_secret(tsim, login_server, probe, path, fault,
                                                       params, overrides, code):
    if fault:
        tsim.configure(fault=fault, params=params)
    res = probe(cfg(tsim, login_server, path, **overrides))
    assert res.json is not None and res.json["code"] == code, res
    assert_no_secret("stdout", res.stdout)
    assert_no_secret("stderr", res.stderr)
    if path in ("/auth/echo-json", "/auth/echo-form") or fault in ("agent_error", "ws_close",
                                                                   "wrong_response"):
        assert "(redacted)" in res.json["reason"], res.json["reason"]  # it was echoed, and hidden


# ---- failure transcripts (issue 12): one of every failure code, readable and without a secret ------

def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# code -> (sim fault, params, config overrides as a function of (tsim, login_server), env)
TRANSCRIPT_RUNS = {
    "preflight.status": (None, {}, lambda s, l: {"Preflight": {"URL": f"{s.https}/no-such-page"}}),
    "net.dns": (None, {}, lambda s, l: {"WebSocket": {"URL": "wss://nonexistent.invalid/ws"}}),
    "net.connect": (None, {}, lambda s, l: {"WebSocket": {"URL": f"wss://localhost:{free_tcp_port()}/ws"}}),
    "net.timeout": ("ws_blackhole", {}, lambda s, l: {"WebSocket": {"ConnectTimeout": "1s"}}),
    # TLS to the plain-HTTP login server
    "tls.handshake": (None, {}, lambda s, l: {"WebSocket": {"URL": "wss" + l[4:] + "/ws"}}),
    "tls.verify": (None, {}, lambda s, l: {"TLS": {"CAFile": str(s.certs / "unknown-ca.pem")}}),
    "login.status": (None, {}, lambda s, l: {"Login": {"URL": f"{l}/auth/echo-json"}}),
    # the token is where the probe does not look: TranscriptRedact='s default hides it
    "login.token": (None, {}, lambda s, l: {"Login": {"TokenPath": "data.jwt"}}),
    "step.status": (None, {}, lambda s, l: {"Step": {"URL": f"{s.https}/no-such-page"}}),
    # a step whose reply quotes the token (the login's, known by then)
    "step.reply": (None, {}, lambda s, l: {"Step": {"URL": f"{l}/auth/login", "Method": "POST",
                                                   "Body": json.dumps({"password": PASSWORD}),
                                                   "Capture": "x=no.such.path"}}),
    "ws.upgrade": ("ws_403", {}, lambda s, l: {"WebSocket": {"Auth": "query"}}),
    "ws.auth": (None, {}, lambda s, l: {"WebSocket": {"AuthFail": "connection_established"}}),
    "ws.identity": (None, {}, lambda s, l: {"WebSocket": {"IdentityPath": "connection_id",
                                                         "Identity": "someone-else"}}),
    "ws.closed": ("ws_close", {"code": 4001, "reason": f"bad {TOKEN}"}, lambda s, l: {}),
    "ws.protocol": ("ws_garbage", {}, lambda s, l: {}),
    "events.error": ("echo_token", {}, lambda s, l: {}),
    "events.order": ("events_order", {}, lambda s, l: {}),
    "events.missing": ("events_missing", {}, lambda s, l: {}),
    "events.timeout": ("stall", {"before": "tool_completed"}, lambda s, l: {"Events": {"EventTimeout": "1s"}}),
    "events.unexpected": ("unknown_type", {"type": f"type-{TOKEN}"}, lambda s, l: {"Events": {"Strict": "yes"}}),
    "events.malformed": ("non_json", {"text": f"{'x' * 60}{TOKEN}"}, lambda s, l: {"Events": {"Strict": "yes"}}),
    "events.crosstalk": ("foreign_run_id", {}, lambda s, l: {}),
    "response.empty": ("empty_response", {}, lambda s, l: {}),
    "response.mismatch": ("wrong_response", {"text": f"your password is {PASSWORD}"},
                          lambda s, l: {"Events": {"ResponseMatch": "^ready$"}}),
    "slo.login": (None, {}, lambda s, l: {"SLO": {"Login": "1us"}}),
    "slo.connect": (None, {}, lambda s, l: {"SLO": {"Login": "0", "Connect": "1us"}}),
    "slo.first_event": (None, {}, lambda s, l: {"SLO": {"Login": "0", "Connect": "0", "FirstEvent": "1us"}}),
    "slo.total": (None, {}, lambda s, l: {"SLO": {"Login": "0", "Connect": "0", "FirstEvent": "0",
                                                  "Total": "1us"}}),
    # streaming quality (issue 12): the agent hangs after thinking; an SLO on the stream
    "events.stall": ("hang", {"after": "agent_thinking"},
                     lambda s, l: {"Events": {"EventTimeout": "10s", "StallTimeout": "1s"}}),
    "slo.silence": (None, {}, lambda s, l: {"SLO": {"Login": "0", "Connect": "0", "FirstEvent": "0", "Total": "0",
                                                    "Silence": "1us"}}),
    "slo.first_partial": (None, {}, lambda s, l: {"SLO": {"Login": "0", "Connect": "0", "FirstEvent": "0",
                                                          "Total": "0", "FirstPartial": "1us"}}),
    # a template that fails at run time (a value that is not UTF-8 in a JSON body)
    "internal": (None, {}, lambda s, l: {"Login": {"User": "${env:GP_NOT_UTF8}"}}),
}


def test_transcript_runs_cover_every_failure_code():
    codes_h = (pathlib.Path(__file__).resolve().parents[2] / "daemon" / "model" / "codes.h").read_text()
    codes = set(re.findall(r'X\([A-Z_]+, "(?!code")([a-z_.]+)"', codes_h))
    assert len(codes) > 20, codes
    assert codes == set(TRANSCRIPT_RUNS), codes ^ set(TRANSCRIPT_RUNS)


def ctl(*args):
    return subprocess.run([gpprobectl_path(), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("code", sorted(TRANSCRIPT_RUNS))
def test_transcript_of_every_failure_code_is_readable_and_holds_no_secret(tsim, login_server, probe,
                                                                         tmp_path, code):
    fault, params, overrides = TRANSCRIPT_RUNS[code]
    if fault:
        tsim.configure(fault=fault, params=params)
    out = tmp_path / "transcript.json"
    res = probe(cfg(tsim, login_server, **overrides(tsim, login_server)), "--once", "--json",
                "--transcript", str(out), env={"GP_NOT_UTF8": "caf\udce9"})
    assert res.json is not None and res.json["code"] == code, res
    assert out.stat().st_mode & 0o777 == 0o600
    text = out.read_text()
    doc = json.loads(text)
    assert doc["run_id"] == res.json["run_id"] and doc["code"] == code
    human = ctl("transcript", "--file", str(out))
    assert human.returncode == 0, human.stderr
    assert f"run {res.json['run_id']}" in human.stdout and code in human.stdout, human.stdout
    as_json = ctl("transcript", "--file", str(out), "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == doc
    entries = [e for s in doc["sessions"] for e in s["entries"]]
    if code != "internal":  # a template that fails before any request
        assert any(e["kind"] == "http" for e in entries), human.stdout
    if res.json["result"] == "fail":
        assert any(e["kind"] == "fail" and code in e["text"] for e in entries), human.stdout
    print(human.stdout)
    for what, t in (("transcript file", text), ("gpprobectl transcript", human.stdout),
                    ("gpprobectl transcript --json", as_json.stdout)):
        assert_no_secret(what, t)
    # Where the server echoed a secret, it was there, and hidden (the login reply's token is
    # always hidden: other echoes are looked for elsewhere).
    login = [e for e in entries if e["kind"] == "http" and e.get("step") == "login"]
    others = [e for e in entries if e not in login]
    if code in ("login.status", "login.token"):
        assert "(redacted)" in login[0]["body"], login
    if code in ("events.error", "ws.closed", "step.reply", "response.mismatch", "events.malformed",
                "events.unexpected"):
        assert "(redacted)" in json.dumps(others), others


def test_transcript_redacts_configured_paths_and_the_echoed_token_in_every_frame(tsim, login_server,
                                                                                 probe, tmp_path):
    tsim.configure(fault="echo_token")
    out = tmp_path / "transcript.json"
    res = probe(cfg(tsim, login_server, Output={"TranscriptRedact": "run_id data.agent"}),
                "--once", "--json", "--transcript", str(out))
    assert res.json is not None and res.json["code"] == "events.error", res
    doc = json.loads(out.read_text())
    frames = [e for e in doc["sessions"][0]["entries"] if e["kind"] == "frame"]
    echo = [f for f in frames if "agent_error" in f["data"]]
    assert echo and re.search(r'"bearer": ?"\(redacted\)"', echo[0]["data"]), echo
    assert "jwt.(redacted)" in echo[0]["data"] and "rejected token (redacted)" in echo[0]["data"], echo
    assert all(f["dir"] in ("in", "out") and f["opcode"] == "text" and f["size"] > 0 for f in frames)
    events = [f for f in frames if f["dir"] == "in" and '"run_id"' in f["data"]]
    assert len(events) >= 3, frames
    for f in events:  # the configured paths, whatever else the frame holds
        assert re.search(r'"run_id": ?"\(redacted\)"', f["data"]) and res.json["run_id"] not in f["data"], f
    assert re.search(r'"agent": ?"\(redacted\)"', events[0]["data"]), events[0]
    assert "triage_agent" not in events[0]["data"], events[0]
    assert_no_secret("transcript", out.read_text())


# ---- short secrets (issue 11: Password=e made a DNS failure read "https://auth.(redacted)xampl...") --

@pytest.mark.parametrize("source", ["Password", "PasswordFile", "Token"])
def test_secret_shorter_than_8_bytes_is_refused_at_load_naming_where(tsim, login_server, probe, tmp_path,
                                                                      source):
    short = tmp_path / "short-password"
    short.write_text("e\n")
    short.chmod(0o600)
    login = {"Password": {"PasswordFile": None, "Password": "e"},
             "PasswordFile": {"PasswordFile": str(short)},
             "Token": {"URL": None, "User": None, "PasswordFile": None, "Token": "e"}}[source]
    c = cfg(tsim, login_server, Login=login,
            WebSocket={"URL": "wss://auth.example.invalid/ws"})
    res = probe(c)
    assert res.rc == 78, res
    assert res.stdout == ""
    assert re.search(r"sim\.conf:\d+: .*shorter than 8 bytes", res.stderr), res.stderr
    if source == "PasswordFile":
        assert f"password file {short}" in res.stderr, res.stderr


def test_dns_failure_with_the_shortest_allowed_password_reads_whole(tsim, login_server, probe):
    c = cfg(tsim, login_server, Login={"PasswordFile": None, "Password": SHORTEST_PASSWORD,
                                       "URL": "https://auth.example.invalid/auth/login"})
    res = probe(c)
    assert res.json is not None and res.json["code"] == "net.dns", res
    assert "https://auth.example.invalid/auth/login" in res.json["reason"], res.json["reason"]
    assert "(redacted)" not in res.json["reason"]


def test_shortest_allowed_password_echoed_by_the_server_is_still_redacted(tsim, login_server, probe):
    res = probe(cfg(tsim, login_server, "/auth/echo-json",
                    Login={"PasswordFile": None, "Password": SHORTEST_PASSWORD}))
    assert res.json is not None and res.json["code"] == "login.status", res
    assert "(redacted)" in res.json["reason"], res.json["reason"]
    assert SHORTEST_PASSWORD not in res.stdout + res.stderr


def test_short_server_secret_is_redacted_where_it_stands_alone_never_inside_a_host(tsim, login_server,
                                                                                   probe):
    # A secret under 8 bytes cannot come from the configuration, but a server may give one: it
    # is replaced where it stands alone, and never cut out of a host name or a word.
    tsim.configure(fault="agent_error",
                   params={"message": f"ticket {SHORT_SECRET} refused; see https://{SHORT_SECRET}docs.example.test/x"})
    res = probe(cfg(tsim, login_server, "/auth/short-secret",
                    Login={"CaptureSecret": "tk=ticket"}))
    assert res.json is not None and res.json["code"] == "events.error", res
    reason = res.json["reason"]
    assert f"ticket (redacted) refused; see https://{SHORT_SECRET}docs.example.test/x" in reason, reason


def test_check_config_redacts_inline_password_and_token(tsim, login_server, probe):
    res = probe(cfg(tsim, login_server, Login={"PasswordFile": None, "Password": PASSWORD,
                                               "Token": TOKEN, "URL": None, "User": None}),
                "--check-config")
    assert res.rc == 0, res
    assert "[Login]" in res.stdout
    assert_no_secret("stdout", res.stdout)
    assert_no_secret("stderr", res.stderr)


@pytest.mark.parametrize("mode,warned", [(0o600, False), (0o640, True), (0o644, True)])
def test_config_holding_password_readable_by_others_is_warned_about(tsim, login_server, tmp_path,
                                                                    mode, warned):
    from conftest import gpprobed_path, render
    import subprocess
    path = tmp_path / "inline.conf"
    path.write_text(render(cfg(tsim, login_server, Login={"PasswordFile": None, "Password": PASSWORD})))
    path.chmod(mode)
    for args in (["--check-config"], ["--once"]):
        r = subprocess.run([gpprobed_path(), "--config", str(path), *args], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert ("readable by group or others" in r.stderr) == warned, (oct(mode), args, r.stderr)
        assert_no_secret("stderr", r.stderr)
        assert_no_secret("stdout", r.stdout)


# ---- the daemon: every output it has -----------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode(errors="replace")
    except (OSError, ValueError) as e:
        return f"({e})"


def stopped_daemon_outputs(d, journal, metrics_file):
    """Everything a stopped daemon left that a secret must never be in: journal, stdout, stderr,
    and its status, state and metrics files."""
    return {
        "journal": json.dumps(journal.entries(), ensure_ascii=False),
        "stderr": d.stderr(),
        "stdout": d.stdout_path.read_text(errors="replace"),
        "status file": d.status_path.read_text(),
        "state file": d.state_path.read_text() if d.state_path.exists() else "",
        "metrics file": metrics_file.read_text() if metrics_file.exists() else "",
    }


def test_daemon_outputs_and_proc_show_no_secret(tsim, login_server, daemon, journal, tmp_path):
    port = free_port()
    metrics_file = tmp_path / "metrics.prom"
    c = cfg(tsim, login_server, Probe={"Interval": "1h", "Jitter": "0"},
            Output={"MetricsListen": f"127.0.0.1:{port}", "MetricsFile": str(metrics_file)})
    d = daemon(c, journal=journal, env={"GPPROBE_TEST_MARKER": "1"})
    d.wait_runs(1, timeout=15)
    seen = 1
    procs = {}
    # a pass, then failures that echo the secrets, each one run on SIGUSR1
    steps = [(None, {}, "/auth/login"), (None, {}, "/auth/echo-json"),
             ("agent_error", {"message": f"token {TOKEN} refused"}, "/auth/login"),
             ("ws_close", {"code": 4001, "reason": f"bad {TOKEN}"}, "/auth/login")]
    for fault, params, path in steps:
        tsim.configure(fault=fault, params=params)
        if c["Login"]["URL"] != f"{login_server}{path}":
            c["Login"]["URL"] = f"{login_server}{path}"
            d.write_config(c)
            d.signal(signal.SIGHUP)
            time.sleep(0.5)
        d.signal(signal.SIGUSR1)
        seen += 1
        d.wait_runs(seen, timeout=15)
        for what in ("cmdline", "environ"):
            with open(f"/proc/{d.pid}/{what}", "rb") as f:
                procs[f"/proc/PID/{what} after run {seen}"] = f.read().decode(errors="replace")
    codes = [h["code"] for h in d.status()["history"]]
    assert {"login.status", "events.error", "ws.closed"} <= set(codes), codes
    assert "GPPROBE_TEST_MARKER" in procs[f"/proc/PID/environ after run {seen}"]  # really read

    outputs = dict(procs)
    outputs["GET /metrics"] = http_get(f"http://127.0.0.1:{port}/metrics")
    outputs["GET /status"] = http_get(f"http://127.0.0.1:{port}/status")
    d.stop()
    outputs.update(stopped_daemon_outputs(d, journal, metrics_file))
    print("  searched: " + ", ".join(f"{k} ({len(v)} bytes)" for k, v in outputs.items()))
    assert "(redacted)" in outputs["journal"]
    for what, text in outputs.items():
        assert_no_secret(what, text)


# ---- the HTTP API's bearer tokens (issue 13) -------------------------------------------------------

API_TOKEN = "api-bearer-" + "3e" * 20
API_WRONG = "api-wrong-" + "d4" * 20


def test_api_tokens_never_show_in_any_output(tsim, login_server, daemon, journal, tmp_path, certs):
    import http.client
    import ssl
    port = free_port()
    metrics_file = tmp_path / "metrics.prom"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api-tokens").write_text(f"# tokens\n{API_TOKEN}\n")
    (creds / "api-tokens").chmod(0o600)
    c = cfg(tsim, login_server, Probe={"Interval": "1h", "Jitter": "0"},
            Output={"MetricsListen": f"127.0.0.1:{port}", "MetricsFile": str(metrics_file)},
            API={"TLSCertificate": str(certs / "server.pem"), "TLSKey": str(certs / "server.key"),
                 "Tokens": "api-tokens"})
    d = daemon(c, journal=journal, env={"CREDENTIALS_DIRECTORY": str(creds)})
    d.wait_runs(1, timeout=15)
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    deadline = time.monotonic() + 15
    while True:  # the listener opens in the server's thread, maybe after the first run
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline, d.stderr()[-2000:]
            time.sleep(0.05)

    def get(path, token, method="GET"):
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        try:
            conn.request(method, path, headers={"Authorization": f"Bearer {token}"})
            r = conn.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            conn.close()

    outputs = {}
    for path in ("/metrics", "/status", "/gate", "/runs/x"):
        st, outputs[f"GET {path}"] = get(path, API_TOKEN)
        assert st in (200, 404, 412, 503), (path, st)
    st, outputs["wrong token"] = get("/status", API_WRONG)
    assert st == 401
    st, outputs["POST /run"] = get("/run", API_TOKEN, "POST")
    assert st == 202
    d.wait_runs(2, timeout=15)
    for what in ("cmdline", "environ"):
        with open(f"/proc/{d.pid}/{what}", "rb") as f:
            outputs[f"/proc/PID/{what}"] = f.read().decode(errors="replace")
    assert "CREDENTIALS_DIRECTORY" in outputs["/proc/PID/environ"]  # really read
    d.stop()
    outputs.update(stopped_daemon_outputs(d, journal, metrics_file))
    assert "API authentication failed" in outputs["journal"], "the wrong token was not logged"
    for what, text in outputs.items():
        for secret in (API_TOKEN, API_WRONG, API_TOKEN[:16], API_WRONG[:16]):
            assert secret not in text, f"{what} holds an API token ({secret[:8]}...)"
