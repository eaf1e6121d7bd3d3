"""The model on its own (no target): documented predictions and transitions."""

from __future__ import annotations

import json

import pytest

from conformance.model.policy import PolicyVerdict, classify_policy, default_key_policy, policies_equal
from conformance.model.world import (
    CREATING,
    DISABLED,
    ENABLED,
    PENDING_DELETION,
    PENDING_IMPORT,
    PENDING_REPLICA_DELETION,
    World,
    tag_errors,
)

ACCOUNT = "111111111111"
KEY = "mrk-0123456789abcdef0123456789abcdef"


def world_with_primary(origin: str = "AWS_KMS") -> World:
    world = World(partition="aws")
    world.apply_create("us-east-1", {"AWSAccountId": ACCOUNT, "KeyId": KEY}, {"MultiRegion": True, "Origin": origin})
    return world


def replicate(world: World, region: str, **extra: object) -> None:
    params = {"KeyId": KEY, "ReplicaRegion": region, **extra}
    assert world.predict_replicate("us-east-1", params).success_allowed
    world.apply_replicate("us-east-1", params)


def errors(world: World, caller: str = "us-east-1", **params: object) -> set[str]:
    exp = world.predict_replicate(caller, {"KeyId": KEY, "ReplicaRegion": "us-west-2", **params})
    return set(exp.errors)


def test_valid_replication_is_allowed_and_creates_a_creating_or_enabled_replica() -> None:
    world = world_with_primary()
    replicate(world, "us-west-2")
    replica = world.key("us-west-2", KEY)
    assert replica is not None
    assert replica.states == {CREATING, ENABLED}
    assert replica.description == ""  # DESC-001: never the primary's
    assert replica.role == "REPLICA"
    config = world.expected_configuration(world.key("us-east-1", KEY))  # type: ignore[arg-type]
    assert config is not None
    assert config["MultiRegionKeyType"] == "PRIMARY"
    assert [r for _, r in config["ReplicaKeys"]] == ["us-west-2"]


def test_replica_of_external_key_settles_in_pending_import() -> None:
    world = world_with_primary("EXTERNAL")
    primary = world.key("us-east-1", KEY)
    assert primary is not None and primary.states == {PENDING_IMPORT}
    assert "LIFE-006" in errors(world)  # recorded: cannot replicate while pending import
    primary.states = {ENABLED}
    replicate(world, "us-west-2")
    assert world.key("us-west-2", KEY).states == {CREATING, PENDING_IMPORT}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("region", "rule"),
    [
        ("us-east-1", "REGION-004"),
        ("cn-north-1", "REGION-003"),
        ("us-invalid-1", "REGION-002"),
        ("US-EAST-1", "REGION-001"),
        ("", "REGION-001"),
    ],
)
def test_replica_region_rules(region: str, rule: str) -> None:
    world = world_with_primary()
    assert errors(world, ReplicaRegion=region) == {rule}


def test_occupied_region_in_any_state_is_already_exists() -> None:
    world = world_with_primary()
    replicate(world, "us-west-2")
    assert errors(world) == {"REGION-005"}
    world.key("us-west-2", KEY).states = {PENDING_DELETION}  # type: ignore[union-attr]
    assert errors(world) == {"REGION-006"}


def test_replica_and_disabled_primary_are_rejected_with_documented_rules() -> None:
    world = world_with_primary()
    replicate(world, "us-west-2")
    assert "KEYID-011" in errors(world, caller="us-west-2", ReplicaRegion="eu-west-1")
    world.key("us-east-1", KEY).states = {DISABLED}  # type: ignore[union-attr]
    exp = world.predict_replicate("us-east-1", {"KeyId": KEY, "ReplicaRegion": "us-west-2"})
    # Recorded: Disabled is reported even though the Region is occupied; both are accepted.
    assert {"LIFE-004", "REGION-005"} <= set(exp.errors)
    assert not exp.success_allowed


def test_uncertain_state_allows_both_outcomes() -> None:
    world = world_with_primary()
    world.key("us-east-1", KEY).states = {ENABLED, DISABLED}  # type: ignore[union-attr]
    exp = world.predict_replicate("us-east-1", {"KeyId": KEY, "ReplicaRegion": "us-west-2"})
    assert "LIFE-004" in exp.errors
    assert exp.success_allowed


