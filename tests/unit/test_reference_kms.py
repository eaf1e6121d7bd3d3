"""The reference KMS behaves like the recordings of real AWS, and its seeded faults really deviate.

The suite is proved against this reference: a wrong reference would make the quality tests meaningless, so
each recorded case of /work/shared/aws-recordings/README.md is replayed here through a plain boto3 client.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import Shape
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from tests.support.reference_kms import FAULTS, ReferenceKMS, default_policy, region_from_authorization
from tests.support.reference_kms.validation import service_model

CREATING = 0.05
ROOT = Path(__file__).resolve().parents[2]
RECORDED_POLICY = (
    '{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n    "Sid" : "Enable IAM '
    'User Permissions",\n    "Effect" : "Allow",\n    "Principal" : {\n      "AWS" : '
    '"arn:aws:iam::111111111111:root"\n    },\n    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}'
)

Client = Any
Factory = Callable[[str], Client]


def _shape_problems(shape: Shape, value: Any, path: str) -> list[str]:
    """Members the output shape does not define, or values of the wrong JSON type."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        members = shape.members  # type: ignore[attr-defined]
        out = [f"{path}.{k}: not in {shape.name}" for k in value if k not in members]
        for k, v in value.items():
            if k in members:
                out += _shape_problems(members[k], v, f"{path}.{k}")
        return out
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: not a list"]
        return [p for i, v in enumerate(value) for p in _shape_problems(shape.member, v, f"{path}[{i}]")]  # type: ignore[attr-defined]
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "blob": str,
        "boolean": bool,
        "integer": int,
        "long": int,
        "timestamp": (int, float),
    }
    if kind in expected and not isinstance(value, expected[kind]):
        return [f"{path}: {value!r} is not {kind}"]
    return []


class _Recorder:
    """Wraps the backend so every successful response is checked against botocore's output shape (ERR-003)."""

    def __init__(self, kms: ReferenceKMS) -> None:
        self.problems: list[str] = []
        inner = kms.backend.handle

        def handle(operation: str, region: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            status, payload = inner(operation, region, body)
            if status == 200:
                shape = service_model().operation_model(operation).output_shape
                if shape is not None:
                    self.problems += _shape_problems(shape, payload, operation)
            return status, payload

        kms.backend.handle = handle  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def reference() -> Iterator[tuple[ReferenceKMS, _Recorder]]:
    with ReferenceKMS(creating_seconds=CREATING) as kms:
        recorder = _Recorder(kms)
        yield kms, recorder
        assert recorder.problems == []


def _factory(kms: ReferenceKMS) -> Factory:
    def make(region: str) -> Client:
        return boto3.client(
            "kms",
            region_name=region,
            endpoint_url=kms.url,
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",
            config=Config(parameter_validation=False, retries={"max_attempts": 1}),
        )

    return make


@pytest.fixture
def kms(reference: tuple[ReferenceKMS, _Recorder]) -> Factory:
    return _factory(reference[0])


def _error(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def _wait_state(client: Client, key_id: str, state: str, timeout: float = 2.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        md: dict[str, Any] = client.describe_key(KeyId=key_id)["KeyMetadata"]
        if md["KeyState"] == state or time.monotonic() > deadline:
            return md
        time.sleep(0.02)


def _mrk(client: Client, **kwargs: Any) -> dict[str, Any]:
    md: dict[str, Any] = client.create_key(MultiRegion=True, **kwargs)["KeyMetadata"]
    return md


def _import(client: Client, key_id: str, material: bytes, **extra: Any) -> dict[str, Any]:
    params = client.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    public = serialization.load_der_public_key(params["PublicKey"])
    wrapped = public.encrypt(material, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))  # type: ignore[union-attr]
    out: dict[str, Any] = client.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapped,
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        **extra,
    )
    return out


# ---------------------------------------------------------------- server basics
def test_binds_loopback_and_stops() -> None:
    kms = ReferenceKMS()
    url = kms.start()
    host, port = re.fullmatch(r"http://([\d.]+):(\d+)", url).groups()  # type: ignore[union-attr]
    assert host == "127.0.0.1"
    with socket.create_connection((host, int(port)), timeout=1):
        pass
    kms.stop()
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=1):
        pass


def test_region_comes_from_credential_scope() -> None:
    header = "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-west-2/kms/aws4_request, SignedHeaders=host"
    assert region_from_authorization(header) == "us-west-2"


