"""Targets: how the suite reaches an implementation, and how each call's outcome is classified.

Layer: targets. Imports nothing else from the project. Every call goes through ``Target.call``,
which never raises for anything the implementation does: it returns an ``Observation`` whose
``kind`` tells the checks what they may conclude (a transport failure is never a verdict).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlparse

import boto3
import botocore.exceptions as bexc
from botocore.config import Config
from botocore.parsers import ResponseParserError

TargetKind = Literal["moto", "endpoint", "aws"]
ObservationKind = Literal["ok", "error", "indeterminate", "transient", "unsupported", "malformed", "crash"]

DEFAULT_PRIMARY_REGION = "us-east-1"
DEFAULT_REPLICA_REGIONS = ("us-west-2", "eu-west-1", "ap-southeast-2", "ca-central-1")

# Operations whose effect on the server cannot be ruled out when their outcome is unknown.
MUTATING_OPERATIONS = frozenset(
    {
        "CreateKey",
        "ReplicateKey",
        "EnableKey",
        "DisableKey",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "UpdatePrimaryRegion",
        "TagResource",
        "UntagResource",
        "PutKeyPolicy",
        "UpdateKeyDescription",
        "CreateAlias",
        "DeleteAlias",
        "EnableKeyRotation",
        "DisableKeyRotation",
        "ImportKeyMaterial",
        "GetParametersForImport",
    }
)
# What implementations answer for an operation they do not implement.
UNSUPPORTED_CODES = frozenset(
    {
        "UnknownOperationException",
        "NotImplemented",
        "NotImplementedException",
        "InvalidAction",
        "UnsupportedOperation",
        "InternalFailure:NotImplemented",
    }
)
SERVER_ERROR_CODES = frozenset({"KMSInternalException", "InternalFailure", "InternalError", "ServiceUnavailable"})
THROTTLING_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"})

_EVIDENCE_LIMIT = 4000


class TargetConfigError(ValueError):
    """The target configuration is unusable; the message is one line for the user."""


@dataclass(frozen=True)
class TargetConfig:
    kind: TargetKind = "moto"
    endpoint_url: str | None = None
    primary_region: str = DEFAULT_PRIMARY_REGION
    replica_regions: tuple[str, ...] = DEFAULT_REPLICA_REGIONS
    aws_profile: str | None = None
    implementation: str = ""
    implementation_version: str = ""
    connect_timeout: float = 3.0
    read_timeout: float = 15.0
    max_attempts: int = 4
    # Upper bound on how long a replica may stay Creating (about 60 s on real AWS in the recordings).
    creating_timeout: float = 10.0
    poll_interval: float = 0.05

    @property
    def regions(self) -> tuple[str, ...]:
        return (self.primary_region, *self.replica_regions)

    @property
    def is_loopback(self) -> bool:
        if self.kind == "moto":
            return True
        if not self.endpoint_url:
            return False
        host = urlparse(self.endpoint_url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


def config_from_environment(kind: TargetKind | None = None, **overrides: Any) -> TargetConfig:
    """A config honouring boto3's own conventions (AWS_ENDPOINT_URL_KMS, then AWS_ENDPOINT_URL)."""
    endpoint = (
        overrides.pop("endpoint_url", None)
        or os.environ.get("AWS_ENDPOINT_URL_KMS")
        or os.environ.get("AWS_ENDPOINT_URL")
    )
    if kind is None:
        kind = "endpoint" if endpoint else "moto"
    cfg = TargetConfig(kind=kind, endpoint_url=endpoint if kind == "endpoint" else None, **overrides)
    validate_config(cfg)
    if kind == "aws":
        cfg = replace(cfg, creating_timeout=max(cfg.creating_timeout, 180.0), poll_interval=2.0, read_timeout=30.0)
    return cfg


