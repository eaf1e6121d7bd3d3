"""Key identifiers: well-formed key IDs, key ARNs, alias names and ARNs, and malformed ones.

KMS key IDs are either a UUID (single-Region keys) or ``mrk-`` followed by 32 lowercase hex digits
(multi-Region keys). Key ARNs are ``arn:<partition>:kms:<region>:<account>:key/<key-id>``.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from hypothesis import strategies as st

from strategies.labels import Invalid, label
from strategies.regions import kms_regions, partition_of, partitions
from strategies.service_model import alias_name_limits, key_id_limits

__all__ = [
    "ACCOUNT_ID_RE",
    "MRK_KEY_ID_RE",
    "UUID_KEY_ID_RE",
    "account_ids",
    "alias_arn",
    "alias_arns",
    "alias_key_ids",
    "alias_names",
    "foreign_account_key_arns",
    "foreign_region_key_arns",
    "invalid_key_ids",
    "is_well_formed_key_id",
    "key_arn",
    "key_arns",
    "key_ids",
    "malformed_key_arns",
    "malformed_key_ids",
    "mrk_key_ids",
    "nonexistent_key_ids",
    "out_of_range_key_ids",
    "uuid_key_ids",
]

UUID_KEY_ID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
MRK_KEY_ID_RE = r"mrk-[0-9a-f]{32}"
ACCOUNT_ID_RE = r"[0-9]{12}"

_HEX = "0123456789abcdef"


def is_well_formed_key_id(value: str) -> bool:
    """True for a UUID or an mrk- ID in any letter case ("malformed" never means "only the case differs")."""
    return bool(
        re.fullmatch(UUID_KEY_ID_RE, value, re.IGNORECASE)
        or re.fullmatch(MRK_KEY_ID_RE, value, re.IGNORECASE)
    )


def key_arn(partition: str, region: str, account_id: str, key_id: str) -> str:
    """The key ARN of ``key_id`` in ``region``/``account_id`` of ``partition``."""
    return f"arn:{partition}:kms:{region}:{account_id}:key/{key_id}"


def alias_arn(partition: str, region: str, account_id: str, alias_name: str) -> str:
    """The alias ARN of ``alias_name`` (which starts with ``alias/``)."""
    return f"arn:{partition}:kms:{region}:{account_id}:{alias_name}"


def uuid_key_ids() -> st.SearchStrategy[str]:
    """Single-Region key IDs (lowercase UUIDs)."""
    return st.uuids(version=4).map(str)


def mrk_key_ids() -> st.SearchStrategy[str]:
    """Multi-Region key IDs: ``mrk-`` + 32 lowercase hex digits."""
    return st.text(_HEX, min_size=32, max_size=32).map(lambda h: f"mrk-{h}")


def key_ids() -> st.SearchStrategy[str]:
    """Any well-formed key ID."""
    return st.one_of(uuid_key_ids(), mrk_key_ids())


def account_ids() -> st.SearchStrategy[str]:
    """12-digit AWS account IDs."""
    return st.text("0123456789", min_size=12, max_size=12)


def key_arns(
    partition: str = "aws",
    region: str | None = None,
    account_id: str | None = None,
    *,
    multi_region: bool | None = None,
) -> st.SearchStrategy[str]:
    """Well-formed key ARNs; Region/account drawn unless fixed; ``multi_region`` picks the key-ID form."""
    ids = {None: key_ids(), True: mrk_key_ids(), False: uuid_key_ids()}[multi_region]
    return st.builds(
        key_arn,
        st.just(partition),
        st.just(region) if region is not None else st.sampled_from(kms_regions(partition)),
        st.just(account_id) if account_id is not None else account_ids(),
        ids,
    )


def alias_names() -> st.SearchStrategy[str]:
    """Customer alias names: ``alias/`` + letters, digits, ``/ _ -``; never the reserved ``alias/aws/``."""
    limit = alias_name_limits().max or 256
    tail = st.from_regex(r"[a-zA-Z0-9/_-]+", fullmatch=True).filter(lambda t: len(t) <= limit - len("alias/"))
    return tail.map(lambda t: f"alias/{t}").filter(
        lambda a: not a.lower().startswith("alias/aws/") and alias_name_limits().accepts(a)
    )


def alias_arns(
    partition: str = "aws", region: str | None = None, account_id: str | None = None
) -> st.SearchStrategy[str]:
    """Alias ARNs of customer aliases."""
    return st.builds(
        alias_arn,
        st.just(partition),
        st.just(region) if region is not None else st.sampled_from(kms_regions(partition)),
        st.just(account_id) if account_id is not None else account_ids(),
        alias_names(),
    )


# ---------------------------------------------------------------------------------------------- invalid


def alias_key_ids(
    partition: str = "aws", region: str = "us-east-1", account_id: str = "111122223333"
) -> st.SearchStrategy[Invalid[str]]:
    """Alias names (KEYID-004) and alias ARNs (KEYID-005): ReplicateKey takes no alias."""
    return st.one_of(
        label(alias_names(), "KEYID-004", "alias name instead of a key ID"),
        label(alias_arns(partition, region, account_id), "KEYID-005", "alias ARN instead of a key ARN"),
    )


@st.composite
def _malformed_key_id(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["hex-length", "uuid-char", "uuid-shape", "mrk-length", "mrk-char", "text"]))
    if kind == "hex-length":
        return draw(st.text(_HEX, min_size=1, max_size=64).filter(lambda h: len(h) != 32))
    if kind == "uuid-char":
        base = str(draw(st.uuids()))
        at = draw(st.sampled_from([i for i, c in enumerate(base) if c != "-"]))
        return base[:at] + draw(st.sampled_from("ghijklmnopqrstuvwxyz_")) + base[at + 1 :]
    if kind == "uuid-shape":
        base = str(draw(st.uuids()))
        at = draw(st.integers(0, len(base) - 1))
        return draw(
            st.sampled_from([base[:at] + base[at + 1 :], base[:at] + "0" + base[at:], base.replace("-", "")])
        )
    if kind == "mrk-length":
        return "mrk-" + draw(st.text(_HEX, min_size=0, max_size=64).filter(lambda h: len(h) != 32))
    if kind == "mrk-char":
        body = draw(st.text(_HEX, min_size=32, max_size=32))
        at = draw(st.integers(0, 31))
        return "mrk-" + body[:at] + draw(st.sampled_from("ghijklmnopqrstuvwxyz-_ ")) + body[at + 1 :]
    return draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=64))


def _is_malformed_key_id(value: str) -> bool:
    lowered = value.lower()
    return (
        key_id_limits().length_ok(len(value))
        and not is_well_formed_key_id(value)
        and not lowered.startswith(("alias/", "arn:"))
    )


def malformed_key_ids() -> st.SearchStrategy[Invalid[str]]:
    """Key IDs of legal length that are neither a UUID nor an mrk- ID, nor an ARN or alias (KEYID-006)."""
    return label(
        _malformed_key_id().filter(_is_malformed_key_id), "KEYID-006", "neither UUID nor mrk- key ID"
    )


@st.composite
def _malformed_arn(draw: st.DrawFn, partition: str, region: str, account_id: str, key_id: str | None) -> str:
    kid = key_id if key_id is not None else draw(key_ids())
    kind = draw(
        st.sampled_from(["service", "resource", "account", "region", "partition", "mismatch", "fields"])
    )
    if kind == "service":
        service = draw(st.sampled_from(["s3", "iam", "kms-x", "", "sqs"]))
        return f"arn:{partition}:{service}:{region}:{account_id}:key/{kid}"
    if kind == "resource":
        resource = draw(st.sampled_from(["keys/", "key:", "cmk/", "key", "key//", "bucket/"]))
        return f"arn:{partition}:kms:{region}:{account_id}:{resource}{kid}"
    if kind == "account":
        bad = draw(
            st.one_of(
                st.text("0123456789", min_size=1, max_size=11),
                st.text("0123456789", min_size=13, max_size=16),
                st.from_regex(r"[0-9]{0,11}[a-z][0-9]{0,11}", fullmatch=True).filter(lambda a: len(a) == 12),
                st.just(""),
            )
        )
        return f"arn:{partition}:kms:{region}:{bad}:key/{kid}"
    if kind == "region":  # a Region field no partition has, or one that is not a Region name at all
        bad_region = draw(st.sampled_from([region.replace("-", "_"), "us-invalid-1", "*", "kms"]))
        return f"arn:{partition}:kms:{bad_region}:{account_id}:key/{kid}"
    if kind == "partition":
        bogus = draw(st.sampled_from(["aws-invalid", "amazon", "aws-xx", ""]))
        return f"arn:{bogus}:kms:{region}:{account_id}:key/{kid}"
    if kind == "mismatch":  # a real partition that does not own the Region
        other = draw(st.sampled_from([p for p in partitions() if p != partition_of(region)]))
        return f"arn:{other}:kms:{region}:{account_id}:key/{kid}"
    fields = [f"arn:{partition}", "kms", region, account_id, f"key/{kid}"]
    drop = draw(st.integers(1, len(fields) - 1))
    return ":".join(fields[:drop] + fields[drop + 1 :])


def malformed_key_arns(
    partition: str = "aws",
    region: str = "us-east-1",
    account_id: str = "111122223333",
    key_id: str | None = None,
) -> st.SearchStrategy[Invalid[str]]:
    """Key ARNs with a wrong service, resource type, account, Region name, partition or field count
    (KEYID-007). Pass the real primary's ``key_id`` so only the ARN frame is wrong. No case-only variants
    (e.g. ``KMS``, ``Key/``): whether AWS folds case there is undocumented.
    """
    values = _malformed_arn(partition, region, account_id, key_id).filter(
        lambda a: (
            key_id_limits().length_ok(len(a))
            and a != key_arn(partition, region, account_id, a.split("/")[-1])
        )
    )
    return label(values, "KEYID-007", "malformed key ARN")


def out_of_range_key_ids() -> st.SearchStrategy[Invalid[str]]:
    """KeyId of length 0 or over the model's max (KEYID-008). Note: botocore's client-side validation rejects
    the empty string before sending unless ``parameter_validation`` is off."""
    limit = key_id_limits().max or 2048
    long_ids = st.tuples(mrk_key_ids(), st.integers(limit + 1, limit + 64)).map(
        lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]]
    )
    return label(st.one_of(st.just(""), long_ids), "KEYID-008", "KeyId length outside the model's range")


def foreign_region_key_arns(
    partition: str, region: str, account_id: str, key_id: str
) -> st.SearchStrategy[Invalid[str]]:
    """The key's ARN with another Region of the same partition than the caller's ``region`` (KEYID-003)."""
    others = [r for r in kms_regions(partition) if r != region]
    return label(
        st.sampled_from(others).map(lambda r: key_arn(partition, r, account_id, key_id)),
        "KEYID-003",
        "key ARN naming a Region other than the caller's",
    )


def foreign_account_key_arns(
    partition: str, region: str, account_id: str, key_id: str
) -> st.SearchStrategy[Invalid[str]]:
    """The key's ARN with another account ID (KEYID-012)."""
    return label(
        account_ids().filter(lambda a: a != account_id).map(lambda a: key_arn(partition, region, a, key_id)),
        "KEYID-012",
        "key ARN naming another account",
    )


