"""The published reports and baselines agree with each other (fast: reads files, starts nothing).

Why: ``reports/<name>/`` and ``expectations/<name>.toml`` are published together by
``scripts/publish_reports.py``; a hand edit or a partial re-run could leave a report without its
replay scripts, a matrix missing an implementation, or a baseline that names rules which no longer
fail (or misses rules that do). Each of those would mislead a reader, so each is a test.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "reports"
EXPECTATIONS = ROOT / "expectations"
PUBLISHED = ("moto", "moto-server", "ministack", "localstack")
SCHEMA = "kms-conformance/report/v1"


def _report(name: str) -> dict[str, Any]:
    path = REPORTS / name / "report.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run python scripts/publish_reports.py --only {name}")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _failing(report: dict[str, Any]) -> set[str]:
    return {r["id"] for r in report["rules"] if r["verdict"] == "fail"}


def _expected(name: str) -> dict[str, str]:
    path = EXPECTATIONS / f"{name}.toml"
    assert path.is_file(), f"{path} is missing"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data.get("implementation") == name, f"{path} names implementation {data.get('implementation')!r}"
    return {e["rule"]: e["reason"] for e in data.get("expected_failure", [])}


@pytest.mark.parametrize("name", PUBLISHED)
def test_report_names_schema_implementation_and_version(name: str) -> None:
    report = _report(name)
    assert report["schema"] == SCHEMA
    assert report["target"]["implementation"] == name
    assert report["target"]["implementation_version"], "the version is part of a published verdict"
    assert report["target"]["kind"] == ("moto" if name == "moto" else "endpoint")
    assert report["hypothesis"]["profile"] == "ci", "published reports use the deterministic ci budget"
    summary = report["summary"]
    assert sum(summary["verdicts"].values()) == summary["total_rules"] == len(report["rules"])
    assert summary["verdicts"]["fail"] == len(_failing(report))


@pytest.mark.parametrize("name", PUBLISHED)
def test_every_failure_has_evidence_and_a_replay_script(name: str) -> None:
    report = _report(name)
    failures = [r for r in report["rules"] if r["verdict"] == "fail"]
    assert failures, f"{name} has no failure: the issue expects every emulator to deviate somewhere"
    for rule in failures:
        failure = rule.get("failure") or {}
        assert failure.get("expected") and failure.get("observed"), rule["id"]
        assert failure.get("steps"), f"{rule['id']}: no step program"
        script = failure.get("replay") or ""
        assert script.startswith("#!/usr/bin/env python3"), f"{rule['id']}: no replay script"
        compile(script, f"{name}/{rule['id']}/replay.py", "exec")  # it must at least be valid Python
        assert "def main():" in script and "sys.exit(main())" in script, rule["id"]


@pytest.mark.parametrize("name", PUBLISHED)
def test_rendered_reports_are_published_next_to_the_json(name: str) -> None:
    report = _report(name)
    for file in ("report.md", "report.html", "junit.xml"):
        assert (REPORTS / name / file).is_file(), f"reports/{name}/{file} is missing"
    junit = (REPORTS / name / "junit.xml").read_text(encoding="utf-8")
    assert junit.count("<testcase") == len(report["rules"])
    markdown = (REPORTS / name / "report.md").read_text(encoding="utf-8")
    for rule_id in sorted(_failing(report)):
        assert rule_id in markdown, f"report.md of {name} does not show failing rule {rule_id}"


def test_matrix_lists_every_published_implementation_with_its_verdicts() -> None:
    matrix = (REPORTS / "matrix.md").read_text(encoding="utf-8")
    assert (REPORTS / "matrix.html").is_file()
    lines = [line for line in matrix.splitlines() if line.startswith("|") and not line.startswith("|---")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    for name in PUBLISHED:
        report = _report(name)
        label = f"{name} {report['target']['implementation_version']} ({report['target']['kind']})"
        assert label in header, f"matrix.md has no column {label!r}; columns: {header[3:]}"
        column = header.index(label)
        cells = {
            row[0]: row[column]
            for row in ([c.strip() for c in line.strip("|").split("|")] for line in lines[1:])
            if re.fullmatch(r"[A-Z]+-\d{3}", row[0])
        }
        shown_failing = {rule for rule, cell in cells.items() if cell.strip("*").startswith("fail")}
        assert shown_failing == _failing(report), f"matrix column {label} disagrees with reports/{name}/report.json"


@pytest.mark.parametrize("name", PUBLISHED)
def test_expectations_match_the_published_failures_both_ways(name: str) -> None:
    report = _report(name)
    expected = _expected(name)
    failing = _failing(report)
    assert sorted(set(expected) - failing) == [], f"expectations/{name}.toml lists rules that do not fail"
    assert sorted(failing - set(expected)) == [], f"reports/{name} fails rules expectations/{name}.toml lacks"
    section = report.get("expectations")
    if section is not None:  # null when the run wrote the baseline (--update-expectations) instead of gating
        assert section["new_failures"] == [] and section["unexpected_passes"] == [], section
        assert sorted(section["expected_failures"]) == sorted(expected), "report gated against another baseline"


@pytest.mark.parametrize("name", PUBLISHED)
def test_expectation_reasons_are_written_by_hand(name: str) -> None:
    for rule, reason in _expected(name).items():
        assert reason and "\n" not in reason, rule
        assert not reason.startswith("observed:"), f"{name} {rule}: the generated reason was not edited"
        assert len(reason) <= 200, f"{name} {rule}: keep the reason to one short line"
