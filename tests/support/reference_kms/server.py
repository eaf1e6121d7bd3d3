"""HTTP front end: the AWS JSON 1.1 protocol on 127.0.0.1, so any boto3 client can use the reference KMS."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .service import KMSBackend

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/kms/aws4_request")
DEFAULT_REGION = "us-east-1"
CONTENT_TYPE = "application/x-amz-json-1.1"


def region_from_authorization(header: str | None) -> str:
    """The Region of a SigV4 request: the credential scope of its Authorization header."""
    match = _CREDENTIAL_SCOPE.search(header or "")
    return match.group(1) if match else DEFAULT_REGION


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body in one segment: without it, Nagle + delayed ACK cost ~40 ms per request.
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        region = region_from_authorization(self.headers.get("Authorization"))
        status: int
        payload: dict[str, Any]
        if not target.startswith("TrentService."):
            status, payload = (
                400,
                {"__type": "UnknownOperationException", "message": f"Unknown target {target}"},
            )
        else:
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                status, payload = 400, {"__type": "SerializationException", "message": "Malformed JSON body."}
            else:
                try:
                    status, payload = self.server.backend.handle(target.split(".", 1)[1], region, body)
                except Exception as exc:  # a reference bug must still answer, visibly as a 500
                    status, payload = 500, {"__type": "KMSInternalException", "message": repr(exc)}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, backend: KMSBackend) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.backend = backend


class ReferenceKMS:
    """A conforming in-memory KMS on a loopback port, with optional seeded faults.

    Usage: ``with ReferenceKMS() as kms: boto3.client("kms", endpoint_url=kms.url, ...)``.
    """

    def __init__(
        self, faults: Iterable[str] = (), creating_seconds: float = 0.2, account_id: str = "111111111111"
    ) -> None:
        self.backend = KMSBackend(faults, creating_seconds, account_id)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def faults(self) -> frozenset[str]:
        """The enabled seeded faults."""
        return self.backend.faults

    @property
    def url(self) -> str:
        """Endpoint URL (``http://127.0.0.1:PORT``); only valid while running."""
        if self._server is None:
            raise RuntimeError("ReferenceKMS is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> str:
        """Start serving in a background thread; returns the endpoint URL."""
        if self._server is None:
            self._server = _Server(self.backend)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                name="reference-kms",
                kwargs={"poll_interval": 0.05},
                daemon=True,
            )
            self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> ReferenceKMS:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
