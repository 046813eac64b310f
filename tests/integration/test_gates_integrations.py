"""The ready-made integrations of docs/gates/ (issue 13): each validated against its published
schema where one is packaged on the npm registry (GitHub's own workflow parser, GitLab's
.gitlab-ci.yml schema as gitlab-ci-local bundles it, Argo Rollouts' CRD schemas), each validator
shown to catch a broken copy; Flagger's, whose schema no npm package carries, checked for the
fields it needs; and the commands inside the CI jobs run against the API stand-in, where a probe
host that is down, or a failing run, must fail the job (the gate never opens)."""
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tarfile
import urllib.parse

import pytest
import yaml

from api_server import Api
from conftest import ROOT
from test_gpprobectl import NAME, Writer, gpprobectl_path, put, recent, status_doc

GATES = ROOT / "docs" / "gates"
VALIDATORS = ROOT / "tests" / "gates"
GITLAB_CI_LOCAL = "gitlab-ci-local@4.75.1"
TOKEN = "gate-token-Yx81"
CONTRACT_PARAMS = {"max_age", "window", "min_success_ratio", "require_last_pass", "allow_degraded"}


def load(name):
    with open(GATES / name) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def npm_dir():
    """The validators' packages, installed once per tests/gates/ content (npm registry)."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are needed to validate docs/gates/ against the published schemas")
    digest = hashlib.sha256(b"".join((VALIDATORS / f).read_bytes() for f in sorted(os.listdir(VALIDATORS)))
                            + GITLAB_CI_LOCAL.encode()).hexdigest()[:16]
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    base = cache / "gpprobe" / f"gates-{digest}"
    if not (base / ".complete").exists():
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        for f in os.listdir(VALIDATORS):
            shutil.copy(VALIDATORS / f, base / f)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=base, check=True,
                       capture_output=True, timeout=600)
        p = subprocess.run(["npm", "pack", GITLAB_CI_LOCAL, "--loglevel=error"], cwd=base, check=True,
                           capture_output=True, text=True, timeout=300)
        with tarfile.open(base / p.stdout.strip().splitlines()[-1]) as t:
            index = t.extractfile("package/dist/index.js").read()
        (base / "gitlab-index.js").write_bytes(index)
        with open(base / "gitlab-ci.schema.json", "wb") as out:
            subprocess.run(["node", "gitlab-schema.mjs", "gitlab-index.js"], cwd=base, check=True, stdout=out,
                           timeout=60)
        (base / ".complete").touch()
    return base


def validate(npm_dir, kind, path):
    argv = ["node", "--import", "./register-json.mjs", "validate.mjs", kind, str(path)]
    if kind == "gitlab":
        argv.append("gitlab-ci.schema.json")
    return subprocess.run(argv, cwd=npm_dir, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kind,name,break_it", [
    ("github", "github-actions-deploy.yml", lambda t: t.replace("runs-on:", "runs_on:")),
    ("gitlab", "gitlab-ci.yml", lambda t: t.replace("  script:", "  scripts:")),
    ("argo", "argo-analysistemplate-web.yaml", lambda t: t.replace("interval: 30s", "interval: 30")),
    ("argo", "argo-analysistemplate-prometheus.yaml", lambda t: t.replace("count: 4", "count: [4]")),
])
def test_integration_is_valid_against_its_published_schema(npm_dir, tmp_path, kind, name, break_it):
    res = validate(npm_dir, kind, GATES / name)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res
    broken = tmp_path / name
    text = (GATES / name).read_text()
    assert break_it(text) != text
    broken.write_text(break_it(text))
    res = validate(npm_dir, kind, broken)
    assert res.returncode == 1 and res.stdout.strip() not in ("", "ok"), res


def test_flagger_metric_template_has_what_flagger_reads():
    """No npm package carries Flagger's CRD schema: the fields its MetricTemplate needs."""
    doc = load("flagger-metrictemplate.yaml")
    assert doc["apiVersion"] == "flagger.app/v1beta1" and doc["kind"] == "MetricTemplate"
    assert doc["metadata"]["name"]
    assert doc["spec"]["provider"]["type"] == "prometheus" and doc["spec"]["provider"]["address"]
    assert "or vector(0)" in doc["spec"]["query"]
    assert set(doc["spec"]) == {"provider", "query"}


