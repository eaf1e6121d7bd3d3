"""Shared by the quality tests and scripts/mutation_score.py: run the suite against one seeded fault.

Each fault runs in a fresh reference KMS, in only the state-machine foci that exercise its rules.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from conformance.catalogue import load_catalogue
from conformance.machine import FOCI
from conformance.runner import run_suite
from conformance.targets import TargetConfig
from tests.support.reference_kms import FAULTS, ReferenceKMS

# Rules about the form of any answer: a fault may break them too without a false attribution.
GENERIC_RULES = ("ERR-001", "ERR-002", "ERR-003", "RESP-007", "RESP-008")
# Which foci of the state machine exercise a rule group (see conformance/machine.py).
GROUP_FOCI: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("keyid", "region", "alias"), ("validation",)),
    **dict.fromkeys(("policy", "tags", "description", "response"), ("validation", "replicate")),
    **dict.fromkeys(("lifecycle", "deletion", "primary", "independent", "mrc"), ("lifecycle",)),
    **dict.fromkeys(("shared", "rotation"), ("lifecycle", "crypto")),
    **dict.fromkeys(("crypto", "import"), ("crypto",)),
}


@dataclass
class FaultResult:
    """What one fault's run showed."""

    fault: str
    rules: tuple[str, ...]
    foci: tuple[str, ...]
    caught: bool
    examples: int  # test cases run until one of its rules first failed (the whole run when not caught)
    seconds: float  # likewise, seconds
    run_seconds: float = 0.0  # the whole run
    failing: list[str] = field(default_factory=list)  # every rule that failed
    false_attributions: list[str] = field(default_factory=list)  # failing rules the fault does not name
    verdicts: dict[str, str] = field(default_factory=dict)  # the fault's own rules
    notes: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict, repr=False)  # the whole suite report

    def rule(self, rule_id: str) -> dict[str, Any]:
        """The report entry of one rule."""
        return next(r for r in self.report["rules"] if r["id"] == rule_id)


def foci_for(rules: tuple[str, ...]) -> tuple[str, ...]:
    """The machine foci that exercise ``rules`` (by their catalogue groups), in the machine's order."""
    catalogue = load_catalogue()
    wanted: set[str] = set()
    for rule_id in rules:
        wanted.update(GROUP_FOCI.get(catalogue[rule_id].group, ()))
    return tuple(f for f in FOCI if f in wanted) or FOCI


def run_fault(name: str, profile: str = "ci", all_rules: bool = False, recorded: bool = True) -> FaultResult:
    """Run the suite against a fresh reference with fault ``name`` enabled.

    ``all_rules=False`` selects only the fault's rules and ERR-002/ERR-003 (fast); True checks every
    rule, so a failure the fault does not explain shows up as a false attribution.
    """
    fault = FAULTS[name]
    foci = foci_for(fault.rules)
    selected = () if all_rules else (*fault.rules, *GENERIC_RULES)
    started = time.monotonic()
    with ReferenceKMS(faults=[name], creating_seconds=0.05) as ref:
        report = run_suite(
            # The reference leaves Creating after 0.05 s, so 2 s bounds every poll; the default 10 s made
            # faults that hide a replica (a new key ID, never leaving Creating) take many minutes.
            TargetConfig(kind="endpoint", endpoint_url=ref.url, creating_timeout=2.0),
            profile=profile,
            foci=foci,
            rules=selected,
            recorded=recorded,
            implementation=f"reference+{name}",
        )
    run_seconds = time.monotonic() - started
    verdicts = {r["id"]: r["verdict"] for r in report["rules"]}
    strictness = {r["id"]: r["strictness"] for r in report["rules"]}
    failing = [rid for rid, v in verdicts.items() if v == "fail"]
    found = [
        r["failure"]["found_after"]
        for r in report["rules"]
        if r["id"] in fault.rules and r["verdict"] == "fail" and (r["failure"] or {}).get("found_after")
    ]
    first = min(found, key=lambda f: (f["examples"], f["seconds"])) if found else None
    return FaultResult(
        fault=name,
        rules=fault.rules,
        foci=foci,
        caught=any(verdicts.get(r) == "fail" for r in fault.rules),
        examples=int(first["examples"]) if first else int(report["summary"]["examples"]),
        seconds=float(first["seconds"]) if first else round(run_seconds, 2),
        run_seconds=round(run_seconds, 2),
        failing=failing,
        false_attributions=[
            r for r in failing if r not in fault.rules and r not in GENERIC_RULES and strictness[r] != "INFO"
        ],
        verdicts={r: verdicts.get(r, "?") for r in fault.rules},
        notes=[n for n in report["notes"] if n.startswith(("suite error", "hypothesis:", "flaky"))],
        report=report,
    )


