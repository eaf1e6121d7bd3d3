"""Replay scripts: a standalone boto3 program that repeats a counterexample's calls.

Layer: verdicts and reports (uses targets only for the config type). The script never holds
credentials: it reads them from the environment (dummy ones for a loopback endpoint or moto).
Values the target made during the original run (key IDs, ciphertexts, MACs, signatures, import
tokens) are replaced by references to the replayed call's own results.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from conformance.targets import TargetConfig, _snake

TraceEntry = tuple[str, str, dict[str, Any]]
BACKSLASH, TRIPLE, SINGLE_TRIPLE = chr(92), chr(34) * 3, chr(39) * 3

# Response fields whose values later calls reuse, so the script refers to them by name.
_PRODUCED = {
    "CreateKey": ("KeyMetadata", "KeyId"),
    "Encrypt": ("CiphertextBlob",),
    "GenerateMac": ("Mac",),
    "Sign": ("Signature",),
    "GetParametersForImport": ("ImportToken",),
}

_HEADER = '''#!/usr/bin/env python3
"""Replays a kms-conformance counterexample: {rule}.

Expected: {expected}
Observed: {observed}

Run against the same implementation. Credentials come from the environment (for moto and
loopback endpoints, dummy values are used when none are set). Key IDs and other values the
target creates are taken from this run's own responses.
"""
import base64
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

TARGET = {kind!r}
ENDPOINT = os.environ.get("AWS_ENDPOINT_URL_KMS") or os.environ.get("AWS_ENDPOINT_URL") or {endpoint!r}
if TARGET != "aws" and not os.environ.get("AWS_ACCESS_KEY_ID"):
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
_CONFIG = Config(parameter_validation=False, retries={{"mode": "standard", "total_max_attempts": 3}})
_CLIENTS = {{}}


def kms(region):
    if region not in _CLIENTS:
        url = ENDPOINT if TARGET == "endpoint" else None
        _CLIENTS[region] = boto3.client("kms", region_name=region, endpoint_url=url, config=_CONFIG)
    return _CLIENTS[region]


def call(region, operation, **params):
    try:
        result = getattr(kms(region), operation)(**params)
        result.pop("ResponseMetadata", None)
        print(f"{{operation}} in {{region}}: OK", {{k: v for k, v in result.items() if not isinstance(v, bytes)}})
        return "Success", result
    except ClientError as exc:
        code = exc.response.get("Error", {{}}).get("Code")
        print(f"{{operation}} in {{region}}: {{code}}: {{exc.response.get('Error', {{}}).get('Message')}}")
        return code, {{}}
    except Exception as exc:  # an in-process implementation that crashes, as it did in the suite
        print(f"{{operation}} in {{region}}: {{type(exc).__name__}}: {{exc}}")
        return type(exc).__name__, {{}}


def wrap(public_key, material):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_der_public_key(public_key)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return key.encrypt(material, oaep)


def main():
'''

_FOOTER = """    print(f"last call: {{outcome}} (the suite observed: {observed_outcome})")
    return 0 if outcome == {observed_outcome!r} else 1


if __name__ == "__main__":
    if TARGET == "moto":
        from moto import mock_aws

        with mock_aws():
            sys.exit(main())
    sys.exit(main())
"""


def _docstring_safe(text: str) -> str:
    """Target text inside the script's docstring: backslashes doubled, no closing triple quotes."""
    return text[:500].replace(BACKSLASH, BACKSLASH * 2).replace(TRIPLE, SINGLE_TRIPLE)


def _literal(value: Any, produced: dict[Any, str], key_ids: dict[str, str]) -> str:
    if isinstance(value, bytes):
        if value in produced:
            return produced[value]
        return f"base64.b64decode({base64.b64encode(value).decode()!r})"
    if isinstance(value, str):
        for old, var in key_ids.items():
            if old in value:
                parts = value.split(old)
                return "(" + f" + {var} + ".join(repr(p) for p in parts) + ")"
        if value in produced:
            return produced[value]
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_literal(v, produced, key_ids)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v, produced, key_ids) for v in value) + "]"
    return repr(value)


def replay_script(
    trace: Sequence[TraceEntry],
    config: TargetConfig,
    *,
    rule: str = "",
    expected: str = "",
    observed: str = "",
    results: Sequence[dict[str, Any]] = (),
    observed_outcome: str = "",
) -> str:
    """A Python program replaying ``trace``; ``results[i]`` is what call i returned in the suite's run."""
    lines = [
        _HEADER.format(
            rule=rule or "see the report",
            expected=_docstring_safe(expected),
            observed=_docstring_safe(observed),
            kind=config.kind,
            endpoint=config.endpoint_url or "",
        )
    ]
    produced: dict[Any, str] = {}
    key_ids: dict[str, str] = {}
    outcome = "Success"
    for index, (region, operation, params) in enumerate(trace):
        var = f"r{index}"
        material = params.get("_material")
        args = []
        for name, value in params.items():
            if name == "_material":
                continue
            if name == "EncryptedKeyMaterial" and isinstance(material, bytes):
                public = produced.get(("public", params.get("ImportToken")), "None")
                args.append(f"EncryptedKeyMaterial=wrap({public}, {_literal(material, {}, {})})")
                continue
            args.append(f"{name}={_literal(value, produced, key_ids)}")
        lines.append(f"    outcome, {var} = call({region!r}, {_snake(operation)!r}, {', '.join(args)})")
        result = results[index] if index < len(results) else {}
        outcome = str(result.get("_outcome", "Success"))
        fields = _PRODUCED.get(operation)
        if fields and isinstance(result, dict):
            made: Any = result
            for f in fields:
                made = made.get(f) if isinstance(made, dict) else None
            if operation == "CreateKey" and isinstance(made, str):
                key_ids[made] = f"{var}.get('KeyMetadata', {{}}).get('KeyId', '')"
            elif made is not None:
                produced[made] = f"{var}.get({fields[-1]!r})"
                if operation == "GetParametersForImport":
                    produced[("public", made)] = f"{var}.get('PublicKey')"
    if not trace:
        lines.append("    outcome = 'Success'")
    lines.append(_FOOTER.format(observed_outcome=observed_outcome or outcome))
    return "\n".join(lines)


def outcome_of(kind: str, code: str) -> str:
    return "Success" if kind == "ok" else (code or kind)


def json_safe(value: Any) -> Any:
    return json.loads(
        json.dumps(value, default=lambda v: base64.b64encode(v).decode() if isinstance(v, bytes) else str(v))
    )
