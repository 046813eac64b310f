"""`gpprobectl --url` (issue 13): status, gate, wait, history and run against gpprobed's HTTPS API,
here the contract's stand-in (api_server.py) over real TLS with the test CA. The remote mode feeds
GET /status to the local mode's reader and decision, so every gate case gives the same verdict both
ways; and it fails closed: unreachable, refused credentials, TLS failures, a status other than 200,
a body that is not the schema are all exit 2 with the reason."""
import json
import os
import re
import subprocess
import time

import pytest

from api_server import Api
from test_gpprobectl import (NAME, Writer, corruptions, gpprobectl_path, put, recent, status_doc,
                             write_atomic)

TOKEN = "s3cret-token-Zq9"


@pytest.fixture
def token_file(tmp_path):
    p = tmp_path / "token"
    p.write_text(TOKEN + "\n")
    return p


@pytest.fixture
def api(certs, sdir):
    a = Api(certs, sdir / f"{NAME}.json", token=TOKEN)
    yield a
    a.stop()


def run_ctl(*args, env=None, timeout=60):
    e = dict(os.environ)
    e.pop("GPPROBE_STATUS_DIR", None)
    e.pop("GPPROBECTL_TOKEN_FILE", None)
    e.update(env or {})
    return subprocess.run([gpprobectl_path(), *args], capture_output=True, text=True, timeout=timeout, env=e)


@pytest.fixture
def local(sdir):
    def run(command, *args, **kw):
        return run_ctl("--status-dir", str(sdir), command, *args, **kw)
    return run


@pytest.fixture
def remote(api, certs, token_file):
    def run(command, *args, **kw):
        return run_ctl(command, "--url", api.url, "--cacert", str(certs / "ca.pem"), "--token-file",
                       str(token_file), *args, **kw)
    return run


def verdict(res):
    assert res.returncode in (0, 1, 2), res
    lines = res.stdout.splitlines()
    assert len(lines) == 1, res
    return lines[0]


def normalise(line, sdir, api):
    """The same verdict reads the same but for where the status came from and how long ago."""
    line = line.replace(str(sdir / f"{NAME}.json"), "SOURCE").replace(f"{api.url}/status", "SOURCE")
    return re.sub(r"(in )?[0-9.]+(ms|s|min|h)( [0-9.]+(ms|s|min|h))*( ago)?", "T", line)


def gate_cases():
    now = time.time()
    c = {
        "fresh-pass": (lambda: status_doc(recent("pass", "pass", "pass")), []),
        "alerting": (lambda: status_doc(recent("fail", "fail", "fail", "pass"), alerting=True), []),
        "failed-not-alerting": (lambda: status_doc(recent("pass", "fail")), []),
        "require-last-pass-failed": (lambda: status_doc(recent("pass", "fail")), ["--require-last-pass"]),
        "require-last-pass-passed": (lambda: status_doc(recent("fail", "pass")), ["--require-last-pass"]),
        "degraded-required": (lambda: status_doc(recent("pass", "degraded")), ["--require-last-pass"]),
        "degraded-allowed": (lambda: status_doc(recent("pass", "degraded")),
                             ["--require-last-pass", "--allow-degraded"]),
        "window-3": (lambda: status_doc(recent("fail", "pass", "degraded", "pass")), ["--window", "3"]),
        "window-4": (lambda: status_doc(recent("fail", "pass", "degraded", "pass")), ["--window", "4"]),
        "ratio-equal": (lambda: status_doc(recent("fail", "pass", "fail", "pass", "pass")),
                        ["--window", "4", "--min-success-ratio", "0.75"]),
        "ratio-below": (lambda: status_doc(recent("fail", "pass", "fail", "pass", "pass")),
                        ["--window", "4", "--min-success-ratio", "0.76"]),
        "ratio-alone": (lambda: status_doc(recent(*(["pass"] * 19 + ["fail"]))), ["--min-success-ratio", "96%"]),
        "stale-updated": (lambda: status_doc(recent("pass", end=now - 30), interval_ms=1000, updated_at=now - 30),
                          []),
        "stale-updated-max-age": (lambda: status_doc(recent("pass", end=now - 30), interval_ms=1000,
                                                     updated_at=now - 30), ["--max-age", "1h"]),
        "stale-last-run": (lambda: status_doc(recent("pass", end=now - 600), updated_at=now),
                           ["--max-age", "5min"]),
        "future": (lambda: status_doc(recent("pass", end=now + 3600), updated_at=now + 3600), []),
        "no-run-yet": (lambda: status_doc([]), []),
        "newer-schema": (lambda: dict(status_doc(recent("pass")), schema=2), []),
    }
    for kind, data in corruptions().items():
        c[f"corrupt-{kind}"] = (lambda data=data: data, ["--max-age", "1h"])
    return c