def test_unknown_operation_and_unknown_fault(reference: tuple[ReferenceKMS, _Recorder]) -> None:
    status, body = reference[0].backend.handle("MakeCoffee", "us-east-1", {})
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    with pytest.raises(ValueError):
        ReferenceKMS(faults=["no-such-fault"])


def test_keys_are_regional(kms: Factory) -> None:
    """LS describe-key-from-different-region / describe-key-diff-region-with-arn."""
    east, west = kms("us-east-1"), kms("us-west-2")
    md = _mrk(east)
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", md["KeyId"])
    code, msg, status = _error(west.describe_key, KeyId=md["KeyId"])
    assert (code, status) == ("NotFoundException", 400)
    assert msg == f"Key 'arn:aws:kms:us-west-2:111111111111:key/{md['KeyId']}' does not exist"
    assert _error(west.describe_key, KeyId=md["Arn"])[:2] == ("NotFoundException", "Invalid arn us-east-1")
    assert _error(east.describe_key, KeyId="fake-key-id")[:2] == (
        "NotFoundException",
        "Invalid keyId 'fake-key-id'",
    )
    single = east.create_key()["KeyMetadata"]
    assert single["MultiRegion"] is False and "MultiRegionConfiguration" not in single


# ---------------------------------------------------------------- ReplicateKey: recorded cases
def test_replicate_region_errors(kms: Factory) -> None:
    east = kms("us-east-1")
    kid = _mrk(east, Description="stackd multi-Region primary")["KeyId"]
    cases = {
        "us-east-1": "us-east-1 cannot have a replica because it contains the primary.",
        "cn-north-1": "The replica key Region must be in the same AWS partition as the primary key Region.",
        "us-invalid-1": "Region us-invalid-1 is not a valid Region or multi-Region keys are not supported in "
        "Region us-invalid-1.",
    }
    for region, message in cases.items():
        assert _error(east.replicate_key, KeyId=kid, ReplicaRegion=region) == (
            "ValidationException",
            message,
            400,
        )
    code, _, _ = _error(east.replicate_key, KeyId=kid, ReplicaRegion="US_EAST_1")
    assert code == "ValidationException"
    assert _error(east.replicate_key, KeyId="alias/stackd-mrk-probe", ReplicaRegion="us-west-2")[:2] == (
        "InvalidArnException",
        "Key Aliases are not supported for this operation.",
    )
    assert _error(east.replicate_key, KeyId="x" * 2049, ReplicaRegion="us-west-2")[0] == "ValidationException"
    assert _error(east.replicate_key, KeyId="not-a-key", ReplicaRegion="us-west-2")[0] == "NotFoundException"
    assert (
        _error(
            east.replicate_key, KeyId="arn:aws:s3:us-east-1:111111111111:key/x", ReplicaRegion="us-west-2"
        )[0]
        == "InvalidArnException"
    )
    single = east.create_key()["KeyMetadata"]["KeyId"]
    assert (
        _error(east.replicate_key, KeyId=single, ReplicaRegion="us-west-2")[0]
        == "UnsupportedOperationException"
    )