def test_argo_web_template_asks_gate_of_the_contract_and_opens_only_on_open():
    doc = load("argo-analysistemplate-web.yaml")
    (m,) = doc["spec"]["metrics"]
    web = m["provider"]["web"]
    url = urllib.parse.urlsplit(web["url"].replace("{{args.probe-url}}", "https://probe:9478"))
    assert url.path == "/gate"
    params = urllib.parse.parse_qs(url.query)
    assert set(params) <= CONTRACT_PARAMS, params
    assert m["successCondition"] == 'result.verdict == "open"'
    assert m["failureLimit"] == 0 and m["consecutiveErrorLimit"] >= 1
    assert web["headers"] == [{"key": "Authorization", "value": "Bearer {{args.gpprobe-token}}"}]
    assert "insecure" not in web
    # the duration it passes is one gpprobectl (and so the daemon's parser) takes
    args = {a["name"]: a.get("value") for a in doc["spec"]["args"]}
    res = subprocess.run([gpprobectl_path(), "gate", "x", "--max-age", args["max-age"]], capture_output=True,
                         text=True)
    assert res.returncode != 64, res


# ---- the CI jobs' commands, run -----------------------------------------------------------------

def github_script():
    steps = load("github-actions-deploy.yml")["jobs"]["deploy"]["steps"]
    (step,) = [s for s in steps if "gpprobectl" in s.get("run", "")]
    return step["run"], load("github-actions-deploy.yml")["jobs"]["deploy"]["env"]


def gitlab_script():
    doc = load("gitlab-ci.yml")
    return "set -e\n" + "\n".join(doc["gpprobe-gate"]["script"]), doc["variables"]


@pytest.fixture
def api(certs, sdir):
    a = Api(certs, sdir / f"{NAME}.json", token=TOKEN)
    yield a
    a.stop()


def run_job(which, api_url, certs, tmp_path, timeout=60):
    script, variables = github_script() if which == "github" else gitlab_script()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPPROBE")}
    env.update(variables)
    env["GPPROBE_URL"] = api_url
    env["PATH"] = os.path.dirname(gpprobectl_path()) + ":" + env["PATH"]
    if which == "github":  # secrets arrive as values
        env["GPPROBE_TOKEN"] = TOKEN
        env["GPPROBE_CA"] = (certs / "ca.pem").read_text()
    else:  # GitLab File variables: the variable holds a path
        (tmp_path / "token").write_text(TOKEN)
        env["GPPROBE_TOKEN"] = str(tmp_path / "token")
        env["GPPROBE_CA"] = str(certs / "ca.pem")
    # the job's timeouts are minutes; a test has seconds
    script = re.sub(r"--timeout \d+m", "--timeout 20s", script)
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("which", ["github", "gitlab"])
def test_ci_job_passes_after_a_good_run_and_a_streak(which, sdir, api, certs, tmp_path):
    assert NAME == load("gitlab-ci.yml")["variables"]["GPPROBE_NAME"]
    put(sdir, status_doc(recent("pass"), interval_ms=300))
    w = Writer(sdir, ["pass"] * 60, interval_ms=300, old=recent("pass"), delay=0.2, step=0.3)
    w.start()
    try:
        res = run_job(which, api.url, certs, tmp_path)
    finally:
        w.stop.set()
    assert res.returncode == 0, res
    assert "open: staging: run " in res.stdout, res
    assert re.search(r"^open: staging: [3-9] consecutive passes since", res.stdout, re.M), res
    assert TOKEN not in res.stdout + res.stderr


@pytest.mark.parametrize("which", ["github", "gitlab"])
def test_ci_job_fails_when_the_probe_host_is_down_or_the_run_fails(which, sdir, api, certs, tmp_path):
    put(sdir, status_doc(recent("pass")))
    api.run_result = {"result": "fail", "stage": "events", "code": "events.timeout", "reason": "no answer"}
    res = run_job(which, api.url, certs, tmp_path)
    assert res.returncode == 1 and "closed: staging: run " in res.stdout, res
    url = api.url
    api.stop()
    res = run_job(which, url, certs, tmp_path)
    assert res.returncode == 2 and "unreachable" in res.stdout, res
