"""Tests for the fault-injecting proxy: each fault does what it claims, before/after semantics hold, and it
stays reproducible and bounded, so tests built on it can trust what a misbehaving target looked like."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from tests.support.fault_proxy import FAULT_KINDS, FaultConfig, FaultProxy

KEY_ID = "mrk-0123456789abcdef0123456789abcdef"
DESCRIBE_BODY = json.dumps(
    {
        "KeyMetadata": {
            "AWSAccountId": "111111111111",
            "KeyId": KEY_ID,
            "Arn": f"arn:aws:kms:us-east-1:111111111111:key/{KEY_ID}",
            "CreationDate": 1700000000.0,
            "Enabled": True,
            "KeyState": "Enabled",
            "MultiRegion": True,
        }
    }
).encode()
NOT_FOUND_BODY = json.dumps(
    {"__type": "NotFoundException", "message": "Key 'missing' does not exist"}
).encode()
AMZ_JSON = "application/x-amz-json-1.1"


@dataclass
class Upstream:
    """A tiny JSON server standing in for KMS; records what reached it."""

    server: ThreadingHTTPServer
    seen: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.seen)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    holder: list[Upstream] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            up = holder[0]
            with up.lock:
                up.seen.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
            if self.path == "/slow":
                time.sleep(3)
            status, payload = 200, DESCRIBE_BODY
            if b'"missing"' in body:
                status, payload = 400, NOT_FOUND_BODY
            self.send_response(status)
            self.send_header("Content-Type", AMZ_JSON)
            self.send_header("x-amzn-RequestId", "upstream-request-id")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the proxy may have given up on a /slow answer
                self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Upstream(server))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.url, seed=1) as p:
        yield p


def only(kind: str | None, **extra: Any) -> dict[str, Any]:
    """Config changes making ``kind`` certain (rate 1) and every other fault impossible."""
    changes: dict[str, Any] = {k: 0.0 for k in FAULT_KINDS}
    if kind is not None:
        changes[kind] = 1.0
    changes.update(extra)
    return changes


def connect(p: FaultProxy, timeout: float = 5.0) -> http.client.HTTPConnection:
    host, port = p.address
    return http.client.HTTPConnection(host, port, timeout=timeout)


def call(
    conn: http.client.HTTPConnection,
    operation: str = "DescribeKey",
    body: bytes = b'{"KeyId": "x"}',
    path: str = "/",
    extra_headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    headers = {"X-Amz-Target": f"TrentService.{operation}", "Content-Type": AMZ_JSON, **(extra_headers or {})}
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.headers, response.read()


def raw(p: FaultProxy, operation: str = "DescribeKey") -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = connect(p)
    try:
        return call(conn, operation)
    finally:
        conn.close()


def kms(p: FaultProxy, **config: Any) -> Any:
    """boto3 KMS client through the proxy; one attempt only (see test_legacy_max_attempts_counts_retries)."""
    settings: dict[str, Any] = {"retries": {"total_max_attempts": 1}, "connect_timeout": 2, "read_timeout": 5}
    cfg = Config(**{**settings, **config})
    return boto3.client(
        "kms",
        region_name="us-east-1",
        endpoint_url=p.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=cfg,
    )


# -- plumbing ---------------------------------------------------------------------------------------------


def local_non_loopback_addresses() -> set[str]:
    """This host's non-loopback IPv4 addresses (a connected UDP socket sends nothing)."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        found |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        found.add(str(probe.getsockname()[0]))
    return {ip for ip in found if not ip.startswith("127.") and ip != "0.0.0.0"}


def test_binds_loopback_only(proxy: FaultProxy) -> None:
    host, port = proxy.address
    assert host == "127.0.0.1"
    assert proxy.url == f"http://127.0.0.1:{port}"
    others = local_non_loopback_addresses()
    if not others:
        pytest.skip("no non-loopback interface to check from")
    for other in sorted(others):
        with pytest.raises(ConnectionRefusedError), socket.create_connection((other, port), timeout=1):
            pass


