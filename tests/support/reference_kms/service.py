"""In-memory KMS state and operations: the conforming behaviour the suite is proved against.

Written from the AWS KMS API reference, the multi-Region key developer guide and the recordings of real AWS in
/work/shared/aws-recordings (messages are the recorded ones where a recording exists). Every seeded fault is a
``self._fault(name)`` hook on the normal code path.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hmac
import itertools
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import crypto
from .faults import FAULTS
from .validation import known_partitions, operation_model, partition_of, validate_input

Body = dict[str, Any]

DAY = 86400.0
POLICY_QUOTA = 32768
ALIAS_MSG = "Key Aliases are not supported for this operation."
INCORRECT_KEY_MSG = "The key ID in the request does not identify a CMK that can perform this operation."
ALREADY_EXISTS_MSG = "You can create only one replica of each primary key in each AWS Region."
UNSUPPORTED_SPECS = {"SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MRK = re.compile(r"mrk-[0-9a-f]{32}")
_REGION_PATTERN = re.compile(r"([a-z]+-){2,3}\d+")
_STATE_PHRASE = {
    "Creating": "creating",
    "PendingImport": "pending import",
    "PendingDeletion": "pending deletion",
    "PendingReplicaDeletion": "pending replica deletion",
    "Updating": "updating",
    "Unavailable": "unavailable",
    "Disabled": "disabled",
}
DELETING = ("PendingDeletion", "PendingReplicaDeletion")


class KMSError(Exception):
    """An error answered to the client: ``{"__type": code, "message": message}`` with ``status``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def default_policy(partition: str, account: str) -> str:
    """The default key policy exactly as AWS pretty-prints it (recorded ReplicaPolicy / GetKeyPolicy)."""
    return (
        '{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n'
        '    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n    "Principal" : {\n'
        f'      "AWS" : "arn:{partition}:iam::{account}:root"\n'
        '    },\n    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}'
    )


@dataclass
class Key:
    """One KMS key in one Region. Related multi-Region keys share ``family``; shared properties are copies."""

    key_id: str
    family: str
    region: str
    partition: str
    seq: int
    created: float
    description: str
    policy: str
    tags: dict[str, str]
    state: str
    spec: str
    usage: str
    origin: str
    algs: dict[str, list[str]]
    multi_region: bool
    mr_type: str | None = None
    mrc_primary: str | None = None
    mrc_replicas: list[str] = field(default_factory=list)
    ready_at: float | None = None
    final_state: str = "Enabled"
    materials: dict[str, bytes] = field(default_factory=dict)
    current_material: str | None = None
    expected_material: str | None = None
    expiration_model: str | None = None
    valid_to: float | None = None
    rotation_enabled: bool = False
    rotation_period: int | None = None
    next_rotation: float | None = None
    deletion_date: float | None = None
    pending_window: int | None = None
    report_single_region: bool = False
    stale_enabled: bool = False
    # Completed rotations, oldest first: (new material ID, RotationDate, RotationType).
    rotations: list[tuple[str, float, str]] = field(default_factory=list)


@dataclass
class ImportParams:
    region: str
    key_id: str
    algorithm: str
    private: rsa.RSAPrivateKey
    valid_to: float


