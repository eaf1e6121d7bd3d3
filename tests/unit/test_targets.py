"""How ``Target.call`` classifies what an implementation (or the network in front of it) did.

Checks trust ``Observation.kind`` blindly: ``error`` is a verdict, ``indeterminate``/``transient`` are not,
``malformed`` fails ERR-003. So each answer a misbehaving server can give is scripted here on a tiny
loopback HTTP server and the classification asserted, including how many attempts botocore made.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
from botocore.retries import standard as botocore_standard

from conformance.targets import (
    MUTATING_OPERATIONS,
    Observation,
    Target,
    TargetConfig,
    TargetConfigError,
    config_from_environment,
    validate_config,
)

KEY_ID = "mrk-0123456789abcdef0123456789abcdef"
ARN = f"arn:aws:kms:us-east-1:111111111111:key/{KEY_ID}"
METADATA = {"KeyId": KEY_ID, "Arn": ARN, "AWSAccountId": "111111111111", "KeyState": "Enabled", "Enabled": True}
DESCRIBE_OK = (200, json.dumps({"KeyMetadata": METADATA}))
REPLICATE_OK = (200, json.dumps({"ReplicaKeyMetadata": {**METADATA, "Arn": ARN.replace("us-east-1", "us-west-2")}}))


def error(code: str, message: str = "m", status: int = 400) -> tuple[int, str]:
    return status, json.dumps({"__type": code, "message": message})


THROTTLED = error("ThrottlingException", "Rate exceeded")
INTERNAL = error("InternalFailure", "boom", 500)
RESET, HANG = "reset", "hang"
Action = tuple[int, str | bytes] | str


@dataclass
class Upstream:
    """Answers the n-th request with ``script[n]`` (the last entry repeats); records each operation."""

    script: list[Action] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_action(self, operation: str) -> Action:
        with self.lock:
            index = min(len(self.seen), len(self.script) - 1)
            self.seen.append(operation)
            return self.script[index]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Any

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        action = self.server.upstream.next_action(operation)
        if action == HANG:
            self.server.upstream.release.wait(10)
            action = RESET
        if action == RESET:
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        assert isinstance(action, tuple)
        status, body = action
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry decisions unchanged, its sleeps (up to 1, 2, 4 s) shrunk to milliseconds."""
    original = botocore_standard.ExponentialBackoff.delay_amount
    monkeypatch.setattr(
        botocore_standard.ExponentialBackoff, "delay_amount", lambda self, ctx: float(original(self, ctx)) * 0.01
    )


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    state = Upstream()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.upstream = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def call(upstream: Upstream, operation: str, *script: Action, **config: Any) -> Observation:
    upstream.script = list(script)
    cfg = TargetConfig(kind="endpoint", endpoint_url=upstream.url, **config)  # type: ignore[attr-defined]
    with Target(cfg) as target:
        params = {"KeyId": KEY_ID, "ReplicaRegion": "us-west-2"} if operation == "ReplicateKey" else {"KeyId": KEY_ID}
        return target.call("us-east-1", operation, params)


# ---------------------------------------------------------------------- answers that are verdicts
def test_client_error_is_an_error_with_its_code_status_and_body(upstream: Upstream) -> None:
    status, body = error("NotFoundException", "Key 'x' does not exist")
    obs = call(upstream, "DescribeKey", (status, body))
    assert (obs.kind, obs.code, obs.http_status) == ("error", "NotFoundException", 400)
    assert obs.message == "Key 'x' does not exist"
    assert obs.raw == body, "the raw body is the evidence a failure report shows"
    assert obs.is_error and not obs.unknown
    assert upstream.seen == ["DescribeKey"], "a definite error is never retried"


def test_success_is_ok_without_response_metadata(upstream: Upstream) -> None:
    obs = call(upstream, "DescribeKey", DESCRIBE_OK)
    assert obs.kind == "ok" and obs.response["KeyMetadata"]["KeyId"] == KEY_ID
    assert "ResponseMetadata" not in obs.response


@pytest.mark.parametrize(
    "answer",
    [error("UnknownOperationException"), error("NotImplemented", status=501), error("Whatever", status=501),
     error("InternalFailure", "ReplicateKey is not implemented yet", 500), error("InvalidAction")],
    ids=["unknown-operation", "501-not-implemented", "501-any-code", "500-not-implemented", "invalid-action"],
)
def test_not_implemented_is_unsupported(upstream: Upstream, answer: tuple[int, str]) -> None:
    obs = call(upstream, "ReplicateKey", answer)
    assert obs.kind == "unsupported", obs


# ---------------------------------------------------------------------- throttling and retries
def test_throttling_is_retried_until_it_succeeds(upstream: Upstream) -> None:
    obs = call(upstream, "ReplicateKey", THROTTLED, THROTTLED, REPLICATE_OK)
    assert obs.kind == "ok", obs
    assert upstream.seen == ["ReplicateKey"] * 3


