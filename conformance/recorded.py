"""The example-based tier: replay cases recorded on real AWS against a target.

Layer: state machine (uses catalogue, checks, model, targets). Each recorded case in
``conformance/data/aws_recordings.json`` that a target can reproduce has a small scenario here that
builds the recorded situation with real calls (every call goes through ``Target.call``), makes the
recorded call and compares the answer with what AWS answered. Error codes are compared against the
catalogue's accepted codes (an exact match with AWS is reported as data, never required); successes
are compared by shape and by their stable values after normalising identifiers, accounts, dates and
Regions. A setup step that fails is never blamed on the case's rules: the setup is not under test.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conformance.checks import Checker, render
from conformance.model.world import Expectation
from conformance.targets import Observation, TargetConfig

__all__ = ["CaseResult", "RecordedCase", "TargetLike", "case_region_map", "recorded_cases", "replay_case"]


class TargetLike(Protocol):
    """What the replay needs of a target: its config and a ``call`` that never raises."""

    config: TargetConfig

    def call(self, region: str, operation: str, params: Mapping[str, Any]) -> Observation: ...


@dataclass(frozen=True)
class RecordedCase:
    """One observation of real AWS, with where it comes from and the rules it is evidence for."""

    id: str
    source: str
    operation: str
    region: str
    rules: tuple[str, ...]
    outcome: str  # "success" or the recorded error code
    message: str | None
    request: Mapping[str, Any]
    response: Mapping[str, Any] | None
    setup: str
    licence: str
    provenance: str  # repository@commit and files


@dataclass(frozen=True)
class CaseResult:
    """What one replay did. ``outcome`` is the observed error code, "success", or why there is no answer."""

    case_id: str
    outcome: str
    exact_code: bool | None = None  # error cases: observed code == recorded code
    message_match: bool | None = None  # error cases: messages equal after normalisation
    skipped: str = ""  # why the case was not replayed (config) or stopped (setup)
    differences: tuple[str, ...] = ()  # success cases: comparisons that did not match


# ----------------------------------------------------------------------------------------- data
@cache
def _raw_recordings() -> dict[str, Any]:
    text = resources.files("conformance").joinpath("data/aws_recordings.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _all_cases() -> dict[str, RecordedCase]:
    raw = _raw_recordings()
    sources = raw.get("sources", {})
    out: dict[str, RecordedCase] = {}
    for c in raw["cases"]:
        src = sources.get(c["source"], {})
        provenance = f"{src.get('repository', '?')}@{src.get('commit', '?')}: {', '.join(src.get('files', []))}"
        out[c["id"]] = RecordedCase(
            id=c["id"],
            source=c["source"],
            operation=c["operation"],
            region=c["region"],
            rules=tuple(c["rules"]),
            outcome="success" if c["outcome"] == "success" else c["outcome"],
            message=c.get("message"),
            request=c.get("request") or {},
            response=c.get("response"),
            setup=c.get("setup", ""),
            licence=str(src.get("licence", "")),
            provenance=provenance,
        )
    return out


def recorded_cases() -> tuple[RecordedCase, ...]:
    """The recorded cases this tier has a scenario for, in file order."""
    return tuple(case for case_id, case in _all_cases().items() if case_id in _SCENARIOS)


def unreplayed_cases() -> dict[str, str]:
    """Recorded cases without a scenario, with the reason (for the report)."""
    return {case_id: _NOT_REPLAYED.get(case_id, "no scenario") for case_id in _all_cases() if case_id not in _SCENARIOS}


# ----------------------------------------------------------------------------------------- setup errors
class _SetupUnsupported(Exception):
    def __init__(self, operation: str) -> None:
        super().__init__(operation)
        self.operation = operation


class _SetupFailed(Exception):
    pass


# ----------------------------------------------------------------------------------------- scenario plumbing
@dataclass
class _Final:
    """The recorded call as the scenario built it."""

    region: str
    params: dict[str, Any]
    plaintext: bytes | None = None  # Decrypt: what must come back
    rotation_either: bool = False  # GetKeyRotationStatus on a PendingReplicaDeletion primary


@dataclass
class _Ctx:
    """One scenario run: the target, the recorded-to-config Region map and the keys it made."""

    target: TargetLike
    case: RecordedCase
    regions: dict[str, str]  # symbol (P, R0, R1, literal Region) -> config Region
    prefix: str
    key_ids: set[str] = field(default_factory=set)
    aliases: dict[str, str] = field(default_factory=dict)  # created alias -> recorded alias
    materials: dict[str, bytes] = field(default_factory=dict)

    @property
    def config(self) -> TargetConfig:
        return self.target.config

    def r(self, symbol: str) -> str:
        return self.regions[symbol]

    # -- calls
    def setup(self, symbol: str, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        region = self.r(symbol)
        obs = self.target.call(region, operation, params)
        if obs.kind == "ok":
            return obs.response
        if obs.kind == "unsupported":
            raise _SetupUnsupported(operation)
        raise _SetupFailed(f"{operation} in {region}: {obs.describe()[:300]}")

    def create_key(self, symbol: str = "P", **params: Any) -> dict[str, Any]:
        md = self.setup(symbol, "CreateKey", params).get("KeyMetadata") or {}
        key_id = md.get("KeyId")
        if not isinstance(key_id, str) or not key_id:
            raise _SetupFailed("CreateKey returned no KeyId")
        self.key_ids.add(key_id)
        return md

    def family(
        self,
        *replicas: str,
        description: str = "",
        tags: Iterable[tuple[str, str]] = (),
        rotation: bool = False,
        external: bool = False,
        wait: bool = True,
    ) -> str:
        """A multi-Region primary in P (optionally EXTERNAL with material), replicated to ``replicas``."""
        params: dict[str, Any] = {"MultiRegion": True}
        if description:
            params["Description"] = description
        if tags:
            params["Tags"] = [{"TagKey": k, "TagValue": v} for k, v in tags]
        if external:
            params["Origin"] = "EXTERNAL"
        key_id: str = self.create_key("P", **params)["KeyId"]
        if external:
            self.import_material("P", key_id, self.material(key_id))
        if rotation:
            self.setup("P", "EnableKeyRotation", {"KeyId": key_id, "RotationPeriodInDays": 90})
        for symbol in replicas:
            self.replicate(key_id, symbol)
        if wait:
            for symbol in replicas:
                self.settle(symbol, key_id)
        return key_id

    def replicate(self, key_id: str, symbol: str) -> dict[str, Any]:
        return self.setup("P", "ReplicateKey", {"KeyId": key_id, "ReplicaRegion": self.r(symbol)})

    def material(self, key_id: str, name: str = "primary") -> bytes:
        return self.materials.setdefault(f"{key_id}/{name}", secrets.token_bytes(32))

    def import_params(self, symbol: str, key_id: str, material: bytes, **extra: Any) -> dict[str, Any]:
        """GetParametersForImport, then the ImportKeyMaterial request wrapping ``material``."""
        got = self.setup(
            symbol,
            "GetParametersForImport",
            {"KeyId": key_id, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"},
        )
        try:
            public = serialization.load_der_public_key(got["PublicKey"])
            assert isinstance(public, rsa.RSAPublicKey)
            wrapped = public.encrypt(material, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
        except Exception as exc:  # a bad wrapping key is a setup failure, not the case's
            raise _SetupFailed(f"GetParametersForImport returned an unusable PublicKey: {exc}") from None
        return {
            "KeyId": key_id,
            "ImportToken": got["ImportToken"],
            "EncryptedKeyMaterial": wrapped,
            "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
            # Not sent: lets a replay script wrap the same material for its own target's wrapping key.
            "_material": material,
            **extra,
        }

    def import_material(self, symbol: str, key_id: str, material: bytes) -> None:
        self.setup(symbol, "ImportKeyMaterial", self.import_params(symbol, key_id, material))

    def settle(self, symbol: str, key_id: str, required: bool = True) -> str:
        """Poll DescribeKey until the key leaves Creating/Updating (bounded by the config; no fixed sleep)."""
        deadline = time.monotonic() + self.config.creating_timeout
        state = "?"
        while True:
            obs = self.target.call(self.r(symbol), "DescribeKey", {"KeyId": key_id})
            if obs.kind == "unsupported":
                raise _SetupUnsupported("DescribeKey")
            if obs.kind == "ok":
                state = str((obs.response.get("KeyMetadata") or {}).get("KeyState", "?"))
                if state not in ("Creating", "Updating"):
                    return state
            if time.monotonic() >= deadline:
                if required:
                    raise _SetupFailed(
                        f"{key_id} in {self.r(symbol)} still {state} after {self.config.creating_timeout} s"
                    )
                return state
            time.sleep(self.config.poll_interval)

    def schedule(self, symbol: str, key_id: str) -> None:
        self.setup(symbol, "ScheduleKeyDeletion", {"KeyId": key_id, "PendingWindowInDays": 7})

    def alias(self, symbol: str, key_id: str, recorded: str) -> str:
        name = f"alias/{self.prefix}-{secrets.token_hex(6)}"
        self.setup(symbol, "CreateAlias", {"AliasName": name, "TargetKeyId": key_id})
        self.aliases[name] = recorded
        return name

    def encrypt(self, symbol: str, key_id: str, plaintext: bytes) -> bytes:
        blob = self.setup(symbol, "Encrypt", {"KeyId": key_id, "Plaintext": plaintext}).get("CiphertextBlob")
        if not isinstance(blob, bytes):
            raise _SetupFailed("Encrypt returned no CiphertextBlob")
        return blob

    def arn(self, symbol: str, key_id: str) -> str:
        region = self.r(symbol)
        md = self.setup(symbol, "DescribeKey", {"KeyId": key_id}).get("KeyMetadata") or {}
        arn = md.get("Arn")
        if not isinstance(arn, str):
            raise _SetupFailed(f"DescribeKey in {region} returned no Arn")
        return arn


Scenario = Callable[[_Ctx], _Final]


@dataclass(frozen=True)
class _Spec:
    scenario: Scenario
    regions: Mapping[str, str]  # recorded Region name -> symbol
    needs: Callable[[TargetConfig], str] | None = None  # returns a skip reason, or ""


_SCENARIOS: dict[str, _Spec] = {}

# Recorded cases deliberately not replayed.
_NOT_REPLAYED = {
    "imr_primary_expiry_poll": "its only rule SHARED-013 is INFO and checked=false",
    "replica_after_primary_expiry": "needs the primary's imported material to expire (a real-time wait)",
}

MR = {"us-east-1": "P", "us-west-2": "R0", "ap-east-1": "R1"}  # stackd multi_region: primary us-east-1
MR_DEL = {"us-west-2": "P", "us-east-1": "R0", "ap-east-1": "R1"}  # after promotion: primary us-west-2
LS = {"<region>": "P", "<secondary-region>": "R0", "ap-southeast-1": "R0"}
MR_DESC = "stackd multi-Region primary"
MR_TAGS = (("location", "primary"),)


def _aws_partition(cfg: TargetConfig) -> str:
    from conformance.model.limits import partition_of

    part = partition_of(cfg.primary_region)
    return "" if part == "aws" else f"the primary Region {cfg.primary_region} is not in the aws partition"


def _opt_in(cfg: TargetConfig) -> str:
    if "ap-east-1" in cfg.replica_regions:
        return ""
    return "needs the opt-in Region ap-east-1 enabled (list it in the replica Regions)"


def _scenario(
    *case_ids: str, regions: Mapping[str, str], needs: Callable[[TargetConfig], str] | None = None
) -> Callable[[Scenario], Scenario]:
    def register(fn: Scenario) -> Scenario:
        for case_id in case_ids:
            _SCENARIOS[case_id] = _Spec(fn, regions, needs)
        return fn

    return register


def _needs_symbols(regions: Mapping[str, str]) -> Callable[[TargetConfig], str]:
    wanted = {s for s in regions.values() if re.fullmatch(r"R\d", s)}
    count = max((int(s[1:]) + 1 for s in wanted), default=0)
    return lambda cfg: "" if len(cfg.replica_regions) >= count else f"needs {count} replica Regions"


def _resolve_regions(spec: _Spec, cfg: TargetConfig) -> dict[str, str]:
    out: dict[str, str] = {}
    for symbol in set(spec.regions.values()) | {"P", "R0"}:
        if symbol == "P":
            out[symbol] = cfg.primary_region
        elif re.fullmatch(r"R\d", symbol):
            index = int(symbol[1:])
            if index < len(cfg.replica_regions):
                out[symbol] = cfg.replica_regions[index]
        else:
            out[symbol] = symbol  # a literal Region (cn-north-1, ap-east-1)
    return out


def case_region_map(case_id: str, config: TargetConfig) -> dict[str, str]:
    """Recorded Region name -> the config's Region used for it in this case's scenario."""
    spec = _SCENARIOS[case_id]
    symbols = _resolve_regions(spec, config)
    return {name: symbols[s] for name, s in spec.regions.items() if s in symbols}


# ----------------------------------------------------------------------------------------- ReplicateKey cases
@_scenario("replicate_region_us-east-1", regions={"us-east-1": "P"})
def _replicate_own_region(ctx: _Ctx) -> _Final:
    key_id = ctx.family()
    return _Final(ctx.r("P"), {"KeyId": key_id, "ReplicaRegion": ctx.r("P")})


@_scenario("replicate_region_cn-north-1", regions={"us-east-1": "P"}, needs=_aws_partition)
def _replicate_other_partition(ctx: _Ctx) -> _Final:
    return _Final(ctx.r("P"), {"KeyId": ctx.family(), "ReplicaRegion": "cn-north-1"})


@_scenario("replicate_region_us-invalid-1", regions={"us-east-1": "P"}, needs=_aws_partition)
def _replicate_invalid_region(ctx: _Ctx) -> _Final:
    return _Final(ctx.r("P"), {"KeyId": ctx.family(), "ReplicaRegion": "us-invalid-1"})


@_scenario("replicate_region_ap-east-1", regions={"us-east-1": "P", "ap-east-1": "ap-east-1"}, needs=_opt_in)
def _replicate_opt_in(ctx: _Ctx) -> _Final:
    key_id = ctx.family(description=MR_DESC, tags=MR_TAGS)
    return _Final(ctx.r("P"), {"KeyId": key_id, "ReplicaRegion": "ap-east-1"})


@_scenario("replicate_west", regions=MR)
def _replicate_west(ctx: _Ctx) -> _Final:
    key_id = ctx.family("R1", description=MR_DESC, tags=MR_TAGS, rotation=True, wait=False)
    return _Final(ctx.r("P"), {"KeyId": key_id, "ReplicaRegion": ctx.r("R0")})


@_scenario("replicate_existing", "replicate_disabled_primary", regions={"us-east-1": "P", "us-west-2": "R0"})
def _replicate_occupied(ctx: _Ctx) -> _Final:
    disabled = ctx.case.id == "replicate_disabled_primary"
    key_id = ctx.family("R0", wait=not disabled)
    if disabled:
        ctx.setup("P", "DisableKey", {"KeyId": key_id})
    return _Final(ctx.r("P"), {"KeyId": key_id, "ReplicaRegion": ctx.r("R0")})


@_scenario("replicate_deleting_replica", regions={"us-west-2": "P", "us-east-1": "R0"})
def _replicate_deleting(ctx: _Ctx) -> _Final:
    key_id = ctx.family("R0")
    ctx.schedule("R0", key_id)
    return _Final(ctx.r("P"), {"KeyId": key_id, "ReplicaRegion": ctx.r("R0")})


@_scenario("replicate_replica", regions={"us-east-1": "P", "us-west-2": "R0", "us-east-2": "R1"})
def _replicate_replica(ctx: _Ctx) -> _Final:
    key_id = ctx.family("R0")
    return _Final(ctx.r("R0"), {"KeyId": key_id, "ReplicaRegion": ctx.r("R1")})


@_scenario("test_replicate_replica_key_should_fail/fail-replicate-non-primary-key", regions=LS)
def _replicate_creating_replica(ctx: _Ctx) -> _Final:
    key_id = ctx.family("R0", wait=False)
    return _Final(ctx.r("R0"), {"KeyId": key_id, "ReplicaRegion": ctx.r("R0")})


@_scenario("alias_replicate-key", regions={"us-east-1": "P", "us-west-2": "R0"})
def _replicate_alias(ctx: _Ctx) -> _Final:
    key_id = ctx.family()
    name = ctx.alias("P", key_id, "alias/stackd-mrk-probe")
    return _Final(ctx.r("P"), {"KeyId": name, "ReplicaRegion": ctx.r("R0")})


@_scenario("replicate_pending_import", regions={"us-east-1": "P", "us-west-2": "R0"})
def _replicate_pending_import(ctx: _Ctx) -> _Final:
    key_id: str = ctx.create_key("P", MultiRegion=True, Origin="EXTERNAL")["KeyId"]
    return _Final(ctx.r("P"), {"KeyId": key_id, "ReplicaRegion": ctx.r("R0")})


@_scenario("replicate_imported_primary", "replicate", regions={"us-east-1": "P", "us-west-2": "R0"})
def _replicate_imported(ctx: _Ctx) -> _Final:
    key_id = ctx.family(external=True)
    return _Final(ctx.r("P"), {"KeyId": key_id, "ReplicaRegion": ctx.r("R0")})


@_scenario("test_replicate_key/replicate-key", regions=LS)
def _replicate_ls(ctx: _Ctx) -> _Final:
    key_id = ctx.family(description="test replicated key")
    return _Final(ctx.r("P"), {"KeyId": key_id, "ReplicaRegion": ctx.r("R0")})


# ----------------------------------------------------------------------------------------- KeyId resolution
@_scenario("test_replicate_key/describe-key-from-different-region", regions=LS)
def _describe_other_region(ctx: _Ctx) -> _Final:
    key_id = ctx.family(description="test replicated key")
    return _Final(ctx.r("R0"), {"KeyId": key_id})


@_scenario("test_get_key_in_different_region/describe-key-diff-region-with-arn", regions=LS)
def _describe_foreign_arn(ctx: _Ctx) -> _Final:
    arn = ctx.create_key("R0").get("Arn")
    if not isinstance(arn, str):
        raise _SetupFailed("CreateKey returned no Arn")
    return _Final(ctx.r("P"), {"KeyId": arn})


@_scenario("test_replicate_key/describe-key-from-region", regions=LS)
def _describe_primary_after_replicate(ctx: _Ctx) -> _Final:
    key_id = ctx.family("R0", description="test replicated key", wait=False)
    return _Final(ctx.r("P"), {"KeyId": key_id})


@_scenario("test_replicate_key/describe-replicated-key", regions=LS)
def _describe_replica_polled(ctx: _Ctx) -> _Final:
    key_id = ctx.family("R0", description="test replicated key", wait=False)
    ctx.settle("R0", key_id, required=False)  # leaving Creating is what LIFE-001/LIFE-009 test
    return _Final(ctx.r("R0"), {"KeyId": key_id})


@_scenario(
    "create_single_region_key",
    "test_get_key_does_not_exist/describe-key-with-valid-id-mrk",
    "test_get_key_invalid_uuid/describe-key-with-invalid-uuid",
    "test_get_key_invalid_uuid/describe-key-with-invalid-uuid-2",
    "test_get_key_invalid_uuid/describe-key-with-invalid-uuid-mrk",
    "create_key_too_many_tags",
    "create_key_aws_prefix_lower",
    "create_key_aws_prefix_upper",
    "create_key_tag_key_too_long",
    "create_key_tag_value_too_long",
    regions=LS,
)
def _no_setup(ctx: _Ctx) -> _Final:
    request = _concrete_request(ctx.case.request)
    return _Final(ctx.r("P"), request)


@_scenario(
    "test_tag_key_with_duplicate_tag_keys_raises_error/duplicate-tag-keys",
    "tag_resource_aws_prefix",
    regions=LS,
)
def _tag_single_region(ctx: _Ctx) -> _Final:
    key_id = ctx.create_key("P")["KeyId"]
    return _Final(ctx.r("P"), {**ctx.case.request, "KeyId": key_id})


def _concrete_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """Expand the recording's abbreviations of long values into the values AWS was sent."""
    out = dict(request)
    tags = out.get("Tags")
    if isinstance(tags, str) and "51 tags" in tags:
        out["Tags"] = [{"TagKey": f"key{i}", "TagValue": f"value{i}"} for i in range(51)]
    elif isinstance(tags, list):
        expanded = []
        for tag in tags:
            tag = dict(tag)
            for member, letter in (("TagKey", "a"), ("TagValue", "v")):
                m = re.fullmatch(rf"<(\d+) x '{letter}'>", str(tag.get(member, "")))
                if m:
                    tag[member] = letter * int(m.group(1))
            expanded.append(tag)
        out["Tags"] = expanded
    return out


