"""The suite against in-process moto, through the real command: known moto deviations are caught,
each with a shrunk step program and a replay script that reproduces it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Deviations of moto 5.2 that the issue names; each must come out as a failing rule.
MOTO_DEVIATIONS = {
    "DESC-002": "ignores Description on ReplicateKey",
    "POLICY-002": "ignores Policy on ReplicateKey",
    "TAGS-007": "ignores Tags on ReplicateKey (no ReplicaTags)",
    "REGION-005": "allows a second replica in the same Region",
    "REGION-004": "allows replicating into the primary's own Region",
    "KEYID-011": "allows replicating a replica",
}


@pytest.fixture(scope="module")
def moto_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("moto-report")
    rules = ",".join(MOTO_DEVIATIONS)
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--profile", "ci", "--rules", rules, "--report-dir", str(out)],
        capture_output=True, text=True, timeout=900, env={**os.environ, "CI": "true"},
    )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]  # non-conformant
    for name in ("report.json", "junit.xml", "report.md", "report.html"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    report["_dir"] = str(out)
    return report


@pytest.mark.slow
@pytest.mark.parametrize("rule_id", sorted(MOTO_DEVIATIONS))
def test_moto_deviation_is_reported_with_counterexample(moto_report: dict, rule_id: str) -> None:
    rules = {r["id"]: r for r in moto_report["rules"]}
    rule = rules[rule_id]
    assert rule["verdict"] == "fail", (MOTO_DEVIATIONS[rule_id], rule)
    failure = rule["failure"]
    assert failure["expected"] and failure["observed"]
    assert failure["replay"].startswith("#!/usr/bin/env python3")
    assert failure["steps"], "the step sequence is part of the counterexample"


@pytest.mark.slow
def test_unselected_rules_are_not_run_and_summary_adds_up(moto_report: dict) -> None:
    summary = moto_report["summary"]
    assert sum(summary["verdicts"].values()) == summary["total_rules"] == len(moto_report["rules"])
    assert summary["conformant"] is False
    not_selected = [r for r in moto_report["rules"] if r["id"] not in MOTO_DEVIATIONS]
    assert all(r["verdict"] in ("not-run", "unsupported") for r in not_selected)


@pytest.mark.slow
def test_replay_script_reproduces_the_failure(moto_report: dict, tmp_path: Path) -> None:
    rules = {r["id"]: r for r in moto_report["rules"]}
    script = tmp_path / "replay.py"
    script.write_text(rules["REGION-004"]["failure"]["replay"])
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "last call: Success" in proc.stdout  # moto accepts what AWS rejects