def test_replicate_success_matches_recording(kms: Factory) -> None:
    east, west = kms("us-east-1"), kms("us-west-2")
    primary = _mrk(
        east, Description="stackd multi-Region primary", Tags=[{"TagKey": "location", "TagValue": "primary"}]
    )
    kid = primary["KeyId"]
    east.enable_key_rotation(KeyId=kid)
    ap = east.replicate_key(KeyId=kid, ReplicaRegion="ap-east-1")
    assert ap["ReplicaKeyMetadata"]["KeyState"] == "Creating"
    before = time.time()
    out = east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")
    assert "ReplicaTags" not in out
    assert out["ReplicaPolicy"] == RECORDED_POLICY == default_policy("aws", "111111111111")
    md = out["ReplicaKeyMetadata"]
    assert md["KeyId"] == kid and md["Arn"] == primary["Arn"].replace("us-east-1", "us-west-2")
    assert (md["KeyState"], md["Enabled"], md["Description"]) == ("Creating", False, "")
    assert "CurrentKeyMaterialId" not in md and md["KeyManager"] == "CUSTOMER"
    assert md["CreationDate"].timestamp() >= before - 1 > primary["CreationDate"].timestamp() - 5
    mrc = md["MultiRegionConfiguration"]
    assert mrc["MultiRegionKeyType"] == "REPLICA" and mrc["PrimaryKey"]["Region"] == "us-east-1"
    assert [r["Region"] for r in mrc["ReplicaKeys"]] == ["ap-east-1", "us-west-2"]
    for name in ("KeySpec", "KeyUsage", "Origin", "EncryptionAlgorithms", "CustomerMasterKeySpec"):
        assert md[name] == primary[name]
    # the primary lists the replica at once; the replica reports the primary's rotation while Creating
    listed = east.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"]
    assert [r["Region"] for r in listed] == ["ap-east-1", "us-west-2"]
    rotation = west.get_key_rotation_status(KeyId=kid)
    assert rotation["KeyRotationEnabled"] is True and rotation["RotationPeriodInDays"] == 365
    ready = _wait_state(west, kid, "Enabled")
    assert ready["Enabled"] is True
    assert (
        ready["CurrentKeyMaterialId"] == east.describe_key(KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"]
    )
    assert west.list_resource_tags(KeyId=kid)["Tags"] == []
    assert west.get_key_policy(KeyId=kid, PolicyName="default")["Policy"] == RECORDED_POLICY
    # older replicas learn of the newer one
    ap_md = kms("ap-east-1").describe_key(KeyId=kid)["KeyMetadata"]
    assert [r["Region"] for r in ap_md["MultiRegionConfiguration"]["ReplicaKeys"]] == [
        "ap-east-1",
        "us-west-2",
    ]
    # replicate_existing / replicate_replica
    assert _error(east.replicate_key, KeyId=kid, ReplicaRegion="us-west-2")[:2] == (
        "AlreadyExistsException",
        "You can create only one replica of each primary key in each AWS Region.",
    )
    assert _error(west.replicate_key, KeyId=kid, ReplicaRegion="us-east-2")[:2] == (
        "UnsupportedOperationException",
        f"{md['Arn']} is not a multi-region primary key.",
    )


def test_replica_check_beats_already_exists_while_creating(kms: Factory) -> None:
    """LS test_replicate_replica_key_should_fail: a Creating replica names its own Region."""
    east, west = kms("us-east-1"), kms("us-west-2")
    kid = _mrk(east)["KeyId"]
    arn = east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")["ReplicaKeyMetadata"]["Arn"]
    assert _error(west.replicate_key, KeyId=kid, ReplicaRegion="us-west-2")[:2] == (
        "UnsupportedOperationException",
        f"{arn} is not a multi-region primary key.",
    )


def test_disabled_primary_beats_already_exists(kms: Factory) -> None:
    east = kms("us-east-1")
    md = _mrk(east)
    east.replicate_key(KeyId=md["KeyId"], ReplicaRegion="us-west-2")
    east.disable_key(KeyId=md["KeyId"])
    assert _error(east.replicate_key, KeyId=md["KeyId"], ReplicaRegion="us-west-2")[:2] == (
        "DisabledException",
        f"{md['Arn']} is disabled.",
    )


def test_replicate_with_parameters_and_validation(kms: Factory) -> None:
    east, west = kms("us-east-1"), kms("us-west-2")
    kid = _mrk(east, Description="primary")["KeyId"]
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    unsafe = json.dumps(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "111111111111"},
                    "Action": "kms:Encrypt",
                    "Resource": "*",
                }
            ]
        }
    )
    for bad, code in [
        ("{not json", "MalformedPolicyDocumentException"),
        (json.dumps({"Version": "2012-10-17"}), "MalformedPolicyDocumentException"),
        (unsafe, "MalformedPolicyDocumentException"),
        ("", "ValidationException"),
        (policy.replace("Allow", "Allow\u2603"), "ValidationException"),
        (policy + " " * 33000, "MalformedPolicyDocumentException"),
        (policy + " " * 131100, "ValidationException"),
    ]:
        assert _error(east.replicate_key, KeyId=kid, ReplicaRegion="us-west-2", Policy=bad)[0] == code
    for tags, code in [
        ([{"TagKey": "AWS:x", "TagValue": ""}], "TagException"),
        ([{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}], "TagException"),
        ([{"TagKey": f"k{i}", "TagValue": ""} for i in range(51)], "TagException"),
        ([{"TagKey": "k" * 129, "TagValue": ""}], "ValidationException"),
        ([{"TagKey": "", "TagValue": ""}], "ValidationException"),
        ([{"TagKey": "k", "TagValue": "v" * 257}], "ValidationException"),
    ]:
        assert _error(east.replicate_key, KeyId=kid, ReplicaRegion="us-west-2", Tags=tags)[0] == code
    assert (
        _error(east.replicate_key, KeyId=kid, ReplicaRegion="us-west-2", Description="d" * 8193)[0]
        == "ValidationException"
    )
    assert "us-west-2" not in json.dumps(
        east.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"]
    )
    out = east.replicate_key(
        KeyId=kid,
        ReplicaRegion="us-west-2",
        Policy=unsafe,
        BypassPolicyLockoutSafetyCheck=True,
        Description="d" * 8192,
        Tags=[{"TagKey": "k" * 128, "TagValue": "v" * 256}, {"TagKey": "ü", "TagValue": ""}],
    )
    assert out["ReplicaPolicy"] == unsafe
    assert out["ReplicaTags"] == [
        {"TagKey": "k" * 128, "TagValue": "v" * 256},
        {"TagKey": "ü", "TagValue": ""},
    ]
    assert west.describe_key(KeyId=kid)["KeyMetadata"]["Description"] == "d" * 8192
    assert len(west.list_resource_tags(KeyId=kid)["Tags"]) == 2
    east.replicate_key(KeyId=kid, ReplicaRegion="eu-west-1", Policy=policy)
    assert kms("eu-west-1").get_key_policy(KeyId=kid, PolicyName="default")["Policy"] == policy


