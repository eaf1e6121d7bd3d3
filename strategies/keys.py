"""CreateKey parameters for multi-Region primary keys: every valid KeySpec / KeyUsage / Origin combination.

The combination table is data (``KEY_SPEC_USAGES``, ``EXTERNAL_KEY_USAGES``), checked against botocore's
enums: a spec botocore lists but the table lacks is never generated and makes the unit tests fail, so a new
spec is noticed. Sources: CreateKey ``KeyUsage`` docs and the KMS "Key spec reference"; multi-Region keys
cannot live in custom key stores (CreateKey ``MultiRegion`` docs), so Origin is AWS_KMS or EXTERNAL.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from hypothesis import strategies as st

from strategies.descriptions import valid_descriptions
from strategies.regions import partition_of
from strategies.service_model import enum_values
from strategies.tags import tag_lists

__all__ = [
    "CHINA_ONLY_KEY_SPECS",
    "EXTERNAL_KEY_USAGES",
    "EXTERNAL_UNVERIFIED_KEY_SPECS",
    "KEY_SPEC_USAGES",
    "MULTI_REGION_ORIGINS",
    "KeyCombination",
    "primary_key_params",
    "valid_combinations",
]

_RSA = ("ENCRYPT_DECRYPT", "SIGN_VERIFY")
_NIST = ("SIGN_VERIFY", "KEY_AGREEMENT")

_TABLE: dict[str, tuple[str, ...]] = {
    "SYMMETRIC_DEFAULT": ("ENCRYPT_DECRYPT",),
    "RSA_2048": _RSA,
    "RSA_3072": _RSA,
    "RSA_4096": _RSA,
    "ECC_NIST_P256": _NIST,
    "ECC_NIST_P384": _NIST,
    "ECC_NIST_P521": _NIST,
    "ECC_SECG_P256K1": ("SIGN_VERIFY",),
    "ECC_NIST_EDWARDS25519": ("SIGN_VERIFY",),
    "HMAC_224": ("GENERATE_VERIFY_MAC",),
    "HMAC_256": ("GENERATE_VERIFY_MAC",),
    "HMAC_384": ("GENERATE_VERIFY_MAC",),
    "HMAC_512": ("GENERATE_VERIFY_MAC",),
    "SM2": ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"),
    "ML_DSA_44": ("SIGN_VERIFY",),
    "ML_DSA_65": ("SIGN_VERIFY",),
    "ML_DSA_87": ("SIGN_VERIFY",),
}

#: KeySpec -> valid KeyUsages, restricted to the specs and usages botocore's model lists.
KEY_SPEC_USAGES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        spec: tuple(u for u in usages if u in enum_values("KeyUsageType"))
        for spec, usages in _TABLE.items()
        if spec in enum_values("KeySpec")
    }
)

#: Origins a multi-Region key may have (no custom key stores).
MULTI_REGION_ORIGINS: tuple[str, ...] = ("AWS_KMS", "EXTERNAL")

#: Usages for which EXTERNAL (imported material) is documented: GetParametersForImport names symmetric
#: encryption, HMAC, asymmetric encryption and asymmetric signing keys, and "a multi-Region key of any
#: supported type".
EXTERNAL_KEY_USAGES: frozenset[str] = frozenset({"ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC"})

#: Newer specs for which importing material was not confirmed in the docs: generated with AWS_KMS only.
EXTERNAL_UNVERIFIED_KEY_SPECS: frozenset[str] = frozenset(
    {"ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519"}
)

#: Specs offered only in the China partition.
CHINA_ONLY_KEY_SPECS: frozenset[str] = frozenset({"SM2"})
_CHINA_PARTITIONS = frozenset({"aws-cn"})


class KeyCombination(NamedTuple):
    key_spec: str
    key_usage: str
    origin: str


def valid_combinations(
    partition: str = "aws",
    *,
    key_specs: Collection[str] | None = None,
    origins: Collection[str] = MULTI_REGION_ORIGINS,
) -> tuple[KeyCombination, ...]:
    """Every (KeySpec, KeyUsage, Origin) valid for a multi-Region primary in ``partition``, maybe narrowed."""
    out = []
    for spec, usages in KEY_SPEC_USAGES.items():
        if key_specs is not None and spec not in key_specs:
            continue
        if spec in CHINA_ONLY_KEY_SPECS and partition not in _CHINA_PARTITIONS:
            continue
        for usage in usages:
            for origin in MULTI_REGION_ORIGINS:
                if origin not in origins:
                    continue
                if origin == "EXTERNAL" and (
                    usage not in EXTERNAL_KEY_USAGES or spec in EXTERNAL_UNVERIFIED_KEY_SPECS
                ):
                    continue
                out.append(KeyCombination(spec, usage, origin))
    return tuple(out)


def primary_key_params(
    partition: str | None = None,
    region: str | None = None,
    *,
    key_specs: Collection[str] | None = None,
    origins: Collection[str] = MULTI_REGION_ORIGINS,
    with_description: bool = False,
    with_tags: bool = False,
) -> st.SearchStrategy[dict[str, Any]]:
    """CreateKey keyword arguments for a multi-Region primary: KeySpec, KeyUsage, Origin, MultiRegion=True,
    plus (when asked) an optional Description and Tags, to show they are not copied to replicas.

    The partition is ``region``'s when a Region is given (default ``aws``).
    """
    if region is not None:
        derived = partition_of(region)
        if partition is not None and partition != derived:
            raise ValueError(f"Region {region} is in partition {derived}, not {partition}")
        partition = derived
    combos = valid_combinations(partition or "aws", key_specs=key_specs, origins=origins)
    if not combos:
        raise ValueError("no valid KeySpec/KeyUsage/Origin combination for these filters")

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        combo = draw(st.sampled_from(combos))
        params: dict[str, Any] = {
            "KeySpec": combo.key_spec,
            "KeyUsage": combo.key_usage,
            "Origin": combo.origin,
            "MultiRegion": True,
        }
        if with_description and draw(st.booleans()):
            params["Description"] = draw(valid_descriptions())
        if with_tags and draw(st.booleans()):
            params["Tags"] = draw(tag_lists(max_size=5))
        return params

    return build()
