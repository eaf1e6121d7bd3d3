"""The input strategies produce what they claim: valid values satisfy the service model, each invalid value
breaks exactly the rule its label names, boundaries really occur, and every label is a catalogue rule ID."""

from __future__ import annotations

import json
import re
import unicodedata
import warnings
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import strategies
from strategies import descriptions as desc_mod
from strategies import identifiers as ids
from strategies import keys as keys_mod
from strategies import policies as pol
from strategies import regions as reg
from strategies import tags as tag_mod
from strategies.labels import Invalid
from strategies.registry import EXAMPLE_CONTEXT, INVALID_RULE_IDS, INVALID_STRATEGIES
from strategies.service_model import (
    description_limits,
    key_id_limits,
    limits,
    policy_limits,
    region_limits,
    tag_key_limits,
    tag_value_limits,
)

RULE_IDS_DOC = Path(__file__).resolve().parents[2] / "docs" / "rule-ids.md"
DOCUMENTED_IDS = frozenset(re.findall(r"^- ([A-Z]+-\d{3})", RULE_IDS_DOC.read_text(encoding="utf-8"), re.MULTILINE))

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIND = settings(max_examples=2000, deadline=None, database=None, phases=[Phase.generate])

ACCOUNT = EXAMPLE_CONTEXT["account_id"]
PARTITION = EXAMPLE_CONTEXT["partition"]
REGION = EXAMPLE_CONTEXT["region"]
KEY_ID = EXAMPLE_CONTEXT["key_id"]
PRIMARY_REGIONS = ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"]


def found(strategy: st.SearchStrategy[Any], condition: Callable[[Any], bool]) -> Any:
    """hypothesis.find without shrinking (shrinking a 50-tag list is slow and tells us nothing)."""
    return find(strategy, condition, settings=FIND)


# ---------------------------------------------------------------------------------------- labels / registry


def test_rule_ids_doc_parses() -> None:
    assert len(DOCUMENTED_IDS) > 50
    assert {"KEYID-006", "REGION-002", "POLICY-009", "TAGS-006", "DESC-003"} <= DOCUMENTED_IDS


def test_registry_names_match_and_labels_are_documented() -> None:
    assert set(INVALID_STRATEGIES) == set(INVALID_RULE_IDS)
    undocumented = {n: r - DOCUMENTED_IDS for n, r in INVALID_RULE_IDS.items() if r - DOCUMENTED_IDS}
    assert not undocumented


@pytest.mark.parametrize("name", sorted(INVALID_STRATEGIES))
def test_every_invalid_strategy_labels_with_its_declared_rule(name: str) -> None:
    seen: set[str] = set()

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.data())
    def check(data: st.DataObject) -> None:
        item = data.draw(INVALID_STRATEGIES[name]())
        assert isinstance(item, Invalid)
        assert item.rule_id in INVALID_RULE_IDS[name]
        assert item.rule_id in DOCUMENTED_IDS
        assert item.why
        seen.add(item.rule_id)

    check()
    assert seen  # drew at least one value


def test_labels_are_catalogue_rule_ids() -> None:
    data = resources.files("conformance").joinpath("data/rules.toml")
    if not data.is_file():
        pytest.skip("conformance/data/rules.toml not written yet (another helper owns it)")
    from conformance.catalogue import load_catalogue

    catalogue = load_catalogue()
    for name, rule_ids in INVALID_RULE_IDS.items():
        for rule_id in rule_ids:
            assert rule_id in catalogue, f"{name} labels with {rule_id}, unknown to the catalogue"
            assert catalogue[rule_id].expect == "error", f"{rule_id} is not an error rule"


# ---------------------------------------------------------------------------------------- service model


