"""The recorded-case tier: scenarios replay on every target, and the verdicts follow the recordings.

A fake target that answers the recorded call exactly as AWS did must pass every rule of every case; one
that succeeds where AWS failed must fail them. The conforming reference KMS must pass every case except
the reference gaps listed below; moto must come out unsupported where it lacks an operation.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conformance.catalogue import load_catalogue
from conformance.checks import Checker
from conformance.events import EventLog
from conformance.recorded import (
    CaseResult,
    RecordedCase,
    case_region_map,
    recorded_cases,
    replay_case,
    unreplayed_cases,
)
from conformance.targets import Observation, Target, TargetConfig
from tests.support.reference_kms import ReferenceKMS

CASES = recorded_cases()
# With ap-east-1 listed, the opt-in case is replayed too.
OPT_IN = TargetConfig(replica_regions=("us-west-2", "eu-west-1", "ap-southeast-2", "ap-east-1"))
_WRAPPING = rsa.generate_private_key(65537, 2048)

# Cases the reference KMS does not pass, and why (each checked against AWS's documentation). None since
# the reference gained Decrypt's KeyMaterialId, rotation status false while PendingDeletion, and
# RotateKeyOnDemand / ListKeyRotations.
KNOWN_REFERENCE_GAPS: dict[str, str] = {}


def _replay(case: RecordedCase, target: Any) -> tuple[CaseResult, EventLog]:
    log = EventLog()
    result = replay_case(case.id, target, Checker(load_catalogue(), log), name_prefix="unit")
    return result, log


def _statuses(case: RecordedCase, log: EventLog) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for rule_id in case.rules:
        tally = log.tallies.get(rule_id)
        found: set[str] = set()
        if tally is not None:
            found |= {"pass"} if tally.passes else set()
            found |= {"fail"} if tally.fails else set()
            found |= {"inconclusive"} if tally.inconclusive else set()
            found |= {"unsupported"} if tally.unsupported else set()
        out[rule_id] = found
    return out


# ----------------------------------------------------------------------------------------- fake AWS
class FakeAWS:
    """Answers setup calls like a cooperative KMS and call number ``final`` as ``mode`` says."""

    def __init__(self, config: TargetConfig, case: RecordedCase, final: int | None, mode: str) -> None:
        self.config, self.case, self.final, self.mode = config, case, final, mode
        self.calls = 0
        self.key_id = ""

    def call(self, region: str, operation: str, params: Mapping[str, Any]) -> Observation:
        index, self.calls = self.calls, self.calls + 1
        if index == self.final:
            return self._final(region, operation, dict(params))
        return Observation(
            operation, region, dict(params), "ok", response=self._setup(region, operation, params)
        )

    def _arn(self, region: str) -> str:
        return f"arn:aws:kms:{region}:111111111111:key/{self.key_id}"

    def _setup(self, region: str, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if operation == "CreateKey":
            self.key_id = f"mrk-{uuid.uuid4().hex}" if params.get("MultiRegion") else str(uuid.uuid4())
            return {"KeyMetadata": {"KeyId": self.key_id, "Arn": self._arn(region), "KeyState": "Enabled"}}
        if operation == "ReplicateKey":
            target = params["ReplicaRegion"]
            return {
                "ReplicaKeyMetadata": {"KeyId": self.key_id, "Arn": self._arn(target), "KeyState": "Creating"}
            }
        if operation == "DescribeKey":
            return {"KeyMetadata": {"KeyId": self.key_id, "Arn": self._arn(region), "KeyState": "Enabled"}}
        if operation == "Encrypt":
            return {"CiphertextBlob": b"ct:" + params["Plaintext"]}
        if operation == "GetParametersForImport":
            public = _WRAPPING.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return {"ImportToken": secrets.token_bytes(16), "PublicKey": public}
        return {}

    def _final(self, region: str, operation: str, params: dict[str, Any]) -> Observation:
        case = self.case
        if self.mode == "success":
            return Observation(operation, region, params, "ok", response={})
        if case.outcome != "success":
            message = self._denormalise(case.message or "")
            return Observation(
                operation, region, params, "error", code=case.outcome, message=message, http_status=400
            )
        response = self._denormalise(case.response or {})
        if "Plaintext" in response:
            response["Plaintext"] = params["CiphertextBlob"].removeprefix(b"ct:")
        if operation == "CreateKey":
            self.key_id = response["KeyMetadata"]["KeyId"]
        return Observation(operation, region, params, "ok", response=response)

    def _denormalise(self, value: Any, member: str = "") -> Any:
        """The recorded value as this target would have answered it for the keys it made."""
        if isinstance(value, dict):
            out = {k: self._denormalise(v, k) for k, v in value.items()}
            return json.dumps(out) if member == "ReplicaPolicy" else out
        if isinstance(value, list):
            return [self._denormalise(v) for v in value]
        if not isinstance(value, str):
            return value
        if value == "<timestamp>":
            return datetime.now(UTC)
        if value == "<omitted>":
            return b"omitted"
        regions = {**case_region_map(self.case.id, self.config)}
        if "<region>" in regions or "ap-southeast-1" in regions:
            regions.setdefault("<secondary-region>", regions.get("ap-southeast-1", ""))
        key_id = self.key_id or str(uuid.uuid4())
        value = value.replace("<key-id>", key_id).replace("<key-material-id>", "a" * 64)
        value = value.replace(
            "<key-arn>", f"arn:aws:kms:{self.config.primary_region}:111111111111:key/{key_id}"
        )
        if regions:
            pattern = "|".join(re.escape(r) for r in sorted(regions, key=len, reverse=True))
            value = re.sub(rf"(?<![\w-])({pattern})(?![\w-])", lambda m: regions[m.group(1)], value)
        return value


def _fake_replay(case: RecordedCase, mode: str, config: TargetConfig = OPT_IN) -> tuple[CaseResult, EventLog]:
    probe = FakeAWS(config, case, None, mode)
    _replay(case, probe)  # first pass: count the calls; the last one is the recorded call
    return _replay(case, FakeAWS(config, case, probe.calls - 1, mode))


# ----------------------------------------------------------------------------------------- tests
def test_cases_cover_every_replicate_key_recording_and_the_named_groups() -> None:
    ids = {c.id for c in CASES}
    replicate = {c.id for c in CASES if c.operation == "ReplicateKey"}
    assert len(replicate) == 15
    for wanted in (
        "promote_replica",
        "replica_enable-key-rotation",
        "decrypt_replica_primary_arn",
        "delete_primary_with_replica",
        "test_replicate_key/describe-key-from-different-region",
    ):
        assert wanted in ids
    assert set(unreplayed_cases()) == {"imr_primary_expiry_poll", "replica_after_primary_expiry"}
    assert all(c.licence and c.provenance for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_recorded_answer_passes_every_rule(case: RecordedCase) -> None:
    result, log = _fake_replay(case, "recorded")
    assert not result.skipped, result.skipped
    assert result.outcome == case.outcome
    assert not result.differences, result.differences
    for rule_id, found in _statuses(case, log).items():
        assert found == {"pass"}, (rule_id, found, log.tallies.get(rule_id))
    if case.outcome != "success":
        assert result.exact_code is True
        assert result.message_match is (case.message is not None or None)


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome != "success"], ids=lambda c: c.id)
def test_success_where_aws_failed_fails_every_rule(case: RecordedCase) -> None:
    result, log = _fake_replay(case, "success")
    assert result.outcome == "success" and result.exact_code is None
    for rule_id, found in _statuses(case, log).items():
        want = {"inconclusive"} if rule_id == "RESP-007" else {"fail"}
        assert found == want, (rule_id, found)


def test_a_missing_member_or_wrong_value_fails_only_a_success_case() -> None:
    case = next(c for c in CASES if c.id == "replicate_west")
    probe = FakeAWS(OPT_IN, case, None, "recorded")
    _replay(case, probe)
    fake = FakeAWS(OPT_IN, case, probe.calls - 1, "recorded")
    original = fake._final

    def broken(region: str, operation: str, params: dict[str, Any]) -> Observation:
        obs = original(region, operation, params)
        md = obs.response["ReplicaKeyMetadata"]
        md["Description"] = "copied from the primary"
        del md["KeyManager"]
        return obs

    fake._final = broken  # type: ignore[method-assign]
    result, log = _replay(case, fake)
    statuses = _statuses(case, log)
    assert "fail" in statuses["DESC-001"] and "fail" in statuses["RESP-006"]
    assert statuses["TAGS-007"] == {"pass"}  # a wrong description is not blamed on tags
    assert any("Description" in d for d in result.differences)


def test_setup_failure_is_inconclusive_never_a_failure() -> None:
    case = next(c for c in CASES if c.id == "replicate_existing")

    class Refuses(FakeAWS):
        def call(self, region: str, operation: str, params: Mapping[str, Any]) -> Observation:
            if operation == "ReplicateKey":
                return Observation(operation, region, dict(params), "error", code="LimitExceededException")
            return super().call(region, operation, params)

    result, log = _replay(case, Refuses(OPT_IN, case, None, "recorded"))
    assert result.outcome == "setup-failed" and "LimitExceededException" in result.skipped
    assert _statuses(case, log) == {"REGION-005": {"inconclusive"}}


def test_non_aws_primary_skips_partition_cases() -> None:
    cfg = TargetConfig(primary_region="cn-north-1", replica_regions=("cn-northwest-1",))
    case = next(c for c in CASES if c.id == "replicate_region_cn-north-1")
    result, log = _replay(case, FakeAWS(cfg, case, None, "recorded"))
    assert "aws partition" in result.skipped and not log.tallies


@pytest.fixture(scope="module")
def moto_results() -> Iterator[dict[str, tuple[CaseResult, EventLog]]]:
    target = Target(TargetConfig())
    try:
        yield {case.id: _replay(case, target) for case in CASES}
    finally:
        target.close()


MOTO_UNSUPPORTED = {
    c.id
    for c in CASES
    if c.operation in ("UpdatePrimaryRegion", "GetParametersForImport", "ImportKeyMaterial")
} | {
    "former_primary_updating",
    "new_primary_updating",
    "former_primary_final",  # UpdatePrimaryRegion in setup
    "replicate_imported_primary",
    "replicate",
    "replica_pending_poll",
    "irr_replica_restored_metadata",
    "irr_encrypt_pending_import",  # GetParametersForImport in setup
}


def test_moto_replays_every_case_with_an_event_per_rule(
    moto_results: dict[str, tuple[CaseResult, EventLog]],
) -> None:
    for case in CASES:
        result, log = moto_results[case.id]
        if case.id == "replicate_region_ap-east-1":
            assert "ap-east-1" in result.skipped
            continue
        assert not result.skipped or result.outcome == "unsupported", (case.id, result)
        missing = [r for r, found in _statuses(case, log).items() if not found]
        assert not missing, (case.id, missing)
        if case.id in MOTO_UNSUPPORTED:
            assert result.outcome == "unsupported", (case.id, result)
            assert all(f == {"unsupported"} for f in _statuses(case, log).values())


def test_moto_deviations_are_found(moto_results: dict[str, tuple[CaseResult, EventLog]]) -> None:
    """moto 5.2.1 deviations the replay finds (a regression check of the verdicts, not of moto)."""
    failing = {
        case.id
        for case in CASES
        if any("fail" in f for f in _statuses(case, moto_results[case.id][1]).values())
    }
    for case_id in (
        "replicate_region_us-east-1",
        "replicate_existing",
        "replicate_replica",
        "replicate_disabled_primary",
        "replica_enable-key-rotation",
        "decrypt_replica_implicit",
        "test_replicate_key/replicate-key",
        "delete_primary_with_replica",
    ):
        assert case_id in failing, case_id
    assert moto_results["replicate_region_us-invalid-1"][0].outcome == "crash"


def test_reference_kms_passes_every_case_except_its_known_gaps() -> None:
    with ReferenceKMS(creating_seconds=0.05) as kms:
        cfg = TargetConfig(
            kind="endpoint",
            endpoint_url=kms.url,
            replica_regions=OPT_IN.replica_regions,
            creating_timeout=5.0,
        )
        target = Target(cfg)
        gaps: dict[str, str] = {}
        for case in CASES:
            result, log = _replay(case, target)
            assert not result.skipped or result.outcome == "unsupported", (case.id, result)
            statuses = _statuses(case, log)
            if all(found == {"pass"} for found in statuses.values()):
                continue
            gaps[case.id] = "unsupported" if result.outcome == "unsupported" else "fail"
            if case.outcome != "success" and result.outcome == case.outcome:
                pytest.fail(f"{case.id}: recorded code reproduced but rules did not pass: {statuses}")
    assert gaps == KNOWN_REFERENCE_GAPS
