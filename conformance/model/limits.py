"""Shape limits and Regions, read from botocore's own data (never a hand-kept copy)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import botocore.session


@dataclass(frozen=True)
class ShapeLimits:
    min_length: int
    max_length: int | None
    pattern: str | None


@cache
def _service_model():  # type: ignore[no-untyped-def]
    return botocore.session.get_session().get_service_model("kms")


@cache
def shape_limits(shape_name: str) -> ShapeLimits:
    meta = _service_model().shape_for(shape_name).metadata
    pattern = meta.get("pattern")
    if pattern is not None:
        # The service model anchors some patterns and not others; the model applies them to the whole value.
        pattern = pattern.removeprefix("^").removesuffix("$")
    return ShapeLimits(int(meta.get("min", 0)), meta.get("max"), pattern)


def matches_shape(shape_name: str, value: str) -> bool:
    lim = shape_limits(shape_name)
    if len(value) < lim.min_length or (lim.max_length is not None and len(value) > lim.max_length):
        return False
    return not lim.pattern or re.fullmatch(lim.pattern, value) is not None


@cache
def partition_regions() -> dict[str, frozenset[str]]:
    """Every KMS Region of every partition, from botocore's endpoint data."""
    session = botocore.session.get_session()
    return {
        p: frozenset(session.get_available_regions("kms", partition_name=p)) for p in session.get_available_partitions()
    }


def partition_of(region: str) -> str | None:
    for partition, regions in partition_regions().items():
        if region in regions:
            return partition
    return None