def test_limits_are_botocore_metadata() -> None:
    model = botocore.session.get_session().get_service_model("kms")
    request = model.operation_model("ReplicateKey").input_shape
    for member in ("KeyId", "ReplicaRegion", "Policy", "Description", "Tags"):
        meta = request.members[member].metadata
        got = limits("ReplicateKeyRequest", member)
        assert (got.min, got.max, got.pattern) == (meta.get("min"), meta.get("max"), meta.get("pattern"))
    tag = request.members["Tags"].member
    assert tag_key_limits().max == tag.members["TagKey"].metadata["max"]
    assert tag_value_limits().max == tag.members["TagValue"].metadata["max"]
    with pytest.raises(KeyError):
        limits("ReplicateKeyRequest", "NoSuchMember")


def test_region_pattern_uses_full_match() -> None:
    assert region_limits().accepts("us-east-1")
    assert not region_limits().accepts("us-east-1\n")
    assert not region_limits().accepts("xus-east-1 ")


# ---------------------------------------------------------------------------------------- regions


def test_kms_regions_are_botocores_and_well_formed() -> None:
    session = botocore.session.Session()
    for partition in reg.partitions():
        listed = set(session.get_available_regions("kms", partition_name=partition))
        mine = set(reg.kms_regions(partition))
        assert mine <= listed
        assert all(region_limits().accepts(r) for r in mine)
        assert all(reg.partition_of(r) == partition for r in mine)
    assert "us-east-1" in reg.kms_regions("aws")
    assert "cn-north-1" in reg.kms_regions("aws-cn")


@pytest.mark.parametrize("primary", PRIMARY_REGIONS)
def test_replica_regions_are_free_regions_of_the_same_partition(primary: str) -> None:
    same = reg.kms_regions(reg.partition_of(primary))
    exclude = {r for r in same[:1] if r != primary} if len(same) > 2 else set()

    @FAST
    @given(reg.replica_regions(primary, exclude=exclude))
    def check(region: str) -> None:
        assert region in reg.kms_regions(reg.partition_of(primary))
        assert region != primary and region not in exclude

    check()


def test_replica_regions_with_no_candidates_raise() -> None:
    with pytest.raises(ValueError, match="no free replica Region"):
        reg.replica_regions("us-east-1", candidates=["us-east-1", "cn-north-1"])
    assert reg.free_replica_regions("us-east-1", candidates=["us-west-2", "cn-north-1"]) == ("us-west-2",)


@FAST
@given(reg.malformed_regions())
def test_malformed_regions_break_the_region_shape(item: Invalid[str]) -> None:
    assert item.rule_id == "REGION-001"
    assert not region_limits().accepts(item.value)


def test_malformed_regions_include_pattern_and_length_cases() -> None:
    limit = region_limits().max
    assert limit is not None
    over = found(reg.malformed_regions(), lambda i: len(i.value) > limit and region_limits().matches(i.value))
    assert len(over.value) > limit
    short = found(reg.malformed_regions(), lambda i: 0 < len(i.value) <= limit)
    assert not region_limits().matches(short.value)


def _botocore_kms_regions() -> set[str]:
    session = botocore.session.Session()
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("kms", partition_name=partition)
    }


BOTOCORE_KMS_REGIONS = _botocore_kms_regions()


@FAST
@given(reg.nonexistent_regions())
def test_nonexistent_regions_are_well_formed_and_unknown(item: Invalid[str]) -> None:
    assert item.rule_id == "REGION-002"
    assert region_limits().accepts(item.value)
    assert item.value not in BOTOCORE_KMS_REGIONS
    assert item.value not in reg.known_regions()


def test_recorded_nonexistent_region_is_generated() -> None:
    assert found(reg.nonexistent_regions(), lambda i: i.value == "us-invalid-1").value == "us-invalid-1"


@pytest.mark.parametrize("primary", PRIMARY_REGIONS)
def test_other_partition_and_own_regions(primary: str) -> None:
    @FAST
    @given(reg.other_partition_regions(primary), reg.own_region(primary))
    def check(other: Invalid[str], own: Invalid[str]) -> None:
        assert other.rule_id == "REGION-003"
        assert region_limits().accepts(other.value)
        assert other.value in reg.all_kms_regions()
        assert reg.partition_of(other.value) != reg.partition_of(primary)
        assert (own.value, own.rule_id) == (primary, "REGION-004")

    check()
    if reg.partition_of(primary) == "aws":
        assert found(reg.other_partition_regions(primary), lambda i: i.value == "cn-north-1")


