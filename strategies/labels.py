"""A typed wrapper tying an invalid input to the catalogue rule it must trigger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from hypothesis import strategies as st

__all__ = ["Invalid", "label"]

T = TypeVar("T")


@dataclass(frozen=True)
class Invalid(Generic[T]):
    """An input value that a correct KMS must reject.

    ``rule_id`` is the catalogue rule (docs/rule-ids.md) whose error codes the response is judged by;
    ``why`` says, for a human reading a failure, what is wrong with ``value``.
    """

    value: T
    rule_id: str
    why: str


def label(strategy: st.SearchStrategy[T], rule_id: str, why: str) -> st.SearchStrategy[Invalid[T]]:
    """Wrap every value of ``strategy`` as ``Invalid(value, rule_id, why)``."""
    return strategy.map(lambda value: Invalid(value, rule_id, why))
