"""The scale benchmark's simulator: --workers N on one port, option delay_jitter, and t_due_ns
(when the scenario meant an event to be written) in the event log."""

import json
import os
import signal
import ssl
import subprocess
import tempfile
import pathlib
import time

import pytest

from test_sim import EXPECT, HERE, PASSWORD, PYTHON, RawWS, certs, sim, sim_proc, workdir  # noqa: F401


def test_delay_jitter_spreads_events_and_the_log_says_when_each_was_due(sim):
    sim.configure(options={"delay_jitter": 100}, delays={"default": 0})
    sim.run(run_id="r-jitter")
    ev = sim.events("r-jitter")["events"]
    assert [e["type"] for e in ev] == EXPECT
    for e in ev:
        assert e["t_due_ns"] <= e["t_write_start_ns"] <= e["t_mono_ns"]
    # four waits of up to 100 ms each (the chance that all four are under 5 ms: 3e-7)
    assert ev[-1]["t_due_ns"] - ev[0]["t_due_ns"] >= 5_000_000
    assert ev[-1]["t_due_ns"] - ev[0]["t_due_ns"] < 400_000_000 + 100_000_000


def test_delay_jitter_is_a_count_of_milliseconds(sim):
    status, _, _, body = sim.request("POST", "/_sim/config", {"options": {"delay_jitter": -1}})
    assert status == 400 and b"delay_jitter" in body


class Workers:
    def __init__(self, workdir, certs, n):
        self.dir = pathlib.Path(tempfile.mkdtemp(dir=workdir))
        self.ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        port_file = self.dir / "port"
        self.stderr = open(self.dir / "stderr", "w+")
        self.proc = subprocess.Popen(
            [PYTHON, str(HERE / "gpsim.py"), "--workers", str(n), "--port", "0",
             "--port-file", str(port_file), "--tls-cert", str(certs / "server.pem"),
             "--tls-key", str(certs / "server.key")],
            stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert self.proc.poll() is None, (self.dir / "stderr").read_text()
            assert time.monotonic() < deadline, "gpsim --workers did not start"
            time.sleep(0.02)
        self.port = int(port_file.read_text())
        self.workers = [tuple(map(int, line.split()))
                        for line in (self.dir / "port.workers").read_text().splitlines()]

    def call(self, port, method, path, body=None):
        import http.client
        conn = http.client.HTTPSConnection("localhost", port, context=self.ctx, timeout=5)
        try:
            conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()

    def login(self, port, email):
        status, body = self.call(port, "POST", "/auth/login", {"email": email, "password": PASSWORD})
        assert status == 200, body
        return body["access_token"]

    def run(self, port, token, run_id):
        ws = RawWS(port, self.ctx, token=token)
        try:
            assert ws.status == 101
            ws.user_message(run_id)
            return ws.collect()
        finally:
            ws.close()


@pytest.fixture
def workers(workdir, certs):
    w = Workers(workdir, certs, 2)
    yield w
    if w.proc.poll() is None:
        w.proc.send_signal(signal.SIGTERM)
        w.proc.wait(10)


def test_workers_check_each_others_tokens_and_keep_their_own_logs(workers):
    assert len(workers.workers) == 2
    (_, a), (_, b) = workers.workers  # each worker's own control port (it serves /ws too)
    token = workers.login(a, "u1@example.com")
    items = workers.run(b, token, "r-cross")  # logged in on one worker, served by the other
    assert [i["type"] for i in items if isinstance(i, dict) and i["type"] in EXPECT] == EXPECT
    assert workers.call(a, "GET", "/_sim/stats")[1]["logins_ok"] == 1
    assert workers.call(b, "GET", "/_sim/stats")[1]["ws_sessions"] == 1
    logged = lambda port: [(e["run_id"], e["type"]) for e in  # noqa: E731
                           workers.call(port, "GET", "/_sim/events")[1]["events"] if e["run_id"]]
    assert logged(b) == [("r-cross", t) for t in EXPECT]
    assert logged(a) == []
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    ws = RawWS(b, workers.ctx, token=forged)
    try:
        assert ws.status == 401
    finally:
        ws.close()


def test_workers_share_the_port_and_stop_together(workers):
    for i in range(24):  # the kernel spreads connections by address hash: both get some
        workers.login(workers.port, f"u{i}@example.com")
    per_worker = [workers.call(c, "GET", "/_sim/stats")[1]["logins_ok"] for _, c in workers.workers]
    assert sum(per_worker) == 24 and min(per_worker) > 0, per_worker
    workers.proc.send_signal(signal.SIGTERM)
    assert workers.proc.wait(10) == 0
    for pid, _ in workers.workers:
        assert not os.path.exists(f"/proc/{pid}"), pid
    workers.stderr.seek(0)
    assert workers.stderr.read() == ""


def test_workers_refuse_what_needs_one_process(workdir):
    r = subprocess.run([PYTHON, str(HERE / "gpsim.py"), "--workers", "2"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2 and "--workers N > 1 needs --port-file" in r.stderr