# ---------------------------------------------------------------------------------------- identifiers


def _valid_key_arn(value: str, partition: str, region: str, account: str) -> bool:
    prefix = f"arn:{partition}:kms:{region}:{account}:key/"
    return value.startswith(prefix) and ids.is_well_formed_key_id(value[len(prefix) :])


@FAST
@given(ids.uuid_key_ids(), ids.mrk_key_ids(), ids.account_ids())
def test_well_formed_key_ids(uuid_id: str, mrk_id: str, account: str) -> None:
    assert re.fullmatch(ids.UUID_KEY_ID_RE, uuid_id)
    assert re.fullmatch(ids.MRK_KEY_ID_RE, mrk_id)
    assert re.fullmatch(ids.ACCOUNT_ID_RE, account)
    for key_id in (uuid_id, mrk_id):
        assert key_id_limits().accepts(key_id)


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_key_arns_per_partition(partition: str) -> None:
    @FAST
    @given(ids.key_arns(partition, multi_region=True))
    def check(arn: str) -> None:
        parts = arn.split(":")
        assert parts[:3] == ["arn", partition, "kms"]
        assert parts[3] in reg.kms_regions(partition)
        assert re.fullmatch(ids.ACCOUNT_ID_RE, parts[4])
        assert re.fullmatch("key/" + ids.MRK_KEY_ID_RE, parts[5])
        assert key_id_limits().accepts(arn)

    check()
    assert ids.key_arn(partition, "r-x-1", "123456789012", "k") == f"arn:{partition}:kms:r-x-1:123456789012:key/k"


@FAST
@given(ids.alias_names(), ids.alias_arns("aws", REGION, ACCOUNT))
def test_alias_names_and_arns(name: str, arn: str) -> None:
    from strategies.service_model import alias_name_limits

    assert name.startswith("alias/") and not name.lower().startswith("alias/aws/")
    assert alias_name_limits().accepts(name)
    assert re.fullmatch(r"alias/[a-zA-Z0-9/_-]+", name)
    assert arn.startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/")


@FAST
@given(ids.malformed_key_ids())
def test_malformed_key_ids_are_neither_uuid_nor_mrk(item: Invalid[str]) -> None:
    assert item.rule_id == "KEYID-006"
    assert key_id_limits().length_ok(len(item.value))
    assert not ids.is_well_formed_key_id(item.value)
    assert not item.value.lower().startswith(("alias/", "arn:"))


@FAST
@given(ids.malformed_key_arns(PARTITION, REGION, ACCOUNT, KEY_ID))
def test_malformed_key_arns_are_not_valid_key_arns(item: Invalid[str]) -> None:
    assert item.rule_id == "KEYID-007"
    assert key_id_limits().length_ok(len(item.value))
    for partition in reg.partitions():
        for region in reg.kms_regions(partition):
            assert not _valid_key_arn(item.value, partition, region, ACCOUNT)
    assert "alias/" not in item.value


@FAST
@given(ids.out_of_range_key_ids())
def test_out_of_range_key_ids(item: Invalid[str]) -> None:
    assert item.rule_id == "KEYID-008"
    assert not key_id_limits().length_ok(len(item.value))


def test_out_of_range_key_ids_hit_both_ends() -> None:
    limit = key_id_limits().max
    assert limit is not None
    assert found(ids.out_of_range_key_ids(), lambda i: i.value == "").value == ""
    assert len(found(ids.out_of_range_key_ids(), lambda i: len(i.value) == limit + 1).value) == limit + 1


