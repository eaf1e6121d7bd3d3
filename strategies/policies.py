"""Key policies built structurally and serialised as JSON text, plus invalid policy strings.

Principals are only ones that exist in every account (the account root and AWS service principals): real AWS
rejects a policy that names a nonexistent IAM principal, which would make a valid-looking policy fail for the
wrong reason. Every policy, safe or not, keeps the account root able to describe, tag and schedule deletion of
the key, so a suite run against real AWS can always clean up.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from hypothesis import strategies as st

from strategies.labels import Invalid, label
from strategies.service_model import policy_limits

__all__ = [
    "MANAGEMENT_ACTIONS",
    "SERVICE_PRINCIPALS",
    "VALID_POLICY_MAX_CHARS",
    "empty_policies",
    "grants_put_key_policy",
    "invalid_policies",
    "key_policies",
    "lockout_safe_policies",
    "lockout_unsafe_policies",
    "malformed_json_policies",
    "oversized_policies",
    "root_arn",
    "structurally_invalid_policies",
    "unsafe_policies_without_bypass",
    "wrong_character_policies",
]

# Documented key-policy size quota is 32 KB (the service model's max is larger); valid policies stay below.
VALID_POLICY_MAX_CHARS = 32768

# Actions the root keeps in a lockout-unsafe policy: everything a test run needs except kms:PutKeyPolicy.
MANAGEMENT_ACTIONS: tuple[str, ...] = (
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:GetKeyRotationStatus",
    "kms:ReplicateKey",
    "kms:UpdatePrimaryRegion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:Sign",
    "kms:Verify",
    "kms:GenerateMac",
    "kms:VerifyMac",
    "kms:GetPublicKey",
    "kms:DeriveSharedSecret",
    "kms:GetParametersForImport",
    "kms:ImportKeyMaterial",
)

_SERVICE_ACTIONS: tuple[str, ...] = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
)

SERVICE_PRINCIPALS: tuple[str, ...] = (
    "logs.amazonaws.com",
    "cloudtrail.amazonaws.com",
    "s3.amazonaws.com",
    "sns.amazonaws.com",
    "events.amazonaws.com",
    "delivery.logs.amazonaws.com",
)


def root_arn(account_id: str, partition: str = "aws") -> str:
    """The account root principal."""
    return f"arn:{partition}:iam::{account_id}:root"


def _sids(count: int) -> st.SearchStrategy[list[str]]:
    return st.lists(
        st.from_regex(r"[A-Za-z0-9]{1,24}", fullmatch=True), min_size=count, max_size=count, unique=True
    )


def _service_statement(account_id: str) -> st.SearchStrategy[dict[str, Any]]:
    condition = st.sampled_from(
        [
            None,
            {"StringEquals": {"aws:SourceAccount": account_id}},
            {"StringEquals": {"kms:CallerAccount": account_id}},
        ]
    )
    return st.builds(
        lambda service, actions, cond: {
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": actions,
            "Resource": "*",
            **({"Condition": cond} if cond else {}),
        },
        st.sampled_from(SERVICE_PRINCIPALS),
        st.lists(st.sampled_from(_SERVICE_ACTIONS), min_size=1, max_size=len(_SERVICE_ACTIONS), unique=True),
        condition,
    )


def _root_limited_statement(account_id: str, partition: str) -> st.SearchStrategy[dict[str, Any]]:
    """Root statement with a few explicit actions, never PutKeyPolicy."""
    return st.lists(st.sampled_from(MANAGEMENT_ACTIONS), min_size=1, max_size=6, unique=True).map(
        lambda actions: {
            "Effect": "Allow",
            "Principal": {"AWS": root_arn(account_id, partition)},
            "Action": actions,
            "Resource": "*",
        }
    )


@st.composite
def _document(draw: st.DrawFn, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """Wrap statements: shuffle, give each an optional unique Sid, add Version and an optional Id."""
    statements = draw(st.permutations(statements))
    sids = draw(_sids(len(statements)))
    named = []
    for statement, sid in zip(statements, sids, strict=True):
        if draw(st.booleans()):
            statement = {"Sid": sid, **statement}
        named.append(statement)
    doc: dict[str, Any] = {"Version": "2012-10-17"}
    if draw(st.booleans()):
        doc["Id"] = draw(st.from_regex(r"key-[a-z0-9-]{1,20}", fullmatch=True))
    doc["Statement"] = named
    return doc


def _serialise(doc: Any, indent: int | None) -> str:
    return json.dumps(doc, indent=indent)


def _text(docs: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    return st.builds(_serialise, docs, st.sampled_from([None, 2, 4]))


@st.composite
def _safe_doc(draw: st.DrawFn, account_id: str, partition: str) -> dict[str, Any]:
    action = draw(st.sampled_from(["kms:*", ["kms:*"]]))
    root = {
        "Effect": "Allow",
        "Principal": {"AWS": root_arn(account_id, partition)},
        "Action": action,
        "Resource": "*",
    }
    extra = draw(
        st.lists(
            st.one_of(_service_statement(account_id), _root_limited_statement(account_id, partition)),
            max_size=3,
        )
    )
    return draw(_document([root, *extra]))


@st.composite
def _unsafe_doc(draw: st.DrawFn, account_id: str, partition: str) -> dict[str, Any]:
    keep = {
        "Effect": "Allow",
        "Principal": {"AWS": root_arn(account_id, partition)},
        "Action": list(MANAGEMENT_ACTIONS),
        "Resource": "*",
    }
    extra = draw(
        st.lists(
            st.one_of(_service_statement(account_id), _root_limited_statement(account_id, partition)),
            max_size=3,
        )
    )
    return draw(_document([keep, *extra]))


def lockout_safe_policies(account_id: str, partition: str = "aws") -> st.SearchStrategy[str]:
    """Key policies granting ``kms:*`` on ``*`` to the account root, plus up to 3 further Allow statements."""
    return _text(_safe_doc(account_id, partition))


def key_policies(account_id: str, partition: str = "aws") -> st.SearchStrategy[str]:
    """Valid Policy values for ReplicateKey without BypassPolicyLockoutSafetyCheck (POLICY-002)."""
    return lockout_safe_policies(account_id, partition)


def lockout_unsafe_policies(account_id: str, partition: str = "aws") -> st.SearchStrategy[str]:
    """Well-formed policies that grant kms:PutKeyPolicy to nobody (neither the root nor ``*``).

    Valid only with BypassPolicyLockoutSafetyCheck=true (POLICY-008); the root keeps MANAGEMENT_ACTIONS.
    """
    return _text(_unsafe_doc(account_id, partition))


def _principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if not isinstance(principal, dict):
        return []
    aws = principal.get("AWS", [])
    return [aws] if isinstance(aws, str) else list(aws)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def grants_put_key_policy(policy: str, account_id: str, partition: str = "aws") -> bool:
    """Whether an Allow statement gives kms:PutKeyPolicy to the account (root ARN or bare ID) or to ``*``.

    A structural approximation of KMS's lockout safety check, exact for the policies this module builds
    (it ignores Conditions, NotPrincipal and Deny statements).
    """
    doc = json.loads(policy)
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    account_principals = {root_arn(account_id, partition), account_id, "*"}
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        if not account_principals.intersection(_principals(statement)):
            continue
        if "NotAction" in statement:
            if not any(
                fnmatch.fnmatchcase("kms:putkeypolicy", a.lower()) for a in _as_list(statement["NotAction"])
            ):
                return True
            continue
        if any(fnmatch.fnmatchcase("kms:putkeypolicy", a.lower()) for a in _as_list(statement.get("Action"))):
            return True
    return False


# ---------------------------------------------------------------------------------------------- invalid


def unsafe_policies_without_bypass(
    account_id: str, partition: str = "aws"
) -> st.SearchStrategy[Invalid[str]]:
    """Lockout-unsafe policies, invalid when BypassPolicyLockoutSafetyCheck is false/omitted (POLICY-007)."""
    return label(
        lockout_unsafe_policies(account_id, partition),
        "POLICY-007",
        "policy grants nobody kms:PutKeyPolicy and the lockout safety check is not bypassed",
    )


def empty_policies() -> st.SearchStrategy[Invalid[str]]:
    """The empty string (POLICY-009). botocore rejects it client-side unless parameter validation is off."""
    return label(st.just(""), "POLICY-009", "empty Policy (model min length 1)")


@st.composite
def _oversized(draw: st.DrawFn, account_id: str, partition: str) -> str:
    limit = policy_limits().max or 131072
    text = draw(lockout_safe_policies(account_id, partition))
    target = draw(st.integers(limit + 1, limit + 64))
    # Pad with spaces inside the top-level object: still valid JSON, still only allowed characters.
    return text[:-1] + " " * (target - len(text)) + text[-1]


def oversized_policies(account_id: str, partition: str = "aws") -> st.SearchStrategy[Invalid[str]]:
    """Valid JSON policies padded with whitespace past the model's max length (POLICY-003)."""
    return label(_oversized(account_id, partition), "POLICY-003", "Policy longer than the model's max length")