@pytest.mark.parametrize(
    ("key_id", "rule"),
    [
        ("alias/my-key", "KEYID-004"),
        (f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/my-key", "KEYID-005"),
        ("not-a-key", "KEYID-006"),
        (f"arn:aws:s3:us-east-1:{ACCOUNT}:key/{KEY}", "KEYID-007"),
        ("x" * 2049, "KEYID-008"),
        ("mrk-ffffffffffffffffffffffffffffffff", "KEYID-009"),
        (f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{KEY}", "KEYID-003"),
        (f"arn:aws:kms:us-east-1:222222222222:key/{KEY}", "KEYID-012"),
    ],
)
def test_key_id_rules(key_id: str, rule: str) -> None:
    world = world_with_primary()
    assert rule in errors(world, KeyId=key_id)


def test_key_arn_in_callers_region_resolves() -> None:
    world = world_with_primary()
    assert errors(world, KeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{KEY}") == set()


def test_single_region_key_cannot_be_replicated() -> None:
    world = world_with_primary()
    single = "0b1c2d3e-0000-4000-8000-000000000001"
    world.apply_create("us-east-1", {"AWSAccountId": ACCOUNT, "KeyId": single}, {})
    assert errors(world, KeyId=single) == {"KEYID-010"}


def test_tag_rules() -> None:
    ok = [{"TagKey": "k" * 128, "TagValue": "v" * 256}]
    assert tag_errors(ok) == ({}, set())
    assert set(tag_errors([{"TagKey": "k" * 129, "TagValue": ""}])[0]) == {"TAGS-002"}
    assert set(tag_errors([{"TagKey": "k", "TagValue": "v" * 257}])[0]) == {"TAGS-003"}
    assert set(tag_errors([{"TagKey": f"k{i}", "TagValue": ""} for i in range(51)])[0]) == {"TAGS-004"}
    assert set(tag_errors([{"TagKey": "AwS:x", "TagValue": ""}])[0]) == {"TAGS-005"}
    assert set(tag_errors([{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}])[0]) == {"TAGS-006"}


def test_description_limit() -> None:
    world = world_with_primary()
    assert errors(world, Description="d" * 8192) == set()
    assert errors(world, Description="d" * 8193) == {"DESC-003"}


def test_policy_classification() -> None:
    safe = json.dumps(default_key_policy(ACCOUNT, "aws"))
    assert classify_policy(safe, ACCOUNT, "aws") is PolicyVerdict.SAFE
    unsafe = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:Decrypt",
                 "Resource": "*"}
            ],
        }
    )
    assert classify_policy(unsafe, ACCOUNT, "aws") is PolicyVerdict.UNSAFE
    assert classify_policy("{not json", ACCOUNT, "aws") is PolicyVerdict.NOT_JSON
    assert classify_policy('{"Version": "2012-10-17"}', ACCOUNT, "aws") is PolicyVerdict.NOT_A_POLICY
    assert classify_policy("", ACCOUNT, "aws") is PolicyVerdict.EMPTY
    assert classify_policy(safe + " " * 40000, ACCOUNT, "aws") is PolicyVerdict.TOO_LONG_QUOTA
    assert classify_policy("\u0100", ACCOUNT, "aws") is PolicyVerdict.BAD_CHARACTERS
    world = world_with_primary()
    assert errors(world, Policy=unsafe) == {"POLICY-007"}
    assert errors(world, Policy=unsafe, BypassPolicyLockoutSafetyCheck=True) == set()
    assert policies_equal(safe, json.dumps(json.loads(safe), indent=4))


def test_deletion_of_primary_with_replicas_waits_for_replicas() -> None:
    world = world_with_primary()
    primary = world.key("us-east-1", KEY)
    assert primary is not None
    assert world.schedule_deletion_state(primary) == PENDING_DELETION
    replicate(world, "us-west-2")
    assert world.schedule_deletion_state(primary) == PENDING_REPLICA_DELETION
    assert world.schedule_deletion_state(world.key("us-west-2", KEY)) == PENDING_DELETION  # type: ignore[arg-type]


def test_update_primary_swaps_roles_and_configuration() -> None:
    world = world_with_primary()
    replicate(world, "us-west-2")
    replicate(world, "eu-west-1")
    family = world.families[KEY]
    world.update_primary(family, "us-west-2")
    new_primary, old_primary = world.key("us-west-2", KEY), world.key("us-east-1", KEY)
    assert new_primary is not None and old_primary is not None
    assert (new_primary.role, old_primary.role) == ("PRIMARY", "REPLICA")
    config = world.expected_configuration(old_primary)
    assert config is not None
    assert config["PrimaryKey"]["Region"] == "us-west-2"
    assert sorted(r for _, r in config["ReplicaKeys"]) == ["eu-west-1", "us-east-1"]
    # The old primary is now a replica: replicating it breaks KEYID-011.
    assert "KEYID-011" in errors(world, ReplicaRegion="ap-southeast-2")
