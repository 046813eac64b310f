"""Memcheck on `gpprobed --once` (and the configuration modes): a pass and the main failure codes,
each with zero memcheck errors and zero definitely lost bytes. Run by scripts/test's `valgrind`
suite against the ordinary build (valgrind cannot run an ASan binary)."""
import json
import os
import shutil
import socket
import subprocess

import pytest

from conftest import SIM_PASSWORD, base_config, gpprobed_path, render

VALGRIND = shutil.which("valgrind")
ERROR_EXIT = 99
pytestmark = pytest.mark.skipif(VALGRIND is None, reason="valgrind is not installed")


def memcheck(tmp_path, cfg, *args):
    pw = tmp_path / "password"
    pw.write_text(SIM_PASSWORD + "\n")
    pw.chmod(0o600)
    path = tmp_path / "vg.conf"
    path.write_text((cfg if isinstance(cfg, str) else render(cfg)).replace("@password", str(pw)))
    path.chmod(0o600)
    log = tmp_path / "memcheck.log"
    argv = [VALGRIND, "--tool=memcheck", f"--error-exitcode={ERROR_EXIT}", "--leak-check=full",
            "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite", "--track-fds=no",
            f"--log-file={log}", gpprobed_path(), "--config", str(path), *(args or ("--once",))]
    env = {k: v for k, v in os.environ.items()
           if k not in ("RUNTIME_DIRECTORY", "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY")}
    r = subprocess.run(argv, capture_output=True, text=True, timeout=240, env=env)
    report = log.read_text(errors="replace")
    summary = [ln for ln in report.splitlines() if "ERROR SUMMARY" in ln or "definitely lost" in ln]
    print("  " + " | ".join(s.split("== ", 1)[-1] for s in summary))
    assert r.returncode != ERROR_EXIT, f"memcheck found errors:\n{report[-6000:]}"
    assert "ERROR SUMMARY: 0 errors" in report, report[-6000:]
    return r


def vg_cfg(sim, **sections):
    # valgrind slows everything down about 20 times: generous deadlines unless a case sets its own
    sections.setdefault("Probe", {}).setdefault("Timeout", "60s")
    sections.setdefault("WebSocket", {}).setdefault("ConnectTimeout", "30s")
    sections.setdefault("Events", {}).setdefault("EventTimeout", "30s")
    return base_config(sim, **sections)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


CASES = [
    # id, sim fault, params, config overrides (a function of sim), expected exit, code
    ("pass", None, {}, lambda s: {}, 0, None),
    ("login.status", "login_wrong_password", {}, lambda s: {}, 1, "login.status"),
    ("login.token", "huge_login", {"bytes": 4 << 20}, lambda s: {}, 1, "login.token"),
    ("ws.upgrade", "ws_403", {}, lambda s: {}, 1, "ws.upgrade"),
    ("ws.closed", "ws_drop", {}, lambda s: {}, 1, "ws.closed"),
    ("ws.protocol", "huge_frame", {"bytes": 20 << 20}, lambda s: {}, 1, "ws.protocol"),
    ("ws.protocol-utf8", "invalid_utf8", {}, lambda s: {}, 1, "ws.protocol"),
    ("events.order", "events_order", {}, lambda s: {}, 1, "events.order"),
    ("events.error", "agent_error", {}, lambda s: {}, 1, "events.error"),
    ("events.timeout", "stall", {"before": "tool_completed"},
     lambda s: {"Events": {"EventTimeout": "2s"}}, 1, "events.timeout"),
    ("response.mismatch", "wrong_response", {}, lambda s: {"Events": {"ResponseMatch": "^ready$"}},
     1, "response.mismatch"),
    ("tls.verify", None, {}, lambda s: {"TLS": {"CAFile": None}}, 1, "tls.verify"),
    ("net.connect", None, {},
     lambda s: {"WebSocket": {"URL": f"wss://localhost:{closed_port()}/ws"}}, 1, "net.connect"),
    ("net.timeout", None, {},
     lambda s: {"WebSocket": {"URL": f"wss://localhost:{s.blackhole_port}/ws", "ConnectTimeout": "2s"}},
     1, "net.timeout"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_once_is_memcheck_clean(sim, tmp_path, case):
    _, fault, params, overrides, rc, code = case
    if fault:
        sim.configure(fault=fault, params=params)
    r = memcheck(tmp_path, vg_cfg(sim, **overrides(sim)), "--once", "--json")
    assert r.returncode == rc, r.stderr[-3000:]
    if code:
        assert f'"code": "{code}"' in r.stdout, r.stdout[-3000:]


def test_check_config_is_memcheck_clean(sim, tmp_path):
    r = memcheck(tmp_path, vg_cfg(sim, Login={"PasswordFile": None, "Password": "inline-secret"}),
                 "--check-config")
    assert r.returncode == 0, r.stderr


def test_config_error_is_memcheck_clean(sim, tmp_path):
    r = memcheck(tmp_path, "[Probe]\nIntervl=5s\nTimeout=-1s\n[Events]\nResponseMatch=(a++++++++++\n"
                 "[WebSocket]\nURL=wss://x/ws\n", "--once")
    assert r.returncode == 78, r.stderr


@pytest.mark.parametrize("fault,params,code", [
    ("echo_token", {}, "events.error"),              # redaction in a frame, the upgrade's headers
    ("huge_frame", {"bytes": 1 << 20}, None),        # a 1 MiB event (a pass): only a window redacted
])
def test_once_recording_a_transcript_is_memcheck_clean(sim, tmp_path, fault, params, code):
    sim.configure(fault=fault, params=params)
    out = tmp_path / "t.json"
    r = memcheck(tmp_path, vg_cfg(sim), "--once", "--json", "--transcript", str(out))
    assert r.returncode == (1 if code else 0), r.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["code"] == code
    sizes = [e["size"] for e in doc["sessions"][0]["entries"] if e["kind"] == "frame"]
    assert code or max(sizes) > 1 << 20, sizes  # the big one was recorded, as an excerpt