@pytest.mark.parametrize("attempts", [1, 2, 4])
def test_throttling_that_never_ends_is_transient_after_max_attempts(upstream: Upstream, attempts: int) -> None:
    obs = call(upstream, "ReplicateKey", THROTTLED, max_attempts=attempts)
    assert (obs.kind, obs.code) == ("transient", "ThrottlingException")
    assert len(upstream.seen) == attempts


def test_an_error_after_throttling_is_a_verdict(upstream: Upstream) -> None:
    """A throttled request was rejected before it ran: the retry's answer is the call's own."""
    obs = call(upstream, "ReplicateKey", THROTTLED, error("AlreadyExistsException"))
    assert (obs.kind, obs.code) == ("error", "AlreadyExistsException")


# ---------------------------------------------------------------------- 5xx: mutating vs read
@pytest.mark.parametrize(("operation", "kind"), [("ReplicateKey", "indeterminate"), ("DescribeKey", "transient")])
def test_persistent_5xx_is_indeterminate_for_mutating_calls_and_transient_for_reads(
    upstream: Upstream, operation: str, kind: str
) -> None:
    assert (operation in MUTATING_OPERATIONS) is (kind == "indeterminate")
    obs = call(upstream, operation, INTERNAL, max_attempts=3)
    assert obs.kind == kind and obs.unknown
    assert len(upstream.seen) == 3, "5xx is retried"


def test_a_loopback_5xx_is_retried_after_milliseconds_throttling_after_botocores_backoff(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All attempts are made, but a loopback server's 500 waits milliseconds, not botocore's seconds."""
    slept: list[float] = []
    monkeypatch.setattr("botocore.endpoint.time.sleep", slept.append)
    monkeypatch.setattr(botocore_standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 1.0)
    obs = call(upstream, "ReplicateKey", INTERNAL, max_attempts=4)
    assert obs.kind == "indeterminate" and len(upstream.seen) == 4
    assert len(slept) == 3 and max(slept) < 0.2, slept
    slept.clear()
    upstream.seen.clear()
    obs = call(upstream, "ReplicateKey", THROTTLED, max_attempts=4)
    assert obs.kind == "transient" and len(upstream.seen) == 4
    assert slept == [1.0, 1.0, 1.0], "throttling waits botocore's backoff"


@pytest.mark.parametrize("server_error", [INTERNAL, (502, "<html>Bad Gateway</html>"), error("ServiceUnavailable",
                                                                                               status=503)])
def test_any_5xx_on_a_read_is_transient(upstream: Upstream, server_error: tuple[int, str]) -> None:
    assert call(upstream, "DescribeKey", server_error, max_attempts=1).kind == "transient"


def test_error_after_a_5xx_retry_of_a_mutating_call_is_indeterminate(upstream: Upstream) -> None:
    """The first attempt may have created the replica: the retry's AlreadyExistsException is not a verdict.

    Without this, every 500-after-apply on ReplicateKey became a false REGION-007 failure.
    """
    obs = call(upstream, "ReplicateKey", INTERNAL, error("AlreadyExistsException"))
    assert obs.kind == "indeterminate", obs
    assert obs.code == "AlreadyExistsException"
    assert len(upstream.seen) == 2


def test_success_after_a_5xx_retry_is_ok(upstream: Upstream) -> None:
    assert call(upstream, "ReplicateKey", INTERNAL, REPLICATE_OK).kind == "ok"


def test_error_after_a_5xx_retry_of_a_read_is_a_verdict(upstream: Upstream) -> None:
    obs = call(upstream, "DescribeKey", INTERNAL, error("NotFoundException"))
    assert (obs.kind, obs.code) == ("error", "NotFoundException")


# ---------------------------------------------------------------------- transport failures
@pytest.mark.parametrize(("operation", "kind"), [("ReplicateKey", "indeterminate"), ("DescribeKey", "transient")])
def test_connection_reset_after_sending(upstream: Upstream, operation: str, kind: str) -> None:
    obs = call(upstream, operation, RESET, max_attempts=2)
    assert obs.kind == kind, obs
    assert len(upstream.seen) == 2


def test_reset_then_error_on_a_mutating_call_is_indeterminate(upstream: Upstream) -> None:
    obs = call(upstream, "ReplicateKey", RESET, error("AlreadyExistsException"))
    assert obs.kind == "indeterminate", obs


@pytest.mark.parametrize(("operation", "kind"), [("ReplicateKey", "indeterminate"), ("DescribeKey", "transient")])
def test_read_timeout(upstream: Upstream, operation: str, kind: str) -> None:
    obs = call(upstream, operation, HANG, read_timeout=0.3, max_attempts=1)
    assert (obs.kind, obs.code) == (kind, "ReadTimeoutError")


def test_unreachable_endpoint_is_transient_never_indeterminate() -> None:
    """Nothing reached a server, so even a mutating call certainly had no effect."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = TargetConfig(kind="endpoint", endpoint_url=f"http://127.0.0.1:{port}", max_attempts=2, connect_timeout=0.5)
    with Target(cfg) as target:
        obs = target.call("us-east-1", "ReplicateKey", {"KeyId": KEY_ID, "ReplicaRegion": "us-west-2"})
    assert (obs.kind, obs.code) == ("transient", "EndpointConnectionError")


# ---------------------------------------------------------------------- malformed answers
@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("DescribeKey", '{"KeyMetadata": {"KeyId": "'),
        ("DescribeKey", "{}"),
        ("DescribeKey", '{"KeyMetadata": "not-an-object"}'),
        ("DescribeKey", b"\xff\xfe not utf-8"),
        ("DescribeKey", "<html>OK</html>"),
        ("ReplicateKey", '{"ReplicaPolicy": "{}"}'),
        ("ListResourceTags", '{"Tags": "not-a-list"}'),
        ("GetKeyRotationStatus", '{"KeyRotationEnabled": "yes"}'),
    ],
    ids=["truncated", "empty", "wrong-type", "not-utf8", "html", "missing-member", "tags-not-a-list", "bool-as-string"],
)
def test_unparseable_or_incomplete_success_is_malformed_with_the_raw_body(
    upstream: Upstream, operation: str, body: str | bytes
) -> None:
    obs = call(upstream, operation, (200, body))
    assert (obs.kind, obs.code) == ("malformed", "MalformedResponse"), obs
    assert obs.unknown, "the model cannot know whether the call took effect"
    expected = body.decode("utf-8", "backslashreplace") if isinstance(body, bytes) else body
    assert obs.raw == expected
    assert len(upstream.seen) == 1