@FAST
@given(
    ids.foreign_region_key_arns(PARTITION, REGION, ACCOUNT, KEY_ID),
    ids.foreign_account_key_arns(PARTITION, REGION, ACCOUNT, KEY_ID),
    ids.nonexistent_key_ids(PARTITION, REGION, ACCOUNT, existing={KEY_ID}),
)
def test_key_arns_of_other_regions_accounts_and_missing_keys(
    region_arn: Invalid[str], account_arn: Invalid[str], missing: Invalid[str]
) -> None:
    region = region_arn.value.split(":")[3]
    assert region != REGION and region in reg.kms_regions(PARTITION)
    assert region_arn.value == ids.key_arn(PARTITION, region, ACCOUNT, KEY_ID)
    account = account_arn.value.split(":")[4]
    assert account != ACCOUNT and re.fullmatch(ids.ACCOUNT_ID_RE, account)
    assert account_arn.value == ids.key_arn(PARTITION, REGION, account, KEY_ID)
    bare = missing.value.rsplit("/", 1)[-1]
    assert ids.is_well_formed_key_id(bare) and bare != KEY_ID
    assert missing.value == bare or _valid_key_arn(missing.value, PARTITION, REGION, ACCOUNT)
    assert (region_arn.rule_id, account_arn.rule_id, missing.rule_id) == (
        "KEYID-003",
        "KEYID-012",
        "KEYID-009",
    )


@FAST
@given(ids.alias_key_ids(PARTITION, REGION, ACCOUNT))
def test_alias_key_ids_labels(item: Invalid[str]) -> None:
    if item.rule_id == "KEYID-004":
        assert item.value.startswith("alias/")
    else:
        assert item.rule_id == "KEYID-005"
        assert item.value.startswith(f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:alias/")


# ---------------------------------------------------------------------------------------- policies


def _structurally_valid(doc: Any) -> bool:
    if not isinstance(doc, dict) or "Statement" not in doc:
        return False
    statements = doc["Statement"]
    statements = [statements] if isinstance(statements, dict) else statements
    if not isinstance(statements, list) or not statements:
        return False
    return all(
        isinstance(s, dict)
        and s.get("Effect") in ("Allow", "Deny")
        and ("Principal" in s or "NotPrincipal" in s)
        and ("Action" in s or "NotAction" in s)
        for s in statements
    )


def policy_violations(text: str) -> set[str]:
    """Which of the policy rules POLICY-003/004/005/006/009 the text breaks."""
    limit = policy_limits()
    found_rules: set[str] = set()
    if text == "":
        return {"POLICY-009"}
    if not limit.length_ok(len(text)):
        found_rules.add("POLICY-003")
    if not limit.matches(text):
        found_rules.add("POLICY-004")
    try:
        doc = json.loads(text)
    except ValueError:
        found_rules.add("POLICY-005")
    else:
        if not _structurally_valid(doc):
            found_rules.add("POLICY-006")
    return found_rules


def _statements(text: str) -> list[dict[str, Any]]:
    statements = json.loads(text)["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _only_real_principals(text: str, root: str) -> bool:
    for statement in _statements(text):
        principal = statement["Principal"]
        if set(principal) == {"AWS"}:
            if principal["AWS"] != root:
                return False
        elif set(principal) != {"Service"} or principal["Service"] not in pol.SERVICE_PRINCIPALS:
            return False
    return True


@pytest.mark.parametrize("partition", ["aws", "aws-cn"])
def test_lockout_safe_policies(partition: str) -> None:
    root = pol.root_arn(ACCOUNT, partition)

    @FAST
    @given(pol.lockout_safe_policies(ACCOUNT, partition))
    def check(text: str) -> None:
        assert policy_violations(text) == set()
        assert len(text) <= pol.VALID_POLICY_MAX_CHARS
        doc = json.loads(text)
        assert doc["Version"] == "2012-10-17"
        assert any(
            s["Effect"] == "Allow"
            and s["Principal"] == {"AWS": root}
            and s["Action"] in ("kms:*", ["kms:*"])
            and s["Resource"] == "*"
            for s in _statements(text)
        )
        assert pol.grants_put_key_policy(text, ACCOUNT, partition)
        assert _only_real_principals(text, root)
        sids = [s["Sid"] for s in _statements(text) if "Sid" in s]
        assert len(sids) == len(set(sids))

    check()


@FAST
@given(pol.lockout_unsafe_policies(ACCOUNT, PARTITION))
def test_lockout_unsafe_policies(text: str) -> None:
    root = pol.root_arn(ACCOUNT, PARTITION)
    assert policy_violations(text) == set()
    assert not pol.grants_put_key_policy(text, ACCOUNT, PARTITION)
    assert _only_real_principals(text, root)
    for statement in _statements(text):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a in ("*", "kms:*") or a.lower().startswith("kms:p") for a in actions)
    # the account can still manage (and delete) the key
    assert any(set(pol.MANAGEMENT_ACTIONS) <= set(s["Action"]) for s in _statements(text))


def test_grants_put_key_policy_judges_hand_made_policies() -> None:
    root = pol.root_arn(ACCOUNT)

    def doc(*statements: dict[str, Any]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})

    allow = {"Effect": "Allow", "Resource": "*"}
    assert pol.grants_put_key_policy(doc({**allow, "Principal": {"AWS": root}, "Action": "kms:Put*"}), ACCOUNT)
    assert pol.grants_put_key_policy(doc({**allow, "Principal": "*", "Action": "*"}), ACCOUNT)
    assert pol.grants_put_key_policy(doc({**allow, "Principal": {"AWS": ACCOUNT}, "NotAction": "kms:Sign"}), ACCOUNT)
    assert not pol.grants_put_key_policy(
        doc({**allow, "Principal": {"AWS": root}, "NotAction": "kms:PutKeyPolicy"}), ACCOUNT
    )
    assert not pol.grants_put_key_policy(
        doc({"Effect": "Deny", "Resource": "*", "Principal": {"AWS": root}, "Action": "kms:*"}), ACCOUNT
    )
    assert not pol.grants_put_key_policy(
        doc({**allow, "Principal": {"Service": "logs.amazonaws.com"}, "Action": "kms:*"}), ACCOUNT
    )


