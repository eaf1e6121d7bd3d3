"""A fault-injecting HTTP reverse proxy, so the suite's verdicts can be tested against a misbehaving target.

The client's ``endpoint_url`` points at :attr:`FaultProxy.url`; requests are forwarded to an upstream base URL
(a moto server, any HTTP server).  At configurable rates, drawn from a seeded :class:`random.Random` so a run
is reproducible, the proxy instead (or additionally) misbehaves the way a real network or service can:

==================  ====================================================================  =================
fault               what the client sees                                                  upstream applied?
==================  ====================================================================  =================
``latency``         the normal answer, ``latency`` seconds late                           yes
``http_5xx``        500/502/503 (AWS-style JSON, HTML for 502)                            no
``http_5xx_after``  500 ``InternalFailure``                                               yes (indeterminate)
``throttle``        400 ``ThrottlingException`` (AWS JSON 1.1 shape)                      no
``reset_before``    TCP reset after sending the request                                   no
``reset_after``     TCP reset after sending the request                                   yes (indeterminate)
``truncate``        the upstream's status and headers, body cut in half (valid framing)   yes
``garble``          the upstream's status and headers, broken or wrong-typed JSON body    yes
``hang``            nothing, until :meth:`FaultProxy.stop` (then a reset)                 no
==================  ====================================================================  =================

SigV4: the client signs for the proxy's host (``127.0.0.1:<port>``) and the proxy rewrites ``Host`` to the
upstream's, so an upstream that verifies signatures would reject the forwarded requests.  moto and most other
emulators do not verify signatures, so this is fine for the suite's own tests.

Everything is bounded: upstream sockets have a timeout, idle client connections time out, and :meth:`stop`
releases hanging requests and returns within about a second.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import random
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FAULT_KINDS", "GARBLE_MODES", "FaultConfig", "FaultProxy"]

#: Mutually exclusive faults, in the order their rates are stacked on one uniform draw per request.
FAULT_KINDS: tuple[str, ...] = (
    "http_5xx",
    "http_5xx_after",
    "throttle",
    "reset_before",
    "reset_after",
    "truncate",
    "garble",
    "hang",
)

#: Ways of garbling a body: ``broken_json`` (syntax error), ``wrong_type`` (valid JSON, every top-level value
#: of the wrong type, e.g. ``{"KeyMetadata": "not-an-object"}``), ``random_bytes`` (not UTF-8, not JSON).
GARBLE_MODES: tuple[str, ...] = ("broken_json", "wrong_type", "random_bytes")

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Recomputed or meaningless once the proxy has read the body itself.
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "content-length", "expect"}

_AMZ_JSON = "application/x-amz-json-1.1"
_STOP_GRACE = 0.8  # seconds stop() waits for handler threads in total


@dataclass(frozen=True)
class FaultConfig:
    """What to inject and how often; rates are probabilities per eligible request, 0.0..1.0.

    The fault rates (:data:`FAULT_KINDS`) are exclusive: at most one fault per request, so their sum must not
    exceed 1.  Latency is drawn independently and can accompany any fault.  A request is *eligible* when its
    operation passes ``operations`` and at least ``skip_first`` eligible requests came before it; other
    requests are forwarded untouched and draw nothing from the random generator.
    """

    latency: float | tuple[float, float] = 0.0
    """Delay in seconds before forwarding or answering: fixed, or ``(low, high)`` uniform."""
    latency_rate: float = 1.0
    http_5xx: float = 0.0
    http_5xx_after: float = 0.0
    throttle: float = 0.0
    reset_before: float = 0.0
    reset_after: float = 0.0
    truncate: float = 0.0
    garble: float = 0.0
    hang: float = 0.0
    http_5xx_statuses: tuple[int, ...] = (500, 502, 503)
    """Status codes ``http_5xx`` picks from (uniformly); each must be one of 500, 502, 503."""
    garble_modes: tuple[str, ...] = GARBLE_MODES
    """Garbling styles ``garble`` picks from (uniformly); subset of :data:`GARBLE_MODES`."""
    operations: frozenset[str] | None = None
    """Eligible operations, as ``"ReplicateKey"`` or ``"TrentService.ReplicateKey"``; None: all."""
    skip_first: int = 0
    """The first N eligible requests are forwarded untouched."""
    upstream_timeout: float = 10.0
    """Socket timeout (connect and each read) towards the upstream."""
    client_idle_timeout: float = 30.0
    """An idle keep-alive client connection is closed after this many seconds."""

    def __post_init__(self) -> None:
        def check_rate(name: str, value: float) -> None:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0.0..1.0, got {value!r}")

        check_rate("latency_rate", self.latency_rate)
        for kind in FAULT_KINDS:
            check_rate(kind, getattr(self, kind))
        total = sum(getattr(self, kind) for kind in FAULT_KINDS)
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault rates are exclusive and must sum to at most 1.0, got {total}")
        low, high = self.latency if isinstance(self.latency, tuple) else (self.latency, self.latency)
        if not 0.0 <= low <= high:
            raise ValueError(f"latency must be >= 0 (and low <= high), got {self.latency!r}")
        if not self.http_5xx_statuses or set(self.http_5xx_statuses) - {500, 502, 503}:
            raise ValueError(f"http_5xx_statuses must be a subset of 500/502/503: {self.http_5xx_statuses}")
        if not self.garble_modes or set(self.garble_modes) - set(GARBLE_MODES):
            raise ValueError(f"garble_modes must be a subset of {GARBLE_MODES}: {self.garble_modes}")
        if self.operations is not None and not isinstance(self.operations, frozenset):
            object.__setattr__(self, "operations", frozenset(self.operations))
        if self.skip_first < 0:
            raise ValueError("skip_first must be >= 0")
        if self.upstream_timeout <= 0 or self.client_idle_timeout <= 0:
            raise ValueError("timeouts must be > 0")

    def selects(self, target: str | None) -> bool:
        """Whether a request with this ``X-Amz-Target`` passes the operation filter."""
        if self.operations is None:
            return True
        if target is None:
            return False
        return target in self.operations or target.rpartition(".")[2] in self.operations


@dataclass(frozen=True)
class _Plan:
    """Everything decided for one request, drawn up front so the draw count per request is constant."""

    fault: str | None
    delay: float
    status: int
    garble_mode: str
    noise_seed: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the default 5 makes parallel clients wait for a 1 s SYN retransmit

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One segment per response: without these, Nagle + delayed ACK add ~40 ms to every request.
    disable_nagle_algorithm = True
    wbufsize = -1
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.proxy.config.client_idle_timeout)
        self.server.proxy._track_client(self.connection, threading.current_thread(), add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.proxy._track_client(self.connection, threading.current_thread(), add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log: tests assert on counters instead."""

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except OSError:
            # Client vanished, idle timeout, or the proxy is stopping: drop this connection quietly.
            self.close_connection = True

    def _dispatch(self) -> None:
        self.server.proxy._handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _dispatch

    # -- helpers used by FaultProxy._handle -------------------------------------------------------------

    def read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked) so it can be forwarded as a whole."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_whole(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        """Send a complete response whose Content-Length matches the body actually sent."""
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in _NOT_FORWARDED:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def reset(self) -> None:
        """Close the client connection with SO_LINGER 0, so the peer sees a TCP RST rather than a FIN."""
        self.close_connection = True
        try:
            self.rfile.close()  # the buffered reader holds a reference that would delay the real close
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class FaultProxy:
    """Reverse proxy on ``127.0.0.1:<random port>`` that forwards to ``upstream`` and injects faults.

    Use as a context manager (or :meth:`start`/:meth:`stop`).  :meth:`configure` changes the config while
    running; :attr:`injected` counts injected faults per kind, plus ``"latency"`` and ``"upstream_error"``
    (the upstream itself failed: the proxy answered 502 with ``X-Fault-Proxy: upstream-error``); :attr:`log`
    lists ``(operation, fault)`` per request, ``fault`` being a :data:`FAULT_KINDS` member or ``"none"``.
    """

    def __init__(self, upstream: str, config: FaultConfig | None = None, seed: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) base URL, got {upstream!r}")
        self.upstream = upstream
        self._scheme = parts.scheme
        self._up_host = parts.hostname
        self._up_port = parts.port or (443 if parts.scheme == "https" else 80)
        self._up_netloc = parts.netloc
        self._up_prefix = parts.path.rstrip("/")
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._seed = seed
        self._rng = random.Random(seed)
        self._injected: Counter[str] = Counter()
        self._log: list[tuple[str, str]] = []
        self._requests = 0
        self._eligible = 0
        self._forwarded = 0
        self._stopping = threading.Event()
        self._clients: dict[socket.socket, threading.Thread] = {}
        self._upstreams: set[http.client.HTTPConnection] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FaultProxy already started")
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: release hangs and delays, cut open connections, return within about a second."""
        server, self._server = self._server, None
        if server is None:
            return
        deadline = time.monotonic() + _STOP_GRACE
        self._stopping.set()
        server.shutdown()
        with self._lock:
            clients = list(self._clients.items())
            upstreams = list(self._upstreams)
        for conn in upstreams:
            _shutdown_socket(conn.sock)
        for sock, _ in clients:
            _shutdown_socket(sock)
        server.server_close()
        for _, thread in clients:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
            self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to give the client as ``endpoint_url``."""
        if self._server is None:
            raise RuntimeError("FaultProxy not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        if self._server is None:
            raise RuntimeError("FaultProxy not started")
        host, port = self._server.socket.getsockname()[:2]
        return host, port

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return self._config

    def configure(self, **changes: Any) -> FaultConfig:
        """Replace config fields atomically (validated); takes effect for the next request."""
        with self._lock:
            self._config = dataclasses.replace(self._config, **changes)
            return self._config

    def reset(self, seed: int | None = None) -> None:
        """Clear counters and log, restart the eligible-request count, reseed (same seed by default)."""
        with self._lock:
            if seed is not None:
                self._seed = seed
            self._rng = random.Random(self._seed)
            self._injected.clear()
            self._log.clear()
            self._requests = self._eligible = self._forwarded = 0

    @property
    def injected(self) -> Counter[str]:
        """Copy of the per-kind counts of injected faults (and ``"latency"``)."""
        with self._lock:
            return Counter(self._injected)

    @property
    def log(self) -> list[tuple[str, str]]:
        """Copy of ``(operation, fault)`` per request received, in arrival order."""
        with self._lock:
            return list(self._log)

    @property
    def requests(self) -> int:
        """Requests received from clients."""
        with self._lock:
            return self._requests

    @property
    def forwarded(self) -> int:
        """Requests sent to the upstream (including those whose answer was then faulted)."""
        with self._lock:
            return self._forwarded

    # -- request handling ------------------------------------------------------------------------------

    def _track_client(self, sock: socket.socket, thread: threading.Thread, *, add: bool) -> None:
        with self._lock:
            if add:
                self._clients[sock] = thread
            else:
                self._clients.pop(sock, None)

    def _plan(self, target: str | None, operation: str) -> _Plan:
        with self._lock:
            cfg = self._config
            self._requests += 1
            fault: str | None = None
            delay = 0.0
            status = 500
            mode = cfg.garble_modes[0]
            noise = 0
            if cfg.selects(target):
                self._eligible += 1
                if self._eligible > cfg.skip_first:
                    # Always the same five draws, so the sequence depends only on seed and request index.
                    u_fault = self._rng.random()
                    u_latency = self._rng.random()
                    u_value = self._rng.random()
                    status = cfg.http_5xx_statuses[self._rng.randrange(len(cfg.http_5xx_statuses))]
                    mode = cfg.garble_modes[self._rng.randrange(len(cfg.garble_modes))]
                    noise = self._rng.getrandbits(32)
                    cumulative = 0.0
                    for kind in FAULT_KINDS:
                        rate = getattr(cfg, kind)
                        cumulative += rate
                        if rate > 0.0 and u_fault < cumulative:
                            fault = kind
                            break
                    low, high = cfg.latency if isinstance(cfg.latency, tuple) else (cfg.latency, cfg.latency)
                    if cfg.latency_rate > 0.0 and u_latency < cfg.latency_rate:
                        delay = low + (high - low) * u_value
            if delay > 0.0:
                self._injected["latency"] += 1
            if fault is not None:
                self._injected[fault] += 1
            self._log.append((operation, fault or "none"))
            return _Plan(fault, delay, status, mode, noise)

    def _handle(self, h: _Handler) -> None:
        body = h.read_body()
        target = h.headers.get("X-Amz-Target")
        operation = target.rpartition(".")[2] if target else f"{h.command} {h.path}"
        plan = self._plan(target, operation)
        if plan.delay and self._stopping.wait(plan.delay):
            h.reset()
            return
        fault = plan.fault
        if fault == "hang":
            self._stopping.wait()
            h.reset()
            return
        if fault == "reset_before":
            h.reset()
            return
        if fault == "throttle":
            throttled = _aws_error_body("ThrottlingException", "Rate exceeded")
            h.send_whole(400, _aws_error_headers("ThrottlingException"), throttled)
            return
        if fault == "http_5xx":
            h.send_whole(plan.status, *_server_error(plan.status))
            return

        try:
            status, headers, payload = self._forward(h, body)
        except (OSError, http.client.HTTPException) as exc:
            with self._lock:
                self._injected["upstream_error"] += 1
            if self._stopping.is_set():
                h.reset()
                return
            message = f"fault proxy: upstream {self.upstream} failed: {type(exc).__name__}: {exc}"
            headers = [("Content-Type", "text/plain"), ("X-Fault-Proxy", "upstream-error")]
            h.send_whole(502, headers, message.encode())
            return

        if fault == "reset_after":
            h.reset()
        elif fault == "http_5xx_after":
            h.send_whole(500, *_server_error(500))
        elif fault == "truncate":
            h.send_whole(status, headers, payload[: len(payload) // 2])
        elif fault == "garble":
            h.send_whole(status, headers, _garble(payload, plan.garble_mode, plan.noise_seed))
        else:
            h.send_whole(status, headers, payload)

    def _forward(self, h: _Handler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request upstream with its headers (minus hop-by-hop ones) and the upstream's Host."""
        timeout = self.config.upstream_timeout
        conn: http.client.HTTPConnection
        if self._scheme == "https":
            conn = http.client.HTTPSConnection(self._up_host, self._up_port, timeout=timeout)
        else:
            conn = http.client.HTTPConnection(self._up_host, self._up_port, timeout=timeout)
        with self._lock:
            self._upstreams.add(conn)
        try:
            conn.putrequest(h.command, self._up_prefix + h.path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", self._up_netloc)
            listed = {t.strip().lower() for t in h.headers.get("Connection", "").split(",")}
            for name, value in h.headers.items():
                lname = name.lower()
                if lname not in _NOT_FORWARDED and lname not in listed:
                    conn.putheader(name, value)
            if body or h.command in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            with self._lock:
                self._forwarded += 1
            response = conn.getresponse()
            payload = response.read()
            listed = {t.strip().lower() for t in (response.getheader("Connection") or "").split(",")}
            headers = [(k, v) for k, v in response.getheaders() if k.lower() not in listed]
            return response.status, headers, payload
        finally:
            conn.close()
            with self._lock:
                self._upstreams.discard(conn)


def _shutdown_socket(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _aws_error_headers(code: str) -> list[tuple[str, str]]:
    return [
        ("x-amzn-RequestId", str(uuid.uuid4())),
        ("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/com.amazon.coral.availability/"),
        ("Content-Type", _AMZ_JSON),
    ]


def _aws_error_body(code: str, message: str) -> bytes:
    return json.dumps({"__type": code, "message": message}).encode()


def _server_error(status: int) -> tuple[list[tuple[str, str]], bytes]:
    if status == 502:
        html = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
        return [("Content-Type", "text/html")], html.encode()
    code = "ServiceUnavailableException" if status == 503 else "InternalFailure"
    message = (
        "Service Unavailable"
        if status == 503
        else "The request processing has failed because of an unknown error."
    )
    return _aws_error_headers(code), _aws_error_body(code, message)


def _wrong_type(value: Any) -> Any:
    if isinstance(value, dict):
        return "not-an-object"
    if isinstance(value, list):
        return "not-a-list"
    if isinstance(value, bool):
        return "not-a-boolean"
    if isinstance(value, int | float):
        return "not-a-number"
    return 12345


def _garble(payload: bytes, mode: str, noise_seed: int) -> bytes:
    """Replace a body with broken JSON, wrong-typed JSON or random non-UTF-8 bytes."""
    if mode == "broken_json":
        return b'{"KeyMetadata": {"KeyId": "'
    if mode == "wrong_type":
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed:
            return json.dumps({k: _wrong_type(v) for k, v in parsed.items()}).encode()
        return json.dumps({"KeyMetadata": "not-an-object"}).encode()
    # random_bytes: a leading 0xff byte guarantees it is neither UTF-8 nor JSON.
    return b"\xff" + random.Random(noise_seed).randbytes(31)