# ----------------------------------------------------------------------------------------- the MR family
@_scenario(
    "primary_after_replicate",
    "replica_initial",
    "replica_initial_rotation",
    "replica_ready_poll",
    "replica_policy",
    "replica_tags",
    "replica_rotation",
    "replica_enable-key-rotation",
    "replica_disable-key-rotation",
    "replica_rotate-key-on-demand",
    regions=MR,
)
def _mr_family(ctx: _Ctx) -> _Final:
    case = ctx.case
    early = case.id in ("primary_after_replicate", "replica_initial", "replica_initial_rotation")
    key_id = ctx.family("R1", "R0", description=MR_DESC, tags=MR_TAGS, rotation=True, wait=False)
    if not early:
        ctx.settle("R0", key_id, required=case.id != "replica_ready_poll")
    params: dict[str, Any] = {"KeyId": key_id}
    if case.operation == "GetKeyPolicy":
        params["PolicyName"] = "default"
    symbol = "P" if case.region == "us-east-1" else "R0"
    return _Final(ctx.r(symbol), params)


@_scenario(
    "decrypt_replica_implicit",
    "decrypt_replica_replica_arn",
    "decrypt_replica_primary_arn",
    "decrypt_replica_primary_disabled",
    "replica_decrypt_old_material",
    regions={"us-east-1": "P", "us-west-2": "R0"},
)
def _decrypt_in_replica(ctx: _Ctx) -> _Final:
    case = ctx.case
    key_id = ctx.family()
    plaintext = secrets.token_bytes(24)
    blob = ctx.encrypt("P", key_id, plaintext)
    ctx.replicate(key_id, "R0")
    ctx.settle("R0", key_id)
    params: dict[str, Any] = {"CiphertextBlob": blob}
    if case.id == "decrypt_replica_replica_arn":
        params["KeyId"] = ctx.arn("R0", key_id)
    elif case.id == "decrypt_replica_primary_arn":
        params["KeyId"] = ctx.arn("P", key_id)
    elif case.id == "decrypt_replica_primary_disabled":
        ctx.setup("P", "DisableKey", {"KeyId": key_id})
    elif case.id == "replica_decrypt_old_material":
        ctx.setup("P", "RotateKeyOnDemand", {"KeyId": key_id})
    return _Final(ctx.r("R0"), params, plaintext=plaintext)