@FAST
@given(pol.invalid_policies(ACCOUNT, PARTITION))
def test_invalid_policies_break_exactly_their_rule(item: Invalid[str]) -> None:
    broken = policy_violations(item.value)
    if item.rule_id == "POLICY-004" and "POLICY-005" in broken:
        # a raw C0 control character is also invalid JSON; the label names the character rule
        assert broken == {"POLICY-004", "POLICY-005"}
        assert any(ord(c) < 0x20 and c not in "\t\n\r" for c in item.value)
    else:
        assert broken == {item.rule_id}


@FAST
@given(pol.unsafe_policies_without_bypass(ACCOUNT, PARTITION))
def test_unsafe_policies_without_bypass_are_otherwise_valid(item: Invalid[str]) -> None:
    assert item.rule_id == "POLICY-007"
    assert policy_violations(item.value) == set()
    assert not pol.grants_put_key_policy(item.value, ACCOUNT, PARTITION)


def test_every_policy_rule_and_both_character_kinds_occur() -> None:
    labels = pol.invalid_policies(ACCOUNT, PARTITION).map(lambda i: i.rule_id)  # no 128 kB reprs
    for rule_id in ("POLICY-003", "POLICY-004", "POLICY-005", "POLICY-006", "POLICY-009"):
        assert found(labels, lambda r, want=rule_id: r == want) == rule_id
    wrong = pol.wrong_character_policies(ACCOUNT, PARTITION)
    found(wrong, lambda i: any(ord(c) > 0xFF for c in i.value))
    found(wrong, lambda i: any(ord(c) < 0x20 and c not in "\t\n\r" for c in i.value))
    limit = policy_limits().max
    assert limit is not None
    sizes = pol.oversized_policies(ACCOUNT).map(lambda i: len(i.value))
    assert found(sizes, lambda n: n == limit + 1) == limit + 1


# ---------------------------------------------------------------------------------------- tags

_TAG_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo", "Nd", "Zs"}