@pytest.mark.parametrize("case", sorted(gate_cases()))
def test_remote_and_local_gate_give_the_same_verdict(case, sdir, api, local, remote):
    make, args = gate_cases()[case]
    put(sdir, make())
    lo, re_ = local("gate", NAME, *args), remote("gate", NAME, *args)
    assert lo.returncode == re_.returncode, (lo, re_)
    assert normalise(verdict(lo), sdir, api) == normalise(verdict(re_), sdir, api), (lo, re_)
    if case.startswith("corrupt-") or case in ("newer-schema", "stale-updated", "future", "no-run-yet"):
        assert re_.returncode == 2, re_
    assert TOKEN not in re_.stdout + re_.stderr


def test_the_token_goes_in_the_authorization_header_only(sdir, api, remote):
    put(sdir, status_doc(recent("pass")))
    res = remote("gate", NAME)
    assert res.returncode == 0, res
    assert api.requests and all(auth == f"Bearer {TOKEN}" for _, _, auth in api.requests), api.requests
    assert [(m, p) for m, p, _ in api.requests] == [("GET", "/status")]


def test_token_file_from_the_environment(sdir, api, certs, token_file):
    put(sdir, status_doc(recent("pass")))
    res = run_ctl("gate", NAME, "--url", api.url, "--cacert", str(certs / "ca.pem"),
                  env={"GPPROBECTL_TOKEN_FILE": str(token_file)})
    assert res.returncode == 0, res


# ---- fail closed ------------------------------------------------------------------------------

def test_no_token_or_a_wrong_token_is_unknown(sdir, api, certs, tmp_path):
    put(sdir, status_doc(recent("pass")))
    base = ["--url", api.url, "--cacert", str(certs / "ca.pem")]
    res = run_ctl("gate", NAME, *base)
    assert res.returncode == 2 and "HTTP 401" in res.stdout and "credentials" in res.stdout, res
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token\n")
    res = run_ctl("gate", NAME, *base, "--token-file", str(wrong))
    assert res.returncode == 2 and "HTTP 401" in res.stdout, res
    assert "not-the-token" not in res.stdout + res.stderr


@pytest.mark.parametrize("content,why", [("", "empty"), ("\n", "empty"), ("a b\n", "blank")])
def test_a_bad_token_file_is_unknown_without_a_request(sdir, api, certs, tmp_path, content, why):
    put(sdir, status_doc(recent("pass")))
    p = tmp_path / "token"
    p.write_text(content)
    res = run_ctl("gate", NAME, "--url", api.url, "--cacert", str(certs / "ca.pem"), "--token-file", str(p))
    assert res.returncode == 2 and why in res.stdout and str(p) in res.stdout, res
    assert api.requests == []
    res = run_ctl("gate", NAME, "--url", api.url, "--cacert", str(certs / "ca.pem"), "--token-file",
                  str(tmp_path / "missing"))
    assert res.returncode == 2 and "No such file" in res.stdout, res


def test_tls_failures_are_unknown(sdir, api, certs, token_file):
    put(sdir, status_doc(recent("pass")))
    tok = ["--token-file", str(token_file)]
    for extra in ([], ["--cacert", str(certs / "unknown-ca.pem")]):  # system trust; a CA that did not sign it
        res = run_ctl("gate", NAME, "--url", api.url, *extra, *tok)
        assert res.returncode == 2 and "TLS failure" in res.stdout, res
    # the right CA, the wrong name: the certificate says localhost and 127.0.0.1 only
    res = run_ctl("gate", NAME, "--url", api.url.replace("localhost", "127.0.0.2"), "--cacert",
                  str(certs / "ca.pem"), *tok)
    assert res.returncode == 2, res
    assert api.requests == []  # nothing was sent before the server was trusted