@_scenario("replica_rotation_history", regions={"us-east-1": "P", "us-west-2": "R0"})
def _rotation_history(ctx: _Ctx) -> _Final:
    key_id = ctx.family("R0")
    ctx.setup("P", "RotateKeyOnDemand", {"KeyId": key_id})
    return _Final(ctx.r("R0"), {"KeyId": key_id})


# ------------------------------------------------------------------------------------- UpdatePrimaryRegion
@_scenario("update_primary_missing", regions={**MR, "<region without a replica>": "R2"})
@_scenario(
    "alias_update-primary-region",
    "update_primary_same",
    "update_from_replica",
    "promote_replica",
    "former_primary_updating",
    "new_primary_updating",
    "former_primary_final",
    regions=MR,
)
def _update_primary(ctx: _Ctx) -> _Final:
    case = ctx.case
    key_id = ctx.family("R1", "R0", description=MR_DESC)
    if case.id == "alias_update-primary-region":
        name = ctx.alias("P", key_id, "alias/stackd-mrk-probe")
        return _Final(ctx.r("P"), {"KeyId": name, "PrimaryRegion": ctx.r("R0")})
    if case.id == "update_primary_same":
        return _Final(ctx.r("P"), {"KeyId": key_id, "PrimaryRegion": ctx.r("P")})
    if case.id == "update_primary_missing":
        return _Final(ctx.r("P"), {"KeyId": key_id, "PrimaryRegion": ctx.r("R2")})
    if case.id == "update_from_replica":
        return _Final(ctx.r("R0"), {"KeyId": key_id, "PrimaryRegion": ctx.r("R0")})
    if case.id == "promote_replica":
        return _Final(ctx.r("P"), {"KeyId": key_id, "PrimaryRegion": ctx.r("R0")})
    ctx.setup("P", "UpdatePrimaryRegion", {"KeyId": key_id, "PrimaryRegion": ctx.r("R0")})
    if case.id == "former_primary_final":
        ctx.settle("P", key_id)
        ctx.settle("R0", key_id)
    return _Final(ctx.r("P" if case.region == "us-east-1" else "R0"), {"KeyId": key_id})


