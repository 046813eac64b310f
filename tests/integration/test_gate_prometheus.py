"""`gpprobectl gate --prometheus` (issue 13): a gate across hosts, with a real Prometheus scraping
three real gpprobed instances on loopback (two against a healthy simulator, one against a failing
one), labelled by instance and region. Each host is judged by the single-host gate's rules; then
--min-hosts / --min-ratio (all hosts by default). Fails closed: a host that stops reporting, data
older than --max-age, too few hosts, an unreachable or foreign Prometheus."""
import subprocess
import time

import pytest
import yaml

from conftest import ROOT, Sim
from test_gpprobectl import gpprobectl_path
from test_metrics import Prometheus, cfg, free_port, wait_serving


class RegionPrometheus(Prometheus):
    """test_metrics' Prometheus, with one target group per region (a `region` label)."""

    def __init__(self, dir, regions, interval="1s"):
        super().__init__(dir.parent, None, interval, dirname=dir.name,
                         static_configs=[{"targets": t, "labels": {"region": r}} for r, t in regions.items()])


def template_queries():
    """The PromQL of docs/gates/ (Argo's Prometheus provider, Flagger's MetricTemplate) for probe sim."""
    with open(ROOT / "docs" / "gates" / "argo-analysistemplate-prometheus.yaml") as f:
        argo = yaml.safe_load(f)
    with open(ROOT / "docs" / "gates" / "flagger-metrictemplate.yaml") as f:
        flagger = yaml.safe_load(f)
    q = argo["spec"]["metrics"][0]["provider"]["prometheus"]["query"]
    args = {a["name"]: a.get("value") for a in argo["spec"]["args"]}
    args["probe"] = "sim"
    for k, v in args.items():
        q = q.replace("{{args.%s}}" % k, v)
    assert "{{" not in q
    return {"argo": q, "flagger": flagger["spec"]["query"].replace('probe="staging"', 'probe="sim"')}


def gate(url, *args, name="sim"):
    return subprocess.run([gpprobectl_path(), "gate", name, "--prometheus", url, *args],
                          capture_output=True, text=True, timeout=60)


def line(res):
    lines = res.stdout.splitlines()
    assert len(lines) == 1, res
    return lines[0]


@pytest.fixture
def failing_sim(certs):
    s = Sim(certs)
    s.configure(fault="agent_error", count=1000000)
    yield s
    s.stop()


def test_gate_across_three_hosts_one_failing(sim, failing_sim, daemon, tmp_path):
    ports = [free_port() for _ in range(3)]
    ds = [daemon(cfg(sim, ports[0], interval="2s")),
          daemon(cfg(sim, ports[1], interval="2s")),
          daemon(cfg(failing_sim, ports[2], interval="2s", Probe={"AlertAfter": "2"}))]
    for d, port in zip(ds, ports):
        wait_serving(d, port)
    hosts = [f"127.0.0.1:{p}" for p in ports]
    p = RegionPrometheus(tmp_path / "regions", {"eu": [hosts[0], hosts[2]], "us": [hosts[1]]})
    try:
        url = f"http://127.0.0.1:{p.port}"
        # every host scraped, the failing one alerting
        deadline = time.monotonic() + 40
        while True:
            have = p.query('gpprobe_last_run_timestamp_seconds{probe="sim"}')
            alerting = p.query('gpprobe_alerting{probe="sim"}')
            if len(have) == 3 and sum(alerting.values()) == 1:
                break
            assert time.monotonic() < deadline, (have, alerting, p.targets())
            time.sleep(0.3)

        res = gate(url)  # default: every host must pass
        assert res.returncode == 1, res
        assert "2 of 3 hosts pass, 3 required (all hosts)" in line(res), res
        assert f"{hosts[2]} (eu): closed, alerting" in line(res), res
        assert f"{hosts[1]} (us): open: " in res.stderr, res

        for args, rc, words in [
            (["--min-hosts", "2"], 0, "2 of 3 hosts pass, 2 required (--min-hosts 2)"),
            (["--min-hosts", "3"], 1, "2 of 3 hosts pass, 3 required"),
            (["--min-ratio", "0.66"], 0, "2 required (--min-ratio 66% of 3)"),
            (["--min-ratio", "90%"], 1, "3 required"),
            (["--min-hosts", "4"], 2, "only 3 of 3 hosts report usable data, 4 required"),
            (["--min-hosts", "2", "--require-last-pass", "--allow-degraded"], 0, "2 of 3 hosts pass"),
            (["--min-hosts", "2", "--min-success-ratio", "1"], 0, "2 of 3 hosts pass"),
            (["--max-age", "1ms"], 2, "last scraped"),  # data older than --max-age: stale
        ]:
            res = gate(url, *args)
            assert res.returncode == rc and words in line(res), (args, res)

        for which, q in template_queries().items():  # the integrations count the passing hosts
            assert p.query(q) == {frozenset(): 2.0}, (which, q)
            assert p.query(q.replace('probe="sim"', 'probe="nosuchprobe"')) == {frozenset(): 0.0}, which

        res = gate(url, name="nosuchprobe")
        assert res.returncode == 2 and "no host reports" in line(res), res

        # a host that stops: Prometheus marks its series stale; it is unknown, never passing
        ds[1].stop()
        deadline = time.monotonic() + 20
        while p.query(f'gpprobe_up{{instance="{hosts[1]}"}}'):
            assert time.monotonic() < deadline, p.targets()
            time.sleep(0.3)
        res = gate(url, "--min-hosts", "2")
        assert res.returncode == 1 and f"{hosts[1]} (us): unknown, no current data" in line(res), res
        res = gate(url, "--min-hosts", "3")
        assert res.returncode == 2 and "only 2 of 3 hosts report usable data" in line(res), res
        res = gate(url, "--min-hosts", "1")
        assert res.returncode == 0, res
        for which, q in template_queries().items():
            assert p.query(q) == {frozenset(): 1.0}, (which, q)

        # not Prometheus: gpprobed's own metrics port answers 404 to the API
        res = gate(f"http://{hosts[0]}", "--min-hosts", "1")
        assert res.returncode == 2 and "HTTP 404" in line(res), res
    finally:
        p.stop()
    # Prometheus gone: unreachable, unknown
    res = gate(url, "--min-hosts", "1")
    assert res.returncode == 2 and "unreachable" in line(res), res