def nonexistent_key_ids(
    partition: str = "aws",
    region: str = "us-east-1",
    account_id: str = "111122223333",
    existing: Collection[str] = (),
) -> st.SearchStrategy[Invalid[str]]:
    """Well-formed key IDs or key ARNs (caller's Region and account) of no existing key (KEYID-009).

    ``existing`` holds the key IDs the target has (so a deterministic target never collides).
    """
    taken = set(existing)
    ids = key_ids().filter(lambda k: k not in taken)
    values = st.one_of(ids, ids.map(lambda k: key_arn(partition, region, account_id, k)))
    return label(values, "KEYID-009", "well-formed identifier of a key that does not exist")


def invalid_key_ids(
    partition: str = "aws",
    region: str = "us-east-1",
    account_id: str = "111122223333",
    key_id: str | None = None,
    existing: Collection[str] = (),
) -> st.SearchStrategy[Invalid[str]]:
    """Every KeyId that a correct KMS rejects whatever the key's state. With the primary's ``key_id`` the
    foreign-Region (KEYID-003) and foreign-account (KEYID-012) ARNs of that key are included too."""
    options = [
        alias_key_ids(partition, region, account_id),
        malformed_key_ids(),
        malformed_key_arns(partition, region, account_id, key_id),
        out_of_range_key_ids(),
        nonexistent_key_ids(
            partition, region, account_id, existing if key_id is None else {*existing, key_id}
        ),
    ]
    if key_id is not None:
        options.append(foreign_region_key_arns(partition, region, account_id, key_id))
        options.append(foreign_account_key_arns(partition, region, account_id, key_id))
    return st.one_of(options)