# ---------------------------------------------------------------- independence, rotation, deletion, primary
def test_independent_and_shared_properties(kms: Factory) -> None:
    east, west = kms("us-east-1"), kms("us-west-2")
    kid = _mrk(east)["KeyId"]
    east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")
    _wait_state(west, kid, "Enabled")
    east.update_key_description(KeyId=kid, Description="changed")
    east.tag_resource(KeyId=kid, Tags=[{"TagKey": "t", "TagValue": "v"}])
    east.disable_key(KeyId=kid)
    east.create_alias(AliasName="alias/only-east", TargetKeyId=kid)
    wmd = west.describe_key(KeyId=kid)["KeyMetadata"]
    assert (wmd["Description"], wmd["KeyState"]) == ("", "Enabled")
    assert west.list_resource_tags(KeyId=kid)["Tags"] == []
    assert _error(west.describe_key, KeyId="alias/only-east")[0] == "NotFoundException"
    assert west.list_aliases()["Aliases"] == [] or all(
        a["AliasName"] != "alias/only-east" for a in west.list_aliases()["Aliases"]
    )
    east.enable_key(KeyId=kid)
    # rotation: set on the primary, refused on the replica
    east.enable_key_rotation(KeyId=kid, RotationPeriodInDays=180)
    status = west.get_key_rotation_status(KeyId=kid)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 180)
    for op, name in (
        (west.enable_key_rotation, "EnableKeyRotation"),
        (west.disable_key_rotation, "DisableKeyRotation"),
    ):
        assert _error(op, KeyId=kid)[:2] == (
            "UnsupportedOperationException",
            f"arn:aws:kms:us-west-2:111111111111:"
            f"key/{kid} is a multi-region replica key which is not valid for {name}.",
        )
    east.disable_key_rotation(KeyId=kid)
    assert west.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False


