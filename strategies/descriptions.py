"""Description values: 0..max characters per the service model, and over-long ones."""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st

from strategies.labels import Invalid, label
from strategies.service_model import description_limits

__all__ = ["invalid_descriptions", "overlong_descriptions", "valid_descriptions"]

# Printable BMP characters (one UTF-16 unit each, so lengths agree everywhere);
# no controls, no combining marks.
_alphabet = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.characters(categories=("L", "N", "P", "S", "Zs"), max_codepoint=0xFFFF),
)


def _sized(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    sizes = st.one_of(
        st.sampled_from(sorted({min_size, max_size})),
        st.integers(min_size, min(max_size, min_size + 64)),
        st.integers(max(min_size, max_size - 8), max_size),
        st.integers(min_size, max_size),
    )

    def build(seed: str, size: int) -> str:
        return (seed * (size // len(seed) + 1))[:size]

    return st.builds(build, st.text(_alphabet, min_size=1, max_size=16), sizes).filter(
        lambda s: unicodedata.is_normalized("NFC", s)
    )


def valid_descriptions() -> st.SearchStrategy[str]:
    """Valid Description values, 0 and max (8192) included (DESC-002, DESC-005)."""
    limits = description_limits()
    return _sized(limits.min or 0, limits.max or 8192)


def overlong_descriptions() -> st.SearchStrategy[Invalid[str]]:
    """Descriptions 1..64 characters over the model's max (DESC-003)."""
    limit = description_limits().max or 8192
    return label(_sized(limit + 1, limit + 64), "DESC-003", "Description longer than the model's max")


def invalid_descriptions() -> st.SearchStrategy[Invalid[str]]:
    """Every invalid Description (DESC-003)."""
    return overlong_descriptions()
