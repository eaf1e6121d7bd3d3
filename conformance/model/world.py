"""The oracle: a pure-Python model of the KMS keys one test case created, per Region.

Layer: model. No I/O, no boto3. For each call the model predicts which rules apply
(``Expectation``); after each call the machine tells the model what happened (``apply_*``),
or that the outcome is unknown, in which case the model keeps every possibility.
Uncertain key states are sets (``KeyRecord.states``) that later observations narrow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.model.limits import matches_shape, partition_of, partition_regions, shape_limits
from conformance.model.policy import PolicyVerdict, classify_policy, default_key_policy

CREATING, ENABLED, DISABLED = "Creating", "Enabled", "Disabled"
PENDING_DELETION, PENDING_REPLICA_DELETION = "PendingDeletion", "PendingReplicaDeletion"
PENDING_IMPORT, UPDATING = "PendingImport", "Updating"
DELETION_STATES = frozenset({PENDING_DELETION, PENDING_REPLICA_DELETION})
USABLE_STATES = frozenset({ENABLED})

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_KEY_ID_RE = re.compile(rf"(?:mrk-[0-9a-f]{{32}}|{_UUID})", re.IGNORECASE)
_ARN_RE = re.compile(r"arn:(?P<partition>[a-z-]+):kms:(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.*)")


@dataclass
class KeyRecord:
    key_id: str
    region: str
    arn: str
    account_id: str
    multi_region: bool
    key_spec: str
    key_usage: str
    origin: str
    states: set[str]
    description: str
    policy: str | None  # None: the default key policy
    tags: dict[str, str]
    role: str | None = None  # PRIMARY / REPLICA for multi-Region keys
    has_material: bool = True
    # Something was done to this key whose outcome is unknown: its independent properties may differ.
    uncertain: bool = False

    @property
    def state(self) -> str | None:
        return next(iter(self.states)) if len(self.states) == 1 else None


@dataclass
class Family:
    """Related multi-Region keys: one primary and its replicas, sharing a key ID."""

    key_id: str
    primary_region: str
    regions: list[str]
    rotation_enabled: bool = False
    rotation_uncertain: bool = False


@dataclass(frozen=True)
class Expectation:
    """What a correct AWS may answer: an error under one of ``errors``'s rules, or success if allowed.

    ``errors`` maps each applicable error rule ID to the model's reason. Where several apply, AWS
    documents no order of checks, so any of their codes is accepted. ``extra_codes`` are codes
    allowed for inputs AWS could judge either way (no rule is credited or blamed for them).
    """

    errors: Mapping[str, str] = field(default_factory=dict)
    success_allowed: bool = True
    extra_codes: frozenset[str] = frozenset()
    why_success: str = ""

    @property
    def must_fail(self) -> bool:
        return bool(self.errors) and not self.success_allowed


def is_well_formed_key_id(value: str) -> bool:
    return _KEY_ID_RE.fullmatch(value) is not None


@dataclass
class World:
    """All keys the current test case created, as the documentation says they must be."""

    partition: str
    account_id: str | None = None
    keys: dict[tuple[str, str], KeyRecord] = field(default_factory=dict)
    families: dict[str, Family] = field(default_factory=dict)
    aliases: dict[tuple[str, str], str] = field(default_factory=dict)

    # ---------- lookups ----------
    def key(self, region: str, key_id: str) -> KeyRecord | None:
        return self.keys.get((region, key_id))

    def family(self, key_id: str) -> Family | None:
        return self.families.get(key_id)

    def members(self, family: Family) -> list[KeyRecord]:
        return [self.keys[(r, family.key_id)] for r in family.regions if (r, family.key_id) in self.keys]

    def replicas(self, family: Family) -> list[KeyRecord]:
        return [k for k in self.members(family) if k.region != family.primary_region]

    def arn(self, region: str, key_id: str) -> str:
        return f"arn:{self.partition}:kms:{region}:{self.account_id}:key/{key_id}"

    def _plausible_key_id(self, value: str) -> bool:
        """Well-formed, or the ID of a key this target made (some emulators use other ID formats)."""
        return is_well_formed_key_id(value) or any(key_id == value for _, key_id in self.keys)

    # ---------- KeyId resolution (shared by every operation taking a KeyId) ----------
    def resolve_key_id(
        self, caller_region: str, key_id: Any, *, aliases_allowed: bool
    ) -> tuple[KeyRecord | None, dict[str, str]]:
        """The key a KeyId names in the caller's Region, or the KEYID rules it breaks."""
        if not isinstance(key_id, str):
            return None, {"KEYID-008": "KeyId is not a string"}
        lim = shape_limits("KeyIdType")
        if len(key_id) < lim.min_length or (lim.max_length is not None and len(key_id) > lim.max_length):
            return None, {"KEYID-008": f"KeyId length {len(key_id)} outside {lim.min_length}..{lim.max_length}"}
        alias_name: str | None = None
        if key_id.startswith("alias/"):
            if not aliases_allowed:
                return None, {"KEYID-004": "KeyId is an alias name"}
            alias_name = key_id
        match = _ARN_RE.fullmatch(key_id) if key_id.startswith("arn:") else None
        if key_id.startswith("arn:"):
            if match is None:
                return None, {"KEYID-007": "KeyId is a malformed ARN"}
            resource = match["resource"]
            if resource.startswith("alias/"):
                if not aliases_allowed:
                    return None, {"KEYID-005": "KeyId is an alias ARN"}
                alias_name = resource
            elif not resource.startswith("key/") or not self._plausible_key_id(resource[4:]):
                return None, {"KEYID-007": "ARN resource is not key/<key id>"}
            if match["partition"] != self.partition or not re.fullmatch(r"\d{12}", match["account"]):
                return None, {"KEYID-007": "ARN partition or account is malformed"}
            if match["region"] != caller_region:
                why = f"ARN names Region {match['region']!r}, caller is in {caller_region}"
                if match["region"] in partition_regions().get(self.partition, frozenset()):
                    return None, {"KEYID-003": why}
                # Not a Region of this partition: a malformed ARN, or just another Region; AWS may say either.
                return None, {"KEYID-007": why, "KEYID-003": why}
            if self.account_id is not None and match["account"] != self.account_id:
                return None, {"KEYID-012": "ARN names another account"}
            if alias_name is None:
                key_id = resource[4:]
        if alias_name is not None:
            target = self.aliases.get((caller_region, alias_name))
            if target is None:
                return None, {"ALIAS-002": f"alias {alias_name} does not exist in {caller_region}"}
            key_id = target
        elif not key_id.startswith("arn:") and not self._plausible_key_id(key_id):
            return None, {"KEYID-006": "KeyId is neither a key ID nor a key ARN"}
        record = self.key(caller_region, key_id)
        if record is None:
            return None, {"KEYID-009": f"no key {key_id} in {caller_region}"}
        return record, {}

    # ---------- ReplicateKey ----------
    def predict_replicate(self, caller_region: str, params: Mapping[str, Any]) -> Expectation:
        errors: dict[str, str] = {}
        extra: set[str] = set()
        record, key_errors = self.resolve_key_id(caller_region, params.get("KeyId"), aliases_allowed=False)
        errors.update(key_errors)
        family: Family | None = None
        state_errors: dict[str, str] = {}
        replicable = True
        if record is not None:
            if not record.multi_region:
                errors["KEYID-010"] = "KeyId names a single-Region key"
            elif record.role == "REPLICA":
                errors["KEYID-011"] = "KeyId names a replica key"
            else:
                family = self.families[record.key_id]
            state_errors = replicate_state_errors(record.states)
            # With an uncertain state (after an unknown outcome) either answer may be right.
            replicable = bool(record.states - {DISABLED, PENDING_IMPORT} - DELETION_STATES)
        region = params.get("ReplicaRegion")
        errors.update(self._region_errors(caller_region, region, family))
        if "Policy" in params:
            errors_p, extra_p = self._policy_errors(
                params["Policy"], bool(params.get("BypassPolicyLockoutSafetyCheck"))
            )
            errors.update(errors_p)
            extra |= extra_p
        if "Tags" in params:
            errors_t, extra_t = tag_errors(params["Tags"])
            errors.update(errors_t)
            extra |= extra_t
        if "Description" in params:
            errors.update(description_errors(params["Description"]))
        success_allowed = not errors and (not state_errors or replicable)
        errors.update(state_errors)
        return Expectation(errors=errors, success_allowed=success_allowed, extra_codes=frozenset(extra))

    def _region_errors(self, caller_region: str, region: Any, family: Family | None) -> dict[str, str]:
        if not isinstance(region, str) or not matches_shape("RegionType", region):
            return {"REGION-001": f"ReplicaRegion {region!r} does not match the service model's RegionType"}
        region_partition = partition_of(region)
        if region_partition is None:
            return {"REGION-002": f"{region} is not a KMS Region"}
        if region_partition != partition_of(caller_region):
            return {"REGION-003": f"{region} is in partition {region_partition}, the primary in {self.partition}"}
        if family is None:
            return {}
        if region == family.primary_region:
            return {"REGION-004": f"{region} holds the primary"}
        existing = self.key(region, family.key_id)
        if existing is not None:
            if existing.states & DELETION_STATES:
                return {"REGION-006": f"{region} holds a replica pending deletion"}
            return {"REGION-005": f"{region} already holds a replica"}
        return {}

    def _policy_errors(self, policy: Any, bypass: bool) -> tuple[dict[str, str], set[str]]:
        if not isinstance(policy, str):
            return {"POLICY-006": "Policy is not a string"}, set()
        verdict = classify_policy(policy, self.account_id or "000000000000", self.partition)
        reasons = {
            PolicyVerdict.EMPTY: ("POLICY-009", "Policy is empty"),
            PolicyVerdict.TOO_LONG_MODEL: ("POLICY-003", f"Policy is {len(policy)} characters"),
            PolicyVerdict.TOO_LONG_QUOTA: ("POLICY-003", f"Policy is {len(policy.encode())} bytes, over 32 KB"),
            PolicyVerdict.BAD_CHARACTERS: ("POLICY-004", "Policy has characters outside the allowed set"),
            PolicyVerdict.NOT_JSON: ("POLICY-005", "Policy is not JSON"),
            PolicyVerdict.NOT_A_POLICY: ("POLICY-006", "Policy is JSON but not a key policy"),
        }
        if verdict in reasons:
            rule, why = reasons[verdict]
            return {rule: why}, set()
        if verdict is PolicyVerdict.UNSAFE and not bypass:
            return {"POLICY-007": "Policy would lock the account out and the safety check is not bypassed"}, set()
        if verdict is PolicyVerdict.AMBIGUOUS:
            return {}, {"MalformedPolicyDocumentException"}
        return {}, set()

    def apply_replicate(self, caller_region: str, params: Mapping[str, Any]) -> KeyRecord:
        """Record a successful ReplicateKey; the new replica is Creating or already final."""
        record, _ = self.resolve_key_id(caller_region, params["KeyId"], aliases_allowed=False)
        assert record is not None
        family = self.families[record.key_id]
        region = params["ReplicaRegion"]
        final = PENDING_IMPORT if record.origin == "EXTERNAL" else ENABLED
        replica = KeyRecord(
            key_id=record.key_id,
            region=region,
            arn=self.arn(region, record.key_id),
            account_id=record.account_id,
            multi_region=True,
            key_spec=record.key_spec,
            key_usage=record.key_usage,
            origin=record.origin,
            states={CREATING, final},
            description=params.get("Description", ""),
            policy=params.get("Policy"),
            tags={t["TagKey"]: t["TagValue"] for t in params.get("Tags", [])},
            role="REPLICA",
            has_material=record.origin != "EXTERNAL",
        )
        self.keys[(region, record.key_id)] = replica
        family.regions.append(region)
        return replica

    # ---------- CreateKey ----------
    def apply_create(self, region: str, metadata: Mapping[str, Any], params: Mapping[str, Any]) -> KeyRecord:
        if not self.account_id:
            # AWSAccountId, or else the account field of the key ARN (some emulators omit the former).
            arn_parts = str(metadata.get("Arn", "")).split(":")
            self.account_id = str(metadata.get("AWSAccountId") or (arn_parts[4] if len(arn_parts) > 4 else ""))
        key_id = str(metadata["KeyId"])
        multi = bool(params.get("MultiRegion"))
        origin = params.get("Origin", "AWS_KMS")
        record = KeyRecord(
            key_id=key_id,
            region=region,
            arn=self.arn(region, key_id),
            account_id=self.account_id,
            multi_region=multi,
            key_spec=params.get("KeySpec", "SYMMETRIC_DEFAULT"),
            key_usage=params.get("KeyUsage", "ENCRYPT_DECRYPT"),
            origin=origin,
            states={PENDING_IMPORT if origin == "EXTERNAL" else ENABLED},
            description=params.get("Description", ""),
            policy=params.get("Policy"),
            tags={t["TagKey"]: t["TagValue"] for t in params.get("Tags", [])},
            role="PRIMARY" if multi else None,
            has_material=origin != "EXTERNAL",
        )
        self.keys[(region, key_id)] = record
        if multi:
            self.families[key_id] = Family(key_id=key_id, primary_region=region, regions=[region])
        return record

    # ---------- what every related key must show ----------
    def expected_configuration(self, record: KeyRecord) -> dict[str, Any] | None:
        """The MultiRegionConfiguration DescribeKey must return for this key."""
        if not record.multi_region:
            return None
        family = self.families[record.key_id]
        return {
            "MultiRegionKeyType": "PRIMARY" if record.region == family.primary_region else "REPLICA",
            "PrimaryKey": {"Arn": self.arn(family.primary_region, family.key_id), "Region": family.primary_region},
            "ReplicaKeys": sorted(
                (self.arn(r, family.key_id), r) for r in family.regions if r != family.primary_region
            ),
        }

    def default_policy(self) -> dict[str, Any]:
        return default_key_policy(self.account_id or "", self.partition)

    # ---------- simple transitions ----------
    def observe_state(self, record: KeyRecord, state: str) -> bool:
        """Narrow a key's possible states to an observed one; False if the model did not allow it."""
        allowed = state in record.states
        record.states = {state}
        return allowed

    def schedule_deletion_state(self, record: KeyRecord) -> str:
        if record.multi_region and record.region == self.families[record.key_id].primary_region:
            family = self.families[record.key_id]
            if len(family.regions) > 1:
                return PENDING_REPLICA_DELETION
        return PENDING_DELETION

    def update_primary(self, family: Family, new_region: str) -> None:
        old = family.primary_region
        family.primary_region = new_region
        self.keys[(old, family.key_id)].role = "REPLICA"
        self.keys[(new_region, family.key_id)].role = "PRIMARY"