def _allowed_tag_text(text: str) -> bool:
    return all(unicodedata.category(c) in _TAG_CATEGORIES or c in "_.:/=+-@" for c in text)


def tag_violations(tags: list[dict[str, str]]) -> set[str]:
    """Which of TAGS-002..006 a tag list breaks."""
    out: set[str] = set()
    if any(not tag_key_limits().length_ok(len(t["TagKey"])) for t in tags):
        out.add("TAGS-002")
    if any(not tag_value_limits().length_ok(len(t["TagValue"])) for t in tags):
        out.add("TAGS-003")
    if len(tags) > tag_mod.MAX_TAGS:
        out.add("TAGS-004")
    if any(t["TagKey"].lower().startswith("aws:") for t in tags):
        out.add("TAGS-005")
    keys = [t["TagKey"] for t in tags]
    if len(keys) != len(set(keys)):
        out.add("TAGS-006")
    return out


@FAST
@given(tag_mod.tag_lists())
def test_valid_tag_lists(tags: list[dict[str, str]]) -> None:
    assert tag_violations(tags) == set()
    assert len({t["TagKey"].casefold() for t in tags}) == len(tags)
    for tag in tags:
        assert set(tag) == {"TagKey", "TagValue"}
        assert _allowed_tag_text(tag["TagKey"]) and _allowed_tag_text(tag["TagValue"])
        assert tag["TagKey"] == tag["TagKey"].strip() and tag["TagValue"] == tag["TagValue"].strip()
        assert unicodedata.is_normalized("NFC", tag["TagKey"] + tag["TagValue"])


@FAST
@given(tag_mod.invalid_tag_lists())
def test_invalid_tag_lists_break_exactly_their_rule(item: Invalid[list[dict[str, str]]]) -> None:
    assert tag_violations(item.value) == {item.rule_id}


def test_tag_boundaries_occur() -> None:
    key_max, value_max = tag_key_limits().max, tag_value_limits().max
    assert key_max is not None and value_max is not None

    def has(pred: Callable[[dict[str, str]], bool]) -> Callable[[list[dict[str, str]]], bool]:
        return lambda tags: any(pred(t) for t in tags)

    found(tag_mod.tag_lists(), has(lambda t: len(t["TagKey"]) == key_max))
    found(tag_mod.tag_lists(), has(lambda t: len(t["TagKey"]) == 1))
    found(tag_mod.tag_lists(), has(lambda t: t["TagValue"] == ""))
    found(tag_mod.tag_lists(), has(lambda t: len(t["TagValue"]) == value_max))
    found(tag_mod.tag_lists(), has(lambda t: any(ord(c) > 0x7F and c.isalpha() for c in t["TagKey"])))
    assert len(found(tag_mod.tag_lists(), lambda tags: len(tags) == tag_mod.MAX_TAGS)) == tag_mod.MAX_TAGS
    assert found(tag_mod.tag_lists(), lambda tags: tags == []) == []
    bad_keys = tag_mod.bad_key_length_tag_lists()
    found(bad_keys, lambda i: any(len(t["TagKey"]) == key_max + 1 for t in i.value))
    found(bad_keys, lambda i: any(t["TagKey"] == "" for t in i.value))
    found(
        tag_mod.overlong_value_tag_lists(),
        lambda i: any(len(t["TagValue"]) == value_max + 1 for t in i.value),
    )
    found(tag_mod.too_many_tag_lists(), lambda i: len(i.value) == tag_mod.MAX_TAGS + 1)
    found(tag_mod.reserved_prefix_tag_lists(), lambda i: any(t["TagKey"].startswith("AwS:") for t in i.value))


# ---------------------------------------------------------------------------------------- descriptions


@FAST
@given(desc_mod.valid_descriptions(), desc_mod.invalid_descriptions())
def test_descriptions(valid: str, invalid: Invalid[str]) -> None:
    assert description_limits().accepts(valid)
    assert not any(unicodedata.category(c) in ("Cc", "Cs") for c in valid)
    assert invalid.rule_id == "DESC-003"
    assert not description_limits().length_ok(len(invalid.value))