def test_forwards_untouched_with_upstream_host_and_without_hop_by_hop(
    proxy: FaultProxy, upstream: Upstream
) -> None:
    conn = connect(proxy)
    body = b'{"KeyId": "' + KEY_ID.encode() + b'"}'
    status, headers, payload = call(
        conn,
        body=body,
        extra_headers={
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/kms/aws4_request",
            "X-Amz-Date": "20260101T000000Z",
            "Connection": "keep-alive, X-Dropped",
            "X-Dropped": "listed in Connection, so hop-by-hop",
            "Keep-Alive": "timeout=5",
            "Proxy-Authorization": "secret",
        },
    )
    assert (status, payload) == (200, DESCRIBE_BODY)
    assert headers["Content-Length"] == str(len(DESCRIBE_BODY))
    assert headers["x-amzn-RequestId"] == "upstream-request-id"
    # Keep-alive: a second request on the same connection works too.
    assert call(conn)[0] == 200
    conn.close()
    sent = {k.lower(): v for k, v in upstream.seen[0]["headers"].items()}
    assert upstream.seen[0]["body"] == body
    assert sent["host"] == upstream.netloc
    assert sent["x-amz-target"] == "TrentService.DescribeKey"
    assert sent["authorization"].startswith("AWS4-HMAC-SHA256")
    assert sent["x-amz-date"] == "20260101T000000Z"
    assert sent["content-length"] == str(len(body))
    for dropped in ("connection", "keep-alive", "proxy-authorization", "x-dropped"):
        assert dropped not in sent
    assert proxy.log == [("DescribeKey", "none"), ("DescribeKey", "none")]
    assert proxy.injected == {}
    assert (proxy.requests, proxy.forwarded) == (2, 2)


def test_upstream_path_prefix_is_kept(upstream: Upstream) -> None:
    with FaultProxy(upstream.url + "/prefix/") as p:
        assert raw(p)[0] == 200
    assert upstream.seen[0]["path"] == "/prefix/"


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="sum"):
        FaultConfig(throttle=0.6, truncate=0.6)
    with pytest.raises(ValueError, match=r"0\.0\.\.1\.0"):
        FaultConfig(garble=1.5)
    with pytest.raises(ValueError, match="latency"):
        FaultConfig(latency=(0.5, 0.1))
    with pytest.raises(ValueError, match="http_5xx_statuses"):
        FaultConfig(http_5xx_statuses=(504,))
    with pytest.raises(ValueError, match="garble_modes"):
        FaultConfig(garble_modes=("nonsense",))
    with pytest.raises(ValueError, match="upstream"):
        FaultProxy("ftp://127.0.0.1:1")
    assert FaultConfig(operations={"ReplicateKey"}).operations == frozenset({"ReplicateKey"})  # type: ignore[arg-type]


def test_configure_validates_and_applies_at_run_time(proxy: FaultProxy) -> None:
    with pytest.raises(TypeError):
        proxy.configure(no_such_field=1.0)
    with pytest.raises(ValueError):
        proxy.configure(throttle=0.7, http_5xx=0.7)
    assert proxy.config == FaultConfig()  # a rejected change leaves the config alone
    assert raw(proxy)[0] == 200
    proxy.configure(**only("throttle"))
    assert raw(proxy)[0] == 400
    proxy.configure(throttle=0.0)
    assert raw(proxy)[0] == 200


# -- each fault, as a raw HTTP client sees it ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "content_type", "marker"),
    [
        (500, AMZ_JSON, '"__type": "InternalFailure"'),
        (502, "text/html", "502 Bad Gateway"),
        (503, AMZ_JSON, '"__type": "ServiceUnavailableException"'),
    ],
)
def test_http_5xx_answers_without_forwarding(
    proxy: FaultProxy, upstream: Upstream, status: int, content_type: str, marker: str
) -> None:
    proxy.configure(**only("http_5xx", http_5xx_statuses=(status,)))
    got, headers, payload = raw(proxy)
    assert got == status
    assert headers["Content-Type"] == content_type
    assert marker in payload.decode()
    assert upstream.count == 0
    assert proxy.injected == {"http_5xx": 1}


