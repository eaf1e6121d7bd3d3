"""Region strategies, derived at run time from botocore's endpoint and partition data.

Nothing here lists a Region by hand: the KMS Regions of each partition come from botocore's ``endpoints.json``
(``Session.get_available_regions``), every Region botocore knows of (any service) from ``endpoints.json`` and
``partitions.json``. The Region-name rule (pattern and length) comes from the service model's ``RegionType``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import cache

import botocore.session
from hypothesis import strategies as st

from strategies.labels import Invalid, label
from strategies.service_model import region_limits

__all__ = [
    "all_kms_regions",
    "any_kms_regions",
    "free_replica_regions",
    "invalid_replica_regions",
    "kms_regions",
    "known_regions",
    "malformed_regions",
    "nonexistent_regions",
    "other_partition_regions",
    "own_region",
    "partition_of",
    "partitions",
    "replica_regions",
]


@cache
def _session() -> botocore.session.Session:
    return botocore.session.Session()


@cache
def _partition_data() -> tuple[dict[str, object], ...]:
    """botocore's partitions.json entries (id, regionRegex, regions)."""
    loader = _session().get_component("data_loader")
    return tuple(loader.load_data("partitions")["partitions"])


@cache
def _endpoint_partitions() -> tuple[dict[str, object], ...]:
    loader = _session().get_component("data_loader")
    return tuple(loader.load_data("endpoints")["partitions"])


@cache
def partitions() -> tuple[str, ...]:
    """Every partition botocore knows (aws, aws-cn, aws-us-gov, the isolated ones, ...)."""
    return tuple(_session().get_available_partitions())


@cache
def kms_regions(partition: str = "aws") -> tuple[str, ...]:
    """The KMS Regions of ``partition`` per botocore, keeping only names the service model accepts."""
    if partition not in partitions():
        raise ValueError(f"unknown partition {partition!r}; botocore knows {partitions()}")
    found = _session().get_available_regions("kms", partition_name=partition)
    return tuple(sorted(r for r in found if region_limits().accepts(r)))


@cache
def all_kms_regions() -> frozenset[str]:
    """KMS Regions of every partition."""
    return frozenset(r for p in partitions() for r in kms_regions(p))


@cache
def known_regions() -> frozenset[str]:
    """Every Region name botocore mentions anywhere (any service, any partition): the set a "nonexistent"
    Region must stay out of."""
    names: set[str] = set(all_kms_regions())
    for part in _partition_data():
        names.update(part.get("regions", {}))  # type: ignore[arg-type]
    for part in _endpoint_partitions():
        names.update(part.get("regions", {}))  # type: ignore[arg-type]
        services = part.get("services", {})
        for service in services.values():  # type: ignore[attr-defined]
            names.update(service.get("endpoints", {}))
    return frozenset(names)


@cache
def partition_of(region: str) -> str:
    """The partition a Region belongs to: by botocore's Region lists, then by each partition's regionRegex."""
    for partition in partitions():
        if region in kms_regions(partition):
            return partition
    for part in _partition_data():
        if region in part.get("regions", {}):  # type: ignore[operator]
            return str(part["id"])
    for part in _partition_data():
        regex = part.get("regionRegex")
        if isinstance(regex, str) and re.fullmatch(regex, region):
            return str(part["id"])
    raise ValueError(f"{region!r} matches no partition botocore knows")


def any_kms_regions(partition: str = "aws") -> st.SearchStrategy[str]:
    """Any KMS Region of ``partition``."""
    return st.sampled_from(kms_regions(partition))


def free_replica_regions(
    primary_region: str,
    *,
    exclude: Collection[str] = (),
    candidates: Collection[str] | None = None,
) -> tuple[str, ...]:
    """Regions a replica of a key in ``primary_region`` may go to: same partition, not the primary's Region,
    none of ``exclude`` (e.g. Regions already holding a replica); restricted to ``candidates`` when given
    (e.g. the Regions enabled for a real account, or those a test target serves)."""
    pool = [r for r in kms_regions(partition_of(primary_region)) if r != primary_region and r not in exclude]
    if candidates is not None:
        allowed = set(candidates)
        pool = [r for r in pool if r in allowed]
    return tuple(pool)


def replica_regions(
    primary_region: str,
    *,
    exclude: Collection[str] = (),
    candidates: Collection[str] | None = None,
) -> st.SearchStrategy[str]:
    """A valid ReplicaRegion (REGION-007) for a primary in ``primary_region``; see ``free_replica_regions``.

    Raises ValueError when no Region is left, so a caller cannot silently draw nothing.
    """
    pool = free_replica_regions(primary_region, exclude=exclude, candidates=candidates)
    if not pool:
        raise ValueError(f"no free replica Region left for a primary in {primary_region}")
    return st.sampled_from(pool)


# ---------------------------------------------------------------------------------------------- invalid


def _real_region_examples() -> st.SearchStrategy[str]:
    return st.sampled_from(sorted(all_kms_regions()))


def _uppercased(region: str, mask: list[bool]) -> str:
    chars = [c.upper() if flag and c.isalpha() else c for c, flag in zip(region, mask, strict=False)]
    out = "".join(chars) + region[len(chars) :]
    return out if out != region else region.upper()


