"""The failure codes have one home, daemon/model/codes.h; the documents that list them must say
the same: docs/spec.md section 2, docs/runbook.md (codes and stages), gpprobed(8) FAILURE CODES
and docs/prometheus/README.md. The product's sources may name a code only if the table has it.

The table comes from the unit test program `test-codes --json` (GPPROBE_TEST_CODES, else beside
GPPROBED's build, else build/). Runs under pytest, or as a script (meson's unit suite)."""
import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
STAGES = ["preflight", "login", "step", "ws_connect", "request", "events", "response"]
CODE_LITERAL = re.compile(r'"((?:preflight|net|tls|login|step|ws|events|response|slo)\.[a-z_]+|internal)"')


def codes_program():
    if os.environ.get("GPPROBE_TEST_CODES"):
        return pathlib.Path(os.environ["GPPROBE_TEST_CODES"])
    if os.environ.get("GPPROBED"):
        return pathlib.Path(os.environ["GPPROBED"]).resolve().parents[1] / "test-codes"
    return ROOT / "build" / "test-codes"


def table():
    out = subprocess.run([str(codes_program()), "--json"], check=True, capture_output=True, text=True,
                         timeout=30).stdout
    return json.loads(out)


def failure_codes(t):
    return {c["code"] for c in t if c["kind"] == "failure"}


def degraded_codes(t):
    return {c["code"] for c in t if c["kind"] == "degraded"}


def section(path, heading, next_heading):
    """The lines of a document from a heading line up to the next heading of that level."""
    lines = (ROOT / path).read_text().splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith(heading))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(next_heading)), len(lines))
    return lines[start + 1:end]


def markdown_rows(lines):
    """The cells of each `| `code` | ... |` row whose first cell is a code in backquotes."""
    rows = []
    for l in lines:
        m = re.match(r"\|\s*`([^`]+)`\s*\|(.*)", l)
        if m:
            rows.append([m.group(1)] + [c.strip() for c in m.group(2).rstrip("|").split("|")])
    return rows


def test_the_spec_lists_every_failure_code_and_the_slo_phases():
    t = table()
    rows = markdown_rows(section("docs/spec.md", "## 2.", "## "))
    listed = {r[0] for r in rows}
    diff = (listed - {"slo.<phase>"}) ^ failure_codes(t)
    assert not diff, f"docs/spec.md section 2 and the table differ in {sorted(diff)}"
    assert "slo.<phase>" in listed


def test_the_runbook_lists_every_code_with_the_table_s_stages():
    t = {c["code"]: c for c in table()}
    rows = markdown_rows(section("docs/runbook.md", "## Codes", "## "))
    diff = {r[0] for r in rows} ^ set(t)
    assert not diff, f"docs/runbook.md's codes and the table differ in {sorted(diff)}"
    for code, stage_cell, *_ in rows:
        degraded = "(degraded)" in stage_cell
        words = stage_cell.replace("(degraded)", "").strip()
        stages = STAGES if words == "any" else [s.strip() for s in words.split(",") if s.strip()]
        assert degraded == (t[code]["kind"] == "degraded"), code
        assert sorted(stages) == sorted(t[code]["stages"]), f"{code}: runbook says {stage_cell!r}"


def test_the_man_page_lists_every_code():
    t = table()
    lines = section("docs/man/gpprobed.8.scd", "# FAILURE CODES", "# ")
    listed = [m.group(1) for l in lines if (m := re.match(r"\|\s+(\S+)\s*$", l))]
    diff = (set(listed) - {"slo.PHASE"}) ^ failure_codes(t)
    assert not diff, f"gpprobed(8) FAILURE CODES and the table differ in {sorted(diff)}"
    assert "slo.PHASE" in listed
    meaning = lines[lines.index(next(l for l in lines if re.match(r"\|\s+slo\.PHASE", l))) + 1]
    phases = set(re.findall(r"[a-z]+(?:\\?_[a-z]+)?", meaning.split(")", 1)[1].split("exceeded")[0]))
    assert {p.replace("\\_", "_") for p in phases} - {"or"} == {c[len("slo."):] for c in degraded_codes(t)}


def test_the_metrics_docs_list_the_degraded_codes():
    t = table()
    readme = (ROOT / "docs/prometheus/README.md").read_text()
    m = re.search(r"\| `gpprobe_degraded_total` \| counter \| `code` = ([^|]+)\|", readme)
    assert m, "docs/prometheus/README.md: no gpprobe_degraded_total row"
    assert {c.strip() for c in m.group(1).split(",")} == degraded_codes(t)
    # Any other code the metrics docs name must be one.
    named = set(CODE_LITERAL.findall(readme.replace("`", '"')))
    assert named <= {c["code"] for c in t}


def test_the_sources_name_only_codes_of_the_table():
    t = {c["code"] for c in table()}
    unknown = []
    for d in ("probes", "daemon", "config", "common"):
        for p in sorted((ROOT / d).rglob("*.[ch]")):
            if p.name.startswith(("test-", "fuzz-")):
                continue
            for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
                if line.startswith("#include"):
                    continue
                unknown += [f"{p.relative_to(ROOT)}:{n}: {c}" for c in CODE_LITERAL.findall(line) if c not in t]
    assert not unknown, "codes that are not in daemon/model/codes.h:\n" + "\n".join(unknown)


if __name__ == "__main__":
    failed = 0
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            try:
                fn()
                print(f"ok {name}")
            except AssertionError as e:
                failed += 1
                print(f"FAIL {name}: {e}")
    sys.exit(1 if failed else 0)
