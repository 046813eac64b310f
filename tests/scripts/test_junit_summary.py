"""scripts/junit-summary: the totals CI trusts. A suite that ran nothing (no test case, or only
skips) fails them unless declared optional; a missing report fails them even then.

Run: /usr/bin/python3 -m pytest -q tests/scripts (suite `scripts` of scripts/test)."""
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SUMMARY = ROOT / "scripts" / "junit-summary"


def case(name, kind=None):
    inner = {"failure": '<failure message="boom"/>', "error": '<error message="boom"/>',
             "skipped": '<skipped message="needs root"/>', None: ""}[kind]
    return f'<testcase classname="t" name="{name}" time="0.1">{inner}</testcase>'


def report(tmp_path, name, *cases):
    p = tmp_path / f"{name}.xml"
    p.write_text('<?xml version="1.0" encoding="utf-8"?><testsuites>'
                 f'<testsuite name="{name}" tests="{len(cases)}">{"".join(cases)}</testsuite>'
                 '</testsuites>')
    return str(p)


def summary(*args):
    r = subprocess.run(["/usr/bin/python3", str(SUMMARY), *args], capture_output=True, text=True,
                       timeout=30)
    return r.returncode, r.stdout, r.stdout.strip().splitlines()[-1]


def test_normal_pass_is_green(tmp_path):
    rc, out, last = summary(report(tmp_path, "a", case("x"), case("y"), case("z", "skipped")))
    assert (rc, last) == (0, "2 passed, 0 failed"), out
    assert "(1 skipped, not counted as passed)" in out


def test_failure_and_error_are_counted(tmp_path):
    rc, out, last = summary(report(tmp_path, "a", case("x"), case("y", "failure"),
                                   case("z", "error")))
    assert (rc, last) == (1, "1 passed, 2 failed"), out


@pytest.mark.parametrize("cases", [(), (case("x", "skipped"), case("y", "skipped"))],
                         ids=["zero-cases", "only-skips"])
def test_suite_that_ran_nothing_fails_the_totals(tmp_path, cases):
    good = report(tmp_path, "good", case("x"))
    idle = report(tmp_path, "idle", *cases)
    rc, out, last = summary(good, idle)
    assert (rc, last) == (1, "1 passed, 1 failed"), out
    assert f"{idle}: ran nothing" in out and "counted as 1 failure" in out


@pytest.mark.parametrize("cases", [(), (case("x", "skipped"),)], ids=["zero-cases", "only-skips"])
def test_optional_suite_that_ran_nothing_is_printed_as_such_and_not_counted(tmp_path, cases):
    good = report(tmp_path, "good", case("x"))
    idle = report(tmp_path, "systemd", *cases)
    rc, out, last = summary(good, "optional:" + idle)
    assert (rc, last) == (0, "1 passed, 0 failed"), out
    assert f"{idle}: ran nothing; optional suite, not counted" in out
    assert f"(1 optional suite(s) ran nothing: {idle})" in out


def test_optional_suite_that_ran_is_counted_as_any_other(tmp_path):
    rc, out, last = summary("optional:" + report(tmp_path, "s", case("x"), case("y", "failure")))
    assert (rc, last) == (1, "1 passed, 1 failed"), out
    assert "optional suite" not in out


def test_missing_report_fails_even_when_optional(tmp_path):
    for arg in (str(tmp_path / "absent.xml"), "optional:" + str(tmp_path / "absent.xml")):
        rc, out, last = summary(report(tmp_path, "good", case("x")), arg)
        assert (rc, last) == (1, "1 passed, 1 failed"), out
        assert "no report" in out


def test_failures_prefix_counts_only_failures_and_is_never_idle(tmp_path):
    programs = report(tmp_path, "programs", case("p1"), case("p2"))
    rc, out, last = summary(report(tmp_path, "cases", case("x")), "failures:" + programs)
    assert (rc, last) == (0, "1 passed, 0 failed"), out
    crashed = report(tmp_path, "crashed", case("p1"), case("p2", "failure"))
    rc, out, last = summary("failures:" + crashed, "optional:failures:" + crashed)
    assert (rc, last) == (1, "0 passed, 2 failed"), out