def test_update_primary_region_and_deletion(kms: Factory) -> None:
    east, west = kms("us-east-1"), kms("us-west-2")
    kid = _mrk(east)["KeyId"]
    east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")
    _wait_state(west, kid, "Enabled")
    assert (
        _error(east.update_primary_region, KeyId="alias/x", PrimaryRegion="us-west-2")[0]
        == "InvalidArnException"
    )
    east.update_primary_region(KeyId=kid, PrimaryRegion="us-east-1")
    assert _error(east.update_primary_region, KeyId=kid, PrimaryRegion="eu-west-1")[:2] == (
        "ValidationException",
        f"{kid} does not have a replica key in the specified Region.",
    )
    assert _error(west.update_primary_region, KeyId=kid, PrimaryRegion="us-east-1")[:2] == (
        "KMSInvalidStateException",
        f"arn:aws:kms:us-west-2:111111111111:key/{kid} is not a multi-Region primary key.",
    )
    east.update_primary_region(KeyId=kid, PrimaryRegion="us-west-2")
    for client in (east, west):
        mrc = client.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"]
        assert mrc["PrimaryKey"]["Region"] == "us-west-2" and [r["Region"] for r in mrc["ReplicaKeys"]] == [
            "us-east-1"
        ]
    assert (
        _error(east.replicate_key, KeyId=kid, ReplicaRegion="eu-west-1")[0] == "UnsupportedOperationException"
    )
    # deletion: primary with replicas waits; the replica gets a date; the Region stays occupied
    out = west.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in out
    assert west.describe_key(KeyId=kid)["KeyMetadata"]["PendingDeletionWindowInDays"] == 7
    assert _error(west.tag_resource, KeyId=kid, Tags=[{"TagKey": "a", "TagValue": "b"}])[:2] == (
        "KMSInvalidStateException",
        f"arn:aws:kms:us-west-2:111111111111:key/{kid} is pending replica deletion.",
    )
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    west.cancel_key_deletion(KeyId=kid)
    assert west.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Disabled"
    west.enable_key(KeyId=kid)
    for window in (6, 31):
        assert (
            _error(east.schedule_key_deletion, KeyId=kid, PendingWindowInDays=window)[0]
            == "ValidationException"
        )
    out = east.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion" and "DeletionDate" in out
    assert _error(east.enable_key, KeyId=kid)[0] == "KMSInvalidStateException"
    assert _error(west.replicate_key, KeyId=kid, ReplicaRegion="us-east-1")[0] == "AlreadyExistsException"
    assert _error(west.update_primary_region, KeyId=kid, PrimaryRegion="us-east-1")[:2] == (
        "KMSInvalidStateException",
        f"arn:aws:kms:us-east-1:111111111111:key/{kid} is pending deletion.",
    )
    assert west.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"


# ---------------------------------------------------------------- crypto interoperability
def test_symmetric_crypto_across_regions(kms: Factory) -> None:
    east, west = kms("us-east-1"), kms("us-west-2")
    md = _mrk(east)
    kid = md["KeyId"]
    early = east.encrypt(KeyId=kid, Plaintext=b"before", EncryptionContext={"a": "b"})["CiphertextBlob"]
    east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")
    _wait_state(west, kid, "Enabled")
    assert west.decrypt(CiphertextBlob=early, EncryptionContext={"a": "b"})["Plaintext"] == b"before"
    assert (
        _error(west.decrypt, CiphertextBlob=early, EncryptionContext={"a": "c"})[0]
        == "InvalidCiphertextException"
    )
    assert _error(west.decrypt, CiphertextBlob=early, EncryptionContext={"a": "b"}, KeyId=md["Arn"])[:2] == (
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
    )
    replica_arn = md["Arn"].replace("us-east-1", "us-west-2")
    assert (
        west.decrypt(CiphertextBlob=early, EncryptionContext={"a": "b"}, KeyId=replica_arn)["KeyId"]
        == replica_arn
    )
    from_west = west.encrypt(KeyId=kid, Plaintext=b"west")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=from_west)["Plaintext"] == b"west"
    data_key = west.generate_data_key(KeyId=kid, KeySpec="AES_256")
    assert east.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    east.disable_key(KeyId=kid)
    assert _error(east.encrypt, KeyId=kid, Plaintext=b"x")[0] == "DisabledException"
    assert west.decrypt(CiphertextBlob=from_west)["Plaintext"] == b"west"


