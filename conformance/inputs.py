"""Inputs for the state machine: the ``strategies`` package, adapted to what the machine knows.

Layer: state machine (imports strategies and model). Strategies that need run-time facts
(the account, the caller's Region, the key ID) are drawn inside rules with ``st.data()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import strategies as st

from strategies.descriptions import invalid_descriptions
from strategies.descriptions import valid_descriptions as _descriptions
from strategies.identifiers import invalid_key_ids
from strategies.keys import primary_key_params as _primary_key_params
from strategies.labels import Invalid
from strategies.policies import (
    invalid_policies,
    lockout_safe_policies,
    lockout_unsafe_policies,
    unsafe_policies_without_bypass,
)
from strategies.regions import invalid_replica_regions
from strategies.tags import invalid_tag_lists
from strategies.tags import tag_lists as _tag_lists

# (rule ID, KeyMetadata field) pairs that every related key shares with its primary.
SHARED_FIELDS: tuple[tuple[str, str], ...] = (
    ("SHARED-002", "KeySpec"),
    ("SHARED-003", "KeyUsage"),
    ("SHARED-004", "Origin"),
    ("SHARED-005", "EncryptionAlgorithms"),
    ("SHARED-006", "SigningAlgorithms"),
    ("SHARED-007", "MacAlgorithms"),
    ("SHARED-008", "KeyAgreementAlgorithms"),
    ("SHARED-014", "CustomerMasterKeySpec"),
)

# Key specs whose cryptography the machine exercises across Regions; others are still created and
# described (shared properties, configuration), never used for Encrypt/Sign/MAC.
MACHINE_KEY_SPECS = ("SYMMETRIC_DEFAULT", "RSA_2048", "ECC_NIST_P256", "HMAC_256")


def primary_key_params() -> st.SearchStrategy[dict[str, Any]]:
    """CreateKey parameters for a primary; the description and tags show they are never copied."""
    return _primary_key_params("aws", key_specs=MACHINE_KEY_SPECS, with_description=True, with_tags=True).map(
        _machine_params
    )


def _machine_params(params: dict[str, Any]) -> dict[str, Any]:
    # The machine imports only symmetric key material (asymmetric import needs a private key in DER).
    out = {k: v for k, v in params.items() if k != "MultiRegion"}
    if out.get("Origin") == "EXTERNAL" and out.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        out["Origin"] = "AWS_KMS"
    return out


def descriptions() -> st.SearchStrategy[str]:
    return _descriptions()


def tag_lists(min_size: int = 0, max_size: int = 50) -> st.SearchStrategy[list[dict[str, str]]]:
    return _tag_lists(min_size=min_size, max_size=max_size)


def encryption_contexts() -> st.SearchStrategy[dict[str, str]]:
    text = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1, max_size=8)
    return st.dictionaries(text, text, max_size=2)


# The account is learnt at run time; policy strategies are built for this placeholder, then substituted.
PLACEHOLDER_ACCOUNT = "000011112222"


def safe_policies() -> st.SearchStrategy[str]:
    return lockout_safe_policies(PLACEHOLDER_ACCOUNT, "aws").map(_templated)


def _templated(policy: str) -> str:
    return policy.replace(PLACEHOLDER_ACCOUNT, "{account}").replace("arn:aws:", "arn:{partition}:")


def fill(policy: str, account: str, partition: str) -> str:
    return policy.replace("{account}", account).replace("{partition}", partition)


@st.composite
def valid_replicate_extras(draw: st.DrawFn) -> dict[str, Any]:
    """Optional ReplicateKey parameters, each present or absent: Description, Tags, Policy, bypass."""
    extras: dict[str, Any] = {}
    if draw(st.booleans()):
        extras["Description"] = draw(descriptions())
    if draw(st.booleans()):
        extras["Tags"] = draw(tag_lists(max_size=50))
    policy_kind = draw(st.sampled_from(["none", "none", "safe", "unsafe-bypassed"]))
    if policy_kind == "safe":
        extras["Policy"] = draw(safe_policies())
        if draw(st.booleans()):
            extras["BypassPolicyLockoutSafetyCheck"] = draw(st.booleans())
    elif policy_kind == "unsafe-bypassed":
        extras["Policy"] = draw(lockout_unsafe_policies(PLACEHOLDER_ACCOUNT, "aws").map(_templated))
        extras["BypassPolicyLockoutSafetyCheck"] = True
    return extras


@dataclass(frozen=True)
class BadInput:
    """One invalid ReplicateKey parameter, labelled with the rule it must trigger.

    ``template`` may hold ``{account}``, ``{partition}``, ``{key_id}`` and ``{region}`` placeholders,
    filled in with the run's facts when the step runs (strategies are built before they are known).
    """

    field: str
    template: Any
    rule_id: str
    why: str
    bypass: bool | None = None

    def resolve(self, world: Any, caller: str, key_id: str) -> dict[str, Any]:
        def sub(value: Any) -> Any:
            if isinstance(value, str):
                return (
                    value.replace(PLACEHOLDER_ACCOUNT, world.account_id or PLACEHOLDER_ACCOUNT)
                    .replace(PLACEHOLDER_KEY_ID, key_id)
                    .replace(f":kms:{PLACEHOLDER_REGION}:", f":kms:{caller}:")
                )
            if isinstance(value, list):
                return [sub(v) for v in value]
            if isinstance(value, dict):
                return {k: sub(v) for k, v in value.items()}
            return value

        value = sub(self.template)
        if self.field == "ReplicaRegion" and self.rule_id == "REGION-004":
            value = caller
        out: dict[str, Any] = {self.field: value}
        if self.bypass is not None:
            out["BypassPolicyLockoutSafetyCheck"] = self.bypass
        return out

    def __repr__(self) -> str:
        shown = (
            self.template
            if not isinstance(self.template, str) or len(self.template) < 80
            else (f"{self.template[:40]!r}...({len(self.template)} chars)")
        )
        return f"BadInput({self.field}={shown!r}, rule={self.rule_id})"


PLACEHOLDER_KEY_ID = "mrk-0000000000000000000000000000aaaa"
PLACEHOLDER_REGION = "us-east-1"


def _bad(field: str, bypass: bool | None = None) -> Any:
    def wrap(inv: Invalid[Any]) -> BadInput:
        return BadInput(field, inv.value, inv.rule_id, inv.why, bypass)

    return wrap


INVALID_GROUPS = ("KeyId", "ReplicaRegion", "Policy", "Tags", "Description")


@cache
def invalid_replicate_input(group: str | None = None) -> st.SearchStrategy[BadInput]:
    """Every kind of invalid ReplicateKey input (of one parameter, when ``group`` names it)."""
    acct, part, region = PLACEHOLDER_ACCOUNT, "aws", PLACEHOLDER_REGION
    key_ids = invalid_key_ids(part, region, acct, key_id=PLACEHOLDER_KEY_ID).map(_bad("KeyId"))
    regions = invalid_replica_regions(region).map(_bad("ReplicaRegion"))
    policies = st.one_of(
        invalid_policies(acct, part).map(_bad("Policy")),
        unsafe_policies_without_bypass(acct, part).map(_bad("Policy", bypass=False)),
    )
    tags = invalid_tag_lists().map(_bad("Tags"))
    descriptions = invalid_descriptions().map(_bad("Description"))
    groups = {"KeyId": key_ids, "ReplicaRegion": regions, "Policy": policies, "Tags": tags, "Description": descriptions}
    return groups[group] if group else st.one_of(*groups.values())


def wrap_key_material(public_key_der: bytes, material: bytes) -> bytes:
    """Wrap key material for ImportKeyMaterial with RSAES_OAEP_SHA_256 (the KMS import procedure)."""
    public_key = serialization.load_der_public_key(public_key_der)
    assert isinstance(public_key, rsa.RSAPublicKey)
    return public_key.encrypt(
        material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
