"""Registry of every invalid-input strategy, with the rule IDs each may label its values with.

Each factory is called with an example context (account, Region, key) so tests can draw from all of them;
the state machine calls the real functions with the real context instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from hypothesis import strategies as st

from strategies import descriptions, identifiers, policies, regions, tags
from strategies.labels import Invalid

__all__ = ["EXAMPLE_CONTEXT", "INVALID_RULE_IDS", "INVALID_STRATEGIES"]

EXAMPLE_CONTEXT: Mapping[str, str] = MappingProxyType(
    {
        "partition": "aws",
        "region": "us-east-1",
        "account_id": "111122223333",
        "key_id": "mrk-0123456789abcdef0123456789abcdef",
    }
)

_P, _R, _A, _K = (EXAMPLE_CONTEXT[k] for k in ("partition", "region", "account_id", "key_id"))

InvalidFactory = Callable[[], st.SearchStrategy[Invalid[Any]]]

#: name -> zero-argument factory (example context baked in).
INVALID_STRATEGIES: Mapping[str, InvalidFactory] = MappingProxyType(
    {
        "alias_key_ids": lambda: identifiers.alias_key_ids(_P, _R, _A),
        "malformed_key_ids": identifiers.malformed_key_ids,
        "malformed_key_arns": lambda: identifiers.malformed_key_arns(_P, _R, _A, _K),
        "out_of_range_key_ids": identifiers.out_of_range_key_ids,
        "foreign_region_key_arns": lambda: identifiers.foreign_region_key_arns(_P, _R, _A, _K),
        "foreign_account_key_arns": lambda: identifiers.foreign_account_key_arns(_P, _R, _A, _K),
        "nonexistent_key_ids": lambda: identifiers.nonexistent_key_ids(_P, _R, _A, existing={_K}),
        "malformed_regions": regions.malformed_regions,
        "nonexistent_regions": regions.nonexistent_regions,
        "other_partition_regions": lambda: regions.other_partition_regions(_R),
        "own_region": lambda: regions.own_region(_R),
        "oversized_policies": lambda: policies.oversized_policies(_A, _P),
        "wrong_character_policies": lambda: policies.wrong_character_policies(_A, _P),
        "malformed_json_policies": lambda: policies.malformed_json_policies(_A, _P),
        "structurally_invalid_policies": lambda: policies.structurally_invalid_policies(_A, _P),
        "unsafe_policies_without_bypass": lambda: policies.unsafe_policies_without_bypass(_A, _P),
        "empty_policies": policies.empty_policies,
        "bad_key_length_tag_lists": tags.bad_key_length_tag_lists,
        "overlong_value_tag_lists": tags.overlong_value_tag_lists,
        "too_many_tag_lists": tags.too_many_tag_lists,
        "reserved_prefix_tag_lists": tags.reserved_prefix_tag_lists,
        "duplicate_key_tag_lists": tags.duplicate_key_tag_lists,
        "overlong_descriptions": descriptions.overlong_descriptions,
    }
)

#: name -> the rule IDs its values may carry.
INVALID_RULE_IDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "alias_key_ids": frozenset({"KEYID-004", "KEYID-005"}),
        "malformed_key_ids": frozenset({"KEYID-006"}),
        "malformed_key_arns": frozenset({"KEYID-007"}),
        "out_of_range_key_ids": frozenset({"KEYID-008"}),
        "foreign_region_key_arns": frozenset({"KEYID-003"}),
        "foreign_account_key_arns": frozenset({"KEYID-012"}),
        "nonexistent_key_ids": frozenset({"KEYID-009"}),
        "malformed_regions": frozenset({"REGION-001"}),
        "nonexistent_regions": frozenset({"REGION-002"}),
        "other_partition_regions": frozenset({"REGION-003"}),
        "own_region": frozenset({"REGION-004"}),
        "oversized_policies": frozenset({"POLICY-003"}),
        "wrong_character_policies": frozenset({"POLICY-004"}),
        "malformed_json_policies": frozenset({"POLICY-005"}),
        "structurally_invalid_policies": frozenset({"POLICY-006"}),
        "unsafe_policies_without_bypass": frozenset({"POLICY-007"}),
        "empty_policies": frozenset({"POLICY-009"}),
        "bad_key_length_tag_lists": frozenset({"TAGS-002"}),
        "overlong_value_tag_lists": frozenset({"TAGS-003"}),
        "too_many_tag_lists": frozenset({"TAGS-004"}),
        "reserved_prefix_tag_lists": frozenset({"TAGS-005"}),
        "duplicate_key_tag_lists": frozenset({"TAGS-006"}),
        "overlong_descriptions": frozenset({"DESC-003"}),
    }
)
