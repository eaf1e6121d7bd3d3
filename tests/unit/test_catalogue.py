"""The rule catalogue and the recordings it cites are consistent with each other and with the contract.

These tests guard the trust in every verdict: a rule without a source, an error rule without acceptable codes,
or a citation of a recording that does not exist would let the suite judge an implementation on air.
"""

from __future__ import annotations

import json
import re
import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from conformance.catalogue import Catalogue, CatalogueError, load_catalogue, parse_catalogue

RULE_IDS_DOC = Path(__file__).resolve().parents[2] / "docs" / "rule-ids.md"
ID_PATTERN = re.compile(r"^[A-Z]+-\d{3}$")
GENERIC_CODES = frozenset(
    {"ValidationException", "AccessDeniedException", "ThrottlingException", "UnrecognizedClientException"}
)


def _data_text(name: str) -> str:
    return resources.files("conformance").joinpath(f"data/{name}").read_text(encoding="utf-8")


@cache
def _recordings() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_data_text("aws_recordings.json"))
    return data


@cache
def _kms_error_shapes() -> frozenset[str]:
    """Names of every error shape in botocore's KMS service model."""
    model = botocore.session.get_session().get_service_model("kms")
    return frozenset(shape.name for shape in model.error_shapes)


def _contract() -> dict[str, frozenset[str]]:
    """Rule ID -> the groups its heading in docs/rule-ids.md allows (a heading may name two, e.g. 'a / b')."""
    contract: dict[str, frozenset[str]] = {}
    groups: frozenset[str] = frozenset()
    for line in RULE_IDS_DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## ([^:(]+)", line)
        if heading:
            groups = frozenset(part.strip() for part in heading.group(1).split("/"))
            continue
        item = re.match(r"^- ([A-Z]+-\d{3}) ", line)
        if item:
            assert item.group(1) not in contract, f"{item.group(1)} listed twice in rule-ids.md"
            contract[item.group(1)] = groups
    return contract


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def test_catalogue_loads_with_enough_rules(catalogue: Catalogue) -> None:
    assert len(catalogue) >= 120
    assert catalogue.version == "2026.11.28"


def test_rule_ids_unique_in_the_data_file() -> None:
    ids = [raw["id"] for raw in tomllib.loads(_data_text("rules.toml"))["rule"]]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates


def test_rule_id_format(catalogue: Catalogue) -> None:
    assert [r.id for r in catalogue if not ID_PATTERN.match(r.id)] == []


def test_every_contract_id_present_with_its_group(catalogue: Catalogue) -> None:
    contract = _contract()
    assert len(contract) >= 131
    missing = sorted(rule_id for rule_id in contract if rule_id not in catalogue)
    assert missing == []
    wrong_group = {
        rule_id: catalogue[rule_id].group
        for rule_id, groups in contract.items()
        if catalogue[rule_id].group not in groups
    }
    assert wrong_group == {}


def test_rules_added_beyond_the_contract_extend_a_known_group(catalogue: Catalogue) -> None:
    """New IDs may only be appended to existing groups, after the group's last contract number."""
    contract = _contract()
    last_number: dict[str, int] = {}
    for rule_id in contract:
        prefix, number = rule_id.split("-")
        last_number[prefix] = max(last_number.get(prefix, 0), int(number))
    for rule in catalogue:
        if rule.id in contract:
            continue
        prefix, number = rule.id.split("-")
        assert prefix in last_number, f"{rule.id}: unknown prefix"
        assert int(number) > last_number[prefix], f"{rule.id}: reuses a number inside the contract range"


def test_every_rule_has_a_quoted_source(catalogue: Catalogue) -> None:
    for rule in catalogue:
        assert rule.sources, rule.id
        for source in rule.sources:
            assert source.quote.strip(), f"{rule.id}: empty quote"
            assert len(source.quote) <= 400, f"{rule.id}: quote too long to be a short quote"
            if source.kind == "doc":
                assert source.url.startswith("https://docs.aws.amazon.com/"), f"{rule.id}: {source.url}"


def test_error_rules_have_codes_and_others_have_accepted_outcomes(catalogue: Catalogue) -> None:
    for rule in catalogue:
        if rule.expect == "error":
            assert rule.error_codes, rule.id
        else:
            assert rule.accepted, rule.id


