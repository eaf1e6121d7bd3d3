"""Shape limits read from botocore's loaded KMS service model.

Limits are never copied into code: a newer botocore that changes a limit changes the strategies with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import botocore.session
from botocore.model import ServiceModel, Shape

__all__ = [
    "ShapeLimits",
    "alias_name_limits",
    "description_limits",
    "enum_values",
    "key_id_limits",
    "kms_model",
    "limits",
    "policy_limits",
    "region_limits",
    "shape_limits",
    "tag_key_limits",
    "tag_list_limits",
    "tag_value_limits",
]


@dataclass(frozen=True)
class ShapeLimits:
    """min/max/pattern of one shape, as the service model states them (None where it states nothing)."""

    shape: str
    min: int | None
    max: int | None
    pattern: str | None

    def matches(self, value: str) -> bool:
        """True if ``value`` fully matches the pattern (or there is no pattern)."""
        return self.pattern is None or _compiled(self.pattern).fullmatch(value) is not None

    def length_ok(self, size: int) -> bool:
        """True if ``size`` lies inside [min, max] (open ends where the model gives none)."""
        return (self.min is None or size >= self.min) and (self.max is None or size <= self.max)

    def accepts(self, value: str) -> bool:
        """Length and pattern both hold."""
        return self.length_ok(len(value)) and self.matches(value)


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@cache
def kms_model() -> ServiceModel:
    """The KMS service model botocore loads (cached: loading it is slow)."""
    return botocore.session.get_session().get_service_model("kms")


def _of(shape: Shape) -> ShapeLimits:
    meta = shape.metadata
    return ShapeLimits(shape.name, meta.get("min"), meta.get("max"), meta.get("pattern"))


@cache
def shape_limits(shape_name: str) -> ShapeLimits:
    """Limits of a named shape, e.g. ``shape_limits("RegionType")``."""
    return _of(kms_model().shape_for(shape_name))


@cache
def limits(container: str, member: str) -> ShapeLimits:
    """Limits of ``member`` of structure ``container``, e.g. ``limits("ReplicateKeyRequest", "Tags")``.

    ``container`` may also be a list shape's member structure, e.g. ``limits("Tag", "TagKey")``.
    """
    shape = kms_model().shape_for(container)
    members = getattr(shape, "members", None)
    if members is None or member not in members:
        raise KeyError(f"{container} has no member {member!r}")
    return _of(members[member])


def enum_values(shape_name: str) -> tuple[str, ...]:
    """Enum values of a string shape, in model order (e.g. ``KeySpec``)."""
    return tuple(getattr(kms_model().shape_for(shape_name), "enum", ()))


def key_id_limits() -> ShapeLimits:
    return limits("ReplicateKeyRequest", "KeyId")


def region_limits() -> ShapeLimits:
    return limits("ReplicateKeyRequest", "ReplicaRegion")


def policy_limits() -> ShapeLimits:
    return limits("ReplicateKeyRequest", "Policy")


def description_limits() -> ShapeLimits:
    return limits("ReplicateKeyRequest", "Description")


def tag_list_limits() -> ShapeLimits:
    """The model gives TagList no size limit; the 50-tag quota comes from the docs (see tags.MAX_TAGS)."""
    return limits("ReplicateKeyRequest", "Tags")


def tag_key_limits() -> ShapeLimits:
    return limits("Tag", "TagKey")


def tag_value_limits() -> ShapeLimits:
    return limits("Tag", "TagValue")


def alias_name_limits() -> ShapeLimits:
    return limits("CreateAliasRequest", "AliasName")
