"""Seeded faults the suite must catch: each one breaks one documented behaviour of the reference KMS.

A representative subset spanning every rule group (the whole list is scripts/mutation_score.py's job).
Each fault must fail its own rules, with a counterexample (steps and a replay script), and nothing
else: a MUST/SHOULD failure the fault does not explain is a false attribution by the suite.
"""

from __future__ import annotations

import pytest

from tests.quality.harness import GENERIC_RULES, run_fault
from tests.support.reference_kms import FAULTS

pytestmark = pytest.mark.quality

SUBSET = (
    "replicate-accepts-alias",  # keyid
    "replicate-own-region-wrong-code",  # region
    "replicate-omits-replica-policy",  # policy + response
    "tag-resource-propagates",  # tags
    "replicate-inherits-description",  # description
    "replicate-response-missing-new-replica",  # response
    "replica-rotation-not-copied",  # shared + rotation
    "mrc-primary-not-updated",  # mrc
    "crypto-allowed-while-creating",  # lifecycle
    "disable-key-propagates",  # independent + lifecycle
    "cancel-deletion-enables",  # deletion
    "update-primary-missing-replica-allowed",  # primary
    "replica-import-description-allowed",  # import
    "decrypt-ignores-keyid",  # crypto
    "alias-global",  # alias + independent
)


def test_subset_spans_the_groups() -> None:
    from conformance.catalogue import load_catalogue

    catalogue = load_catalogue()
    groups = {catalogue[r].group for name in SUBSET for r in FAULTS[name].rules}
    assert groups >= {"keyid", "region", "policy", "tags", "description", "response", "shared", "independent",
                      "lifecycle", "mrc", "crypto", "deletion", "primary", "rotation", "import", "alias"}
    assert len(SUBSET) >= 12


@pytest.mark.parametrize("fault", SUBSET)
def test_fault_is_caught_and_blamed_on_its_rules_only(fault: str) -> None:
    caught = run_fault(fault, all_rules=True)
    assert caught.caught, (fault, caught.verdicts)
    for rule_id in caught.rules:
        entry = caught.rule(rule_id)
        assert entry["verdict"] == "fail", (fault, rule_id, entry["verdict"], entry["detail"])
        failure = entry["failure"]
        assert failure["steps"], (fault, rule_id)
        assert "def main" in failure["replay"] and "call(" in failure["replay"], (fault, rule_id)
    # A MUST/SHOULD failure the fault does not explain would be a false attribution by the suite.
    explained = set(caught.rules) | set(GENERIC_RULES)
    unexplained = {
        r["id"]: (r["failure"] or {}).get("observed")
        for r in caught.report["rules"]
        if r["verdict"] == "fail" and r["strictness"] != "INFO" and r["id"] not in explained
    }
    assert unexplained == {}, fault
    assert not caught.notes, caught.notes