# ----------------------------------------------------------------------------------------- deletion
@_scenario(
    "delete_primary_with_replica",
    "primary_waiting_replicas",
    "replica_with_deleting_primary",
    "primary_after_cancel",
    "replica_schedule_delete",
    "primary_with_deleting_replica",
    "promote_deleting_replica",
    "promote_disabled_primary",
    "deleting_rotation_us-east-1",
    "deleting_rotation_us-west-2",
    "tag_deleting_us-east-1",
    "tag_deleting_us-west-2",
    regions=MR_DEL,
)
def _deletion(ctx: _Ctx) -> _Final:
    case = ctx.case
    key_id = ctx.family("R1", "R0", rotation=True)
    final_symbol = "P" if case.region == "us-west-2" else "R0"
    params: dict[str, Any] = {"KeyId": key_id}
    plaintext = None
    if case.id == "replica_with_deleting_primary":
        plaintext = secrets.token_bytes(24)
        params["CiphertextBlob"] = ctx.encrypt("P", key_id, plaintext)
        del params["KeyId"]
    if case.operation == "ScheduleKeyDeletion":
        params["PendingWindowInDays"] = 7
    elif case.id in (
        "primary_waiting_replicas",
        "replica_with_deleting_primary",
        "deleting_rotation_us-west-2",
        "tag_deleting_us-west-2",
        "primary_after_cancel",
    ):
        ctx.schedule("P", key_id)
        if case.id == "primary_after_cancel":
            ctx.setup("P", "CancelKeyDeletion", {"KeyId": key_id})
    elif case.id in (
        "primary_with_deleting_replica",
        "promote_deleting_replica",
        "deleting_rotation_us-east-1",
        "tag_deleting_us-east-1",
    ):
        ctx.schedule("R0", key_id)
    elif case.id == "promote_disabled_primary":
        ctx.setup("P", "DisableKey", {"KeyId": key_id})
    if case.operation == "UpdatePrimaryRegion":
        params["PrimaryRegion"] = ctx.r("R0")
    if case.operation == "TagResource":
        params["Tags"] = [{"TagKey": "replay", "TagValue": ctx.prefix}]
    return _Final(
        ctx.r(final_symbol),
        params,
        plaintext=plaintext,
        rotation_either=case.id == "deleting_rotation_us-west-2",
    )


