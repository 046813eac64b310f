"""Fixtures for the integration suite: the real gpprobed binary against the staging simulator
over real TLS (a CA made at test time)."""
import json
import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SIM = ROOT / "tests" / "sim" / "gpsim.py"
MKCERTS = ROOT / "tests" / "sim" / "mkcerts.sh"
PYTHON = "/usr/bin/python3"
SIM_PASSWORD = "s3cret-pass"


def gpprobed_path():
    p = os.path.abspath(os.environ.get("GPPROBED") or str(ROOT / "build" / "daemon" / "gpprobed"))
    if not os.access(p, os.X_OK):
        pytest.fail(f"gpprobed binary not found at {p} (build first, or set GPPROBED)")
    return p


@pytest.fixture(scope="session")
def certs():
    d = tempfile.mkdtemp(prefix="gpprobe-certs-")
    os.chmod(d, 0o755)  # readable by a DynamicUser= service in the systemd tests
    subprocess.run(["bash", str(MKCERTS), d], check=True, capture_output=True)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


class Sim:
    def __init__(self, certs, extra_args=()):
        self.certs = certs
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="gpprobe-sim-"))
        port_file = self.dir / "port"
        bh_file = self.dir / "blackhole-port"
        self.log = open(self.dir / "sim.log", "w")
        self.proc = subprocess.Popen(
            [PYTHON, str(SIM), "--host", "127.0.0.1", "--port", "0",
             "--tls-cert", str(certs / "server.pem"), "--tls-key", str(certs / "server.key"),
             "--port-file", str(port_file), "--blackhole-port-file", str(bh_file), *extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while not (port_file.exists() and bh_file.exists()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("simulator did not start: " + (self.dir / "sim.log").read_text())
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        self.blackhole_port = int(bh_file.read_text())
        self.ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))

    @property
    def https(self):
        return f"https://localhost:{self.port}"

    @property
    def wss(self):
        return f"wss://localhost:{self.port}/ws"

    def _post(self, path, body):
        req = urllib.request.Request(self.https + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def get(self, path):
        with urllib.request.urlopen(self.https + path, context=self.ctx, timeout=10) as r:
            return json.loads(r.read())

    def configure(self, fault=None, params=None, options=None, delays=None, count=None):
        return self._post("/_sim/config", {"fault": fault, "params": params or {},
                                           "options": options or {}, "delays": delays or {},
                                           "count": count})

    def reset(self):
        return self._post("/_sim/reset", {})

    def events(self, run_id=None):
        return self.get("/_sim/events" + (f"?run_id={run_id}" if run_id else ""))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def sim_server(certs):
    s = Sim(certs)
    yield s
    s.stop()


@pytest.fixture
def sim(sim_server):
    sim_server.reset()
    yield sim_server
    sim_server.reset()


def base_config(sim, **sections):
    """A config dict {section: {key: value}} for the simulator, with overrides merged in."""
    cfg = {
        "Probe": {"Name": "sim", "Timeout": "20s"},
        "Login": {"URL": f"{sim.https}/auth/login", "User": "probe@example.com",
                  "PasswordFile": "@password"},
        "WebSocket": {"URL": sim.wss, "ConnectTimeout": "5s"},
        "Events": {"EventTimeout": "5s"},
        "TLS": {"CAFile": str(sim.certs / "ca.pem")},
    }
    for sec, kv in sections.items():
        cfg.setdefault(sec, {})
        for k, v in kv.items():
            if v is None:
                cfg[sec].pop(k, None)
            else:
                cfg[sec][k] = v
    return cfg


def render(cfg):
    out = []
    for sec, kv in cfg.items():
        out.append(f"[{sec}]")
        for k, v in kv.items():
            for item in (v if isinstance(v, list) else [v]):
                out.append(f"{k}={item}")
        out.append("")
    return "\n".join(out)


class Result:
    def __init__(self, proc, cfg_path):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.cfg_path = cfg_path
        try:
            self.json = json.loads(proc.stdout) if proc.stdout.strip() else None
        except json.JSONDecodeError:
            self.json = None

    def __repr__(self):
        return f"<rc={self.rc} json={self.json} stderr={self.stderr[-2000:]}>"


@pytest.fixture
def probe(tmp_path):
    """probe(cfg_dict or text, *args, timeout=60) -> Result of `gpprobed --once --json`."""
    binary = gpprobed_path()

    def run(cfg, *args, timeout=60, env=None, json_out=True):
        cfg_path = tmp_path / "sim.conf"
        text = cfg if isinstance(cfg, str) else render(cfg)
        pw = tmp_path / "password"
        pw.write_text(SIM_PASSWORD + "\n")
        pw.chmod(0o600)
        text = text.replace("@password", str(pw))
        cfg_path.write_text(text)
        cfg_path.chmod(0o600)
        argv = [binary, "--config", str(cfg_path), *(args or (["--once", "--json"] if json_out else ["--once"]))]
        e = dict(os.environ)
        e.pop("RUNTIME_DIRECTORY", None)
        e.pop("STATE_DIRECTORY", None)
        e.pop("CREDENTIALS_DIRECTORY", None)
        e.update(env or {})
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e)
        return Result(proc, cfg_path)

    return run


# Daemon-mode fixtures: `journal` (a private journald), `notify` (an sd_notify socket) and
# `daemon` (a gpprobed factory). Imported here so every test module can use them.
from journal import journal  # noqa: E402,F401
from harness import daemon, notify  # noqa: E402,F401


@pytest.fixture
def sdir(tmp_path):
    """An empty status directory (gpprobectl's --status-dir)."""
    d = tmp_path / "status"
    d.mkdir()
    return d