def validate_config(cfg: TargetConfig) -> None:
    """Raise TargetConfigError with one clear line for anything that cannot work."""
    from botocore.session import get_session

    if cfg.kind not in ("moto", "endpoint", "aws"):
        raise TargetConfigError(f"unknown target {cfg.kind!r}: use moto, endpoint or aws")
    if cfg.kind == "endpoint":
        if not cfg.endpoint_url:
            raise TargetConfigError("the endpoint target needs --endpoint-url or AWS_ENDPOINT_URL_KMS")
        try:
            parsed = urlparse(cfg.endpoint_url)
        except ValueError as exc:  # e.g. an unclosed IPv6 bracket
            raise TargetConfigError(f"malformed endpoint URL {cfg.endpoint_url!r}: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise TargetConfigError(f"malformed endpoint URL {cfg.endpoint_url!r}: expected http(s)://host[:port]")
        try:
            parsed.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            raise TargetConfigError(f"malformed endpoint URL {cfg.endpoint_url!r}: bad port") from None
    session = get_session()
    partition_of = {
        region: partition
        for partition in ("aws", "aws-cn", "aws-us-gov")
        for region in session.get_available_regions("kms", partition_name=partition)
    }
    for region in cfg.regions:
        if region not in partition_of:
            raise TargetConfigError(f"invalid Region name {region!r}: not a KMS Region known to botocore")
    primary_partition = partition_of[cfg.primary_region]
    for region in cfg.replica_regions:
        # ReplicateKey never crosses partitions: such a replica Region would make correct targets fail.
        if partition_of[region] != primary_partition:
            raise TargetConfigError(
                f"replica Region {region} is in partition {partition_of[region]}, the primary Region "
                f"{cfg.primary_region} in {primary_partition}: replicas must share the primary's partition"
            )
    if cfg.primary_region in cfg.replica_regions:
        raise TargetConfigError(f"the primary Region {cfg.primary_region} is also listed as a replica Region")
    if len(set(cfg.replica_regions)) != len(cfg.replica_regions):
        raise TargetConfigError("replica Regions are listed twice")
    if not cfg.replica_regions:
        raise TargetConfigError("at least one replica Region is needed")


@dataclass
class Observation:
    """What one call did, classified so that checks never mistake the network for the implementation."""

    operation: str
    region: str
    params: dict[str, Any]
    kind: ObservationKind
    response: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    message: str = ""
    http_status: int | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    @property
    def is_error(self) -> bool:
        return self.kind == "error"

    @property
    def unknown(self) -> bool:
        """The outcome cannot be known: the model must allow the call to have happened or not."""
        return self.kind in ("indeterminate", "transient", "malformed")

    def describe(self) -> str:
        if self.kind == "ok":
            return f"{self.operation} succeeded"
        if self.kind == "error":
            status = f" (HTTP {self.http_status})" if self.http_status else ""
            return f"{self.operation} failed with {self.code}{status}: {self.message}"
        return f"{self.operation}: {self.kind}: {self.code or ''} {self.message}".strip()


def _dummy_credentials_needed(cfg: TargetConfig) -> bool:
    if cfg.kind == "moto":
        return True
    if cfg.kind == "endpoint" and cfg.is_loopback:
        session = boto3.session.Session()
        return session.get_credentials() is None
    return False


class Target:
    """A connected implementation: one boto3 client per Region, calls classified into observations."""

    def __init__(self, config: TargetConfig, guard: Any = None, session: Any = None) -> None:
        self.config = config
        # For the aws target: an ``aws_safety.AwsRun`` through which every call passes (budget,
        # allowed Regions, keys of this run only, ledger for teardown).
        self.guard = guard
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._mock: Any = None
        self._last_body = threading.local()
        self._attempts = threading.local()
        self.calls = 0
        self.call_seconds = 0.0
        self.trace: list[tuple[str, str, dict[str, Any]]] | None = None  # set to a list to record calls
        if config.kind == "aws" and guard is None:
            raise TargetConfigError(
                "the aws target runs only inside its safety rails (kms-conformance run --target aws)"
            )
        if config.kind == "moto":
            from moto import mock_aws

            self._mock = mock_aws()
            self._mock.start()
        session_kwargs: dict[str, Any] = {}
        if _dummy_credentials_needed(config):
            # Loopback emulators accept any credentials; these are not secrets.
            session_kwargs = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        self._session = session or boto3.session.Session(**session_kwargs)

    @property
    def is_in_process(self) -> bool:
        return self._mock is not None

    def close(self) -> None:
        if self._mock is not None:
            with contextlib.suppress(Exception):
                self._mock.stop()
            self._mock = None

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def botocore_config(self) -> Config:
        cfg = self.config
        attempts = 1 if cfg.kind == "moto" else cfg.max_attempts
        return Config(
            connect_timeout=cfg.connect_timeout,
            read_timeout=cfg.read_timeout,
            retries={"mode": "standard", "total_max_attempts": attempts},
            # The suite sends invalid values on purpose: the server, not botocore, must reject them.
            parameter_validation=False,
        )

    def client(self, region: str) -> Any:
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._session.client(
                    "kms",
                    region_name=region,
                    endpoint_url=self.config.endpoint_url if self.config.kind == "endpoint" else None,
                    config=self.botocore_config(),
                )
                client.meta.events.register("before-parse.kms.*", self._keep_body)
                client.meta.events.register("needs-retry.kms", self._note_attempt)
                if self.config.kind == "endpoint" and self.config.is_loopback:
                    client.meta.events.register_first(
                        "needs-retry.kms", self._quick_server_error_retry  # type: ignore[arg-type]
                    )
                self._clients[region] = client
            return client

    def _keep_body(self, response_dict: Any = None, **_: Any) -> None:
        """Keep the raw body of the last HTTP answer: the evidence for malformed or unexpected answers."""
        body = response_dict.get("body") if isinstance(response_dict, dict) else None
        if isinstance(body, bytes | bytearray):
            self._last_body.value = bytes(body[:_EVIDENCE_LIMIT]).decode("utf-8", "backslashreplace")
        elif isinstance(body, str):
            self._last_body.value = body[:_EVIDENCE_LIMIT]

    def _note_attempt(self, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
        """Remember how each HTTP attempt of the current call ended (botocore retries behind our back)."""
        attempts = getattr(self._attempts, "value", None)
        if attempts is not None:
            attempts.append(_attempt_outcome(response, caught_exception))

    def _quick_server_error_retry(self, response: Any = None, attempts: int = 0, **_: Any) -> float | None:
        """Retry a loopback server's 5xx after milliseconds, not botocore's seconds.

        botocore's standard mode waits up to 1, 2, 4 s between attempts, sized for a remote fleet. A
        loopback emulator that answers 500 does so at once and, usually, every time (a crash in its
        handler): hundreds of such calls made a run against moto server take half an hour. The number
        of attempts stays botocore's (``max_attempts``); throttling keeps botocore's backoff (None
        here lets botocore's own handler decide).
        """
        if not isinstance(response, tuple) or len(response) < 2 or attempts >= self.config.max_attempts:
            return None
        status = getattr(response[0], "status_code", None)
        code = (response[1] or {}).get("Error", {}).get("Code", "") if isinstance(response[1], dict) else ""
        if not isinstance(status, int) or status < 500 or code in THROTTLING_CODES:
            return None
        return 0.02 * 2 ** (attempts - 1)

    def _retried_after_unknown(self, operation: str) -> bool:
        """A mutating call that botocore retried after an attempt the server may have applied.

        The retry's answer then describes the state the first attempt left (AlreadyExistsException
        for a ReplicateKey that did happen), not the call itself, so an error is not a verdict.
        """
        attempts = getattr(self._attempts, "value", None) or []
        return operation in MUTATING_OPERATIONS and "unknown" in attempts[:-1]

    def call(self, region: str, operation: str, params: Mapping[str, Any]) -> Observation:
        if self.guard is not None:
            # May raise aws_safety.CallRefused: the step is skipped, no verdict.
            return self.guard.guard(self._call, region, operation, params)
        return self._call(region, operation, params)

    def _call(self, region: str, operation: str, params: Mapping[str, Any]) -> Observation:
        params = dict(params)
        if self.trace is not None:
            self.trace.append((region, operation, params))
        method = getattr(self.client(region), _snake(operation))
        self._last_body.value = ""
        self._attempts.value = []
        started = time.perf_counter()
        try:
            # "_"-prefixed entries are notes for replay scripts (the plaintext key material), never sent.
            response = method(**{k: v for k, v in params.items() if not k.startswith("_")})
        except bexc.ClientError as exc:
            return self._client_error(region, operation, params, exc)
        except (bexc.ReadTimeoutError, bexc.ConnectionClosedError) as exc:
            kind: ObservationKind = "indeterminate" if operation in MUTATING_OPERATIONS else "transient"
            return Observation(operation, region, params, kind, code=type(exc).__name__, message=str(exc))
        except (bexc.EndpointConnectionError, bexc.ConnectTimeoutError) as exc:
            # Nothing reached the server: the call certainly had no effect.
            return Observation(operation, region, params, "transient", code=type(exc).__name__, message=str(exc))
        except ResponseParserError as exc:
            return Observation(
                operation,
                region,
                params,
                "malformed",
                code="MalformedResponse",
                message=str(exc)[:500],
                raw=getattr(self._last_body, "value", ""),
            )
        except NotImplementedError as exc:
            return Observation(operation, region, params, "unsupported", code="NotImplementedError", message=str(exc))
        except bexc.BotoCoreError as exc:
            kind = "indeterminate" if operation in MUTATING_OPERATIONS else "transient"
            return Observation(operation, region, params, kind, code=type(exc).__name__, message=str(exc))
        except Exception as exc:
            if self.is_in_process:
                # The in-process implementation itself raised: its fault, reported, never fatal.
                return Observation(
                    operation, region, params, "crash", code=type(exc).__name__, message=f"{type(exc).__name__}: {exc}"
                )
            # botocore raises plain exceptions (AttributeError, UnicodeDecodeError, ValueError) on bodies
            # it cannot parse into the output shape: a malformed response.
            return Observation(
                operation,
                region,
                params,
                "malformed",
                code="MalformedResponse",
                message=f"{type(exc).__name__}: {exc}",
                raw=getattr(self._last_body, "value", ""),
            )
        finally:
            self.calls += 1
            self.call_seconds += time.perf_counter() - started
        if not isinstance(response, dict):
            return Observation(operation, region, params, "malformed", code="MalformedResponse", raw=repr(response))
        response.pop("ResponseMetadata", None)
        missing = _missing_members(operation, response)
        if missing:
            # botocore turns an unparseable 200 body into an empty result instead of raising.
            return Observation(
                operation,
                region,
                params,
                "malformed",
                code="MalformedResponse",
                response=response,
                message=f"response lacks {missing}",
                raw=getattr(self._last_body, "value", ""),
            )
        return Observation(operation, region, params, "ok", response=response)

    def _client_error(self, region: str, operation: str, params: dict[str, Any], exc: bexc.ClientError) -> Observation:
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code", "") or "")
        message = str(error.get("Message", "") or error.get("message", "") or "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raw = getattr(self._last_body, "value", "")
        obs = Observation(operation, region, params, "error", code=code, message=message, http_status=status, raw=raw)
        if (
            code in UNSUPPORTED_CODES
            or status == 501
            or (
                code in ("InternalFailure", "InternalError")
                and "not" in message.lower()
                and "implement" in message.lower()
            )
        ):
            obs.kind = "unsupported"
        elif self._retried_after_unknown(operation):
            obs.kind = "indeterminate"
            obs.message = f"{message} (answer to a retry after an attempt with an unknown outcome)"
        elif code in THROTTLING_CODES:
            obs.kind = "transient"  # botocore already retried with backoff; still throttled: no verdict
        elif (status is not None and status >= 500) or code in SERVER_ERROR_CODES:
            if self.is_in_process:
                obs.kind = "crash"  # no network in between: the implementation itself failed
            else:
                obs.kind = "indeterminate" if operation in MUTATING_OPERATIONS else "transient"
        elif not code or code.isdigit():
            obs.kind = "malformed"  # an error body without a parseable error code
        return obs


def _attempt_outcome(response: Any, caught_exception: Any) -> str:
    """One HTTP attempt: "unsent" (never reached the server), "unknown" (may have been applied), "answered"."""
    if caught_exception is not None:
        if isinstance(caught_exception, (bexc.EndpointConnectionError, bexc.ConnectTimeoutError)):
            return "unsent"
        return "unknown"
    if isinstance(response, tuple) and response:
        status = getattr(response[0], "status_code", None)
        if isinstance(status, int) and status >= 500:
            return "unknown"
    return "answered"


# Members every correct success response carries, with their parsed types.
_REQUIRED_MEMBERS: dict[str, tuple[tuple[str, type], ...]] = {
    "CreateKey": (("KeyMetadata", dict),),
    "DescribeKey": (("KeyMetadata", dict),),
    "ReplicateKey": (("ReplicaKeyMetadata", dict),),
    "Encrypt": (("CiphertextBlob", bytes),),
    "Decrypt": (("Plaintext", bytes),),
    "GenerateDataKey": (("CiphertextBlob", bytes), ("Plaintext", bytes)),
    "GenerateMac": (("Mac", bytes),),
    "VerifyMac": (("MacValid", bool),),
    "Sign": (("Signature", bytes),),
    "Verify": (("SignatureValid", bool),),
    "GetPublicKey": (("PublicKey", bytes),),
    "GetParametersForImport": (("ImportToken", bytes), ("PublicKey", bytes)),
    "ListResourceTags": (("Tags", list),),
    "GetKeyPolicy": (("Policy", str),),
    "GetKeyRotationStatus": (("KeyRotationEnabled", bool),),
}


def _missing_members(operation: str, response: Mapping[str, Any]) -> str:
    wrong = [
        f"{name} ({kind.__name__})"
        for name, kind in _REQUIRED_MEMBERS.get(operation, ())
        if not isinstance(response.get(name), kind)
    ]
    return ", ".join(wrong)


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i and not operation[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