def test_client_certificate(sdir, certs):
    put(sdir, status_doc(recent("pass")))
    a = Api(certs, sdir / f"{NAME}.json", client_ca=certs / "client-ca.pem")
    try:
        base = ["--url", a.url, "--cacert", str(certs / "ca.pem")]
        res = run_ctl("gate", NAME, *base, "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key"))
        assert res.returncode == 0, res
        res = run_ctl("gate", NAME, *base)
        assert res.returncode == 2 and "unknown: staging: " in res.stdout, res
    finally:
        a.stop()


def test_unreachable_server_is_unknown(sdir, api, remote, certs, token_file):
    put(sdir, status_doc(recent("pass")))
    port = api.port
    api.stop()
    res = run_ctl("gate", NAME, "--url", f"https://localhost:{port}", "--cacert", str(certs / "ca.pem"),
                  "--token-file", str(token_file))
    assert res.returncode == 2 and "unreachable" in res.stdout, res
    for cmd in (["status", NAME], ["history", NAME], ["wait", NAME, "--passes", "1", "--timeout", "2s"],
                ["run", NAME, "--wait"]):
        res = run_ctl(cmd[0], "--url", f"https://localhost:{port}", "--cacert", str(certs / "ca.pem"), *cmd[1:])
        assert res.returncode == 2 and "unreachable" in res.stdout + res.stderr, res


@pytest.mark.parametrize("status,body,words", [
    (500, b'{"error": "boom"}', ["HTTP 500", "boom"]),
    (503, b"", ["HTTP 503"]),
    (302, b"", ["HTTP 302"]),
    (200, b"<html>hello</html>", ["not valid JSON"]),
    (200, b"", ["SOURCE"]),
    (200, json.dumps({"verdict": "open"}).encode(), ["SOURCE"]),
])
def test_a_reply_that_is_not_a_status_is_unknown(sdir, api, remote, status, body, words):
    put(sdir, status_doc(recent("pass")))
    api.override = (status, body)
    for cmd in (["gate", NAME], ["status", NAME], ["history", NAME]):
        res = remote(*cmd)
        assert res.returncode == 2, res
        out = normalise(res.stdout + res.stderr, api.status_path.parent, api)
        assert all(w in out for w in words), res


def test_a_reply_larger_than_a_status_can_be_is_unknown(sdir, api, remote):
    api.override = (200, b" " * (17 * 1024 * 1024))
    res = remote("gate", NAME)
    assert res.returncode == 2 and "larger than" in res.stdout, res


def test_a_server_of_another_probe_is_unknown(sdir, api, remote):
    put(sdir, status_doc(recent("pass"), name="production"))
    res = remote("gate", NAME)
    assert res.returncode == 2 and "'production', not 'staging'" in res.stdout, res


def test_plain_http_only_to_loopback(sdir, certs, token_file):
    put(sdir, status_doc(recent("pass")))
    a = Api(certs, sdir / f"{NAME}.json", plain=True, token=TOKEN)
    try:
        res = run_ctl("gate", NAME, "--url", a.url, "--token-file", str(token_file))
        assert res.returncode == 0, res
    finally:
        a.stop()
    res = run_ctl("gate", NAME, "--url", "http://192.0.2.1:9478", "--token-file", str(token_file))
    assert res.returncode == 2 and "only to loopback" in res.stdout, res
    res = run_ctl("gate", NAME, "--url", "ftp://localhost/x")
    assert res.returncode == 2 and "not an https://" in res.stdout, res


@pytest.mark.parametrize("args,words", [
    (["gate", NAME, "--key", "k"], "--key needs --cert"),
    (["gate", NAME, "--token-file", "t"], "go with --url"),
    (["gate", NAME, "--url", ""], "--url needs a value"),
    (["gate", NAME, "--min-hosts", "2"], "go with --prometheus"),
    (["gate", NAME, "--prometheus", "http://127.0.0.1:9", "--url", "https://x"], "exclude each other"),
    (["gate", NAME, "--prometheus", "http://127.0.0.1:9", "--min-hosts", "2", "--min-ratio", "0.5"],
     "exclude each other"),
    (["gate", NAME, "--prometheus", "http://127.0.0.1:9", "--window", "5"], "--window counts runs"),
    (["gate", NAME, "--prometheus", "http://127.0.0.1:9", "--min-ratio", "0"], "--min-ratio"),
    (["run"], "exactly one probe NAME"),
    (["run", NAME, "--timeout", "5s"], "go with --wait"),
    (["run", NAME, "--passes", "2"], "not an option of run"),
    (["status", "--prometheus", "http://x"], "not an option of status"),
])
def test_usage_errors(args, words):
    res = run_ctl(*args)
    assert res.returncode == 64 and words in res.stderr, res


