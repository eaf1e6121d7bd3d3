"""The conforming reference must pass the whole suite: a MUST/SHOULD failure here is a false alarm (or a
reference bug), which would make every seeded-fault result meaningless."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.runner import run_suite
from conformance.targets import TargetConfig
from tests.quality.harness import run_fault
from tests.support.reference_kms import ReferenceKMS

pytestmark = pytest.mark.quality


@pytest.mark.parametrize(("profile", "seed"), [("ci", None), ("dev", 0), ("dev", 1)])
def test_reference_has_no_must_or_should_failure(profile: str, seed: int | None) -> None:
    with ReferenceKMS(creating_seconds=0.05) as ref:
        report = run_suite(
            TargetConfig(kind="endpoint", endpoint_url=ref.url), profile=profile, seed=seed,
            implementation="reference",
        )
    blocking = {
        r["id"]: (r["verdict"], r["detail"], (r["failure"] or {}).get("observed"))
        for r in report["rules"]
        if r["strictness"] != "INFO" and r["verdict"] in ("fail", "inconclusive")
    }
    assert blocking == {}
    assert report["summary"]["conformant"] is True
    assert report["summary"]["verdicts"]["pass"] >= 100  # the run really exercised the catalogue
    assert not [n for n in report["notes"] if n.startswith(("suite error", "hypothesis:"))]


def _run_replay(script: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["AWS_ENDPOINT_URL_KMS"] = url
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_replay_script_of_a_caught_fault_reproduces_it(tmp_path: Path) -> None:
    fault = "replicate-own-region-wrong-code"
    result = run_fault(fault, recorded=False)
    failure = result.rule("REGION-004")["failure"]
    assert failure is not None and failure["replay"]
    script = tmp_path / "replay.py"
    script.write_text(failure["replay"])
    with ReferenceKMS(faults=[fault], creating_seconds=0.05) as ref:
        faulty = _run_replay(script, ref.url)
    assert faulty.returncode == 0, faulty.stdout + faulty.stderr
    assert "AlreadyExistsException" in faulty.stdout
    # The same calls against a conforming reference end differently, so the script tells them apart.
    with ReferenceKMS(creating_seconds=0.05) as ref:
        conforming = _run_replay(script, ref.url)
    assert conforming.returncode == 1, conforming.stdout + conforming.stderr
    assert "ValidationException" in conforming.stdout
