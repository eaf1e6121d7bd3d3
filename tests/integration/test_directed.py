"""The directed scenarios (conformance/directed.py) on their own, without Hypothesis exploring.

They must never fail a conforming implementation, must reach what they claim to reach, and must
find the same deviations on every run: that is what makes a verdict independent of the seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.catalogue import load_catalogue
from conformance.directed import INVALID_INPUTS, SCENARIOS, run_scenarios
from conformance.events import EventLog
from conformance.machine import FOCI, ReplicateKeyMachine, SuiteContext
from conformance.runner import probe_capabilities
from conformance.targets import Target, TargetConfig
from conformance.verdicts import build_report
from tests.support.reference_kms import ReferenceKMS


def run_directed(config: TargetConfig) -> dict:
    """Every focus's scenarios against one target; the report they alone produce."""
    catalogue = load_catalogue()
    log = EventLog()
    with Target(config) as target:
        unsupported, notes = probe_capabilities(target)
        log.notes.extend(notes)
        for focus in FOCI:
            ctx = SuiteContext(target=target, catalogue=catalogue, log=log, unsupported_ops=unsupported,
                               focus=focus, nonce=f"directed-{focus}")
            machine = type("ReplicateKeyMachine", (ReplicateKeyMachine,), {"context": ctx})
            run_scenarios(machine, focus)
    return build_report(catalogue, log, target={"kind": config.kind}, hypothesis={}, started_at="",
                        duration_seconds=0.0, unsupported_ops=log.unsupported_ops, notes=[])


def verdicts(report: dict) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in report["rules"]}


@pytest.fixture(scope="module")
def reference_report() -> Iterator[dict]:
    with ReferenceKMS(creating_seconds=0.05) as ref:
        yield run_directed(TargetConfig(kind="endpoint", endpoint_url=ref.url, creating_timeout=2.0))


def test_a_conforming_reference_passes_every_directed_scenario(reference_report: dict) -> None:
    failing = {r["id"]: r["failure"]["observed"] for r in reference_report["rules"] if r["verdict"] == "fail"}
    assert not failing
    suite_notes = [n for n in reference_report["notes"] if n.startswith("suite")]
    assert not suite_notes, "an invalid input the model does not recognise is a suite bug"


def test_every_invalid_input_reaches_its_rule(reference_report: dict) -> None:
    observed = verdicts(reference_report)
    assert {bad.rule_id for bad in INVALID_INPUTS} <= {r for r, v in observed.items() if v == "pass"}


def test_the_scenarios_alone_reach_most_of_the_catalogue(reference_report: dict) -> None:
    """Without any exploration; the rest (quotas, consistency, INFO rules...) are the machine's or unchecked."""
    passed = sum(v == "pass" for v in verdicts(reference_report).values())
    assert passed >= 100, passed


def test_scenario_names_are_unique_and_each_belongs_to_a_focus() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    assert all(set(s.foci) <= set(FOCI) for s in SCENARIOS)


@pytest.mark.slow
def test_moto_deviations_found_by_the_scenarios_are_the_same_on_every_run() -> None:
    first, second = (run_directed(TargetConfig(kind="moto")) for _ in range(2))
    failing = {r for r, v in verdicts(first).items() if v == "fail"}
    assert failing == {r for r, v in verdicts(second).items() if v == "fail"}
    assert {"KEYID-002", "REGION-005", "TAGS-007", "DESC-002", "POLICY-002"} <= failing
    for rule in first["rules"]:
        if rule["verdict"] == "fail":
            failure = rule["failure"]
            assert failure["program"].startswith("# directed scenario "), rule["id"]
            assert failure["replay"].startswith("#!/usr/bin/env python3"), rule["id"]
            assert failure["found_after"]["examples"] >= 1, rule["id"]


def test_a_seeded_fault_is_caught_by_its_scenario() -> None:
    with ReferenceKMS(faults=["deletion-window-unchecked"], creating_seconds=0.05) as ref:
        report = run_directed(TargetConfig(kind="endpoint", endpoint_url=ref.url, creating_timeout=2.0))
    rules = {r["id"]: r for r in report["rules"]}
    assert rules["DEL-004"]["verdict"] == "fail"
    assert "directed scenario deletion-window" in rules["DEL-004"]["failure"]["program"]
    assert [r for r, v in verdicts(report).items() if v == "fail"] == ["DEL-004"]