@st.composite
def _pattern_violations(draw: st.DrawFn) -> str:
    """Names of legal length that the RegionType pattern rejects."""
    real = draw(_real_region_examples())
    groups = real.split("-")
    kind = draw(
        st.sampled_from(
            [
                "upper",
                "separator",
                "no-digits",
                "few-groups",
                "many-groups",
                "digit-in-word",
                "space",
                "non-ascii",
            ]
        )
    )
    if kind == "upper":
        mask = draw(st.lists(st.booleans(), min_size=len(real), max_size=len(real)))
        return _uppercased(real, mask)
    if kind == "separator":
        sep = draw(st.sampled_from(["_", ".", " ", "", "--", "/"]))
        return sep.join(groups)
    if kind == "no-digits":
        return "-".join(groups[:-1]) + draw(st.sampled_from(["", "-"]))
    if kind == "few-groups":
        return groups[0] + "-" + groups[-1]
    if kind == "many-groups":
        extra = draw(st.lists(st.from_regex(r"[a-z]{1,3}", fullmatch=True), min_size=4, max_size=5))
        return "-".join(extra) + "-" + groups[-1]
    if kind == "digit-in-word":
        word = groups[1]
        at = draw(st.integers(0, len(word) - 1))
        groups[1] = word[:at] + draw(st.sampled_from("0123456789")) + word[at + 1 :]
        return "-".join(groups)
    if kind == "space":
        ws = draw(st.sampled_from([" ", "\t", "\n"]))
        return draw(st.sampled_from([ws + real, real + ws]))
    # non-ascii: a letter outside [a-z] in one word
    letter = draw(st.sampled_from("äéøßıĸ"))
    word = groups[1]
    at = draw(st.integers(0, len(word) - 1))
    groups[1] = word[:at] + letter + word[at + 1 :]
    return "-".join(groups)


@st.composite
def _overlong_region_names(draw: st.DrawFn) -> str:
    """Names that match the pattern but exceed the model's max length."""
    limit = region_limits().max or 32
    first = draw(st.from_regex(r"[a-z]{2,6}", fullmatch=True))
    middle_len = draw(st.integers(limit - len(first), limit + 16))
    middle = draw(st.from_regex(r"[a-z]{1,4}", fullmatch=True))
    middle = (middle * (middle_len // len(middle) + 1))[:middle_len]
    return f"{first}-{middle}-{draw(st.integers(1, 99))}"


def _is_malformed(name: str) -> bool:
    return not region_limits().accepts(name)


def malformed_regions() -> st.SearchStrategy[Invalid[str]]:
    """ReplicaRegion values violating the RegionType pattern or length (REGION-001)."""
    random_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=region_limits().max or 32)
    values = st.one_of(_pattern_violations(), _overlong_region_names(), st.just(""), random_text).filter(
        _is_malformed
    )
    return label(values, "REGION-001", "ReplicaRegion outside the RegionType pattern/length")


_NONEXISTENT_WORDS = ("invalid", "bogus", "nowhere", "fake", "nonexistent", "imaginary", "notaregion")


@st.composite
def _unreal_names(draw: st.DrawFn) -> str:
    prefixes = sorted({r.split("-")[0] for r in all_kms_regions()} | {"xx", "zz", "qq"})
    prefix = draw(st.sampled_from(prefixes))
    word = draw(st.sampled_from(_NONEXISTENT_WORDS))
    number = draw(st.integers(1, 9))
    if draw(st.booleans()):
        return f"{prefix}-{word}-{number}"
    return f"{prefix}-{word}-{draw(st.sampled_from(['east', 'west', 'north', 'south', 'central']))}-{number}"


def nonexistent_regions() -> st.SearchStrategy[Invalid[str]]:
    """Well-formed Region names of no partition, like the recorded ``us-invalid-1`` (REGION-002)."""
    recorded = st.just("us-invalid-1")  # the Region recorded on real AWS
    values = st.one_of(recorded, _unreal_names()).filter(
        lambda r: region_limits().accepts(r) and r not in known_regions()
    )
    return label(values, "REGION-002", "well-formed name of a Region that does not exist")


def other_partition_regions(primary_region: str) -> st.SearchStrategy[Invalid[str]]:
    """KMS Regions of partitions other than the primary's, like the recorded ``cn-north-1`` (REGION-003)."""
    home = partition_of(primary_region)
    pool = sorted(r for p in partitions() if p != home for r in kms_regions(p))
    return label(st.sampled_from(pool), "REGION-003", f"Region outside the primary's partition {home}")


def own_region(primary_region: str) -> st.SearchStrategy[Invalid[str]]:
    """The primary's own Region as ReplicaRegion (REGION-004)."""
    return label(st.just(primary_region), "REGION-004", "the Region that holds the primary")


def invalid_replica_regions(primary_region: str) -> st.SearchStrategy[Invalid[str]]:
    """Any ReplicaRegion a correct KMS rejects whatever the key's state (REGION-001..004)."""
    return st.one_of(
        malformed_regions(),
        nonexistent_regions(),
        other_partition_regions(primary_region),
        own_region(primary_region),
    )
