"""Tag lists for ReplicateKey's ``Tags`` parameter, valid and invalid.

Lengths come from the service model (TagKeyType, TagValueType). The model gives no character pattern and no
list size; the character set (Unicode letters, digits, whitespace, ``_ . : / = + - @``), the reserved ``aws:``
prefix and the 50-tags-per-key quota come from the AWS tagging docs and the KMS quota page.
"""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st

from strategies.labels import Invalid, label
from strategies.service_model import tag_key_limits, tag_value_limits

__all__ = [
    "MAX_TAGS",
    "Tag",
    "bad_key_length_tag_lists",
    "duplicate_key_tag_lists",
    "has_reserved_prefix",
    "invalid_tag_lists",
    "overlong_value_tag_lists",
    "reserved_prefix_tag_lists",
    "tag_keys",
    "tag_lists",
    "tag_values",
    "too_many_tag_lists",
]

Tag = dict[str, str]

MAX_TAGS = 50  # KMS quota "tags per KMS key" (docs); the service model's TagList has no max.

_PUNCTUATION = "_.:/=+-@"

# BMP only: a character is one UTF-16 unit, so the length limits mean the same on every implementation.
_unicode = st.characters(categories=("Lu", "Ll", "Lt", "Lm", "Lo", "Nd"), max_codepoint=0xFFFF)
_ascii = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_alphabet = st.one_of(_ascii, _unicode, st.sampled_from(_PUNCTUATION + " "))


def _or(*candidates: int | None) -> int:
    """The first candidate that is not None (the last one is a fallback that always is)."""
    return next(c for c in candidates if c is not None)


def has_reserved_prefix(key: str) -> bool:
    """True if the key starts with ``aws:`` in any letter case."""
    return key[:4].lower() == "aws:" or key.casefold().startswith("aws:")


def _tidy(text: str) -> str:
    """No leading/trailing whitespace (an implementation might trim it), keeping the length."""
    if text[:1].isspace():
        text = "x" + text[1:]
    if text[-1:].isspace():
        text = text[:-1] + "x"
    return text