# ----------------------------------------------------------------------------------------- imported material
@_scenario(
    "replica_pending_poll",
    "replica_parameters",
    "replica_wrong_first",
    "replica_first_import",
    "irr_replica_first_import",
    "irr_replica_restored_metadata",
    "irr_encrypt_pending_import",
    regions={"us-east-1": "P", "us-west-2": "R0"},
)
def _external_replica(ctx: _Ctx) -> _Final:
    case = ctx.case
    key_id = ctx.family("R0", external=True)
    params: dict[str, Any] = {"KeyId": key_id}
    if case.operation == "GetParametersForImport":
        params.update(WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    elif case.id == "replica_wrong_first":
        params = ctx.import_params("R0", key_id, ctx.material(key_id, "other"))
    elif case.id == "replica_first_import":
        params = ctx.import_params("R0", key_id, ctx.material(key_id), KeyMaterialDescription="replica first")
    elif case.id == "irr_replica_first_import":
        params = ctx.import_params("R0", key_id, ctx.material(key_id))
    elif case.id == "irr_replica_restored_metadata":
        ctx.import_material("R0", key_id, ctx.material(key_id))
    elif case.id == "irr_encrypt_pending_import":
        params["Plaintext"] = b"replay"
    return _Final(ctx.r("R0"), params)


# ----------------------------------------------------------------------------------------- normalisation
_ID_RE = re.compile(r"mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|<key-id:\d+>")
_MATERIAL_ID_RE = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_ARN_RE = re.compile(r"arn:[a-z<>-]+:kms:[a-z0-9<>-]*:\d{12}:key/[A-Za-z0-9<>:-]+")
_ARN_PREFIX_RE = re.compile(r"arn:([a-z<>-]+):(kms|iam):([a-z0-9<>-]*):(\d{12})?:")
_VOLATILE = {"<timestamp>", "<omitted>", "<key-material-id>"}
_MATERIAL_MEMBERS = {"KeyMaterialId", "CurrentKeyMaterialId"}
# Members that exist only in some key states: required only when the observed state is the recorded one.
_STATE_MEMBERS = {
    "CurrentKeyMaterialId",
    "DeletionDate",
    "PendingDeletionWindowInDays",
    "ValidTo",
    "ExpirationModel",
}
_TRANSIENT_FINAL = {"Creating": ("Enabled", "PendingImport"), "Updating": ("Enabled",)}


@dataclass(frozen=True)
class _Normaliser:
    regions: Mapping[str, str]  # config Region -> recorded name
    aliases: Mapping[str, str]
    message: bool = False  # messages also collapse whole key ARNs (LS records them as <key-arn>)
    key_ids: frozenset[str] = frozenset()  # IDs the case created, whatever their format

    def text(self, value: str) -> str:
        for alias, recorded in self.aliases.items():
            value = value.replace(alias, recorded)
        for key_id in sorted(self.key_ids, key=len, reverse=True):
            value = value.replace(key_id, "<key-id>")
        if self.message:
            value = value.replace("<mrk-key-arn>", "<key-arn>")
            value = _ARN_RE.sub("<key-arn>", value)
        value = _ID_RE.sub("<key-id>", _MATERIAL_ID_RE.sub("<key-material-id>", value))

        def arn_prefix(m: re.Match[str]) -> str:  # Regions are mapped below, in one pass
            account = "111111111111" if m.group(4) is not None else ""
            return f"arn:aws:{m.group(2)}:{m.group(3)}:{account}:"

        value = _ARN_PREFIX_RE.sub(arn_prefix, value.replace("<partition>", "aws"))
        if self.regions:
            pattern = "|".join(re.escape(r) for r in sorted(self.regions, key=len, reverse=True))
            value = re.sub(rf"(?<![\w-])({pattern})(?![\w-])", lambda m: self.regions[m.group(1)], value)
        return value

    def value(self, value: Any, member: str = "") -> Any:
        if member in _MATERIAL_MEMBERS and value is not None:
            return "<key-material-id>"
        if member == "AWSAccountId" and isinstance(value, str):
            return "111111111111"
        if isinstance(value, dict):
            return {k: self.value(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, datetime):
            return "<timestamp>"
        if isinstance(value, (bytes, bytearray)):
            return "<omitted>"
        if isinstance(value, str):
            if member in ("ReplicaPolicy", "Policy"):
                try:
                    return self.value(json.loads(value))
                except ValueError:
                    return self.text(value)
            return self.text(value)
        return value


# The recordings' own placeholders, made comparable (LocalStack's <secondary-region> was ap-southeast-1).
_RECORDED = _Normaliser({"<secondary-region>": "ap-southeast-1"}, {})
_RECORDED_MESSAGE = _Normaliser({"<secondary-region>": "ap-southeast-1"}, {}, message=True)


def _sorted_entries(entries: Any) -> Any:
    if isinstance(entries, list):
        return sorted(entries, key=lambda e: json.dumps(e, sort_keys=True))
    return entries


# ----------------------------------------------------------------------------------------- comparisons
_TOPICS: dict[str, tuple[str, ...]] = {
    "Description": ("DESC-",),
    "ReplicaPolicy": ("POLICY-",),
    "Policy": ("POLICY-",),
    "PolicyName": ("POLICY-",),
    "ReplicaTags": ("TAGS-",),
    "Tags": ("TAGS-",),
    "KeyRotationEnabled": ("ROT-", "SHARED-009"),
    "RotationPeriodInDays": ("SHARED-010",),
    "Plaintext": ("CRYPTO-", "SHARED-011", "INDEP-"),
    "KeyState": ("LIFE-", "RESP-002", "DEL-", "PRIMARY-007", "INDEP-", "IMPORT-002"),
    "MultiRegionKeyType": ("RESP-003", "MRC-001", "MRC-002", "PRIMARY-001", "PRIMARY-002"),
    "PrimaryKey": ("RESP-003", "MRC-001", "MRC-002", "PRIMARY-001", "PRIMARY-002"),
    "ReplicaKeys": ("RESP-004", "MRC-001", "MRC-003", "MRC-005", "PRIMARY-002"),
    "MultiRegion": ("RESP-003", "MRC-006", "SHARED-012"),
    "DeletionDate": ("DEL-",),
    "KeyManager": ("RESP-006",),
    "Origin": ("SHARED-004",),
    "KeySpec": ("SHARED-002",),
    "KeyUsage": ("SHARED-003",),
    "KeyId": ("RESP-001", "SHARED-001"),
    "Arn": ("RESP-001",),
}


@dataclass
class _Comparison:
    field: str  # "members" for the member-set comparison
    ok: bool
    expected: str
    observed: Any


def _topic_rules(field_name: str, rules: Iterable[str]) -> list[str]:
    prefixes = _TOPICS.get(field_name.split(".")[-1], ())
    found = [r for r in rules if any(r.startswith(p) for p in prefixes)]
    if field_name.startswith("ReplicaKeyMetadata."):
        # The ReplicateKey response itself: the RESP rules, not what DescribeKey later shows (MRC, PRIMARY).
        found = [r for r in found if not r.startswith(("MRC-", "PRIMARY-"))]
    if any(r.startswith("DEL-") for r in found):
        # A deleted or cancelled key's own state is a DEL rule; INDEP rules are about the other keys.
        found = [r for r in found if not r.startswith("INDEP-")]
    return found


def _compare_success(
    case: RecordedCase, response: Mapping[str, Any], final: _Final, norm: _Normaliser
) -> list[_Comparison]:
    recorded_raw = case.response
    if recorded_raw is None:
        return [_Comparison("members", True, "success (AWS's response was not recorded)", "success")]
    recorded = _RECORDED.value(dict(recorded_raw))
    observed = norm.value(dict(response))
    out: list[_Comparison] = []
    rotation_off = final.rotation_either and observed.get("KeyRotationEnabled") is False
    required = {k for k in recorded if not (rotation_off and k in ("RotationPeriodInDays", "NextRotationDate"))}
    missing = sorted(required - set(observed))
    out.append(_Comparison("members", not missing, f"members {sorted(required)} present", f"missing {missing}"))
    for member, want in recorded.items():
        got = observed.get(member)
        if member in ("KeyMetadata", "ReplicaKeyMetadata"):
            out.extend(_compare_metadata(member, want, got if isinstance(got, dict) else {}))
        elif member == "Plaintext":
            plain = response.get("Plaintext")
            ok = final.plaintext is None or plain == final.plaintext
            out.append(_Comparison("Plaintext", ok, "the plaintext that was encrypted", _short(plain)))
        elif member == "KeyRotationEnabled" and final.rotation_either:
            out.append(_Comparison(member, isinstance(got, bool), "true or false (PendingReplicaDeletion)", got))
        elif (member == "RotationPeriodInDays" and rotation_off) or (isinstance(want, str) and want.startswith("<")):
            continue
        else:
            out.append(_Comparison(member, _sorted_entries(got) == _sorted_entries(want), render(want), got))
    if "DeletionDate" not in recorded and case.operation == "ScheduleKeyDeletion":
        got = observed.get("DeletionDate")
        out.append(_Comparison("DeletionDate", got is None, "no DeletionDate (PendingReplicaDeletion)", got))
    if "ReplicaTags" not in recorded and case.operation == "ReplicateKey":
        got = observed.get("ReplicaTags")
        out.append(_Comparison("ReplicaTags", got in (None, []), "absent or [] (no Tags sent)", got))
    return out


def _compare_metadata(member: str, want: Mapping[str, Any], got: Mapping[str, Any]) -> list[_Comparison]:
    out: list[_Comparison] = []
    rec_state, obs_state = want.get("KeyState"), got.get("KeyState")
    accepted = (rec_state, *_TRANSIENT_FINAL.get(str(rec_state), ()))
    if rec_state == "Creating" and want.get("Origin") != "EXTERNAL":
        accepted = ("Creating", "Enabled")
    elif rec_state == "Creating":
        accepted = ("Creating", "PendingImport")
    same_state = obs_state == rec_state
    required = {k for k in want if same_state or k not in _STATE_MEMBERS}
    missing = sorted(required - set(got))
    out.append(_Comparison("members", not missing, f"{member} members {sorted(required)}", f"missing {missing}"))
    pair_ok = obs_state in accepted and got.get("Enabled") is (obs_state == "Enabled")
    out.append(
        _Comparison(
            f"{member}.KeyState",
            pair_ok,
            f"KeyState in {list(accepted)} with Enabled == (KeyState == Enabled)",
            {"KeyState": obs_state, "Enabled": got.get("Enabled")},
        )
    )
    for name, value in want.items():
        if name in ("KeyState", "Enabled", "CreationDate") or (name in _STATE_MEMBERS and not same_state):
            continue
        if isinstance(value, str) and value in _VOLATILE:
            continue
        observed = got.get(name)
        if name == "MultiRegionConfiguration" and isinstance(value, dict):
            # Member by member, so a wrong type is not blamed on a correct replica list.
            got_config = observed if isinstance(observed, dict) else {}
            for part in ("MultiRegionKeyType", "PrimaryKey", "ReplicaKeys"):
                want_part, got_part = value.get(part), got_config.get(part)
                ok = _sorted_entries(got_part) == _sorted_entries(want_part)
                out.append(_Comparison(f"{member}.MultiRegionConfiguration.{part}", ok, render(want_part), got_part))
            continue
        ok = _sorted_entries(observed) == _sorted_entries(value)
        out.append(_Comparison(f"{member}.{name}", ok, render(value), observed))
    if "MultiRegionConfiguration" not in want:
        observed = got.get("MultiRegionConfiguration")
        out.append(_Comparison(f"{member}.MultiRegionConfiguration", observed is None, "absent", observed))
    return out


def _short(value: Any) -> str:
    return f"<{len(value)} bytes>" if isinstance(value, (bytes, bytearray)) else repr(value)[:80]


def _charge(checker: Checker, case: RecordedCase, comparisons: list[_Comparison]) -> None:
    """Record each comparison against the case's rules it is evidence for (see module docstring)."""
    topical: dict[int, list[str]] = {i: _topic_rules(c.field, case.rules) for i, c in enumerate(comparisons)}
    covered = {r for rules in topical.values() for r in rules}
    for rule_id in case.rules:
        if rule_id not in covered:
            # The call succeeded where AWS's did: that is what the case's other rules are about.
            checker.passed(rule_id, case.operation)
    for i, comp in enumerate(comparisons):
        # A field no rule of the case is about (a missing member, a value of another concern) is a
        # response-shape difference: RESP-008, never the behavioural rule the case was recorded for.
        targets = topical[i] or ["RESP-008"]
        label = f"{case.id}: {comp.field}"
        for rule_id in targets:
            checker.check(
                rule_id,
                comp.ok,
                f"{comp.expected} (as recorded on AWS: {case.id})",
                comp.observed,
                evidence=label if not comp.ok else "",
                operation=case.operation,
            )


# ----------------------------------------------------------------------------------------- replay
def replay_case(case_id: str, target: TargetLike, checker: Checker, *, name_prefix: str) -> CaseResult:
    """Build the recorded situation on ``target``, make the recorded call, record verdicts in ``checker``."""
    case = _all_cases()[case_id]
    spec = _SCENARIOS.get(case_id)
    if spec is None:
        return CaseResult(case_id, "skipped", skipped=_NOT_REPLAYED.get(case_id, "no scenario"))
    cfg = target.config
    for need in (_needs_symbols(spec.regions), spec.needs):
        reason = need(cfg) if need is not None else ""
        if reason:
            return CaseResult(case_id, "skipped", skipped=reason)
    symbols = _resolve_regions(spec, cfg)
    ctx = _Ctx(target, case, symbols, name_prefix)
    try:
        final = spec.scenario(ctx)
    except _SetupUnsupported as exc:
        checker.unsupported(case.rules, exc.operation)
        return CaseResult(case_id, "unsupported", skipped=f"setup operation {exc.operation} is not implemented")
    except _SetupFailed as exc:
        checker.inconclusive(case.rules, f"setup failed: {exc}", case.operation)
        return CaseResult(case_id, "setup-failed", skipped=f"setup failed: {exc}")
    obs = target.call(final.region, case.operation, final.params)
    reverse = {actual: name for name, s in spec.regions.items() if (actual := symbols.get(s)) is not None}
    # The first recorded name wins for a config Region used under two names (LS's R0 aliases).
    reverse = {actual: _first_name(spec.regions, symbols, actual) for actual in reverse}
    if obs.kind == "ok":
        md = obs.response.get("KeyMetadata")
        if isinstance(md, dict) and isinstance(md.get("KeyId"), str):
            ctx.key_ids.add(md["KeyId"])
    observed = obs.code if obs.kind == "error" else ("success" if obs.kind == "ok" else obs.kind)
    if case.outcome == "success":
        norm = _Normaliser(reverse, ctx.aliases, key_ids=frozenset(ctx.key_ids))
        return _judge_success(case, obs, final, checker, norm, observed)
    norm = _Normaliser(reverse, ctx.aliases, message=True, key_ids=frozenset(ctx.key_ids))
    return _judge_error(case, obs, checker, norm, observed)


def _first_name(regions: Mapping[str, str], symbols: Mapping[str, str], actual: str) -> str:
    # Prefer a real Region name over a LocalStack placeholder, and the recorded request's Region.
    names = [name for name, s in regions.items() if symbols.get(s) == actual]
    real = [n for n in names if not n.startswith("<")]
    return (real or names)[0]


def _judge_success(
    case: RecordedCase, obs: Observation, final: _Final, checker: Checker, norm: _Normaliser, observed: str
) -> CaseResult:
    response = checker.outcome(Expectation(why_success=f"recorded: {case.id}"), obs, success_rules=case.rules)
    if response is None:
        return CaseResult(case.id, observed)
    comparisons = _compare_success(case, response, final, norm)
    _charge(checker, case, comparisons)
    diffs = tuple(
        f"{c.field}: expected {c.expected}; observed {render(c.observed, 200)}" for c in comparisons if not c.ok
    )
    return CaseResult(case.id, observed, differences=diffs)


def _judge_error(
    case: RecordedCase, obs: Observation, checker: Checker, norm: _Normaliser, observed: str
) -> CaseResult:
    catalogue = checker.catalogue
    error_rules = [r for r in case.rules if catalogue[r].expect == "error"]
    other_rules = [r for r in case.rules if r not in error_rules]
    accepted: set[str] = {case.outcome} if not error_rules else set()
    for rule_id in error_rules:
        accepted |= catalogue[rule_id].error_codes
    why = f"recorded: {case.id}"
    extra = frozenset(accepted) if not error_rules else frozenset()
    checker.outcome(
        Expectation(errors={r: why for r in error_rules}, success_allowed=False, extra_codes=extra),
        obs,
        success_rules=other_rules,
        blame=(),
    )
    matched = obs.kind == "error" and obs.code in accepted
    if "RESP-007" in other_rules and obs.kind in ("ok", "crash"):
        # RESP-007 is about the form of an error answer, which outcome() checks on every error.
        checker.inconclusive(["RESP-007"], f"no error answer to check: {obs.describe()[:200]}", case.operation)
    other_rules = [r for r in other_rules if r != "RESP-007"]
    if obs.kind in ("ok", "error", "crash"):
        expected = f"{' or '.join(sorted(accepted))} (as recorded on AWS: {case.id})"
        uncredited = [r for r in error_rules if obs.code not in catalogue[r].error_codes] if matched else []
        for rule_id in (*uncredited, *other_rules):
            checker.check(
                rule_id,
                matched,
                expected,
                obs.describe(),
                evidence=render(obs.params),
                operation=case.operation,
            )
    if obs.kind != "error":
        return CaseResult(case.id, observed)
    message_match = None
    if case.message is not None:
        message_match = norm.text(obs.message).strip() == _RECORDED_MESSAGE.text(case.message).strip()
    return CaseResult(case.id, observed, exact_code=obs.code == case.outcome, message_match=message_match)