def _forbidden_characters() -> st.SearchStrategy[str]:
    """Characters the PolicyType pattern rejects, found by testing single characters against the pattern."""
    low = [chr(c) for c in range(0x100) if not policy_limits().matches(chr(c))]
    high = st.characters(codec="utf-8", min_codepoint=0x100).filter(lambda c: not policy_limits().matches(c))
    return st.one_of(st.sampled_from(low), high)


@st.composite
def _wrong_characters(draw: st.DrawFn, account_id: str, partition: str) -> str:
    doc = draw(_safe_doc(account_id, partition))
    bad = draw(_forbidden_characters())
    marker = "\x20MARK\x20"
    doc["Statement"][0]["Sid"] = "Sid" + marker
    text = json.dumps(doc, indent=draw(st.sampled_from([None, 2])))
    # Put the raw character into a string value (json.dumps would escape a control character).
    return text.replace(marker, bad, 1)


def wrong_character_policies(account_id: str, partition: str = "aws") -> st.SearchStrategy[Invalid[str]]:
    """Policies with one character outside the PolicyType pattern, inside a Sid string (POLICY-004).

    Characters above U+00FF leave the JSON valid; raw C0 control characters make it invalid JSON as well.
    """
    return label(
        _wrong_characters(account_id, partition).filter(lambda p: policy_limits().length_ok(len(p))),
        "POLICY-004",
        "Policy contains a character outside the allowed set",
    )


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