def _sized_text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    """Text of the given length range, biased to both ends; long strings repeat a short seed (cheap)."""
    sizes = st.one_of(
        st.sampled_from(sorted({min_size, max_size})),
        st.integers(min_size, min(max_size, min_size + 16)),
        st.integers(min_size, max_size),
    )

    def build(seed: str, size: int) -> str:
        return _tidy((seed * (size // len(seed) + 1))[:size]) if size else ""

    return st.builds(build, st.text(_alphabet, min_size=1, max_size=12), sizes).filter(
        lambda s: unicodedata.is_normalized("NFC", s)
    )


def tag_keys(min_size: int | None = None, max_size: int | None = None) -> st.SearchStrategy[str]:
    """Valid tag keys (TAGS-009 boundary lengths included): model lengths, no reserved ``aws:`` prefix."""
    lo = _or(min_size, tag_key_limits().min, 1)
    hi = _or(max_size, tag_key_limits().max, 128)
    return _sized_text(lo, hi).filter(lambda k: not has_reserved_prefix(k))


def tag_values(min_size: int | None = None, max_size: int | None = None) -> st.SearchStrategy[str]:
    """Valid tag values, 0 up to the model's max length."""
    lo = _or(min_size, tag_value_limits().min, 0)
    hi = _or(max_size, tag_value_limits().max, 256)
    return _sized_text(lo, hi)


def _tag(keys: st.SearchStrategy[str], values: st.SearchStrategy[str]) -> st.SearchStrategy[Tag]:
    return st.builds(lambda k, v: {"TagKey": k, "TagValue": v}, keys, values)


def _unique_tags(min_size: int, max_size: int) -> st.SearchStrategy[list[Tag]]:
    # Keys unique even case-insensitively, so no implementation could see a duplicate.
    return st.lists(
        _tag(tag_keys(), tag_values()),
        min_size=min_size,
        max_size=max_size,
        unique_by=lambda t: t["TagKey"].casefold(),
    )


@st.composite
def _filled_tags(draw: st.DrawFn, size: int) -> list[Tag]:
    """``size`` tags with unique keys, cheap to draw for large sizes: a few fully random tags plus keys made
    from one random stem and a running number (distinct by construction)."""
    head = draw(_unique_tags(0, min(size, 5)))
    used = {t["TagKey"].casefold() for t in head}
    stem = draw(tag_keys(1, _or(tag_key_limits().max, 128) - 3))
    values = draw(st.lists(tag_values(), min_size=1, max_size=3))
    fill: list[Tag] = []
    number = 0
    while len(head) + len(fill) < size:
        key = f"{stem}{number:03d}"
        number += 1
        if key.casefold() not in used:
            used.add(key.casefold())
            fill.append({"TagKey": key, "TagValue": values[number % len(values)]})
    return list(draw(st.permutations([*head, *fill])))


def tag_lists(min_size: int = 0, max_size: int = MAX_TAGS) -> st.SearchStrategy[list[Tag]]:
    """Valid ``Tags``: 0..50 tags with unique keys; the full 50 is drawn often enough to be seen."""
    if not 0 <= min_size <= max_size <= MAX_TAGS:
        raise ValueError(f"need 0 <= min_size <= max_size <= {MAX_TAGS}")
    if max_size <= 8:
        return _unique_tags(min_size, max_size)
    return st.one_of(
        _unique_tags(min_size, min(max_size, 8)) if min_size <= 8 else st.nothing(),
        st.integers(max(min_size, 9), max_size).flatmap(_filled_tags),
        _filled_tags(max_size),
    )


# ---------------------------------------------------------------------------------------------- invalid


@st.composite
def _with_bad_tag(draw: st.DrawFn, bad: st.SearchStrategy[Tag], spare: int = 5) -> list[Tag]:
    """One bad tag among up to ``spare`` valid ones whose keys differ from the bad one."""
    bad_tag = draw(bad)
    others = draw(
        _unique_tags(0, spare).filter(
            lambda ts: all(t["TagKey"].casefold() != bad_tag["TagKey"].casefold() for t in ts)
        )
    )
    at = draw(st.integers(0, len(others)))
    return [*others[:at], bad_tag, *others[at:]]


def bad_key_length_tag_lists() -> st.SearchStrategy[Invalid[list[Tag]]]:
    """A tag key of length 0 or over the model's max (TAGS-002)."""
    limit = tag_key_limits().max or 128
    keys = st.one_of(st.just(""), tag_keys(limit + 1, limit + 40))
    return label(
        _with_bad_tag(_tag(keys, tag_values())), "TAGS-002", "tag key length outside the model's range"
    )


def overlong_value_tag_lists() -> st.SearchStrategy[Invalid[list[Tag]]]:
    """A tag value over the model's max length, with a valid key (TAGS-003)."""
    limit = tag_value_limits().max or 256
    return label(
        _with_bad_tag(_tag(tag_keys(), tag_values(limit + 1, limit + 40))),
        "TAGS-003",
        "tag value longer than the model's max",
    )


def too_many_tag_lists() -> st.SearchStrategy[Invalid[list[Tag]]]:
    """51 to 60 valid tags with unique keys (TAGS-004)."""
    return label(
        st.integers(MAX_TAGS + 1, MAX_TAGS + 10).flatmap(_filled_tags),
        "TAGS-004",
        f"more than {MAX_TAGS} tags",
    )


@st.composite
def _reserved_key(draw: st.DrawFn) -> str:
    prefix = "".join(c.upper() if draw(st.booleans()) else c for c in "aws")
    limit = tag_key_limits().max or 128
    rest = draw(st.one_of(st.just(""), tag_keys(1, limit - 4)))
    return f"{prefix}:{rest}"


def reserved_prefix_tag_lists() -> st.SearchStrategy[Invalid[list[Tag]]]:
    """A tag key starting with ``aws:`` in any letter case, legal length (TAGS-005)."""
    return label(
        _with_bad_tag(_tag(_reserved_key(), tag_values())),
        "TAGS-005",
        "tag key with the reserved aws: prefix",
    )


@st.composite
def _duplicated(draw: st.DrawFn) -> list[Tag]:
    tags = draw(tag_lists(1, MAX_TAGS - 1))
    original = draw(st.sampled_from(tags))
    copy = {
        "TagKey": original["TagKey"],
        "TagValue": draw(st.one_of(st.just(original["TagValue"]), tag_values())),
    }
    at = draw(st.integers(0, len(tags)))
    return [*tags[:at], copy, *tags[at:]]


def duplicate_key_tag_lists() -> st.SearchStrategy[Invalid[list[Tag]]]:
    """The same tag key twice (values equal or not), at most 50 tags in all (TAGS-006)."""
    return label(_duplicated(), "TAGS-006", "duplicate tag keys")


def invalid_tag_lists() -> st.SearchStrategy[Invalid[list[Tag]]]:
    """Every invalid ``Tags`` value (TAGS-002..006)."""
    return st.one_of(
        bad_key_length_tag_lists(),
        overlong_value_tag_lists(),
        too_many_tag_lists(),
        reserved_prefix_tag_lists(),
        duplicate_key_tag_lists(),
    )