@pytest.mark.parametrize("body", ["{}", "<html>Bad Request</html>", '{"message": "no code"}'])
def test_error_without_a_code_is_malformed(upstream: Upstream, body: str) -> None:
    obs = call(upstream, "DescribeKey", (400, body))
    assert obs.kind == "malformed", obs
    assert obs.raw == body


def test_evidence_is_bounded(upstream: Upstream) -> None:
    big = json.dumps({"__type": "NotFoundException", "message": "x" * 20000})
    obs = call(upstream, "DescribeKey", (400, big))
    assert obs.kind == "error" and 0 < len(obs.raw) <= 4000


# ---------------------------------------------------------------------- configuration
def test_retry_config_is_botocores_standard_mode_with_bounded_attempts() -> None:
    endpoint = Target(TargetConfig(kind="endpoint", endpoint_url="http://127.0.0.1:1", max_attempts=5))
    config: Any = endpoint.botocore_config()
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert config.parameter_validation is False, "invalid values must reach the server"
    assert (config.connect_timeout, config.read_timeout) == (3.0, 15.0)
    with Target(TargetConfig(kind="moto")) as moto:
        assert cast(Any, moto.botocore_config()).retries == {"mode": "standard", "total_max_attempts": 1}


def test_the_aws_target_is_refused() -> None:
    with pytest.raises(TargetConfigError, match="aws target"):
        Target(TargetConfig(kind="aws"))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TargetConfig(kind="endpoint"), "endpoint-url"),
        (TargetConfig(kind="endpoint", endpoint_url="http://[::1"), "malformed endpoint URL"),
        (TargetConfig(kind="endpoint", endpoint_url="127.0.0.1:4566"), "malformed endpoint URL"),
        (TargetConfig(primary_region="us-east-9"), "invalid Region"),
        (TargetConfig(replica_regions=("us-west-2", "us-gov-west-1")), "partition"),
        (TargetConfig(replica_regions=()), "at least one"),
        (TargetConfig(replica_regions=("us-east-1",)), "also listed"),
    ],
)
def test_unusable_configurations_are_one_line_errors(config: TargetConfig, message: str) -> None:
    with pytest.raises(TargetConfigError, match=message) as info:
        validate_config(config)
    assert "\n" not in str(info.value)


def test_china_partition_configuration_is_valid() -> None:
    validate_config(TargetConfig(primary_region="cn-north-1", replica_regions=("cn-northwest-1",)))


def test_environment_endpoint_selects_the_endpoint_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_KMS", "http://127.0.0.1:4566")
    cfg = config_from_environment()
    assert (cfg.kind, cfg.endpoint_url) == ("endpoint", "http://127.0.0.1:4566")


# ---------------------------------------------------------------------- in-process moto
@pytest.mark.parametrize(
    ("exception", "kind"), [(RuntimeError("boom"), "crash"), (NotImplementedError("not yet"), "unsupported")]
)
def test_in_process_exceptions_are_the_implementations_own(
    monkeypatch: pytest.MonkeyPatch, exception: Exception, kind: str
) -> None:
    """No network in between: an exception inside moto is a crash (ERR-002), never a transport failure."""
    from moto.kms import models

    with Target(TargetConfig(kind="moto")) as target:
        key_id = target.call("us-east-1", "CreateKey", {}).response["KeyMetadata"]["KeyId"]

        def explode(*_: object, **__: object) -> None:
            raise exception

        monkeypatch.setattr(models.KmsBackend, "describe_key", explode)
        obs = target.call("us-east-1", "DescribeKey", {"KeyId": key_id})
    assert (obs.kind, obs.code) == (kind, type(exception).__name__)