class KMSBackend:
    """Thread-safe in-memory KMS for one account across all Regions."""

    def __init__(
        self,
        faults: Iterable[str] = (),
        creating_seconds: float = 0.2,
        account_id: str = "111111111111",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.faults = frozenset(faults)
        unknown = sorted(self.faults - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown faults: {unknown}")
        self.creating_seconds = creating_seconds
        self.account = account_id
        self.clock = clock
        self._lock = threading.RLock()
        self._seq = itertools.count()
        self.keys: dict[tuple[str, str], Key] = {}
        self.family_replicas: dict[str, list[str]] = {}
        self.aliases: dict[tuple[str, str], dict[str, Any]] = {}
        self.import_params: dict[bytes, ImportParams] = {}
        self._wrapping: dict[str, rsa.RSAPrivateKey] = {}

    # ------------------------------------------------------------------ plumbing
    def _fault(self, name: str) -> bool:
        assert name in FAULTS, name
        return name in self.faults

    def handle(self, operation: str, region: str, body: Body) -> tuple[int, Body]:
        """Run one request; returns (HTTP status, JSON body)."""
        try:
            with self._lock:
                return 200, self._dispatch(operation, region, body)
        except KMSError as exc:
            return exc.status, {"__type": exc.code, "message": exc.message}

    def _dispatch(self, operation: str, region: str, body: Body) -> Body:
        handler = getattr(self, f"op_{operation}", None)
        op = operation_model(operation)
        if op is None or handler is None:
            raise KMSError("UnknownOperationException", f"Unknown operation {operation}")
        if not isinstance(body, dict):
            raise KMSError("SerializationException", "Start of structure or map found where not expected.")
        problem = validate_input(op, body, self._ignored_constraint(operation))
        if problem:
            raise KMSError("ValidationException", problem)
        self._refresh_all()
        result: Body = handler(region, body)
        return result

    def _ignored_constraint(self, operation: str) -> Callable[[str], bool] | None:
        if operation != "ReplicateKey":
            return None
        rules: list[Callable[[str], bool]] = []
        if self._fault("replicate-keyid-length-unchecked"):
            rules.append(lambda e: "at 'keyId'" in e)
        if self._fault("replicate-region-pattern-unchecked"):
            rules.append(lambda e: "at 'replicaRegion'" in e)
        if self._fault("replicate-policy-too-long-allowed"):
            rules.append(lambda e: "at 'policy'" in e and "length less than" in e)
        if self._fault("replicate-empty-policy-allowed"):
            rules.append(lambda e: "at 'policy'" in e and "length greater than" in e)
        if self._fault("replicate-policy-bad-chars-allowed"):
            rules.append(lambda e: "at 'policy'" in e and "regular expression" in e)
        if self._fault("replicate-tag-key-length-unchecked"):
            rules.append(lambda e: ".tagKey'" in e and "length" in e)
        if self._fault("replicate-tag-value-length-unchecked"):
            rules.append(lambda e: ".tagValue'" in e and "length" in e)
        if self._fault("replicate-description-length-unchecked"):
            rules.append(lambda e: "at 'description'" in e)
        if not rules:
            return None
        return lambda e: any(rule(e) for rule in rules)

    def _refresh_all(self) -> None:
        now = self.clock()
        for key in self.keys.values():
            if key.state == "Creating" and key.ready_at is not None and now >= key.ready_at:
                if self._fault("replica-never-leaves-creating"):
                    continue
                key.state = key.final_state
                key.ready_at = None

    def _partition(self, region: str) -> str:
        return partition_of(region) or "aws"

    def _arn(self, region: str, key_id: str) -> str:
        return f"arn:{self._partition(region)}:kms:{region}:{self.account}:key/{key_id}"

    def arn(self, key: Key) -> str:
        """The key's ARN."""
        return self._arn(key.region, key.key_id)

    def _related(self, key: Key) -> list[Key]:
        return [k for k in self.keys.values() if k.family == key.family]

    def _primary_of(self, key: Key) -> Key | None:
        return next((k for k in self._related(key) if k.mr_type == "PRIMARY"), None)

    def _state_error(self, key: Key) -> KMSError:
        if key.state == "Disabled":
            return KMSError("DisabledException", f"{self.arn(key)} is disabled.")
        return KMSError("KMSInvalidStateException", f"{self.arn(key)} is {_STATE_PHRASE[key.state]}.")

    # ------------------------------------------------------------------ key resolution
    def _resolve(self, region: str, value: str, allow_alias: bool, operation: str = "") -> Key:
        replicate = operation == "ReplicateKey"
        if replicate and self._fault("replicate-accepts-alias"):
            allow_alias = True
        partition = self._partition(region)
        if value.startswith("alias/"):
            if not allow_alias:
                raise KMSError("InvalidArnException", ALIAS_MSG)
            return self._alias_target(region, value)
        if value.startswith("arn:"):
            parts = value.split(":", 5)
            valid = (
                len(parts) == 6
                and parts[1] in known_partitions()
                and parts[2] == "kms"
                and re.fullmatch(r"\d{12}", parts[4]) is not None
                and (parts[5].startswith("key/") or parts[5].startswith("alias/"))
                and _REGION_PATTERN.fullmatch(parts[3]) is not None
            )
            if not valid:
                if replicate and self._fault("replicate-malformed-arn-wrong-code"):
                    raise KMSError("UnsupportedOperationException", f"{value} is not supported.")
                raise KMSError("InvalidArnException", f"ARN {value} is not a valid KMS key or alias ARN.")
            _, arn_partition, _, arn_region, account, resource = parts
            if resource.startswith("alias/"):
                if not allow_alias:
                    raise KMSError("InvalidArnException", ALIAS_MSG)
                if arn_region != region or arn_partition != partition or account != self.account:
                    raise KMSError("NotFoundException", f"Alias {value} is not found.")
                return self._alias_target(region, resource)
            wrong_region = arn_region != region or arn_partition != partition
            if wrong_region and not (replicate and self._fault("replicate-accepts-foreign-region-arn")):
                raise KMSError("NotFoundException", f"Invalid arn {arn_region}")
            if account != self.account and not (
                replicate and self._fault("replicate-accepts-foreign-account-arn")
            ):
                raise KMSError("NotFoundException", f"Key '{value}' does not exist")
            value = resource.removeprefix("key/")
        if _UUID.fullmatch(value) is None and _MRK.fullmatch(value) is None:
            if replicate and self._fault("replicate-malformed-keyid-internal-error"):
                raise KMSError("KMSInternalException", "An internal error occurred.", status=500)
            raise KMSError("NotFoundException", f"Invalid keyId '{value}'")
        key = self.keys.get((region, value))
        if key is None:
            if replicate and self._fault("replicate-missing-key-wrong-code"):
                raise KMSError("KMSInvalidStateException", f"{self._arn(region, value)} is unavailable.")
            raise KMSError("NotFoundException", f"Key '{self._arn(region, value)}' does not exist")
        return key

    def _alias_entry(self, region: str, name: str) -> dict[str, Any] | None:
        entry = self.aliases.get((region, name))
        if entry is None and self._fault("alias-global"):
            entry = next((v for (_, n), v in self.aliases.items() if n == name), None)
        return entry

    def _alias_target(self, region: str, name: str) -> Key:
        entry = self._alias_entry(region, name)
        alias_arn = f"arn:{self._partition(region)}:kms:{region}:{self.account}:{name}"
        if entry is None:
            raise KMSError("NotFoundException", f"Alias {alias_arn} is not found.")
        key = self.keys.get((entry["Region"], entry["TargetKeyId"]))
        if key is None:
            raise KMSError("NotFoundException", f"Alias {alias_arn} is not found.")
        if key.region != region:  # only reachable through the alias-global fault
            key = self.keys.get((region, key.key_id), key)
        return key

    # ------------------------------------------------------------------ rendering
    def _metadata(self, key: Key) -> Body:
        md: Body = {
            "AWSAccountId": self.account,
            "KeyId": key.key_id,
            "Arn": self.arn(key),
            "CreationDate": key.created,
            "Enabled": key.state == "Enabled" or key.stale_enabled,
            "Description": key.description,
            "KeyUsage": key.usage,
            "KeyState": key.state,
            "Origin": key.origin,
            "KeyManager": "CUSTOMER",
        }
        if key.deletion_date is not None:
            md["DeletionDate"] = key.deletion_date
        if key.valid_to is not None:
            md["ValidTo"] = key.valid_to
        if (
            key.origin == "EXTERNAL"
            and key.expiration_model
            and (key.current_material or key.state == "Creating")
        ):
            md["ExpirationModel"] = key.expiration_model
        if key.spec in (
            "RSA_2048",
            "RSA_3072",
            "RSA_4096",
            "ECC_NIST_P256",
            "ECC_NIST_P384",
            "ECC_NIST_P521",
            "ECC_SECG_P256K1",
            "SYMMETRIC_DEFAULT",
            "HMAC_224",
            "HMAC_256",
            "HMAC_384",
            "HMAC_512",
        ):
            md["CustomerMasterKeySpec"] = key.spec
        md["KeySpec"] = key.spec
        md.update({k: list(v) for k, v in key.algs.items()})
        md["MultiRegion"] = key.multi_region and not key.report_single_region
        if key.multi_region:
            replicas = list(key.mrc_replicas)
            if self._fault("mrc-lists-primary") and key.mrc_primary:
                replicas = [key.mrc_primary, *replicas]
            md["MultiRegionConfiguration"] = {
                "MultiRegionKeyType": key.mr_type,
                "PrimaryKey": {
                    "Arn": self._arn(key.mrc_primary or key.region, key.key_id),
                    "Region": key.mrc_primary or key.region,
                },
                "ReplicaKeys": [{"Arn": self._arn(r, key.key_id), "Region": r} for r in replicas],
            }
        if key.state == "PendingReplicaDeletion" and key.pending_window is not None:
            md["PendingDeletionWindowInDays"] = key.pending_window
        material = key.current_material or key.expected_material
        if key.state != "Creating" and material:
            md["CurrentKeyMaterialId"] = material
        return md

    # ------------------------------------------------------------------ policy and tags
    def _check_policy(self, policy: str, bypass: bool, region: str, replicate: bool = False) -> None:
        if len(policy.encode()) > POLICY_QUOTA and not (
            replicate and self._fault("replicate-policy-too-long-allowed")
        ):
            raise KMSError(
                "MalformedPolicyDocumentException",
                f"Key policy exceeds the maximum size of {POLICY_QUOTA} bytes.",
            )
        try:
            doc = json.loads(policy)
        except ValueError as exc:
            if replicate and self._fault("replicate-policy-invalid-json-allowed"):
                return
            if replicate and self._fault("replicate-policy-invalid-json-wrong-code"):
                raise KMSError("ValidationException", "Policy is not valid JSON.") from exc
            raise KMSError("MalformedPolicyDocumentException", "Syntax errors in policy.") from exc
        statements = self._policy_statements(doc, region)
        if statements is None:
            if replicate and self._fault("replicate-policy-structure-unchecked"):
                return
            raise KMSError("MalformedPolicyDocumentException", "Syntax errors in policy.")
        if not all(self._principal_ok(s, region) for s in statements):
            raise KMSError(
                "MalformedPolicyDocumentException",
                "Policy contains a statement with one or more invalid principals.",
            )
        if replicate and self._fault("replicate-bypass-flag-ignored"):
            bypass = False
        if bypass or (replicate and self._fault("replicate-lockout-check-skipped")):
            return
        if not any(self._allows_put_policy(s, region) for s in statements):
            raise KMSError(
                "MalformedPolicyDocumentException",
                "The new key policy will not allow you to update the key policy in the future.",
            )

    @staticmethod
    def _policy_statements(doc: Any, region: str) -> list[dict[str, Any]] | None:
        """The statements of a structurally valid key policy, or None."""
        if not isinstance(doc, dict) or set(doc) - {"Version", "Id", "Statement"}:
            return None
        if "Version" in doc and doc["Version"] not in ("2012-10-17", "2008-10-17"):
            return None
        raw = doc.get("Statement")
        statements = [raw] if isinstance(raw, dict) else raw
        if not isinstance(statements, list) or not statements:
            return None
        for s in statements:
            if not isinstance(s, dict) or s.get("Effect") not in ("Allow", "Deny"):
                return None
            if ("Principal" in s) == ("NotPrincipal" in s) or ("Action" in s) == ("NotAction" in s):
                return None
            for member in ("Action", "NotAction", "Resource", "NotResource"):
                v = s.get(member, [])
                if not (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))):
                    return None
        return statements

    def _principal_ok(self, statement: dict[str, Any], region: str) -> bool:
        principal = statement.get("Principal", statement.get("NotPrincipal"))
        if principal == "*":
            return True
        if not isinstance(principal, dict) or not principal:
            return False
        part = re.escape(self._partition(region))
        aws_re = re.compile(
            rf"\*|\d{{12}}|arn:{part}:iam::\d{{12}}:(root|(user|role|group)/\S+)"
            rf"|arn:{part}:sts::\d{{12}}:assumed-role/\S+"
        )
        for kind, values in principal.items():
            items = [values] if isinstance(values, str) else values
            if kind not in ("AWS", "Service", "Federated", "CanonicalUser") or not isinstance(items, list):
                return False
            if not items or not all(isinstance(v, str) and v for v in items):
                return False
            if kind == "AWS" and not all(aws_re.fullmatch(v) for v in items):
                return False
        return True

    def _allows_put_policy(self, statement: dict[str, Any], region: str) -> bool:
        if statement.get("Effect") != "Allow" or "Principal" not in statement or "Action" not in statement:
            return False
        principal = statement["Principal"]
        root = f"arn:{self._partition(region)}:iam::{self.account}:root"
        if principal != "*":
            aws = principal.get("AWS", []) if isinstance(principal, dict) else []
            aws = [aws] if isinstance(aws, str) else aws
            if not any(p in ("*", root, self.account) for p in aws):
                return False
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        return any(fnmatch.fnmatchcase("kms:putkeypolicy", a.lower()) for a in actions)

    def _check_tags(self, tags: list[dict[str, str]], replicate: bool = False) -> dict[str, str]:
        keys = [t["TagKey"] for t in tags]
        for k in keys:
            reserved = (
                k.startswith("aws:")
                if (replicate and self._fault("replicate-aws-prefix-case-sensitive"))
                else k.lower().startswith("aws:")
            )
            if reserved:
                if replicate and self._fault("replicate-aws-prefix-wrong-code"):
                    raise KMSError("ValidationException", "Tags beginning with aws: are reserved")
                raise KMSError("TagException", "Tags beginning with aws: are reserved")
        if len(set(keys)) != len(keys) and not (
            replicate and self._fault("replicate-duplicate-tags-allowed")
        ):
            raise KMSError("TagException", "Duplicate tag keys")
        if len(tags) > 50 and not (replicate and self._fault("replicate-too-many-tags-allowed")):
            raise KMSError("TagException", "Too many tags")
        return {t["TagKey"]: t["TagValue"] for t in tags}

    @staticmethod
    def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
        return [{"TagKey": k, "TagValue": v} for k, v in tags.items()]

    # ------------------------------------------------------------------ key creation
    def op_CreateKey(self, region: str, body: Body) -> Body:
        if "Policy" in body:
            self._check_policy(body["Policy"], bool(body.get("BypassPolicyLockoutSafetyCheck")), region)
        tags = self._check_tags(body.get("Tags", []))
        if "KeySpec" in body and "CustomerMasterKeySpec" in body:
            raise KMSError(
                "ValidationException", "You cannot specify KeySpec and CustomerMasterKeySpec together."
            )
        spec = body.get("KeySpec") or body.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
        if spec in UNSUPPORTED_SPECS:
            raise KMSError("UnsupportedOperationException", f"KeySpec {spec} is not supported in {region}.")
        usage = body.get("KeyUsage") or crypto.USAGES[spec][0]
        if usage not in crypto.USAGES[spec]:
            raise KMSError("ValidationException", f"KeyUsage {usage} is not compatible with KeySpec {spec}.")
        origin = body.get("Origin", "AWS_KMS")
        if origin not in ("AWS_KMS", "EXTERNAL") or body.get("CustomKeyStoreId") or body.get("XksKeyId"):
            raise KMSError("UnsupportedOperationException", f"Origin {origin} is not supported by this KMS.")
        multi = bool(body.get("MultiRegion"))
        key_id = f"mrk-{uuid.uuid4().hex}" if multi else str(uuid.uuid4())
        key = Key(
            key_id=key_id,
            family=key_id,
            region=region,
            partition=self._partition(region),
            seq=next(self._seq),
            created=self.clock(),
            description=body.get("Description", ""),
            policy=body.get("Policy") or default_policy(self._partition(region), self.account),
            tags=tags,
            state="PendingImport" if origin == "EXTERNAL" else "Enabled",
            spec=spec,
            usage=usage,
            origin=origin,
            algs=crypto.algorithms(spec, usage),
            multi_region=multi,
        )
        if origin == "AWS_KMS":
            material = crypto.generate_material(spec)
            key.current_material = crypto.material_id(material)
            key.materials[key.current_material] = material
        if multi:
            key.mr_type, key.mrc_primary, key.mrc_replicas = "PRIMARY", region, []
            self.family_replicas[key.family] = []
        self.keys[(region, key_id)] = key
        return {"KeyMetadata": self._metadata(key)}

    def op_DescribeKey(self, region: str, body: Body) -> Body:
        return {"KeyMetadata": self._metadata(self._resolve(region, body["KeyId"], allow_alias=True))}

    # ------------------------------------------------------------------ ReplicateKey
    def op_ReplicateKey(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False, operation="ReplicateKey")
        target = body["ReplicaRegion"]
        arn = self.arn(key)
        occupant = next((k for k in self._related(key) if k.region == target and k is not key), None)
        if not key.multi_region and not self._fault("replicate-single-region-allowed"):
            raise KMSError("UnsupportedOperationException", f"{arn} is not a multi-region primary key.")
        if key.mr_type == "REPLICA" and not self._fault("replicate-replica-allowed"):
            if occupant is not None and self._fault("replicate-replica-checks-region-first"):
                raise KMSError("AlreadyExistsException", ALREADY_EXISTS_MSG)
            raise KMSError("UnsupportedOperationException", f"{arn} is not a multi-region primary key.")
        if (
            key.state == "Disabled"
            and occupant is not None
            and self._fault("replicate-disabled-primary-checks-region-first")
        ):
            raise KMSError("AlreadyExistsException", ALREADY_EXISTS_MSG)
        self._check_replicable_state(key)
        self._check_replica_region(region, target)
        if occupant is not None:
            replace = (
                self._fault("replicate-pending-deletion-region-allowed")
                if occupant.state == "PendingDeletion"
                else self._fault("replicate-occupied-region-allowed")
            )
            if not replace:
                raise KMSError("AlreadyExistsException", ALREADY_EXISTS_MSG)
            self._drop(occupant)
        policy = body.get("Policy")
        if policy == "" and self._fault("replicate-empty-policy-allowed"):
            policy = None
        if policy is not None:
            self._check_policy(
                policy, bool(body.get("BypassPolicyLockoutSafetyCheck")), region, replicate=True
            )
        tags = self._check_tags(body.get("Tags", []), replicate=True)
        replica = self._make_replica(key, target, body, policy, tags)
        out: Body = {"ReplicaKeyMetadata": self._metadata(replica)}
        if self._fault("replicate-response-wrong-arn"):
            out["ReplicaKeyMetadata"]["Arn"] = arn
        if self._fault("replicate-response-missing-new-replica"):
            mrc = out["ReplicaKeyMetadata"]["MultiRegionConfiguration"]
            mrc["ReplicaKeys"] = [r for r in mrc["ReplicaKeys"] if r["Region"] != target]
        if not self._fault("replicate-omits-replica-policy"):
            out["ReplicaPolicy"] = replica.policy
        if "Tags" in body and not self._fault("replicate-omits-replica-tags"):
            out["ReplicaTags"] = list(body["Tags"])
        return out

    def _check_replicable_state(self, key: Key) -> None:
        state = key.state
        allowed = (
            state == "Enabled"
            or (state == "Disabled" and self._fault("replicate-disabled-primary-allowed"))
            or (state in DELETING and self._fault("replicate-pending-deletion-primary-allowed"))
            or (state == "PendingImport" and self._fault("replicate-pending-import-primary-allowed"))
        )
        if not allowed:
            raise self._state_error(key)

    def _check_replica_region(self, region: str, target: str) -> None:
        if _REGION_PATTERN.fullmatch(target) is None and self._fault("replicate-region-pattern-unchecked"):
            return
        target_partition = partition_of(target)
        if target_partition is None:
            if self._fault("replicate-unknown-region-internal-error"):
                raise KMSError("KMSInternalException", "An internal error occurred.", status=500)
            if self._fault("replicate-unknown-region-allowed"):
                return
            raise KMSError(
                "ValidationException",
                f"Region {target} is not a valid Region or multi-Region keys "
                f"are not supported in Region {target}.",
            )
        if target_partition != self._partition(region):
            if self._fault("replicate-other-partition-wrong-code"):
                raise KMSError("UnsupportedOperationException", f"Region {target} is not supported.")
            if self._fault("replicate-other-partition-allowed"):
                return
            raise KMSError(
                "ValidationException",
                "The replica key Region must be in the same AWS partition as the primary key Region.",
            )
        if target == region:
            if self._fault("replicate-own-region-wrong-code"):
                raise KMSError("AlreadyExistsException", ALREADY_EXISTS_MSG)
            raise KMSError(
                "ValidationException", f"{target} cannot have a replica because it contains the primary."
            )

    def _drop(self, key: Key) -> None:
        """Remove a key (only seeded faults replace an existing replica)."""
        del self.keys[(key.region, key.key_id)]
        replicas = self.family_replicas.get(key.family, [])
        if key.region in replicas:
            replicas.remove(key.region)
        for k in self._related(key):
            if key.region in k.mrc_replicas:
                k.mrc_replicas.remove(key.region)

    def _replica_material(self, primary: Key, replica: Key) -> None:
        fresh = (
            (primary.spec == "SYMMETRIC_DEFAULT" and self._fault("replica-different-key-material"))
            or (primary.spec in crypto.HMAC_BYTES and self._fault("replica-different-mac-key"))
            or (
                primary.spec not in crypto.HMAC_BYTES
                and primary.spec != "SYMMETRIC_DEFAULT"
                and self._fault("replica-different-signing-key")
            )
        )
        external = primary.origin == "EXTERNAL"
        if external and not self._fault("external-replica-enabled-without-import"):
            replica.final_state = "PendingImport"
            replica.expected_material = primary.current_material
            return
        if fresh:
            material = crypto.generate_material(primary.spec)
            replica.current_material = crypto.material_id(material)
            replica.materials = {replica.current_material: material}
        else:
            replica.materials = dict(primary.materials)
            replica.current_material = primary.current_material

    def _make_replica(
        self, primary: Key, target: str, body: Body, policy: str | None, tags: dict[str, str]
    ) -> Key:
        now = self.clock()
        description = body.get("Description")
        if self._fault("replicate-ignores-description"):
            description = ""
        if description is None:
            description = primary.description if self._fault("replicate-inherits-description") else ""
        if self._fault("replicate-ignores-policy"):
            policy = None
        if policy is None:
            policy = (
                primary.policy
                if self._fault("replicate-inherits-policy")
                else default_policy(self._partition(target), self.account)
            )
        if self._fault("replicate-ignores-tags"):
            tags = {}
        if self._fault("replicate-inherits-tags"):
            tags = {**primary.tags, **tags}
        key_id = f"mrk-{uuid.uuid4().hex}" if self._fault("replicate-new-key-id") else primary.key_id
        replica = Key(
            key_id=key_id,
            family=primary.family,
            region=target,
            partition=self._partition(target),
            seq=next(self._seq),
            created=primary.created if self._fault("replica-creation-date-copied") else now,
            description=description,
            policy=policy,
            tags=tags,
            state="Creating",
            spec="SYMMETRIC_DEFAULT" if self._fault("replica-key-spec-not-copied") else primary.spec,
            usage="ENCRYPT_DECRYPT" if self._fault("replica-key-usage-not-copied") else primary.usage,
            origin="AWS_KMS" if self._fault("replica-origin-not-copied") else primary.origin,
            algs={
                k: ([] if self._fault("replica-algorithms-not-copied") else list(v))
                for k, v in primary.algs.items()
            },
            multi_region=True,
            mr_type="REPLICA",
            mrc_primary=primary.region,
            ready_at=now + self.creating_seconds,
            expiration_model=primary.expiration_model,
            report_single_region=self._fault("replica-reports-single-region"),
        )
        self._replica_material(primary, replica)
        if replica.materials.keys() == primary.materials.keys():
            replica.rotations = list(primary.rotations)
        if not self._fault("replica-rotation-not-copied"):
            replica.rotation_enabled = primary.rotation_enabled
            replica.next_rotation = primary.next_rotation
            replica.rotation_period = (
                365
                if (self._fault("rotation-period-not-synchronised") and primary.rotation_period)
                else primary.rotation_period
            )
        replicas = self.family_replicas.setdefault(primary.family, [])
        replicas.append(target)
        for k in self._related(primary):
            if k is primary and self._fault("mrc-primary-not-updated"):
                continue
            if k is not primary and self._fault("mrc-older-replicas-not-updated"):
                continue
            if target not in k.mrc_replicas:
                k.mrc_replicas.append(target)
        replica.mrc_replicas = list(replicas)
        self.keys[(target, key_id)] = replica
        return replica

    # ------------------------------------------------------------------ UpdatePrimaryRegion
    def op_UpdatePrimaryRegion(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        arn = self.arn(key)
        target_region = body["PrimaryRegion"]
        if not key.multi_region:
            raise KMSError("UnsupportedOperationException", f"{arn} is not a multi-Region key.")
        if key.mr_type != "PRIMARY":
            if self._fault("update-primary-from-replica-allowed"):
                return {}
            raise KMSError("KMSInvalidStateException", f"{arn} is not a multi-Region primary key.")
        if target_region == region:
            return {}
        target = next((k for k in self._related(key) if k.region == target_region), None)
        if target is None:
            if self._fault("update-primary-missing-replica-allowed"):
                return {}
            raise KMSError(
                "ValidationException", f"{key.key_id} does not have a replica key in the specified Region."
            )
        for k in (key, target):
            if k.state not in ("Enabled",):
                raise self._state_error(k)
        if self._fault("update-primary-no-swap"):
            return {}
        key.mr_type, target.mr_type = "REPLICA", "PRIMARY"
        replicas = [r for r in self.family_replicas[key.family] if r != target_region] + [region]
        self.family_replicas[key.family] = replicas
        for k in self._related(key):
            if k not in (key, target) and self._fault("update-primary-stale-replicas"):
                continue
            k.mrc_primary, k.mrc_replicas = target_region, list(replicas)
        return {}

    # ------------------------------------------------------------------ state changes
    def _related_targets(self, key: Key, fault: str) -> list[Key]:
        return self._related(key) if self._fault(fault) else [key]

    def op_EnableKey(self, region: str, body: Body) -> Body:
        return self._set_enabled(region, body, True)

    def op_DisableKey(self, region: str, body: Body) -> Body:
        return self._set_enabled(region, body, False)

    def _set_enabled(self, region: str, body: Body, enabled: bool) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        ok = ("Enabled", "Disabled") + (DELETING if self._fault("enable-pending-deletion-allowed") else ())
        if key.state not in ok:
            raise self._state_error(key)
        for k in self._related_targets(key, "disable-key-propagates"):
            if k.state in ok:
                k.state = "Enabled" if enabled else "Disabled"
                k.stale_enabled = not enabled and self._fault("state-enabled-flag-stale")
                k.deletion_date = k.pending_window = None
        return {}

    def op_ScheduleKeyDeletion(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        window = body.get("PendingWindowInDays", 30)
        if not 7 <= window <= 30 and not self._fault("deletion-window-unchecked"):
            bound = "greater than or equal to 7" if window < 7 else "less than or equal to 30"
            raise KMSError(
                "ValidationException",
                f"1 validation error detected: Value '{window}' at "
                f"'pendingWindowInDays' failed to satisfy constraint: "
                f"Member must have value {bound}",
            )
        if key.state not in ("Enabled", "Disabled", "PendingImport", "Unavailable"):
            raise self._state_error(key)
        targets = self._related_targets(key, "schedule-deletion-propagates")
        for k in targets:
            if k.state in ("Enabled", "Disabled", "PendingImport", "Unavailable"):
                self._schedule(k, window)
        out: Body = {"KeyId": self.arn(key), "KeyState": key.state, "PendingWindowInDays": window}
        if key.deletion_date is not None:
            out["DeletionDate"] = key.deletion_date
        return out

    def _schedule(self, key: Key, window: int) -> None:
        has_replicas = key.mr_type == "PRIMARY" and any(k.mr_type == "REPLICA" for k in self._related(key))
        key.pending_window = window
        key.stale_enabled = False
        if has_replicas and not self._fault("no-pending-replica-deletion"):
            key.state, key.deletion_date = "PendingReplicaDeletion", None
        else:
            key.state, key.deletion_date = "PendingDeletion", self.clock() + window * DAY

    def op_CancelKeyDeletion(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        if key.state not in DELETING:
            raise KMSError("KMSInvalidStateException", f"{self.arn(key)} is not pending deletion.")
        for k in self._related_targets(key, "cancel-deletion-propagates"):
            if k.state in DELETING:
                k.state = "Enabled" if self._fault("cancel-deletion-enables") else "Disabled"
                k.deletion_date = k.pending_window = None
        return {"KeyId": self.arn(key)}

    # ------------------------------------------------------------------ tags, policy, description
    def op_TagResource(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        if key.state in DELETING:
            raise self._state_error(key)
        tags = self._check_tags(body["Tags"])
        for k in self._related_targets(key, "tag-resource-propagates"):
            merged = {**k.tags, **tags}
            if len(merged) > 50:
                raise KMSError("TagException", "Too many tags")
            k.tags = merged
        return {}

    def op_UntagResource(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        if key.state in DELETING:
            raise self._state_error(key)
        for k in self._related_targets(key, "tag-resource-propagates"):
            for name in body["TagKeys"]:
                k.tags.pop(name, None)
        return {}

    def op_ListResourceTags(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        return {"Tags": self._tag_list(key.tags), "Truncated": False}

    def op_PutKeyPolicy(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        if body.get("PolicyName", "default") != "default":
            raise KMSError("NotFoundException", f"Policy {body['PolicyName']} does not exist.")
        self._check_policy(body["Policy"], bool(body.get("BypassPolicyLockoutSafetyCheck")), region)
        for k in self._related_targets(key, "put-key-policy-propagates"):
            k.policy = body["Policy"]
        return {}

    def op_GetKeyPolicy(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        if body.get("PolicyName", "default") != "default":
            raise KMSError("NotFoundException", f"Policy {body['PolicyName']} does not exist.")
        return {"Policy": key.policy, "PolicyName": "default"}

    def op_UpdateKeyDescription(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        if key.state in DELETING:
            raise self._state_error(key)
        for k in self._related_targets(key, "update-description-propagates"):
            k.description = body["Description"]
        return {}

    # ------------------------------------------------------------------ aliases
    def op_CreateAlias(self, region: str, body: Body) -> Body:
        name = body["AliasName"]
        if not name.startswith("alias/") or name.startswith("alias/aws/") or name == "alias/":
            raise KMSError(
                "ValidationException", f"Alias {name} must begin with alias/ and not with alias/aws/."
            )
        key = self._resolve(region, body["TargetKeyId"], allow_alias=False)
        if key.state in DELETING:
            raise self._state_error(key)
        if (region, name) in self.aliases:
            raise KMSError(
                "AlreadyExistsException",
                f"An alias with the name "
                f"arn:{self._partition(region)}:kms:{region}:{self.account}:{name} already exists",
            )
        now = self.clock()
        self.aliases[(region, name)] = {
            "Region": region,
            "TargetKeyId": key.key_id,
            "Created": now,
            "Updated": now,
        }
        return {}

    def op_DeleteAlias(self, region: str, body: Body) -> Body:
        name = body["AliasName"]
        if (region, name) not in self.aliases:
            raise KMSError(
                "NotFoundException",
                f"Alias arn:{self._partition(region)}:kms:{region}:{self.account}:{name} is not found.",
            )
        del self.aliases[(region, name)]
        return {}

    def op_ListAliases(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False) if body.get("KeyId") else None
        entries = [(n, v) for (r, n), v in self.aliases.items() if r == region or self._fault("alias-global")]
        out = []
        for name, entry in entries:
            if key is not None and entry["TargetKeyId"] != key.key_id:
                continue
            out.append(
                {
                    "AliasName": name,
                    "AliasArn": f"arn:{self._partition(region)}:kms:{region}:{self.account}:{name}",
                    "TargetKeyId": entry["TargetKeyId"],
                    "CreationDate": entry["Created"],
                    "LastUpdatedDate": entry["Updated"],
                }
            )
        return {"Aliases": out, "Truncated": False}

    # ------------------------------------------------------------------ rotation
    def op_EnableKeyRotation(self, region: str, body: Body) -> Body:
        return self._set_rotation(region, body, "EnableKeyRotation")

    def op_DisableKeyRotation(self, region: str, body: Body) -> Body:
        return self._set_rotation(region, body, "DisableKeyRotation")

    def _set_rotation(self, region: str, body: Body, operation: str) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        arn = self.arn(key)
        if key.mr_type == "REPLICA" and not self._fault("replica-rotation-change-allowed"):
            raise KMSError(
                "UnsupportedOperationException",
                f"{arn} is a multi-region replica key which is not valid for {operation}.",
            )
        if key.spec != "SYMMETRIC_DEFAULT" and not self._fault("asymmetric-rotation-allowed"):
            raise KMSError(
                "UnsupportedOperationException",
                f"{arn} has KeySpec {key.spec} which is not valid for {operation}.",
            )
        if key.origin != "AWS_KMS":
            raise KMSError(
                "UnsupportedOperationException",
                f"{arn} origin is {key.origin} which is not valid for {operation}.",
            )
        if key.state != "Enabled":
            raise self._state_error(key)
        enable = operation == "EnableKeyRotation"
        period = body.get("RotationPeriodInDays", 365)
        targets = [key]
        if key.mr_type == "PRIMARY" and not self._fault("rotation-not-synchronised"):
            targets = self._related(key)
        nxt = self.clock() + period * DAY if enable else None
        for k in targets:
            k.rotation_enabled = enable
            k.next_rotation = nxt
            if enable:
                k.rotation_period = (
                    365 if (k is not key and self._fault("rotation-period-not-synchronised")) else period
                )
        return {}

    def op_GetKeyRotationStatus(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        if key.spec != "SYMMETRIC_DEFAULT" and not self._fault("asymmetric-rotation-allowed"):
            raise KMSError(
                "UnsupportedOperationException",
                f"{self.arn(key)} has KeySpec {key.spec} which is not valid for GetKeyRotationStatus.",
            )
        # "While a KMS key is pending deletion, its key rotation status is false" (GetKeyRotationStatus API
        # reference; recorded for a replica PendingDeletion: deleting_rotation_us-east-1). A primary
        # PendingReplicaDeletion was recorded still reporting true (deleting_rotation_us-west-2).
        enabled = key.rotation_enabled and key.state != "PendingDeletion"
        out: Body = {"KeyRotationEnabled": enabled, "KeyId": self.arn(key)}
        if enabled:
            out["RotationPeriodInDays"] = key.rotation_period or 365
            if key.next_rotation is not None:
                out["NextRotationDate"] = key.next_rotation
        return out

    def op_RotateKeyOnDemand(self, region: str, body: Body) -> Body:
        """Rotate now. On a multi-Region primary the new material reaches every replica ("invoke the on-demand
        rotation on the primary key", RotateKeyOnDemand API reference); a replica refuses (recorded:
        replica_rotate-key-on-demand). On-demand rotation of imported material is not implemented here."""
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        arn = self.arn(key)
        if key.mr_type == "REPLICA":
            raise KMSError(
                "UnsupportedOperationException",
                f"{arn} is a multi-region replica key which is not valid for RotateKeyOnDemand.",
            )
        if key.spec != "SYMMETRIC_DEFAULT":
            raise KMSError(
                "UnsupportedOperationException",
                f"{arn} has KeySpec {key.spec} which is not valid for RotateKeyOnDemand.",
            )
        if key.origin != "AWS_KMS":
            raise KMSError(
                "UnsupportedOperationException",
                f"{arn} origin is {key.origin} which is not valid for RotateKeyOnDemand.",
            )
        if key.state != "Enabled":
            raise self._state_error(key)
        material = crypto.generate_material(key.spec)
        mat_id = crypto.material_id(material)
        now = self.clock()
        for k in self._related(key) if key.multi_region else [key]:
            k.materials[mat_id] = material
            k.current_material = mat_id
            k.rotations.append((mat_id, now, "ON_DEMAND"))
        return {"KeyId": arn}

    def op_ListKeyRotations(self, region: str, body: Body) -> Body:
        """Completed rotations; ALL_KEY_MATERIAL adds the first key material (ListKeyRotations API reference)."""
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        if key.spec != "SYMMETRIC_DEFAULT":
            raise KMSError(
                "UnsupportedOperationException",
                f"{self.arn(key)} has KeySpec {key.spec} which is not valid for ListKeyRotations.",
            )
        arn = self.arn(key)
        current = key.current_material or key.expected_material
        entries: list[Body] = []
        rotated = {mat_id for mat_id, _, _ in key.rotations}
        if body.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL":
            first = next((m for m in key.materials if m not in rotated), None) or key.expected_material
            if first is not None:
                entry: Body = {
                    "KeyId": arn,
                    "KeyMaterialId": first,
                    "KeyMaterialState": "CURRENT" if first == current else "NON_CURRENT",
                }
                if key.origin == "EXTERNAL":
                    entry["ImportState"] = "IMPORTED" if first in key.materials else "PENDING_IMPORT"
                    if first in key.materials and key.expiration_model:
                        entry["ExpirationModel"] = key.expiration_model
                entries.append(entry)
        for mat_id, date, kind in key.rotations:
            entries.append(
                {
                    "KeyId": arn,
                    "KeyMaterialId": mat_id,
                    "KeyMaterialState": "CURRENT" if mat_id == current else "NON_CURRENT",
                    "RotationDate": date,
                    "RotationType": kind,
                }
            )
        start = int(body.get("Marker") or 0) if str(body.get("Marker") or "0").isdigit() else -1
        if start < 0 or start > len(entries):
            raise KMSError("InvalidMarkerException", "The marker is invalid.")
        limit = int(body.get("Limit") or 100)
        page = entries[start : start + limit]
        out: Body = {"Rotations": page, "Truncated": start + limit < len(entries)}
        if out["Truncated"]:
            out["NextMarker"] = str(start + limit)
        return out

    # ------------------------------------------------------------------ cryptography
    def _usable(self, key: Key) -> None:
        state = key.state
        if state == "Enabled":
            return
        if state == "Disabled" and self._fault("crypto-allowed-when-disabled"):
            return
        if state == "Creating" and self._fault("crypto-allowed-while-creating") and key.current_material:
            return
        if state in DELETING and self._fault("crypto-allowed-pending-deletion"):
            return
        raise self._state_error(key)

    def _usage(self, key: Key, usage: str, operation: str) -> bytes:
        if key.usage != usage:
            raise KMSError(
                "InvalidKeyUsageException",
                f"{self.arn(key)} key usage is {key.usage} which is not valid for {operation}.",
            )
        material = key.materials.get(key.current_material or "")
        if material is None:
            raise self._state_error(key)
        return material

    def _algorithm(self, key: Key, member: str, algorithm: str) -> None:
        if algorithm not in key.algs.get(member, []):
            raise KMSError(
                "InvalidKeyUsageException", f"Algorithm {algorithm} is incompatible with key spec {key.spec}."
            )

    @staticmethod
    def _blob(body: Body, member: str) -> bytes:
        try:
            return base64.b64decode(body[member], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise KMSError("SerializationException", f"{member} is not valid base64.") from exc

    def _context(self, body: Body) -> dict[str, str] | None:
        if self._fault("encryption-context-ignored"):
            return None
        ctx: dict[str, str] | None = body.get("EncryptionContext")
        return ctx

    def op_Encrypt(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=True)
        self._usable(key)
        material = self._usage(key, "ENCRYPT_DECRYPT", "Encrypt")
        algorithm = body.get("EncryptionAlgorithm", "SYMMETRIC_DEFAULT")
        self._algorithm(key, "EncryptionAlgorithms", algorithm)
        plaintext = self._blob(body, "Plaintext")
        if algorithm == "SYMMETRIC_DEFAULT":
            assert key.current_material is not None
            blob = crypto.sym_encrypt(
                key.key_id, key.current_material, material, plaintext, self._context(body)
            )
        else:
            try:
                blob = crypto.rsa_encrypt(material, algorithm, plaintext)
            except ValueError as exc:
                raise KMSError(
                    "ValidationException", "Plaintext is too long for the key and algorithm."
                ) from exc
        return {"CiphertextBlob": _b64(blob), "KeyId": self.arn(key), "EncryptionAlgorithm": algorithm}

    def op_Decrypt(self, region: str, body: Body) -> Body:
        blob = self._blob(body, "CiphertextBlob")
        algorithm = body.get("EncryptionAlgorithm", "SYMMETRIC_DEFAULT")
        requested = body.get("KeyId")
        if algorithm != "SYMMETRIC_DEFAULT":
            if not requested:
                raise KMSError("ValidationException", "KeyId is required for asymmetric decryption.")
            key = self._resolve(region, requested, allow_alias=True)
            self._usable(key)
            material = self._usage(key, "ENCRYPT_DECRYPT", "Decrypt")
            self._algorithm(key, "EncryptionAlgorithms", algorithm)
            try:
                plaintext = crypto.rsa_decrypt(material, algorithm, blob)
            except crypto.CryptoFailure as exc:
                raise KMSError("InvalidCiphertextException", "") from exc
            return {"KeyId": self.arn(key), "Plaintext": _b64(plaintext), "EncryptionAlgorithm": algorithm}
        parts = crypto.parse_sym_blob(blob)
        if parts is None:
            raise KMSError("InvalidCiphertextException", "")
        blob_key_id, mat_id, nonce, ct = parts
        owner = next((k for k in self.keys.values() if k.region == region and k.key_id == blob_key_id), None)
        if requested and not self._fault("decrypt-ignores-keyid"):
            self._check_requested_key(region, requested, owner)
        if owner is None:
            raise KMSError("NotFoundException", f"Key '{self._arn(region, blob_key_id)}' does not exist")
        self._usable(owner)
        self._usage(owner, "ENCRYPT_DECRYPT", "Decrypt")
        found = owner.materials.get(mat_id)
        if found is None:
            raise KMSError("InvalidCiphertextException", "")
        ctx = self._context(body)
        try:
            plaintext = crypto.sym_decrypt(found, nonce, ct, ctx)
        except crypto.CryptoFailure as exc:
            raise KMSError("InvalidCiphertextException", "") from exc
        # KeyMaterialId: "present only when the operation uses a symmetric encryption KMS key" (botocore's
        # DecryptResponse; recorded on AWS in decrypt_replica_implicit).
        return {
            "KeyId": self.arn(owner),
            "Plaintext": _b64(plaintext),
            "EncryptionAlgorithm": algorithm,
            "KeyMaterialId": mat_id,
        }

    def _check_requested_key(self, region: str, requested: str, owner: Key | None) -> None:
        """Decrypt's KeyId must name the key that made the ciphertext, in this Region (recorded)."""
        parts = requested.split(":", 5)
        if requested.startswith("arn:") and len(parts) == 6 and parts[3] != region:
            raise KMSError("IncorrectKeyException", INCORRECT_KEY_MSG)
        named = self._resolve(region, requested, allow_alias=True)
        if named is not owner:
            raise KMSError("IncorrectKeyException", INCORRECT_KEY_MSG)

    def op_GenerateDataKey(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=True)
        spec, n = body.get("KeySpec"), body.get("NumberOfBytes")
        if (spec is None) == (n is None):
            raise KMSError("ValidationException", "Please specify either number of bytes or key spec.")
        self._usable(key)
        material = self._usage(key, "ENCRYPT_DECRYPT", "GenerateDataKey")
        if key.spec != "SYMMETRIC_DEFAULT":
            raise KMSError(
                "InvalidKeyUsageException",
                f"{self.arn(key)} key spec is {key.spec} which is not valid for GenerateDataKey.",
            )
        plaintext = os.urandom(n if n is not None else {"AES_256": 32, "AES_128": 16}[str(spec)])
        assert key.current_material is not None
        blob = crypto.sym_encrypt(key.key_id, key.current_material, material, plaintext, self._context(body))
        return {
            "CiphertextBlob": _b64(blob),
            "Plaintext": _b64(plaintext),
            "KeyId": self.arn(key),
            "KeyMaterialId": key.current_material,
        }

    def op_GenerateMac(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=True)
        self._usable(key)
        material = self._usage(key, "GENERATE_VERIFY_MAC", "GenerateMac")
        self._algorithm(key, "MacAlgorithms", body["MacAlgorithm"])
        mac = crypto.mac(material, body["MacAlgorithm"], self._blob(body, "Message"))
        return {"Mac": _b64(mac), "MacAlgorithm": body["MacAlgorithm"], "KeyId": self.arn(key)}

    def op_VerifyMac(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=True)
        self._usable(key)
        material = self._usage(key, "GENERATE_VERIFY_MAC", "VerifyMac")
        self._algorithm(key, "MacAlgorithms", body["MacAlgorithm"])
        expected = crypto.mac(material, body["MacAlgorithm"], self._blob(body, "Message"))
        if not _equal(expected, self._blob(body, "Mac")):
            raise KMSError("KMSInvalidMacException", "")
        return {"KeyId": self.arn(key), "MacValid": True, "MacAlgorithm": body["MacAlgorithm"]}

    def _sign_inputs(self, region: str, body: Body, operation: str) -> tuple[Key, bytes, bytes, bool]:
        key = self._resolve(region, body["KeyId"], allow_alias=True)
        self._usable(key)
        material = self._usage(key, "SIGN_VERIFY", operation)
        algorithm = body["SigningAlgorithm"]
        self._algorithm(key, "SigningAlgorithms", algorithm)
        message = self._blob(body, "Message")
        digest = body.get("MessageType", "RAW") == "DIGEST"
        if body.get("MessageType") == "EXTERNAL_MU" or (digest and key.spec == crypto.ED_SPEC):
            raise KMSError("ValidationException", "MessageType is not valid for this key spec.")
        if digest and len(message) != crypto.digest_size(algorithm):
            raise KMSError("ValidationException", "Digest is invalid length for algorithm " + algorithm + ".")
        return key, material, message, digest

    def op_Sign(self, region: str, body: Body) -> Body:
        key, material, message, digest = self._sign_inputs(region, body, "Sign")
        signature = crypto.sign(material, body["SigningAlgorithm"], message, digest)
        return {
            "KeyId": self.arn(key),
            "Signature": _b64(signature),
            "SigningAlgorithm": body["SigningAlgorithm"],
        }

    def op_Verify(self, region: str, body: Body) -> Body:
        key, material, message, digest = self._sign_inputs(region, body, "Verify")
        if not crypto.verify(
            material, body["SigningAlgorithm"], message, self._blob(body, "Signature"), digest
        ):
            raise KMSError("KMSInvalidSignatureException", "")
        return {"KeyId": self.arn(key), "SignatureValid": True, "SigningAlgorithm": body["SigningAlgorithm"]}

    def op_GetPublicKey(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=True)
        if key.spec == "SYMMETRIC_DEFAULT" or key.spec in crypto.HMAC_BYTES:
            raise KMSError(
                "UnsupportedOperationException",
                f"{self.arn(key)} key spec is {key.spec} which is not valid for GetPublicKey.",
            )
        self._usable(key)
        material = key.materials.get(key.current_material or "")
        if material is None:
            raise self._state_error(key)
        out: Body = {
            "KeyId": self.arn(key),
            "PublicKey": _b64(crypto.public_key_der(material)),
            "KeySpec": key.spec,
            "KeyUsage": key.usage,
        }
        if key.spec != crypto.ED_SPEC:
            out["CustomerMasterKeySpec"] = key.spec
        out.update({k: list(v) for k, v in key.algs.items()})
        return out

    # ------------------------------------------------------------------ imports
    def _external(self, key: Key) -> None:
        if key.origin != "EXTERNAL":
            raise KMSError(
                "UnsupportedOperationException",
                f"{self.arn(key)} origin is {key.origin} which is not valid for this operation.",
            )
        if key.state in DELETING or key.state in ("Creating", "Updating"):
            raise self._state_error(key)

    def op_GetParametersForImport(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        self._external(key)
        spec = body["WrappingKeySpec"]
        if spec not in crypto.RSA_BITS or body["WrappingAlgorithm"] == "SM2PKE":
            raise KMSError("UnsupportedOperationException", f"WrappingKeySpec {spec} is not supported.")
        private = self._wrapping.get(spec)
        if private is None:
            private = self._wrapping[spec] = crypto.generate_wrapping_key(spec)
        token = os.urandom(48)
        valid_to = self.clock() + DAY
        self.import_params[token] = ImportParams(
            region, key.key_id, body["WrappingAlgorithm"], private, valid_to
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "KeyId": self.arn(key),
            "ImportToken": _b64(token),
            "PublicKey": _b64(public),
            "ParametersValidTo": valid_to,
        }

    def op_ImportKeyMaterial(self, region: str, body: Body) -> Body:
        key = self._resolve(region, body["KeyId"], allow_alias=False)
        self._external(key)
        params = self.import_params.get(self._blob(body, "ImportToken"))
        if params is None or (params.region, params.key_id) != (region, key.key_id):
            raise KMSError("InvalidImportTokenException", "Import token is invalid or expired.")
        replica = key.mr_type == "REPLICA"
        if (
            replica
            and body.get("KeyMaterialDescription")
            and not self._fault("replica-import-description-allowed")
        ):
            raise KMSError(
                "ValidationException",
                "Key material description can only be specified on primary Multi-Region keys",
            )
        if replica and body.get("ImportType") == "NEW_KEY_MATERIAL":
            raise KMSError(
                "ValidationException",
                "Input parameter ImportType NEW_KEY_MATERIAL cannot be used on replica Multi-Region keys",
            )
        model = body.get("ExpirationModel", "KEY_MATERIAL_EXPIRES")
        if (model == "KEY_MATERIAL_EXPIRES") != ("ValidTo" in body):
            raise KMSError(
                "ValidationException",
                "ValidTo must be given exactly when ExpirationModel is KEY_MATERIAL_EXPIRES.",
            )
        try:
            material = crypto.unwrap(
                params.private, params.algorithm, self._blob(body, "EncryptedKeyMaterial")
            )
        except crypto.CryptoFailure as exc:
            raise KMSError("InvalidCiphertextException", "The key material could not be unwrapped.") from exc
        if not crypto.material_fits(key.spec, material):
            raise KMSError("IncorrectKeyMaterialException", f"Key material does not fit KeySpec {key.spec}.")
        mat_id = crypto.material_id(material)
        expected = key.expected_material if replica else key.current_material
        new_material = body.get("ImportType") == "NEW_KEY_MATERIAL"
        if (
            expected
            and mat_id != expected
            and not new_material
            and not (replica and self._fault("replica-import-accepts-different-material"))
        ):
            raise KMSError(
                "IncorrectKeyMaterialException",
                f"Imported key material does not have the expected identifier ({expected}).",
            )
        key.materials[mat_id] = material
        if key.current_material is None or (replica and mat_id != key.current_material):
            key.current_material = mat_id
        key.expiration_model = model
        key.valid_to = body.get("ValidTo")
        if key.state == "PendingImport":
            key.state = "Enabled"
        return {"KeyId": self.arn(key), "KeyMaterialId": mat_id}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