# ---- status, history, wait --------------------------------------------------------------------

def test_status_and_history_read_the_same_remotely(sdir, api, local, remote):
    put(sdir, status_doc(recent("fail", "pass", "degraded", "pass")))
    for cmd in (["history", NAME], ["history", NAME, "--json", "--limit", "2"], ["status", NAME]):
        lo, re_ = local(*cmd), remote(*cmd)
        assert lo.returncode == re_.returncode == 0, (lo, re_)
        assert normalise(lo.stdout, sdir, api) == normalise(re_.stdout, sdir, api), (lo, re_)
    res = remote("status")  # no NAME: the server's one probe
    assert res.returncode == 0 and res.stdout.startswith(f"{NAME}: pass "), res
    res = remote("status", "--json")
    (st,) = json.loads(res.stdout)
    assert st["valid"] and st["name"] == NAME and st["path"] == f"{api.url}/status", st


def test_remote_wait_sees_passes_written_after_it_started(sdir, api, remote):
    put(sdir, status_doc(recent("pass", end=time.time() - 5), interval_ms=300))
    w = Writer(sdir, ["pass", "pass", "pass"], interval_ms=300, old=recent("pass", end=time.time() - 5))
    w.start()
    try:
        res = remote("wait", NAME, "--passes", "2", "--timeout", "20s", timeout=30)
    finally:
        w.stop.set()
    assert res.returncode == 0 and re.match(r"open: staging: [2-9] consecutive passes", res.stdout), res


def test_remote_wait_fails_closed_at_once_on_refused_credentials(sdir, api, certs):
    put(sdir, status_doc(recent("pass")))
    t0 = time.monotonic()
    res = run_ctl("wait", NAME, "--passes", "2", "--timeout", "30s", "--url", api.url, "--cacert",
                  str(certs / "ca.pem"))
    assert res.returncode == 2 and "HTTP 401" in res.stdout, res
    assert time.monotonic() - t0 < 10


def test_remote_wait_outlasts_a_server_that_is_not_up_yet_then_times_out_unknown(sdir, api, remote):
    api.override = (503, b'{"error": "starting"}')
    res = remote("wait", NAME, "--passes", "1", "--timeout", "2s")
    assert res.returncode == 2 and "timed out without a usable status" in res.stdout, res
    assert "HTTP 503" in res.stdout, res


# ---- run --------------------------------------------------------------------------------------

def test_remote_run_wait_exits_with_the_runs_verdict(sdir, api, remote):
    put(sdir, status_doc(recent("pass")))
    res = remote("run", NAME, "--wait", "--timeout", "20s")
    assert res.returncode == 0 and re.match(r"open: staging: run [0-9a-f-]+ passed", res.stdout), res
    assert ("POST", "/run") in [(m, p) for m, p, _ in api.requests]
    api.run_result = {"result": "fail", "stage": "events", "code": "events.timeout", "reason": "no tool_completed"}
    res = remote("run", NAME, "--wait", "--timeout", "20s")
    assert res.returncode == 1 and "failed (stage events)" in res.stdout and "events.timeout" in res.stdout, res
    api.run_result = {"result": "degraded", "code": "slo.total", "reason": "slow"}
    res = remote("run", NAME, "--wait")
    assert res.returncode == 1 and "--allow-degraded accepts it" in res.stdout, res
    res = remote("run", NAME, "--wait", "--allow-degraded")
    assert res.returncode == 0, res


def test_remote_run_without_wait_only_starts_it(sdir, api, remote):
    put(sdir, status_doc(recent("pass")))
    api.run_seconds = 30
    t0 = time.monotonic()
    res = remote("run", NAME)
    assert res.returncode == 0 and res.stdout.startswith("started: staging: run "), res
    assert time.monotonic() - t0 < 10
    res = remote("run", NAME)  # one run at a time: the server says 409
    assert res.returncode == 2 and "in progress" in res.stdout, res