def tag_errors(tags: Any) -> tuple[dict[str, str], set[str]]:
    """The TAGS rules a tag list breaks, and codes allowed for tags AWS could judge either way."""
    if not isinstance(tags, Sequence) or isinstance(tags, (str, bytes)):
        return {"TAGS-002": "Tags is not a list"}, set()
    errors: dict[str, str] = {}
    extra: set[str] = set()
    key_limits, value_limits = shape_limits("TagKeyType"), shape_limits("TagValueType")
    if len(tags) > 50:
        errors["TAGS-004"] = f"{len(tags)} tags, more than 50"
    seen: set[str] = set()
    for tag in tags:
        key, value = str(tag.get("TagKey", "")), str(tag.get("TagValue", ""))
        if len(key) < key_limits.min_length or (key_limits.max_length and len(key) > key_limits.max_length):
            errors["TAGS-002"] = f"tag key of {len(key)} characters"
        if value_limits.max_length is not None and len(value) > value_limits.max_length:
            errors["TAGS-003"] = f"tag value of {len(value)} characters"
        if key.lower().startswith("aws:"):
            errors["TAGS-005"] = f"tag key {key[:10]!r} uses the reserved aws: prefix"
        if key in seen:
            errors["TAGS-006"] = f"tag key {key[:20]!r} given twice"
        seen.add(key)
        # AWS documents letters, numbers, spaces and _.:/=+-@ for tags; anything else it may reject.
        if not re.fullmatch(r"[\w\s.:/=+\-@]*", key + value):
            extra |= {"TagException", "ValidationException"}
    return errors, extra


def description_errors(description: Any) -> dict[str, str]:
    lim = shape_limits("DescriptionType")
    if not isinstance(description, str):
        return {"DESC-003": "Description is not a string"}
    if lim.max_length is not None and len(description) > lim.max_length:
        return {"DESC-003": f"Description of {len(description)} characters, over {lim.max_length}"}
    return {}


def same_partition_regions(region: str) -> frozenset[str]:
    partition = partition_of(region)
    return partition_regions().get(partition or "", frozenset())


def replicate_state_errors(states: set[str]) -> dict[str, str]:
    """LIFE rules for each state in which a primary may not be replicated."""
    out: dict[str, str] = {}
    if DISABLED in states:
        out["LIFE-004"] = "the primary is Disabled"
    if states & DELETION_STATES:
        out["LIFE-005"] = "the primary is pending deletion"
    if PENDING_IMPORT in states:
        out["LIFE-006"] = "the primary is pending import"
    return out
