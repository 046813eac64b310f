"""The HTTPS API (SPEC section 8, "HTTP API"; issue 13) on gpprobed's MetricsListen= server: real TLS
with a CA made here, real bearer tokens and client certificates (good, wrong CA, expired, revoked
by a CRL), tokens wrong, missing and revoked by a reload; GET /gate with the verdicts of
gpprobectl gate, POST /run and GET /runs/ID; limits (a 1 MiB request, 1000 connections,
slowloris) answered or refused while the probe keeps its timing. Fixtures: conftest.py (sim),
harness.py (daemon)."""
import asyncio
import http.client
import json
import os
import resource
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import base_config
from test_metrics import fd_count, free_port, run_starts, wait_run_count

TOKEN = "api-token-" + "5c" * 16
TOKEN2 = "api-token-two-" + "a7" * 12
WRONG = "api-token-" + "00" * 16

OPENSSL_CNF = """
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca ]
default_ca = api_ca
[ api_ca ]
dir = .
database = ./index.txt
new_certs_dir = ./issued
serial = ./serial
crlnumber = ./crlnumber
default_md = sha256
default_crl_days = 30
policy = any
unique_subject = no
[ any ]
commonName = supplied
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
[ server ]
basicConstraints = critical, CA:FALSE
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[ client ]
basicConstraints = critical, CA:FALSE
extendedKeyUsage = clientAuth
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """ca (server and clients), other CA; server; clients good, wrongca, expired, revoked; crl."""
    d = tmp_path_factory.mktemp("api-pki")
    (d / "ca.cnf").write_text(OPENSSL_CNF)
    (d / "issued").mkdir()
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1000\n")
    (d / "crlnumber").write_text("1000\n")

    def run(*argv):
        subprocess.run(argv, cwd=d, check=True, capture_output=True)

    def key(name):
        run("openssl", "genpkey", "-quiet", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", f"{name}.key")

    def ca(name):
        key(name)
        run("openssl", "req", "-new", "-x509", "-key", f"{name}.key", "-subj", f"/CN={name}", "-days", "30",
            "-extensions", "v3_ca", "-config", "ca.cnf", "-out", f"{name}.pem")

    def leaf(name, ext, issuer="ca", dates=("-days", "30")):
        key(name)
        run("openssl", "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}", "-config", "ca.cnf",
            "-out", f"{name}.csr")
        run("openssl", "ca", "-batch", "-notext", "-config", "ca.cnf", "-in", f"{name}.csr", "-cert",
            f"{issuer}.pem", "-keyfile", f"{issuer}.key", "-extensions", ext, *dates, "-out", f"{name}.pem")

    ca("ca")
    ca("other")
    leaf("server", "server")
    leaf("good", "client")
    leaf("revoked", "client")
    leaf("expired", "client", dates=("-startdate", "20200101000000Z", "-enddate", "20200102000000Z"))
    leaf("wrongca", "client", issuer="other")
    run("openssl", "ca", "-config", "ca.cnf", "-revoke", "revoked.pem", "-keyfile", "ca.key", "-cert", "ca.pem")
    run("openssl", "ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "ca.key", "-cert", "ca.pem", "-out",
        "crl.pem")
    for f in d.glob("*.key"):
        f.chmod(0o600)
    return d


def api_config(sim, pki, port, tmp_path, tokens=(TOKEN, TOKEN2), mtls=True, interval="1h", **api):
    tok = tmp_path / "tokens"
    tok.write_text("# API tokens\n\n" + "".join(t + "\n" for t in tokens))
    tok.chmod(0o600)
    sect = {"TLSCertificate": str(pki / "server.pem"), "TLSKey": str(pki / "server.key"),
            "Tokens": str(tok)}
    if mtls:
        sect.update(ClientCA=str(pki / "ca.pem"), ClientCRL=str(pki / "crl.pem"))
    sect.update(api)
    return base_config(sim, Probe={"Interval": interval, "Jitter": "0"},
                       Output={"MetricsListen": f"127.0.0.1:{port}"}, API=sect)


class Api:
    """A client of one daemon's API over TLS: request(method, path, token=, cert=) ->
    (status, headers, body bytes)."""

    def __init__(self, port, pki):
        self.port = port
        self.pki = pki

    def context(self, cert=None):
        c = ssl.create_default_context(cafile=str(self.pki / "ca.pem"))
        if cert:
            c.load_cert_chain(str(self.pki / f"{cert}.pem"), str(self.pki / f"{cert}.key"))
        return c

    def request(self, method, path, token=None, cert=None, headers=None, body=None, timeout=10):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context(cert), timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def json(self, method, path, **kw):
        status, headers, body = self.request(method, path, **kw)
        return status, headers, json.loads(body)

    def wait_serving(self, d, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.request("GET", "/healthz", token=TOKEN)
            except (OSError, ssl.SSLError):
                if time.monotonic() > deadline:
                    raise AssertionError(f"no API on {self.port}; stderr:\n{d.stderr()[-3000:]}")
                time.sleep(0.05)


def start(daemon, sim, pki, tmp_path, **kw):
    port = free_port()
    d = daemon(api_config(sim, pki, port, tmp_path, **kw))
    api = Api(port, pki)
    api.wait_serving(d)
    return d, api


def auth_lines(d):
    return [line for line in d.stderr().splitlines() if "API authentication failed" in line]


def wait_auth_line(d, text, timeout=5):
    deadline = time.monotonic() + timeout
    while not any(text in line for line in auth_lines(d)):
        assert time.monotonic() < deadline, f"no authentication failure '{text}' logged:\n{d.stderr()[-3000:]}"
        time.sleep(0.05)


# ---- authentication ------------------------------------------------------------------------------

def test_tokens_and_client_certificates_authenticate_and_bad_ones_get_401(sim, daemon, pki, tmp_path):
    d, api = start(daemon, sim, pki, tmp_path)
    wait_run_count(d, 1)
    status_doc = d.status()

    # good: either token, or a good client certificate
    for kw in ({"token": TOKEN}, {"token": TOKEN2}, {"cert": "good"}):
        st, h, body = api.request("GET", "/status", **kw)
        assert st == 200, (kw, st, body)
        assert json.loads(body)["name"] == status_doc["name"]

    # missing, wrong, not a bearer token: 401 with WWW-Authenticate: Bearer and a JSON error
    cases = {
        "missing": ({}, "no bearer token"),
        "wrong": ({"token": WRONG}, "wrong bearer token"),
        "basic": ({"headers": {"Authorization": "Basic dXNlcjpwdw=="}}, "not a bearer token"),
        "wrong CA": ({"cert": "wrongca"}, "client certificate rejected"),
        "expired": ({"cert": "expired"}, "certificate has expired"),
        "revoked": ({"cert": "revoked"}, "certificate revoked"),
        # a bad certificate is refused even with a good token: it is presented, and it is bad
        "revoked with a token": ({"cert": "revoked", "token": TOKEN}, "certificate revoked"),
    }
    for name, (kw, why) in cases.items():
        st, h, body = api.request("GET", "/status", **kw)
        assert st == 401, (name, st, body)
        assert h.get("www-authenticate") == "Bearer", (name, h)
        assert why in json.loads(body)["error"], (name, body)
        wait_auth_line(d, why)

    # the gate, runs and metrics need authentication too (MetricsAuth= defaults to yes)
    for method, path in (("GET", "/gate"), ("POST", "/run"), ("GET", "/runs/x"), ("GET", "/metrics"),
                         ("GET", "/healthz"), ("GET", "/")):
        assert api.request(method, path)[0] == 401, path

    # the journal lines name the peer and the reason, never a token
    lines = auth_lines(d)
    assert any("127.0.0.1" in line for line in lines), lines
    text = d.stderr()
    for t in (TOKEN, TOKEN2, WRONG, "dXNlcjpwdw=="):
        assert t not in text
    d.stop()


def test_plain_http_is_refused_on_the_tls_port(sim, daemon, pki, tmp_path):
    d, api = start(daemon, sim, pki, tmp_path)
    c = http.client.HTTPConnection("127.0.0.1", api.port, timeout=5)
    try:
        c.request("GET", "/status", headers={"Authorization": f"Bearer {TOKEN}"})
        r = c.getresponse()
        assert r.status >= 400
    except (ConnectionError, http.client.HTTPException, OSError):
        pass  # closed: also a refusal
    finally:
        c.close()
    assert api.request("GET", "/status", token=TOKEN)[0] == 200
    d.stop()


def test_a_token_removed_and_a_reload_no_longer_works(sim, daemon, pki, tmp_path):
    d, api = start(daemon, sim, pki, tmp_path)
    assert api.request("GET", "/status", token=TOKEN2)[0] == 200
    d.write_config(api_config(sim, pki, api.port, tmp_path, tokens=(TOKEN,)))
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        try:
            if api.request("GET", "/status", token=TOKEN2)[0] == 401:
                break
        except (OSError, ssl.SSLError):
            pass  # the listener is made again on reload
        assert time.monotonic() < deadline, "the removed token still works after the reload"
        time.sleep(0.1)
    assert api.request("GET", "/status", token=TOKEN)[0] == 200
    assert api.request("GET", "/status", cert="good")[0] == 200
    d.stop()


def test_metrics_auth_no_leaves_metrics_and_healthz_open(sim, daemon, pki, tmp_path):
    d, api = start(daemon, sim, pki, tmp_path, MetricsAuth="no")
    wait_run_count(d, 1)
    assert api.request("GET", "/metrics")[0] == 200
    assert api.request("GET", "/healthz")[0] == 200
    assert api.request("GET", "/status")[0] == 401
    assert api.request("GET", "/gate")[0] == 401
    d.stop()


# ---- endpoints -----------------------------------------------------------------------------------

def gpprobectl_path():
    from conftest import ROOT
    return os.environ.get("GPPROBECTL") or str(ROOT / "build" / "daemon" / "gpprobectl")


def gpprobectl_gate(d, *args):
    p = subprocess.run([gpprobectl_path(), "--status-dir", str(d.status_path.parent), "gate", "sim", *args],
                       capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout.strip()


def test_gate_answers_as_gpprobectl_gate_does_with_200_412_503_and_400(sim, daemon, pki, tmp_path):
    d, api = start(daemon, sim, pki, tmp_path)
    wait_run_count(d, 1)
    st, _, g = api.json("GET", "/gate?max_age=1h&require_last_pass=1", token=TOKEN)
    assert st == 200 and g["verdict"] == "open" and g["name"] == "sim", (st, g)
    assert g["checked_at"].endswith("Z")
    rc, line = gpprobectl_gate(d, "--max-age", "1h", "--require-last-pass")
    assert rc == 0 and line.startswith("open: sim: last run pass")
    assert g["reason"].split(" took ")[1] == line.split(" took ")[1], (g["reason"], line)

    # a failed run: closed (412), as gpprobectl says
    sim.configure(fault="login_500")
    n = len(d.status()["history"])
    d.signal(signal.SIGUSR1)
    d.wait_status(lambda s: len(s["history"]) > n and s["last"]["result"] == "fail")
    st, _, g = api.json("GET", "/gate?require_last_pass=1&max_age=1h", token=TOKEN)
    rc, line = gpprobectl_gate(d, "--require-last-pass", "--max-age", "1h")
    assert st == 412 and g["verdict"] == "closed" and rc == 1, (st, g, line)
    assert line.split(" ago ")[1] == g["reason"].split(" ago ")[1], (line, g["reason"])
    assert line.startswith("closed: sim: last run failed") and g["reason"].startswith("last run failed")
    # silenced (issue 13): the same answer, the silence named by both
    subprocess.run([gpprobectl_path(), "silence", "sim", "--state-dir", str(d.state_path.parent), "--for", "10m",
                    "--reason", "deploy of v2"], check=True, capture_output=True, timeout=10)
    d.wait_status(lambda s: s.get("silence") is not None)
    st, _, g = api.json("GET", "/gate?require_last_pass=1&max_age=1h", token=TOKEN)
    rc, line = gpprobectl_gate(d, "--require-last-pass", "--max-age", "1h")
    assert st == 412 and rc == 1 and g["reason"].endswith(": deploy of v2)") and line.endswith(": deploy of v2)"), \
        (g, line)
    assert line.split(" ago ")[1] == g["reason"].split(" ago ")[1], (line, g["reason"])
    subprocess.run([gpprobectl_path(), "unsilence", "sim", "--state-dir", str(d.state_path.parent)], check=True,
                   capture_output=True, timeout=10)
    d.wait_status(lambda s: s.get("silence") is None)
    # a success ratio below the minimum: closed; 50% accepted: open
    st, _, g = api.json("GET", "/gate?window=2&min_success_ratio=90%25", token=TOKEN)
    assert st == 412 and "success ratio 50% over the last 2 runs is below 90%" in g["reason"], g
    assert api.json("GET", "/gate?window=2&min_success_ratio=0.5", token=TOKEN)[0] == 200
    # stale: a max_age shorter than the status's age is unknown (503)
    time.sleep(0.05)
    st, _, g = api.json("GET", "/gate?max_age=1ms", token=TOKEN)
    assert st == 503 and g["verdict"] == "unknown" and "not within --max-age" in g["reason"], g
    # bad parameters: 400 with an error
    for q in ("max_age=soon", "window=0", "min_success_ratio=2", "require_last_pass=maybe", "colour=red",
              "window=2&window=3"):
        st, _, e = api.json("GET", f"/gate?{q}", token=TOKEN)
        assert st == 400 and e["error"], (q, st, e)
    d.stop()


def test_gate_before_any_run_is_unknown(sim, daemon, pki, tmp_path):
    sim.configure(fault="login_slow", params={"ms": 3000}, count=1)
    d, api = start(daemon, sim, pki, tmp_path)
    st, _, g = api.json("GET", "/gate", token=TOKEN)
    assert st == 503 and g["verdict"] == "unknown" and g["reason"].startswith("no run yet"), g
    d.stop()


def test_post_run_starts_a_run_whose_id_runs_id_reports(sim, daemon, pki, tmp_path):
    d, api = start(daemon, sim, pki, tmp_path)
    wait_run_count(d, 1)
    sim.configure(fault="login_slow", params={"ms": 800}, count=1)
    st, _, r = api.json("POST", "/run", token=TOKEN)
    assert st == 202 and r["state"] == "running", (st, r)
    rid = r["run_id"]
    # while it runs: another POST is refused with the current run's id; /runs/ID says running
    st, _, busy = api.json("POST", "/run", cert="good")
    assert st == 409 and busy == {"error": "run in progress", "run_id": rid}, (st, busy)
    st, _, running = api.json("GET", f"/runs/{rid}", token=TOKEN)
    assert st == 202 and running == {"run_id": rid, "state": "running"}
    doc = d.wait_status(lambda s: s["last"] and s["last"]["run_id"] == rid, timeout=15)
    st, _, done = api.json("GET", f"/runs/{rid}", token=TOKEN)
    assert st == 200 and done["state"] == "done" and done["run_id"] == rid, done
    assert done["result"] == doc["last"], "the result is the status file's last"
    assert api.json("GET", "/runs/00000000-0000-4000-8000-000000000000", token=TOKEN)[0] == 404
    assert api.request("GET", "/runs/not-a-run-id!", token=TOKEN)[0] == 404
    # methods and paths
    st, h, _ = api.request("GET", "/run", token=TOKEN)
    assert st == 405 and h["allow"] == "POST", (st, h)
    assert api.request("DELETE", "/status", token=TOKEN)[0] == 405
    assert api.request("GET", "/nothing", token=TOKEN)[0] == 404
    assert "started on POST /run" in d.stderr()
    d.stop()


# ---- limits and timing ---------------------------------------------------------------------------

def raw_tls(port, pki, data, wait=8.0):
    """Send data over TLS; read until the server closes or wait passes: bytes read."""
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=wait), server_hostname="localhost")
    out = b""
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b
    except (socket.timeout, TimeoutError, ConnectionResetError, ssl.SSLError):
        return out
    finally:
        s.close()


def test_a_1mib_request_is_refused_with_413_and_large_headers_with_an_error(sim, daemon, pki, tmp_path):
    d, api = start(daemon, sim, pki, tmp_path)
    # The head announces 1 MiB; the answer comes before the body is read, and the body then
    # meets a closed connection.
    body = b"x" * (1 << 20)
    ctx = api.context()
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", api.port), timeout=8), server_hostname="localhost")
    s.sendall(b"POST /run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() +
              b"\r\nContent-Length: %d\r\n\r\n" % len(body))
    out, closed = b"", False
    try:
        while b"\r\n\r\n" not in out or not out.endswith(b"too large\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        s.sendall(body)
        while s.recv(4096):
            pass
        closed = True
    except (ConnectionError, ssl.SSLError):
        closed = True
    except (socket.timeout, TimeoutError):
        pass
    s.close()
    assert out.startswith(b"HTTP/1.1 413"), out[:200]
    assert closed, "the connection stayed open after the 413"
    out = raw_tls(api.port, pki, b"GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
    assert out == b"" or 400 <= int(out[9:12]) < 500, out[:200]
    assert api.request("GET", "/status", token=TOKEN)[0] == 200
    assert d.proc.poll() is None
    d.stop()


def test_rate_limit_answers_429(sim, daemon, pki, tmp_path):
    d, api = start(daemon, sim, pki, tmp_path, RateLimit="5")
    codes = [api.request("GET", "/healthz", token=TOKEN)[0] for _ in range(20)]
    assert 429 in codes and codes[0] == 200, codes
    time.sleep(1.1)
    assert api.request("GET", "/healthz", token=TOKEN)[0] == 200
    d.stop()


async def thousand_clients(api, n=1000, timeout=30):
    ctx = api.context()
    outcome = {"answered": 0, "refused": 0}

    async def one(i):
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", api.port, ssl=ctx,
                                                           server_hostname="localhost")
            token = TOKEN if i % 3 else WRONG
            path = "/healthz" if i % 2 else "/gate"
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                         "Connection: close\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            assert status in (200, 401, 503), head
            outcome["answered"] += 1
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            outcome["refused"] += 1
        finally:
            if writer is not None:
                writer.close()

    async def bounded(i):
        try:
            await asyncio.wait_for(one(i), timeout)
        except asyncio.TimeoutError:
            outcome["refused"] += 1

    await asyncio.gather(*(bounded(i) for i in range(n)))
    return outcome


def test_1000_connections_and_slowloris_leave_the_probe_on_time(sim, daemon, pki, tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    interval = 0.3
    port = free_port()
    d = daemon(api_config(sim, pki, port, tmp_path, interval="300ms", MaxConnections="128"))
    api = Api(port, pki)
    api.wait_serving(d)
    wait_run_count(d, 3)
    fds_before = fd_count(d.pid)

    # slowloris: TCP connections that never finish a TLS handshake, and TLS ones whose request
    # head never ends
    slow = []
    for _ in range(20):
        slow.append(socket.create_connection(("127.0.0.1", port)))
    for _ in range(10):
        s = api.context().wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                      server_hostname="localhost")
        s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\nX-Slow: ")
        slow.append(s)

    # 1000 clients at once, each its own connection: TLS, one request, the answer or a refusal
    t0 = time.time()
    outcome = asyncio.run(thousand_clients(api))
    time.sleep(1)
    t1 = time.time()
    assert sum(outcome.values()) == 1000, outcome
    print(f"1000 clients: {outcome}")
    assert outcome["answered"] >= 500, outcome

    doc = d.status()
    starts = [t for t in run_starts(doc) if t0 + interval < t < t1 - interval]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) >= 3, (starts, t1 - t0)
    assert max(gaps) < interval + 0.25, f"a run started late while the API was hammered: {gaps}"
    during = [h for h in doc["history"] if t0 < run_starts({"history": [h]})[0] < t1]
    assert {h["result"] for h in during} == {"pass"}, [h for h in during if h["result"] != "pass"]

    # the slow clients were cut off by the server's timeouts (5 s)
    for s in slow:
        s.settimeout(max(0.1, t0 + 15 - time.time()))
        try:
            got = s.recv(100)
        except (ConnectionResetError, ssl.SSLError):
            got = b""
        except (socket.timeout, TimeoutError):
            got = None
        s.close()
        assert got == b"", f"a slow client was answered or kept: {got!r}"
    assert api.request("GET", "/healthz", token=TOKEN)[0] == 200
    deadline = time.monotonic() + 10
    while fd_count(d.pid) > fds_before + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fd_count(d.pid) <= fds_before + 2, "descriptors leaked"
    d.stop()


# ---- configuration -------------------------------------------------------------------------------

def check_config(tmp_path, text, env=None):
    from conftest import gpprobed_path
    p = tmp_path / "c.conf"
    p.write_text(text)
    p.chmod(0o600)
    e = dict(os.environ)
    e.pop("CREDENTIALS_DIRECTORY", None)
    e.update(env or {})
    return subprocess.run([gpprobed_path(), "--check-config", "--config", str(p)], capture_output=True, text=True,
                          env=e, timeout=10)


def test_a_non_loopback_listener_needs_tls_and_authentication(sim, pki, tmp_path):
    from conftest import render
    base = base_config(sim, Login={"PasswordFile": None, "Token": "tok-" + "x" * 10, "URL": None})
    base["Output"] = {"MetricsListen": "0.0.0.0:9477"}
    p = check_config(tmp_path, render(base))
    assert p.returncode != 0 and "not a loopback address" in p.stderr, p.stderr
    base["API"] = {"TLSCertificate": str(pki / "server.pem"), "TLSKey": str(pki / "server.key")}
    p = check_config(tmp_path, render(base))
    assert p.returncode != 0 and "not a loopback address" in p.stderr, p.stderr
    base["API"]["ClientCA"] = str(pki / "ca.pem")
    p = check_config(tmp_path, render(base))
    assert p.returncode == 0, p.stderr
    # credentials: names under $CREDENTIALS_DIRECTORY
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api-tokens").write_text(TOKEN + "\n")
    base["API"] = {"TLSCertificate": str(pki / "server.pem"), "TLSKey": str(pki / "server.key"),
                   "Tokens": "api-tokens"}
    p = check_config(tmp_path, render(base))
    assert p.returncode != 0 and "CREDENTIALS_DIRECTORY" in p.stderr, p.stderr
    p = check_config(tmp_path, render(base), env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert p.returncode == 0, p.stderr
    assert TOKEN not in p.stdout + p.stderr
    (creds / "api-tokens").write_text("short\n")
    p = check_config(tmp_path, render(base), env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert p.returncode != 0 and "a token must be 8 to 1024 bytes" in p.stderr, p.stderr
    base["API"]["ClientCRL"] = str(pki / "crl.pem")
    p = check_config(tmp_path, render(base), env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert p.returncode != 0 and "ClientCRL= needs ClientCA=" in p.stderr, p.stderr


def test_tls_that_cannot_be_set_up_leaves_the_port_closed_and_the_probe_running(sim, daemon, pki, tmp_path):
    port = free_port()
    d = daemon(api_config(sim, pki, port, tmp_path, TLSKey=str(pki / "good.key")))  # not the cert's key
    wait_run_count(d, 1)
    deadline = time.monotonic() + 10
    while "MetricsListen=: cannot set up TLS" not in d.stderr():
        assert time.monotonic() < deadline, d.stderr()[-3000:]
        time.sleep(0.05)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    # fixed and reloaded: served over TLS
    d.write_config(api_config(sim, pki, port, tmp_path))
    d.signal(signal.SIGHUP)
    Api(port, pki).wait_serving(d)
    d.stop()


# ---- gpprobectl --url against this server (issue 13: remote and local give the same verdicts) ----

def ctl_remote(d, api, tmp_path, *args, cert=None, token=TOKEN, timeout=60):
    argv = [gpprobectl_path(), *args, "--url", f"https://127.0.0.1:{api.port}", "--cacert", str(api.pki / "ca.pem")]
    if token:
        tf = tmp_path / "ctl-token"
        tf.write_text(token + "\n")
        tf.chmod(0o600)
        argv += ["--token-file", str(tf)]
    if cert:
        argv += ["--cert", str(api.pki / f"{cert}.pem"), "--key", str(api.pki / f"{cert}.key")]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def ctl_local(d, *args):
    p = subprocess.run([gpprobectl_path(), "--status-dir", str(d.status_path.parent), *args],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout.strip()


def same(remote, local):
    """The same exit code and line, but for the age ("31ms ago"), which the clock moves between them."""
    import re
    norm = lambda s: re.sub(r"[0-9.]+(ms|s|min|h|d) ago", "N ago", s)
    return remote[0] == local[0] and norm(remote[1]) == norm(local[1])


def test_gpprobectl_url_against_the_real_api_answers_as_the_local_mode(sim, daemon, pki, tmp_path):
    d, api = start(daemon, sim, pki, tmp_path)
    wait_run_count(d, 1)
    gate = ("gate", "sim", "--max-age", "1h", "--require-last-pass")
    rc, out, err = ctl_remote(d, api, tmp_path, *gate)
    assert same((rc, out), ctl_local(d, *gate)) and rc == 0, (rc, out, err, ctl_local(d, *gate))
    rc, out, err = ctl_remote(d, api, tmp_path, *gate, token=None, cert="good")  # mTLS alone
    assert rc == 0 and out.startswith("open: sim"), (rc, out, err)
    # a failing run, started remotely: run --wait exits 1 with its verdict, the gates agree
    sim.configure(fault="login_500")
    rc, out, err = ctl_remote(d, api, tmp_path, "run", "sim", "--wait", "--timeout", "30s")
    assert rc == 1, (rc, out, err)
    rc, out, err = ctl_remote(d, api, tmp_path, *gate)
    assert same((rc, out), ctl_local(d, *gate)) and rc == 1, (rc, out, err, ctl_local(d, *gate))
    hist = ("history", "sim", "--json")
    assert ctl_remote(d, api, tmp_path, *hist)[:2] == ctl_local(d, *hist)
    # a passing run now: exit 0
    sim.configure(fault=None)
    rc, out, err = ctl_remote(d, api, tmp_path, "run", "sim", "--wait", "--timeout", "30s")
    assert rc == 0, (rc, out, err)
    # refused credentials fail closed (2), naming the refusal, never the token
    rc, out, err = ctl_remote(d, api, tmp_path, *gate, token="wrong-token-123456")
    assert rc == 2 and "401" in out + err and "wrong-token-123456" not in out + err, (rc, out, err)
    rc, out, err = ctl_remote(d, api, tmp_path, *gate, token=None, cert="revoked")
    assert rc == 2, (rc, out, err)
    d.stop()