def test_remote_run_waits_for_a_run_in_progress_then_starts_its_own(sdir, api, remote):
    put(sdir, status_doc(recent("pass")))
    busy = api.start_busy_run(1.5)
    res = remote("run", NAME, "--wait", "--timeout", "20s")
    assert res.returncode == 0 and busy not in res.stdout, res
    assert f"run {busy} is in progress" in res.stderr, res
    assert [p for m, p, _ in api.requests if m == "POST"] == ["/run", "/run"]


@pytest.mark.parametrize("result,words", [
    ({"result": "ok"}, "not pass, degraded or fail"),
    ({"result": "fail", "code": None}, "without a code"),
    ({"run_id": "someone-else"}, "another run"),
])
def test_remote_run_with_a_result_that_is_not_the_schema_is_unknown(sdir, api, remote, result, words):
    put(sdir, status_doc(recent("pass")))
    api.run_result = result
    if "run_id" in result:
        orig = api.server.RequestHandlerClass.do_GET

        def do_get(handler):
            if handler.path.startswith("/runs/"):
                return handler.reply(200, {"run_id": handler.path[6:], "state": "done",
                                           "result": {"run_id": "someone-else", "result": "pass"}})
            return orig(handler)
        api.server.RequestHandlerClass.do_GET = do_get
    res = remote("run", NAME, "--wait", "--timeout", "10s")
    assert res.returncode == 2 and words in res.stdout, res


# ---- run, locally: SIGUSR1 to the real daemon ---------------------------------------------------

def test_local_run_signals_the_daemon_and_exits_with_that_runs_verdict(sim, daemon, sdir):
    from test_gpprobectl import daemon_cfg
    d = daemon(daemon_cfg(sim, Interval="1h"), status_file=sdir / "sim.json")
    d.wait_runs(1, timeout=20)
    first = json.loads((sdir / "sim.json").read_text())["last"]["run_id"]
    res = run_ctl("--status-dir", str(sdir), "run", "sim", "--wait", "--timeout", "30s", timeout=40)
    assert res.returncode == 0 and "passed" in res.stdout and first not in res.stdout, (res, d.stderr()[-2000:])
    doc = json.loads((sdir / "sim.json").read_text())
    assert doc["last"]["run_id"] in res.stdout, (res, doc["last"])
    sim.configure(fault="agent_error", count=1000)
    res = run_ctl("--status-dir", str(sdir), "run", "sim", "--wait", "--timeout", "30s", timeout=40)
    assert res.returncode == 1 and "failed" in res.stdout and "events.error" in res.stdout, res
    d.stop()


def test_local_run_refuses_a_pid_that_is_not_gpprobed(sdir):
    doc = status_doc(recent("pass"))
    doc["daemon"]["pid"] = os.getpid()  # python, not gpprobed: never signalled
    write_atomic(sdir / f"{NAME}.json", doc)
    res = run_ctl("--status-dir", str(sdir), "run", NAME, "--wait", "--timeout", "2s")
    assert res.returncode == 2 and "not gpprobed" in res.stdout, res
    doc["daemon"]["pid"] = 999999999
    write_atomic(sdir / f"{NAME}.json", doc)
    res = run_ctl("--status-dir", str(sdir), "run", NAME)
    assert res.returncode == 2, res
    res = run_ctl("--status-dir", str(sdir / "nope"), "run", NAME)
    assert res.returncode == 2 and "No such file" in res.stdout, res


def test_a_token_the_server_echoes_back_is_never_printed(sdir, api, remote):
    put(sdir, status_doc(recent("pass")))
    api.override = (500, json.dumps({"error": f"token {TOKEN} is not allowed here"}).encode())
    res = remote("gate", NAME)
    assert res.returncode == 2 and "HTTP 500" in res.stdout, res
    assert TOKEN not in res.stdout + res.stderr and "token " + "*" * len(TOKEN) in res.stdout, res


def test_remote_options_may_come_before_the_command(sdir, api, certs, token_file):
    put(sdir, status_doc(recent("pass")))
    res = run_ctl("--url", api.url, "--cacert", str(certs / "ca.pem"), "--token-file", str(token_file), "gate", NAME)
    assert res.returncode == 0 and res.stdout.startswith("open: staging: "), res
    res = run_ctl("--url", api.url, "gate", NAME)  # the CA and the token are still needed
    assert res.returncode == 2 and "TLS failure" in res.stdout, res