def test_error_codes_exist_in_the_kms_service_model(catalogue: Catalogue) -> None:
    known = _kms_error_shapes() | GENERIC_CODES
    unknown = {rule.id: sorted(rule.error_codes - known) for rule in catalogue if rule.error_codes - known}
    assert unknown == {}


def test_service_model_knows_the_replicate_key_errors() -> None:
    """Guards the check above against an empty or wrong error list."""
    assert {"AlreadyExistsException", "UnsupportedOperationException", "TagException"} <= _kms_error_shapes()


def test_recording_sources_name_existing_cases(catalogue: Catalogue) -> None:
    case_ids = {case["id"] for case in _recordings()["cases"]}
    dangling = [
        (rule.id, source.recording)
        for rule in catalogue
        for source in rule.sources
        if source.kind == "recording" and source.recording not in case_ids
    ]
    assert dangling == []


def test_recording_cases_are_well_formed_and_cite_existing_rules(catalogue: Catalogue) -> None:
    data = _recordings()
    assert data["schema"] == "kms-conformance/recordings/v1"
    sources = data["sources"]
    for info in sources.values():
        assert {"repository", "commit", "files", "licence", "observed"} <= info.keys()
    ids = [case["id"] for case in data["cases"]]
    assert len(ids) == len(set(ids))
    for case in data["cases"]:
        assert case["source"] in sources, case["id"]
        assert case["outcome"] == "success" or case["outcome"].endswith(("Exception", "Error")), case["id"]
        assert (case["message"] is None) == (case["outcome"] == "success"), case["id"]
        assert [r for r in case["rules"] if r not in catalogue] == [], case["id"]


def test_replicate_key_cases_of_the_shared_index_are_recorded() -> None:
    cases = {case["id"]: case for case in _recordings()["cases"]}
    expected = {
        "replicate_region_us-east-1": "ValidationException",
        "replicate_region_cn-north-1": "ValidationException",
        "replicate_region_us-invalid-1": "ValidationException",
        "replicate_region_ap-east-1": "success",
        "replicate_west": "success",
        "replicate_existing": "AlreadyExistsException",
        "replicate_deleting_replica": "AlreadyExistsException",
        "replicate_replica": "UnsupportedOperationException",
        "replicate_disabled_primary": "DisabledException",
        "alias_replicate-key": "InvalidArnException",
        "replicate_pending_import": "KMSInvalidStateException",
        "replicate_imported_primary": "success",
        "test_replicate_key/replicate-key": "success",
    }
    assert {case_id: cases[case_id]["outcome"] for case_id in expected} == expected
    assert all(cases[case_id]["operation"] == "ReplicateKey" for case_id in expected)


def test_recorded_error_codes_are_accepted_by_the_rules_they_evidence(catalogue: Catalogue) -> None:
    """A recorded AWS error must never fall outside the acceptable set of an error rule it evidences."""
    for case in _recordings()["cases"]:
        if case["outcome"] == "success":
            continue
        for rule_id in case["rules"]:
            rule = catalogue[rule_id]
            if rule.expect == "error":
                assert case["outcome"] in rule.error_codes, (case["id"], rule_id)


_MINIMAL = """
version = "1"

[[rule]]
id = "X-001"
group = "g"
title = "t"
statement = "s"
operations = ["ReplicateKey"]
strictness = "MUST"
expect = "error"
error_codes = ["NotFoundException"]

[[rule.sources]]
kind = "doc"
title = "AWS KMS API Reference: ReplicateKey"
quote = "q"
"""


def test_parse_catalogue_accepts_the_minimal_rule() -> None:
    """Baseline for the rejection tests below: the same text without the defect parses."""
    assert [r.id for r in parse_catalogue(_MINIMAL)] == ["X-001"]


def test_parse_catalogue_rejects_duplicate_ids() -> None:
    with pytest.raises(CatalogueError, match="duplicate"):
        parse_catalogue(_MINIMAL + _MINIMAL.replace('version = "1"', ""))


def test_parse_catalogue_rejects_rule_without_source() -> None:
    text = _MINIMAL.split("[[rule.sources]]")[0]
    with pytest.raises(CatalogueError, match="source"):
        parse_catalogue(text)


def test_parse_catalogue_rejects_error_rule_without_codes() -> None:
    with pytest.raises(CatalogueError, match="error codes"):
        parse_catalogue(_MINIMAL.replace('error_codes = ["NotFoundException"]\n', ""))