def test_http_5xx_after_forwards_then_fails(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.configure(**only("http_5xx_after"))
    status, headers, payload = raw(proxy, "ReplicateKey")
    assert status == 500
    assert json.loads(payload)["__type"] == "InternalFailure"
    assert headers["Content-Type"] == AMZ_JSON
    assert upstream.count == 1  # the indeterminate case: it failed, yet the upstream applied it
    assert proxy.log == [("ReplicateKey", "http_5xx_after")]


def test_throttle_looks_like_aws_json_1_1(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.configure(**only("throttle"))
    status, headers, payload = raw(proxy)
    assert status == 400
    assert json.loads(payload) == {"__type": "ThrottlingException", "message": "Rate exceeded"}
    assert headers["Content-Type"] == AMZ_JSON
    assert headers["x-amzn-ErrorType"].startswith("ThrottlingException:")
    assert headers["x-amzn-RequestId"]
    assert upstream.count == 0


@pytest.mark.parametrize(("kind", "applied"), [("reset_before", 0), ("reset_after", 1)])
def test_reset_is_a_tcp_reset(proxy: FaultProxy, upstream: Upstream, kind: str, applied: int) -> None:
    proxy.configure(**only(kind))
    with pytest.raises(ConnectionResetError):
        raw(proxy)
    assert upstream.count == applied
    assert proxy.injected == {kind: 1}


def test_truncate_is_well_framed_but_broken_json(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.configure(**only("truncate"))
    conn = connect(proxy)
    status, headers, payload = call(conn)
    assert status == 200
    assert payload == DESCRIBE_BODY[: len(DESCRIBE_BODY) // 2]
    assert headers["Content-Length"] == str(len(payload))
    with pytest.raises(json.JSONDecodeError):
        json.loads(payload)
    # The framing is intact: the same connection carries the next (now clean) exchange.
    proxy.configure(truncate=0.0)
    assert call(conn)[2] == DESCRIBE_BODY
    conn.close()
    assert upstream.count == 2


def test_garble_modes(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.configure(**only("garble", garble_modes=("broken_json",)))
    status, headers, payload = raw(proxy)
    assert status == 200 and headers["Content-Length"] == str(len(payload))
    with pytest.raises(json.JSONDecodeError):
        json.loads(payload)

    proxy.configure(garble_modes=("wrong_type",))
    assert json.loads(raw(proxy)[2]) == {"KeyMetadata": "not-an-object"}

    proxy.configure(garble_modes=("random_bytes",))
    noise = raw(proxy)[2]
    with pytest.raises(UnicodeDecodeError):
        noise.decode()
    assert upstream.count == 3
    assert proxy.injected == {"garble": 3}


def test_garble_picks_every_mode(proxy: FaultProxy) -> None:
    proxy.configure(**only("garble"))
    kinds = set()
    for _ in range(30):
        payload = raw(proxy)[2]
        try:
            kinds.add("wrong_type" if isinstance(json.loads(payload), dict) else "other")
        except UnicodeDecodeError:
            kinds.add("random_bytes")
        except json.JSONDecodeError:
            kinds.add("broken_json")
    assert kinds == {"wrong_type", "random_bytes", "broken_json"}


def test_latency(proxy: FaultProxy, upstream: Upstream) -> None:
    proxy.configure(latency=0.3)
    start = time.monotonic()
    assert raw(proxy)[0] == 200
    assert time.monotonic() - start >= 0.3
    proxy.configure(latency=(0.1, 0.2))
    start = time.monotonic()
    raw(proxy)
    assert 0.1 <= time.monotonic() - start < 1.0
    proxy.configure(latency=0.5, latency_rate=0.0)
    start = time.monotonic()
    raw(proxy)
    assert time.monotonic() - start < 0.4
    assert proxy.injected == {"latency": 2}
    assert upstream.count == 3


def test_upstream_timeout_is_bounded(upstream: Upstream) -> None:
    with FaultProxy(upstream.url, FaultConfig(upstream_timeout=0.3)) as p:
        conn = connect(p)
        start = time.monotonic()
        status, headers, payload = call(conn, path="/slow")
        conn.close()
        assert time.monotonic() - start < 1.5
        assert status == 502 and headers["X-Fault-Proxy"] == "upstream-error"
        assert b"TimeoutError" in payload
        assert p.injected == {"upstream_error": 1}


# -- rates, reproducibility, filters ------------------------------------------------------------------------


def test_rate_one_always_and_rate_zero_never(proxy: FaultProxy) -> None:
    # Zero-rate kinds on both sides of the certain one in the stacking order.
    proxy.configure(**only("throttle"))
    statuses = {raw(proxy)[0] for _ in range(25)}
    assert statuses == {400}
    assert proxy.injected == {"throttle": 25}
    proxy.reset()
    proxy.configure(**only(None, http_5xx=0.5, throttle=0.0, hang=0.0, truncate=0.5))
    for _ in range(60):
        raw(proxy)
    injected = proxy.injected
    assert set(injected) == {"http_5xx", "truncate"}
    assert injected.total() == 60


def test_rates_are_roughly_honoured(proxy: FaultProxy) -> None:
    proxy.configure(throttle=0.25, http_5xx=0.25)
    for _ in range(200):
        raw(proxy)
    injected = proxy.injected
    assert 30 <= injected["throttle"] <= 70
    assert 30 <= injected["http_5xx"] <= 70
    assert sum(1 for _, fault in proxy.log if fault == "none") == 200 - injected.total()


def test_same_seed_same_sequence(upstream: Upstream) -> None:
    config = FaultConfig(http_5xx=0.2, throttle=0.2, truncate=0.2, garble=0.2, latency=(0.0, 0.001))

    def run(seed: int) -> list[tuple[str, str]]:
        with FaultProxy(upstream.url, config, seed=seed) as p:
            for i in range(30):
                with contextlib.suppress(ConnectionError):
                    raw(p, "ReplicateKey" if i % 3 else "DescribeKey")
            return p.log

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first != other
    assert len({fault for _, fault in first}) >= 4


def test_reset_reseeds(proxy: FaultProxy) -> None:
    proxy.configure(http_5xx=0.5)
    for _ in range(20):
        raw(proxy)
    first = proxy.log
    proxy.reset()
    for _ in range(20):
        raw(proxy)
    assert proxy.log == first
    assert proxy.requests == 20


@pytest.mark.parametrize("name", ["TrentService.ReplicateKey", "ReplicateKey"])
def test_operation_filter(proxy: FaultProxy, upstream: Upstream, name: str) -> None:
    proxy.configure(**only("throttle", operations=frozenset({name})))
    assert raw(proxy, "DescribeKey")[0] == 200
    assert raw(proxy, "ReplicateKey")[0] == 400
    conn = connect(proxy)
    conn.request("GET", "/health")  # no X-Amz-Target: never eligible under a filter
    assert conn.getresponse().status == 501  # the tiny upstream has no do_GET
    conn.close()
    assert proxy.log == [("DescribeKey", "none"), ("ReplicateKey", "throttle"), ("GET /health", "none")]


def test_skip_first_counts_eligible_requests_only(proxy: FaultProxy) -> None:
    proxy.configure(**only("throttle", operations=frozenset({"ReplicateKey"}), skip_first=2))
    sequence = ["ReplicateKey", "DescribeKey", "ReplicateKey", "DescribeKey", "ReplicateKey", "ReplicateKey"]
    statuses = [raw(proxy, op)[0] for op in sequence]
    assert statuses == [200, 200, 200, 200, 400, 400]


def test_concurrent_requests_are_all_accounted(proxy: FaultProxy) -> None:
    proxy.configure(throttle=0.5)
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            status = raw(proxy)[0]
            with lock:
                results.append(status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 80 and proxy.requests == 80 and len(proxy.log) == 80
    assert proxy.injected["throttle"] == results.count(400)
    assert proxy.forwarded == results.count(200)


# -- hang and shutdown --------------------------------------------------------------------------------------


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_hang_is_released_by_stop(upstream: Upstream) -> None:
    outcome: list[BaseException | int] = []
    p = FaultProxy(upstream.url, FaultConfig(hang=1.0)).start()
    idle = connect(p)  # an idle keep-alive connection must not hold stop() up either
    idle.connect()

    def client() -> None:
        try:
            outcome.append(raw(p)[0])
        except (ConnectionError, http.client.HTTPException) as exc:
            outcome.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    wait_for(lambda: p.injected["hang"] == 1)
    time.sleep(0.2)
    assert not outcome  # still hanging
    start = time.monotonic()
    p.stop()
    assert time.monotonic() - start < 1.0
    thread.join(1.0)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionError)
    assert upstream.count == 0
    idle.close()
    with pytest.raises(RuntimeError):
        _ = p.url


def test_stop_is_bounded_with_a_slow_upstream(upstream: Upstream) -> None:
    p = FaultProxy(upstream.url).start()
    conn = connect(p)
    conn.request("POST", "/slow", body=b"{}", headers={"X-Amz-Target": "TrentService.DescribeKey"})
    wait_for(lambda: upstream.count >= 1)
    start = time.monotonic()
    p.stop()
    assert time.monotonic() - start < 1.0
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        conn.getresponse().read()
    conn.close()


# -- what botocore makes of each fault ----------------------------------------------------------------------


def test_boto3_sees_the_upstream_through_a_clean_proxy(proxy: FaultProxy) -> None:
    response = kms(proxy).describe_key(KeyId=KEY_ID)
    assert response["KeyMetadata"]["KeyId"] == KEY_ID
    assert proxy.log == [("DescribeKey", "none")]


def test_legacy_max_attempts_counts_retries(proxy: FaultProxy) -> None:
    """botocore's legacy ``max_attempts`` counts retries, not attempts: 1 means two requests."""
    proxy.configure(**only("http_5xx", http_5xx_statuses=(503,)))
    client = boto3.client(
        "kms",
        region_name="us-east-1",
        endpoint_url=proxy.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(botocore.exceptions.ClientError):
        client.describe_key(KeyId=KEY_ID)
    assert proxy.requests == 2


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        (only("throttle"), "ThrottlingException"),
        (only("http_5xx", http_5xx_statuses=(500,)), "InternalFailure"),
        (only("http_5xx", http_5xx_statuses=(502,)), "502"),
        (only("http_5xx", http_5xx_statuses=(503,)), "ServiceUnavailableException"),
        (only("http_5xx_after"), "InternalFailure"),
    ],
)
def test_boto3_error_answers_are_client_errors(proxy: FaultProxy, changes: dict[str, Any], code: str) -> None:
    proxy.configure(**changes)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        kms(proxy).describe_key(KeyId=KEY_ID)
    assert caught.value.response["Error"]["Code"] == code
    assert proxy.requests == 1


@pytest.mark.parametrize("kind", ["reset_before", "reset_after"])
def test_boto3_reset_is_connection_closed_error(proxy: FaultProxy, kind: str) -> None:
    proxy.configure(**only(kind))
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        kms(proxy).describe_key(KeyId=KEY_ID)


def test_boto3_hang_is_read_timeout(proxy: FaultProxy) -> None:
    proxy.configure(**only("hang"))
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        kms(proxy, read_timeout=0.3).describe_key(KeyId=KEY_ID)


def test_boto3_stopped_proxy_is_endpoint_connection_error(upstream: Upstream) -> None:
    with FaultProxy(upstream.url) as p:
        client = kms(p)
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        client.describe_key(KeyId=KEY_ID)


@pytest.mark.parametrize(
    "changes",
    [only("truncate"), only("garble", garble_modes=("broken_json",))],
    ids=["truncate", "broken_json"],
)
def test_boto3_unparseable_success_body_passes_silently(proxy: FaultProxy, changes: dict[str, Any]) -> None:
    """botocore falls back to ``{"message": <text>}`` for a non-JSON body, so a 200 looks like an empty
    success: callers must check that the members they need are present."""
    proxy.configure(**changes)
    response = kms(proxy).describe_key(KeyId=KEY_ID)
    assert set(response) == {"ResponseMetadata"}
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_boto3_truncated_error_body_becomes_status_code(proxy: FaultProxy, upstream: Upstream) -> None:
    """A cut error body loses its ``__type``: botocore reports the HTTP status as the error code."""
    proxy.configure(**only("truncate"))
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        kms(proxy).describe_key(KeyId="missing")
    assert caught.value.response["Error"]["Code"] == "400"
    assert upstream.count == 1


def test_boto3_wrong_typed_and_random_bodies_raise_raw_python_errors(proxy: FaultProxy) -> None:
    """Not botocore exceptions: a wrong-typed structure gives AttributeError, non-UTF-8 UnicodeDecodeError."""
    proxy.configure(**only("garble", garble_modes=("wrong_type",)))
    with pytest.raises(AttributeError):
        kms(proxy).describe_key(KeyId=KEY_ID)
    proxy.configure(garble_modes=("random_bytes",))
    with pytest.raises(UnicodeDecodeError):
        kms(proxy).describe_key(KeyId=KEY_ID)