def test_crypto_refused_while_creating() -> None:
    """LIFE-003 with a replica that stays Creating for the whole test (no timing race)."""
    with ReferenceKMS(creating_seconds=60) as slow:
        east, west = _factory(slow)("us-east-1"), _factory(slow)("us-west-2")
        kid = _mrk(east)["KeyId"]
        blob = east.encrypt(KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
        east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")
        assert _error(west.encrypt, KeyId=kid, Plaintext=b"x")[:2] == (
            "KMSInvalidStateException",
            f"arn:aws:kms:us-west-2:111111111111:key/{kid} is creating.",
        )
        assert _error(west.decrypt, CiphertextBlob=blob)[0] == "KMSInvalidStateException"
        assert west.describe_key(KeyId=kid)["KeyMetadata"]["Enabled"] is False


def test_mac_and_signature_across_regions(kms: Factory) -> None:
    east, west = kms("us-east-1"), kms("us-west-2")
    hmac_id = _mrk(east, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    sig = _mrk(east, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    rsa_enc = _mrk(east, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    for kid in (hmac_id, sig["KeyId"], rsa_enc["KeyId"]):
        east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")
        _wait_state(west, kid, "Enabled")
        assert _error(west.enable_key_rotation, KeyId=kid)[0] == "UnsupportedOperationException"
        assert _error(east.enable_key_rotation, KeyId=kid)[0] == "UnsupportedOperationException"
    mac = east.generate_mac(KeyId=hmac_id, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert (
        west.verify_mac(KeyId=hmac_id, Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"] is True
    )
    assert (
        _error(west.verify_mac, KeyId=hmac_id, Message=b"n", Mac=mac, MacAlgorithm="HMAC_SHA_256")[0]
        == "KMSInvalidMacException"
    )
    signature = west.sign(KeyId=sig["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert (
        east.verify(KeyId=sig["KeyId"], Message=b"m", Signature=signature, SigningAlgorithm="ECDSA_SHA_256")[
            "SignatureValid"
        ]
        is True
    )
    assert (
        east.get_public_key(KeyId=sig["KeyId"])["PublicKey"]
        == west.get_public_key(KeyId=sig["KeyId"])["PublicKey"]
    )
    ct = west.encrypt(KeyId=rsa_enc["KeyId"], Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert (
        east.decrypt(
            KeyId=rsa_enc["KeyId"],
            CiphertextBlob=ct["CiphertextBlob"],
            EncryptionAlgorithm="RSAES_OAEP_SHA_256",
        )["Plaintext"]
        == b"p"
    )


def test_imported_key_material_flow(kms: Factory) -> None:
    """IMR / IRR: no replica of a PendingImport primary; a replica takes only the primary's material."""
    east, west = kms("us-east-1"), kms("us-west-2")
    md = _mrk(east, Origin="EXTERNAL")
    kid = md["KeyId"]
    assert (md["KeyState"], md["Enabled"]) == ("PendingImport", False)
    assert _error(east.replicate_key, KeyId=kid, ReplicaRegion="us-west-2")[:2] == (
        "KMSInvalidStateException",
        f"{md['Arn']} is pending import.",
    )
    material = b"\x11" * 32
    imported = _import(east, kid, material, KeyMaterialDescription="primary first")
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    out = east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")["ReplicaKeyMetadata"]
    assert (out["KeyState"], out["Origin"], out["ExpirationModel"]) == (
        "Creating",
        "EXTERNAL",
        "KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    pending = _wait_state(west, kid, "PendingImport")
    assert (
        pending["KeyState"] == "PendingImport"
        and pending["CurrentKeyMaterialId"] == imported["KeyMaterialId"]
    )
    assert _error(west.encrypt, KeyId=kid, Plaintext=b"x")[:2] == (
        "KMSInvalidStateException",
        f"arn:aws:kms:us-west-2:111111111111:key/{kid} is pending import.",
    )
    with pytest.raises(ClientError) as info:
        _import(west, kid, b"\x22" * 32)
    assert info.value.response["Error"]["Code"] == "IncorrectKeyMaterialException"
    assert info.value.response["Error"]["Message"] == (
        f"Imported key material does not have the expected identifier ({imported['KeyMaterialId']})."
    )
    with pytest.raises(ClientError) as info:
        _import(west, kid, material, KeyMaterialDescription="replica first")
    assert info.value.response["Error"]["Message"] == (
        "Key material description can only be specified on primary Multi-Region keys"
    )
    assert _import(west, kid, material)["KeyMaterialId"] == imported["KeyMaterialId"]
    assert west.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    blob = east.encrypt(KeyId=kid, Plaintext=b"imported")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"


# ---------------------------------------------------------------- seeded faults
def test_fault_registry_is_consistent() -> None:
    rules = set(re.findall(r"^- ([A-Z]+-\d{3}) ", (ROOT / "docs/rule-ids.md").read_text(), flags=re.M))
    assert len(FAULTS) >= 45
    for fault in FAULTS.values():
        assert fault.rules and set(fault.rules) <= rules, fault
    source = "".join(
        p.read_text() for p in (ROOT / "tests/support/reference_kms").glob("*.py") if p.name != "faults.py"
    )
    hooked = set(re.findall(r'(?:_fault\(|_related_targets\(\w+,)\s*"([a-z0-9-]+)"', source))
    assert hooked == set(FAULTS)


def _with_fault(name: str) -> Iterator[Factory]:
    with ReferenceKMS(faults=[name], creating_seconds=CREATING) as kms:
        yield _factory(kms)


@pytest.mark.parametrize("fault", ["replicate-ignores-description", "replicate-inherits-description"])
def test_description_faults(fault: str) -> None:
    for kms in _with_fault(fault):
        east = kms("us-east-1")
        kid = _mrk(east, Description="primary")["KeyId"]
        given = east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2", Description="mine")
        omitted = east.replicate_key(KeyId=kid, ReplicaRegion="eu-west-1")
        got = (given["ReplicaKeyMetadata"]["Description"], omitted["ReplicaKeyMetadata"]["Description"])
        assert got == (("", "") if fault == "replicate-ignores-description" else ("mine", "primary"))


def test_material_fault_breaks_interop() -> None:
    for kms in _with_fault("replica-different-key-material"):
        east, west = kms("us-east-1"), kms("us-west-2")
        kid = _mrk(east)["KeyId"]
        blob = east.encrypt(KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
        east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")
        _wait_state(west, kid, "Enabled")
        assert _error(west.decrypt, CiphertextBlob=blob)[0] == "InvalidCiphertextException"


def test_internal_error_fault_is_a_500() -> None:
    for kms in _with_fault("replicate-malformed-keyid-internal-error"):
        east = kms("us-east-1")
        code, _, status = _error(east.replicate_key, KeyId="not-a-key", ReplicaRegion="us-west-2")
        assert (code, status) == ("KMSInternalException", 500)
        assert _error(east.describe_key, KeyId="not-a-key")[0] == "NotFoundException"


def test_lifecycle_faults() -> None:
    for kms in _with_fault("no-pending-replica-deletion"):
        east = kms("us-east-1")
        kid = _mrk(east)["KeyId"]
        east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")
        assert east.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)["KeyState"] == "PendingDeletion"
    for kms in _with_fault("update-primary-no-swap"):
        east, west = kms("us-east-1"), kms("us-west-2")
        kid = _mrk(east)["KeyId"]
        east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")
        _wait_state(west, kid, "Enabled")
        east.update_primary_region(KeyId=kid, PrimaryRegion="us-west-2")
        assert east.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"][
            "MultiRegionKeyType"
        ] == ("PRIMARY")
    for kms in _with_fault("replica-never-leaves-creating"):
        east, west = kms("us-east-1"), kms("us-west-2")
        kid = _mrk(east)["KeyId"]
        east.replicate_key(KeyId=kid, ReplicaRegion="us-west-2")
        time.sleep(CREATING * 3)
        assert west.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Creating"


def test_tag_faults_on_replicate() -> None:
    for kms in _with_fault("replicate-aws-prefix-case-sensitive"):
        east = kms("us-east-1")
        kid = _mrk(east)["KeyId"]
        assert (
            _error(
                east.replicate_key,
                KeyId=kid,
                ReplicaRegion="us-west-2",
                Tags=[{"TagKey": "aws:x", "TagValue": ""}],
            )[0]
            == "TagException"
        )
        out = east.replicate_key(
            KeyId=kid, ReplicaRegion="us-west-2", Tags=[{"TagKey": "AWS:x", "TagValue": ""}]
        )
        assert out["ReplicaTags"] == [{"TagKey": "AWS:x", "TagValue": ""}]
        # the fault is scoped to ReplicateKey: TagResource still rejects the prefix
        assert (
            _error(east.tag_resource, KeyId=kid, Tags=[{"TagKey": "AWS:x", "TagValue": ""}])[0]
            == "TagException"
        )


def test_blob_roundtrip_is_base64(reference: tuple[ReferenceKMS, _Recorder]) -> None:
    backend = reference[0].backend
    status, created = backend.handle("CreateKey", "eu-west-1", {})
    assert status == 200
    kid = created["KeyMetadata"]["KeyId"]
    status, out = backend.handle(
        "Encrypt", "eu-west-1", {"KeyId": kid, "Plaintext": base64.b64encode(b"z").decode()}
    )
    assert status == 200 and isinstance(out["CiphertextBlob"], str)
    status, err = backend.handle("Encrypt", "eu-west-1", {"KeyId": kid, "Plaintext": ""})
    assert (status, err["__type"]) == (400, "ValidationException")
