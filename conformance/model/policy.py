"""Key-policy analysis for the model: what AWS would make of a policy document.

Only clear cases get a definite verdict; anything AWS might judge either way is ``AMBIGUOUS``,
for which the model accepts both success and MalformedPolicyDocumentException.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

from conformance.model.limits import shape_limits


class PolicyVerdict(Enum):
    SAFE = "safe"  # valid, and the account root keeps kms:PutKeyPolicy
    UNSAFE = "unsafe"  # valid, but would lock the account out (lockout safety check)
    EMPTY = "empty"  # shorter than the service model's minimum
    TOO_LONG_MODEL = "too-long-model"  # over the service model's maximum
    TOO_LONG_QUOTA = "too-long-quota"  # over the 32 KB key policy quota, within the model's maximum
    BAD_CHARACTERS = "bad-characters"
    NOT_JSON = "not-json"
    NOT_A_POLICY = "not-a-policy"
    AMBIGUOUS = "ambiguous"


# AWS KMS quota "Key policy document size": 32 KB (32,768 bytes).
KEY_POLICY_QUOTA_BYTES = 32768

_PUT_POLICY_ACTIONS = {"*", "kms:*", "kms:putkeypolicy"}


def default_key_policy(account_id: str, partition: str) -> dict[str, Any]:
    """The default key policy AWS attaches when none is given (recorded in the LocalStack/stackd cases)."""
    return {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _grants_root_put_policy(statement: dict[str, Any], account_id: str, partition: str) -> bool | None:
    """True if this statement clearly keeps the root able to PutKeyPolicy, None if unclear."""
    if statement.get("Effect") != "Allow":
        return False
    if any(k in statement for k in ("NotAction", "NotPrincipal", "NotResource", "Condition")):
        return None
    actions = {str(a).lower() for a in _as_list(statement.get("Action", []))}
    if not actions & _PUT_POLICY_ACTIONS:
        return False
    resources = {str(r) for r in _as_list(statement.get("Resource", []))}
    if "*" not in resources:
        return None
    principal = statement.get("Principal")
    roots = {f"arn:{partition}:iam::{account_id}:root", account_id, "*"}
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = {str(p) for p in _as_list(principal.get("AWS", []))}
        if aws & roots:
            return True
        if aws:
            return None  # another principal: depends on who calls
    return False


def _structurally_valid(doc: Any) -> bool | None:
    if not isinstance(doc, dict):
        return False
    statements = doc.get("Statement")
    if statements is None:
        return False
    if not isinstance(statements, (list, dict)):
        return False
    statements = _as_list(statements)
    if not statements:
        return False
    verdict: bool | None = True
    for st in statements:
        if not isinstance(st, dict):
            return False
        if st.get("Effect") not in ("Allow", "Deny"):
            return False
        if "Principal" not in st and "NotPrincipal" not in st:
            return False
        if "Action" not in st and "NotAction" not in st:
            return False
        if "Resource" not in st and "NotResource" not in st:
            verdict = None  # AWS's handling of a missing Resource in key policies is not documented
    version = doc.get("Version")
    if version is not None and version not in ("2012-10-17", "2008-10-17"):
        return False
    return verdict


def classify_policy(text: str, account_id: str, partition: str, *, check_quota: bool = True) -> PolicyVerdict:
    limits = shape_limits("PolicyType")
    if len(text) < limits.min_length:
        return PolicyVerdict.EMPTY
    if limits.max_length is not None and len(text) > limits.max_length:
        return PolicyVerdict.TOO_LONG_MODEL
    if limits.pattern and not re.fullmatch(limits.pattern, text):
        return PolicyVerdict.BAD_CHARACTERS
    if check_quota and len(text.encode("utf-8")) > KEY_POLICY_QUOTA_BYTES:
        return PolicyVerdict.TOO_LONG_QUOTA
    try:
        doc = json.loads(text)
    except ValueError:
        return PolicyVerdict.NOT_JSON
    valid = _structurally_valid(doc)
    if valid is False:
        return PolicyVerdict.NOT_A_POLICY
    if valid is None:
        return PolicyVerdict.AMBIGUOUS
    grants = [_grants_root_put_policy(st, account_id, partition) for st in _as_list(doc["Statement"])]
    has_deny = any(st.get("Effect") == "Deny" for st in _as_list(doc["Statement"]))
    if has_deny:
        return PolicyVerdict.AMBIGUOUS
    if any(g is True for g in grants):
        return PolicyVerdict.SAFE
    if all(g is False for g in grants):
        return PolicyVerdict.UNSAFE
    return PolicyVerdict.AMBIGUOUS


def policies_equal(a: str, b: str) -> bool:
    """Semantic equality: AWS may re-serialise a policy (whitespace, key order)."""
    try:
        return bool(json.loads(a) == json.loads(b))
    except ValueError:
        return a == b