@st.composite
def _broken_json(draw: st.DrawFn, account_id: str, partition: str) -> str:
    text = draw(lockout_safe_policies(account_id, partition))
    kind = draw(
        st.sampled_from(["truncate", "trailing", "quotes", "comma", "drop-comma", "prose", "unquoted"])
    )
    if kind == "truncate":
        return text[: draw(st.integers(1, len(text) - 1))]
    if kind == "trailing":
        return text + draw(st.sampled_from(["}", ",", "]", "x", "{}"]))
    if kind == "quotes":
        return text.replace('"', "'")
    if kind == "comma":
        return text[:-1].rstrip() + ",}"
    if kind == "drop-comma":
        return text.replace(",", "", 1)
    if kind == "unquoted":
        return text.replace('"Version"', "Version", 1)
    return draw(st.sampled_from(["not a policy", "{", "Statement: []", "{'Version': '2012-10-17'}", "[}"]))


def malformed_json_policies(account_id: str, partition: str = "aws") -> st.SearchStrategy[Invalid[str]]:
    """Policy text that is not JSON at all (POLICY-005); only allowed characters, legal length."""
    values = _broken_json(account_id, partition).filter(lambda p: policy_limits().accepts(p) and _not_json(p))
    return label(values, "POLICY-005", "Policy is not valid JSON")


@st.composite
def _bad_structure(draw: st.DrawFn, account_id: str, partition: str) -> Any:
    doc = draw(_safe_doc(account_id, partition))
    statements = doc["Statement"]
    target = statements[draw(st.integers(0, len(statements) - 1))]
    kind = draw(
        st.sampled_from(
            [
                "no-statement",
                "no-effect",
                "no-principal",
                "no-action",
                "bad-effect",
                "statement-scalar",
                "top-level",
            ]
        )
    )
    if kind == "no-statement":
        del doc["Statement"]
    elif kind == "no-effect":
        del target["Effect"]
    elif kind == "no-principal":
        del target["Principal"]
    elif kind == "no-action":
        del target["Action"]
    elif kind == "bad-effect":
        target["Effect"] = draw(st.sampled_from(["Permit", "", "Allowed", "Grant"]))
    elif kind == "statement-scalar":
        doc["Statement"] = draw(st.sampled_from(["kms:*", 42, True]))
    else:
        return draw(st.sampled_from([statements, "policy", 1, None]))
    return doc


def structurally_invalid_policies(account_id: str, partition: str = "aws") -> st.SearchStrategy[Invalid[str]]:
    """Valid JSON that is not a valid key policy: no Statement/Effect/Principal/Action, bad Effect,
    Statement not a list/object, or a top level that is not an object (POLICY-006)."""
    return label(
        _text(_bad_structure(account_id, partition)).filter(policy_limits().accepts),
        "POLICY-006",
        "JSON that is not a valid key policy",
    )


def invalid_policies(account_id: str, partition: str = "aws") -> st.SearchStrategy[Invalid[str]]:
    """Every Policy value rejected whatever BypassPolicyLockoutSafetyCheck says (POLICY-003/4/5/6/9)."""
    return st.one_of(
        oversized_policies(account_id, partition),
        wrong_character_policies(account_id, partition),
        malformed_json_policies(account_id, partition),
        structurally_invalid_policies(account_id, partition),
        empty_policies(),
    )
