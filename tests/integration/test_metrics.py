"""Metrics (SPEC section 7): gpprobed's MetricsListen= server and MetricsFile= against the
simulator, scraped by a real Prometheus (Debian's 2.42) and checked by promtool; a flood of
requests and bad requests on the metrics port must not delay runs. Fixtures: conftest.py (sim,
base_config), harness.py (daemon)."""
import concurrent.futures
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, base_config

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
DOCS = ROOT / "docs" / "prometheus"
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|ThreadSanitizer")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cfg(sim, port=None, metrics_file=None, interval="1h", **sections):
    probe = {"Interval": interval, "Jitter": "0"}
    probe.update(sections.pop("Probe", {}))
    out = sections.pop("Output", {})
    if port is not None:
        out["MetricsListen"] = f"127.0.0.1:{port}"
    if metrics_file is not None:
        out["MetricsFile"] = str(metrics_file)
    return base_config(sim, Probe=probe, Output=out, **sections)


def get(port, path="/metrics", method="GET", timeout=5):
    """(status, headers dict with lower-case names, body text)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    finally:
        c.close()


def wait_serving(d, port, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return get(port, "/healthz")
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing serves 127.0.0.1:{port}; stderr:\n{d.stderr()[-3000:]}")
            time.sleep(0.05)


def samples(text):
    """{'name{labels}': float} of a text exposition (labels as written)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def wait_metrics(port, predicate, timeout=10, what="metrics"):
    """The samples of /metrics once predicate(samples) holds: the status file is written just
    before the metrics are published."""
    deadline = time.monotonic() + timeout
    while True:
        s = samples(get(port)[2])
        if predicate(s):
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"timeout waiting for {what}: {s}")
        time.sleep(0.05)


def promtool_check(text):
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)
    assert p.returncode == 0, f"promtool check metrics: {p.stdout}{p.stderr}\n--- input:\n{text[:4000]}"


def assert_no_sanitizer_report(d):
    text = d.stderr()
    assert not SANITIZER.search(text), text[-6000:]


@pytest.fixture(autouse=True)
def no_sanitizer_reports(daemon):
    """Every daemon of a test stopped cleanly and, in a sanitizer build, reported nothing."""
    yield
    for d in daemon.started:
        if d.proc.poll() is None:
            d.stop()
        assert_no_sanitizer_report(d)


def wait_run_count(d, n, timeout=20):
    return d.wait_status(lambda s: sum((s.get("window") or {}).get(k, 0) for k in ("pass", "degraded", "fail"))
                         >= n, timeout, f"{n} runs")


def run_now(d, n_before):
    d.signal(signal.SIGUSR1)
    return wait_run_count(d, n_before + 1)


# ---- a real Prometheus --------------------------------------------------------------------------