def test_description_boundaries_occur() -> None:
    limit = description_limits().max
    assert limit is not None
    assert found(desc_mod.valid_descriptions(), lambda d: d == "") == ""
    assert len(found(desc_mod.valid_descriptions(), lambda d: len(d) == limit)) == limit
    assert len(found(desc_mod.overlong_descriptions(), lambda i: len(i.value) == limit + 1).value) == limit + 1


# ---------------------------------------------------------------------------------------- keys


def test_key_spec_table_covers_botocores_enums() -> None:
    model = botocore.session.get_session().get_service_model("kms")
    specs = set(model.shape_for("KeySpec").enum)
    # Every spec the table generates exists; a spec a newer botocore adds is reported, not generated
    # (its valid usages must be read from AWS's documentation before the table lists it).
    assert set(keys_mod.KEY_SPEC_USAGES) <= specs
    unknown = specs - set(keys_mod.KEY_SPEC_USAGES)
    if unknown:
        warnings.warn(f"key specs botocore knows and the strategies do not generate: {sorted(unknown)}", stacklevel=1)
    usages = set(model.shape_for("KeyUsageType").enum)
    assert all(set(u) <= usages and u for u in keys_mod.KEY_SPEC_USAGES.values())
    assert set(keys_mod.MULTI_REGION_ORIGINS) <= set(model.shape_for("OriginType").enum)


def test_documented_combinations() -> None:
    combos = set(keys_mod.valid_combinations("aws"))
    kc = keys_mod.KeyCombination
    assert kc("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "EXTERNAL") in combos
    assert kc("RSA_4096", "SIGN_VERIFY", "AWS_KMS") in combos
    assert kc("ECC_NIST_P384", "KEY_AGREEMENT", "AWS_KMS") in combos
    assert kc("HMAC_512", "GENERATE_VERIFY_MAC", "AWS_KMS") in combos
    assert not any(c.key_spec == "ECC_SECG_P256K1" and c.key_usage != "SIGN_VERIFY" for c in combos)
    assert not any(c.key_spec.startswith("HMAC") and c.key_usage != "GENERATE_VERIFY_MAC" for c in combos)
    assert not any(c.key_spec == "SM2" for c in combos)
    assert any(c.key_spec == "SM2" for c in keys_mod.valid_combinations("aws-cn"))
    assert {c.origin for c in combos} == {"AWS_KMS", "EXTERNAL"}


@pytest.mark.parametrize("region", ["us-east-1", "cn-north-1"])
def test_primary_key_params(region: str) -> None:
    allowed = set(keys_mod.valid_combinations(reg.partition_of(region)))

    @FAST
    @given(keys_mod.primary_key_params(region=region, with_description=True, with_tags=True))
    def check(params: dict[str, Any]) -> None:
        assert params["MultiRegion"] is True
        assert keys_mod.KeyCombination(params["KeySpec"], params["KeyUsage"], params["Origin"]) in allowed
        if "Tags" in params:
            assert tag_violations(params["Tags"]) == set()
        if "Description" in params:
            assert description_limits().accepts(params["Description"])

    check()
    with pytest.raises(ValueError):
        keys_mod.primary_key_params(partition="aws", region="cn-north-1")


def test_every_combination_is_drawn() -> None:
    combos = keys_mod.valid_combinations("aws")
    strategy = keys_mod.primary_key_params("aws")
    for combo in combos:
        found(strategy, lambda p, c=combo: (p["KeySpec"], p["KeyUsage"], p["Origin"]) == tuple(c))


# ---------------------------------------------------------------------------------------- public surface


def test_public_surface_exports_exist() -> None:
    for name in strategies.__all__:
        assert hasattr(strategies, name), name
    source = Path(strategies.__file__).parent
    for path in source.glob("*.py"):
        assert "st.shared" not in path.read_text(encoding="utf-8"), f"{path.name} uses st.shared"