class Prometheus:
    """Scrapes targets every interval and evaluates docs/prometheus/alerts.yml."""

    def __init__(self, tmp, targets, interval="1s", static_configs=None, dirname="prometheus"):
        """targets: one group of host:port; or static_configs, Prometheus' own groups (labels)."""
        self.dir = tmp / dirname
        self.dir.mkdir()
        self.port = free_port()
        conf = self.dir / "prometheus.yml"
        shutil.copy(DOCS / "alerts.yml", self.dir / "alerts.yml")
        conf.write_text(json.dumps({  # YAML is a superset of JSON
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [{"job_name": "gpprobe",
                                "static_configs": static_configs or [{"targets": targets}]}],
        }))
        self.log = open(self.dir / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={conf}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("prometheus did not start: " + (self.dir / "prometheus.log").read_text())
            time.sleep(0.1)

    def query(self, expr):
        """The instant vector of expr as {frozenset(labels.items()): value}."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as r:
            doc = json.loads(r.read())
        assert doc["status"] == "success", doc
        return {frozenset(s["metric"].items()): float(s["value"][1]) for s in doc["data"]["result"]}

    def value(self, expr):
        v = self.query(expr)
        assert len(v) <= 1, f"{expr}: more than one series: {v}"
        return next(iter(v.values())) if v else None

    def wait_value(self, expr, expected, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            got = self.value(expr)
            if got == expected:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{expr} = {got}, expected {expected}; targets: {self.targets()}")
            time.sleep(0.25)

    def api(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/{path}", timeout=5) as r:
            doc = json.loads(r.read())
        assert doc["status"] == "success", doc
        return doc["data"]

    def wait_alert(self, name, state="firing", timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            alerts = [a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == name]
            if any(a["state"] == state for a in alerts):
                return alerts
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not {state}: {self.api('alerts')}")
            time.sleep(0.25)

    def targets(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/targets", timeout=5) as r:
            return [(t["scrapeUrl"], t["health"], t["lastError"]) for t in json.loads(r.read())["data"]["activeTargets"]]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def prometheus(tmp_path):
    started = []

    def start(targets, interval="1s"):
        p = Prometheus(tmp_path, targets, interval)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


# ---- docs/prometheus ----------------------------------------------------------------------------

def test_alert_rules_pass_their_unit_tests_and_the_example_config_is_valid():
    for argv in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"],
                 ["check", "config", "prometheus.yml"]):
        p = subprocess.run([PROMTOOL, *argv], cwd=DOCS, capture_output=True, text=True)
        assert p.returncode == 0, f"promtool {' '.join(argv)}:\n{p.stdout}{p.stderr}"


def test_the_grafana_dashboard_is_json_with_a_panel_for_each_view():
    d = json.loads((DOCS / "grafana-dashboard.json").read_text())
    titles = " | ".join(p["title"].lower() for p in d["panels"])
    for view in ("succeeded", "runs by result", "duration", "phases", "events", "consecutive failures",
                 "failures by code", "connect phases", "certificates"):
        assert view in titles, f"no panel for {view}: {titles}"
    names = {v["name"] for v in d["templating"]["list"]}
    assert {"datasource", "probe", "instance"} <= names
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        assert p["targets"] and all(t["expr"] and t["refId"] for t in p["targets"]), p["title"]


# ---- what Prometheus sees ----------------------------------------------------------------------

def test_prometheus_scrapes_success_runs_by_result_failures_and_the_histogram(sim, daemon, prometheus, tmp_path):
    port = free_port()
    mfile = tmp_path / "textfile" / "sim.prom"
    mfile.parent.mkdir()
    sim.configure(fault="login_500", count=1)
    d = daemon(cfg(sim, port, mfile, SLO={"Login": "200ms"}))
    wait_run_count(d, 1)
    sim.configure(fault="agent_error", count=1)
    run_now(d, 1)
    sim.configure(fault="login_slow", params={"ms": 400}, count=1)
    run_now(d, 2)
    run_now(d, 3)
    doc = run_now(d, 4)
    assert [h["result"] for h in doc["history"]] == ["fail", "fail", "degraded", "pass", "pass"], doc["history"]

    p = prometheus([f"127.0.0.1:{port}"])
    p.wait_value('gpprobe_runs_total{result="pass"}', 2)
    assert p.value('up{job="gpprobe"}') == 1
    assert p.value('gpprobe_up{probe="sim"}') == 1
    assert p.value('gpprobe_success{probe="sim"}') == 1
    assert p.value('gpprobe_runs_total{result="degraded"}') == 1
    assert p.value('gpprobe_runs_total{result="fail"}') == 2
    assert p.value('gpprobe_failures_total{code="login.status"}') == 1
    assert p.value('gpprobe_failures_total{code="events.error"}') == 1
    assert p.value('gpprobe_failures_total{code="net.dns"}') == 0
    assert p.value('gpprobe_degraded_total{code="slo.login"}') == 1
    assert p.value("sum(gpprobe_failures_total)") == 2
    assert p.value('gpprobe_duration_seconds_count{result="pass"}') == 2
    assert p.value('gpprobe_duration_seconds_count{result="fail"}') == 2
    assert p.value("sum(gpprobe_duration_seconds_count)") == 5
    assert p.value('gpprobe_duration_seconds_bucket{result="degraded",le="0.25"}') == 0  # login took 400ms
    assert p.value('gpprobe_duration_seconds_bucket{result="degraded",le="+Inf"}') == 1
    sum_s = p.value("sum(gpprobe_duration_seconds_sum)")
    assert abs(sum_s - sum(h["duration_ms"] for h in doc["history"]) / 1000) < 0.01
    assert 0 < p.value('histogram_quantile(0.5, sum by (le) (gpprobe_duration_seconds_bucket{result="pass"}))') <= 60
    assert p.value("gpprobe_consecutive_failures") == 0
    assert p.value("gpprobe_window_success_ratio") == 0.6
    assert p.value('gpprobe_phase_seconds{phase="login"}') > 0
    for phase in ("login_tls", "ws_dns", "ws_tcp", "ws_tls", "ws_upgrade", "ws_ready"):  # issue 12
        assert p.value(f'gpprobe_phase_seconds{{phase="{phase}"}}') >= 0, phase
    assert p.value('gpprobe_phase_seconds{phase="ws_tls"}') > 0
    assert p.value('count(gpprobe_tls_cert_expiry_timestamp_seconds)') == 4
    days = p.value('min(gpprobe_tls_cert_expiry_timestamp_seconds{endpoint="websocket"} - time()) / 86400')
    assert 3640 < days < 3660  # mkcerts.sh: ten years
    assert p.value('gpprobe_event_seconds{event="agent_completed"}') > 0
    assert p.value("time() - gpprobe_last_success_timestamp_seconds") < 60
    assert p.value("gpprobe_last_run_timestamp_seconds - gpprobe_last_success_timestamp_seconds") == 0
    assert p.value('count(gpprobe_info{version=~"[0-9].*"})') == 1

    # The same numbers in the MetricsFile=, and both pass promtool's checks.
    _, headers, text = get(port)
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    promtool_check(text)
    file_text = mfile.read_text()
    promtool_check(file_text)
    volatile = ("gpprobe_start_time_seconds",)
    drop = lambda s: {k: v for k, v in s.items() if not k.startswith(volatile)}  # noqa: E731
    assert drop(samples(file_text)) == drop(samples(text))

    # Every query of the Grafana dashboard is valid PromQL with data from a real daemon, and
    # every alerting rule evaluates without error.
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    time.sleep(2)  # two scrapes more: rate() needs two samples in its window
    for expr in exprs:
        q = expr.replace("$probe", ".*").replace("$instance", ".*").replace("$__rate_interval", "1m")
        result = p.query(q)
        if "> 0" not in q:  # "failures by code > 0" is empty once increases fall back to 0
            assert result, f"dashboard query returns nothing: {q}"
    groups = p.api("rules")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    # every rule of alerts.yml loaded and healthy
    import yaml
    shipped = yaml.safe_load((DOCS / "alerts.yml").read_text())
    n = sum(len(g["rules"]) for g in shipped["groups"])
    assert n >= 10 and len(rules) == n and all(r["health"] == "ok" for r in rules), (n, rules)
    d.stop()


def test_a_failing_probe_shows_success_zero_and_the_failure_streak(sim, daemon, prometheus):
    port = free_port()
    sim.configure(fault="ws_403")
    d = daemon(cfg(sim, port))
    wait_run_count(d, 1)
    run_now(d, 1)
    run_now(d, 2)
    p = prometheus([f"127.0.0.1:{port}"])
    p.wait_value("gpprobe_consecutive_failures", 3)
    assert p.value("gpprobe_success") == 0
    assert p.value("gpprobe_alerting") == 1
    assert p.value('gpprobe_failures_total{code="ws.upgrade"}') == 3
    assert p.value("gpprobe_last_success_timestamp_seconds") is None  # never succeeded: absent
    assert p.value('gpprobe_phase_seconds{phase="complete"}') is None  # did not happen: absent
    # the shipped alerting rule pages, with the labels of the probe host
    alert = p.wait_alert("GpprobeFailing")[0]
    assert alert["labels"]["probe"] == "sim" and alert["labels"]["severity"] == "page"
    assert alert["labels"]["instance"] == f"127.0.0.1:{port}"
    d.stop()


# ---- the HTTP endpoints --------------------------------------------------------------------------

def test_endpoints_status_healthz_404_405_and_head(sim, daemon):
    port = free_port()
    d = daemon(cfg(sim, port))
    wait_run_count(d, 1)
    wait_serving(d, port)
    on_disk = d.status()
    deadline = time.monotonic() + 5
    while True:
        status, headers, body = get(port, "/status")
        served = json.loads(body)
        if (served.get("last") or {}).get("run_id") == on_disk["last"]["run_id"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200 and headers["content-type"] == "application/json"
    served.pop("updated_at"), on_disk.pop("updated_at")
    assert served == on_disk
    assert get(port, "/healthz")[0::2] == (200, "ok\n")
    assert get(port, "/nope")[0] == 404
    assert get(port, "/metrics/")[0] == 404
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = get(port, "/metrics", method)
        assert status == 405 and headers["allow"] == "GET, HEAD", method
    status, headers, body = get(port, "/metrics", "HEAD")
    assert status == 200 and body == "" and int(headers["content-length"]) > 1000
    d.stop()


def test_the_status_file_and_status_of_one_run_are_the_same_bytes(sim, daemon):
    # Issue 11, one report per run: the status document was built and serialised twice per run,
    # for the file and for /status, each with its own updated_at.
    port = free_port()
    d = daemon(cfg(sim, port))
    wait_run_count(d, 1)
    wait_serving(d, port)
    on_disk = d.status_path.read_text()
    run_id = json.loads(on_disk)["last"]["run_id"]
    deadline = time.monotonic() + 5
    while True:
        status, headers, body = get(port, "/status")
        if status == 200 and (json.loads(body).get("last") or {}).get("run_id") == run_id:
            break
        assert time.monotonic() < deadline, f"/status never showed run {run_id}: {status} {body[:500]}"
        time.sleep(0.05)
    assert json.loads(body)["updated_at"] == json.loads(on_disk)["updated_at"]
    assert body == on_disk
    d.stop()


def thread_nice_values(pid):
    """{tid: nice} of every thread (field 19 of /proc/PID/task/TID/stat)."""
    out = {}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rpartition(")")[2].split()  # from field 3 on
        out[int(task.name)] = int(fields[16])
    return out


def test_every_thread_keeps_the_priority_the_unit_gives(sim, daemon):
    # Issue 11: the metrics thread lowered itself with setpriority(), which the shipped unit's
    # SystemCallFilter=~@resources refuses (EPERM): tests saw a nice metrics thread, systemd
    # never ran one. The daemon behaves the same in and out of the unit: no thread changes it.
    port = free_port()
    d = daemon(cfg(sim, port))
    wait_run_count(d, 1)
    wait_serving(d, port)
    nice = thread_nice_values(d.pid)
    assert len(nice) >= 3, nice  # the event loop, the network thread, the metrics server
    assert set(nice.values()) == {nice[d.pid]}, nice
    d.stop()


def test_metrics_file_is_replaced_atomically_with_mode_0644_and_says_down_after_a_stop(sim, daemon, tmp_path):
    mfile = tmp_path / "sim.prom"
    os.umask(0o077)  # the mode must not depend on the umask
    try:
        d = daemon(cfg(sim, None, mfile, interval="200ms"))
        wait_run_count(d, 1)
    finally:
        os.umask(0o022)
    seen, bad = set(), []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # runs every 200ms rewrite it; a reader never sees half a file
        text = mfile.read_text()
        if not text.endswith("\n") or "# TYPE gpprobe_event_arrivals gauge\n" not in text:
            bad.append(text[-200:])
        seen.add(os.stat(mfile).st_ino)
    assert not bad, bad[:3]
    assert len(seen) > 2, "the file was not replaced (rename) after runs"
    assert stat.S_IMODE(os.stat(mfile).st_mode) == 0o644
    assert 'gpprobe_up{probe="sim"} 1\n' in mfile.read_text()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".sim.prom")], "temporary files left behind"
    d.stop()
    assert 'gpprobe_up{probe="sim"} 0\n' in mfile.read_text()
    promtool_check(mfile.read_text())


def test_counters_and_the_histogram_survive_a_restart(sim, daemon):
    port = free_port()
    sim.configure(fault="login_500", count=1)
    first = daemon(cfg(sim, port), dirname="first")
    wait_run_count(first, 1)
    run_now(first, 1)
    first.stop()
    second = daemon(cfg(sim, port), dirname="second", state_file=first.state_path)
    wait_run_count(second, 3)
    wait_serving(second, port)
    s = wait_metrics(port, lambda s: s.get('gpprobe_runs_total{probe="sim",result="pass"}') == 2)
    assert s['gpprobe_runs_total{probe="sim",result="pass"}'] == 2
    assert s['gpprobe_runs_total{probe="sim",result="fail"}'] == 1
    assert s['gpprobe_failures_total{probe="sim",code="login.status"}'] == 1
    assert s['gpprobe_duration_seconds_count{probe="sim",result="pass"}'] == 2
    assert s['gpprobe_duration_seconds_count{probe="sim",result="fail"}'] == 1
    assert s['gpprobe_skipped_runs_total{probe="sim"}'] == 0
    second.stop()


# ---- reload and listening problems ---------------------------------------------------------------

def test_reload_moves_the_listener_and_the_metrics_file_while_runs_go_on(sim, daemon, tmp_path):
    first_file, second_file = tmp_path / "a.prom", tmp_path / "b.prom"
    d = daemon(cfg(sim, None, first_file, interval="150ms"))
    wait_run_count(d, 2)
    assert first_file.exists()

    port = free_port()
    d.write_config(cfg(sim, port, second_file, interval="150ms"))
    d.signal(signal.SIGHUP)
    wait_serving(d, port)
    deadline = time.monotonic() + 5
    while (first_file.exists() or not second_file.exists()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not first_file.exists(), "the old MetricsFile= stays behind"
    assert second_file.exists()

    other = free_port()
    d.write_config(cfg(sim, other, second_file, interval="150ms"))
    d.signal(signal.SIGHUP)
    wait_serving(d, other)
    with pytest.raises(ConnectionRefusedError):
        get(port, "/healthz")
    # TLS handshakes of the runs around the changes were never disturbed
    n = wait_run_count(d, 12)
    results = {h["result"] for h in n["history"]}
    assert results == {"pass"}, [h for h in n["history"] if h["result"] != "pass"]
    log = d.stderr()
    assert f"metrics served on http://127.0.0.1:{port}/metrics" in log
    assert f"metrics served on http://127.0.0.1:{other}/metrics" in log
    d.stop()


def test_a_port_in_use_is_logged_and_taken_when_it_frees_up(sim, daemon):
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    port = squatter.getsockname()[1]
    d = daemon(cfg(sim, port, interval="500ms"))
    wait_run_count(d, 1)
    deadline = time.monotonic() + 5
    while "Address already in use" not in d.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert re.search(rf"MetricsListen=: cannot listen on 127\.0\.0\.1:{port}: Address already in use; "
                     r"trying again every 10s", d.stderr()), d.stderr()[-2000:]
    squatter.close()
    wait_serving(d, port, timeout=15)
    assert get(port)[0] == 200
    assert d.stderr().count("Address already in use") == 1, "a retry that fails the same way is logged again"
    wait_run_count(d, 3)  # runs went on meanwhile
    d.stop()


# ---- floods and bad requests ---------------------------------------------------------------------

def run_starts(doc):
    """Start times (s) of the runs in the status history."""
    import datetime
    return [datetime.datetime.fromisoformat(h["started_at"].replace("Z", "+00:00")).timestamp()
            for h in doc["history"]]


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_flood_on_the_metrics_port_does_not_delay_runs(sim, daemon):
    port = free_port()
    interval = 0.3
    d = daemon(cfg(sim, port, interval="300ms", Output={"History": "1000"}))
    wait_run_count(d, 3)
    wait_serving(d, port)
    fds_before = fd_count(d.pid)

    stop = threading.Event()
    served = [0] * 24
    idle = []

    def hammer(i):
        while not stop.is_set():
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                for _ in range(50):
                    if stop.is_set():
                        break
                    c.request("GET", "/metrics")
                    r = c.getresponse()
                    r.read()
                    served[i] += r.status == 200
                c.close()
            except OSError:
                time.sleep(0.01)

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(len(served)) as pool:
        for i in range(len(served)):
            pool.submit(hammer, i)
        # and connections that say nothing, more than the server takes at once
        for _ in range(100):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            idle.append(s)
        time.sleep(6)
        stop.set()
    t1 = time.time()
    for s in idle:
        s.close()

    doc = d.status()
    starts = [t for t in run_starts(doc) if t0 + interval < t < t1 - interval]
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert sum(served) > 500, f"the flood was too weak to prove anything: {sum(served)} responses"
    assert len(starts) >= (t1 - t0 - 2 * interval) / interval * 0.8, (len(starts), gaps)
    assert max(gaps) < interval + 0.25, f"a run started late during the flood: gaps {gaps}"
    during = [h for h in doc["history"] if t0 < run_starts({"history": [h]})[0] < t1]
    assert {h["result"] for h in during} == {"pass"}, [h for h in during if h["result"] != "pass"]
    assert doc.get("window", {}).get("fail", 0) == 0
    assert get(port, "/healthz")[0] == 200
    deadline = time.monotonic() + 10
    while fd_count(d.pid) > fds_before + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fd_count(d.pid) <= fds_before + 2, "descriptors leaked by the flood"
    d.stop()


def raw(port, data, wait=8.0):
    """Send data, read until the server closes or wait passes: (bytes read, closed by server)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    out = b""
    try:
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                return out, True
            out += b
    except (socket.timeout, TimeoutError):
        return out, False
    except (ConnectionResetError, BrokenPipeError):
        return out, True
    finally:
        s.close()


def test_bad_requests_get_errors_or_a_close_and_harm_nothing(sim, daemon):
    port = free_port()
    d = daemon(cfg(sim, port, interval="300ms"))
    wait_run_count(d, 2)
    wait_serving(d, port)
    fds_before = fd_count(d.pid)

    # slowloris: request heads that never end, held open while everything else goes on
    slow = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(s)
    t0 = time.monotonic()

    cases = {
        "huge header": b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n",
        "many headers": b"GET /metrics HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(3000)) + b"\r\n",
        "huge path": b"GET /" + b"m" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        "post with a body": b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        "post announcing a gigabyte": b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\nxx",
        "unknown method": b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        "binary garbage": bytes(range(256)) * 4 + b"\r\n\r\n",
    }
    for name, data in cases.items():
        out, closed = raw(port, data)
        status = re.match(rb"HTTP/1\.[01] (\d{3})", out)
        assert status is None or 400 <= int(status.group(1)) < 500, f"{name}: {out[:200]!r}"
        assert closed, f"{name}: the connection stayed open"
    out, closed = raw(port, b"GET /metrics\r\n\r\n")  # no version: answered as HTTP/1.0, then closed
    assert out.startswith(b"HTTP/1.0 200 OK\r\n") and closed
    assert get(port)[0] == 200, "a good request after the bad ones"
    assert get(port, "/healthz")[0] == 200

    # the slow heads are cut off by the server's timeout (5 s)
    for s in slow:
        s.settimeout(max(0.1, t0 + 12 - time.monotonic()))
        try:
            got = s.recv(100)
        except ConnectionResetError:
            got = b""
        except (socket.timeout, TimeoutError):
            got = None
        s.close()
        assert got == b"", f"a slow request head was answered or kept: {got!r}"
    doc = wait_run_count(d, 10)
    assert doc["window"]["fail"] == 0
    deadline = time.monotonic() + 10
    while fd_count(d.pid) > fds_before + 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fd_count(d.pid) <= fds_before + 2
    d.stop()
