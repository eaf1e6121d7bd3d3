"""Trustworthy verdicts from a misbehaving target.

The suite's verdicts are only worth something if the network and a flaky server cannot forge them:
throttling and transient errors must be retried and change nothing, an outcome the suite cannot know
must make rules inconclusive (never fail), a malformed body is the target's own fault (ERR-003), and
a report is written however the run ends. Each test puts the fault proxy (or a dying server) in front
of the conforming reference KMS, so any ``fail`` verdict here is a false alarm of the suite.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.retries import standard as botocore_standard

from conformance.catalogue import load_catalogue
from conformance.reporting import write_reports
from conformance.runner import run_suite
from conformance.targets import TargetConfig
from tests.support import fault_proxy
from tests.support.fault_proxy import FaultConfig, FaultProxy
from tests.support.reference_kms import ReferenceKMS

SEED = 1234
# Small but representative: ReplicateKey's error and success paths plus the response shape.
RULES = ("region", "keyid", "response")
FOCI = ("replicate",)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def quick_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore's retry logic but shrink its sleeps, and make the proxy answer without Nagle delays.

    Backoff is up to 1, 2, 4 s per retry; scaled by 0.02 it stays exponential and jittered but a
    test's hundreds of throttled calls take seconds, not minutes. The proxy's handler writes headers and
    body in separate segments, which costs ~45 ms per request on loopback (Nagle + delayed ACK).
    """
    original = botocore_standard.ExponentialBackoff.delay_amount

    def scaled(self: Any, context: Any) -> float:
        return float(original(self, context)) * 0.02

    monkeypatch.setattr(botocore_standard.ExponentialBackoff, "delay_amount", scaled)
    monkeypatch.setattr(fault_proxy._Handler, "disable_nagle_algorithm", True, raising=False)
    monkeypatch.setattr(fault_proxy._Handler, "wbufsize", -1, raising=False)


@pytest.fixture
def reference() -> Iterator[ReferenceKMS]:
    with ReferenceKMS(creating_seconds=0.05) as ref:
        yield ref


def run(url: str, *, rules: tuple[str, ...] = RULES, **target: Any) -> dict[str, Any]:
    config = TargetConfig(kind="endpoint", endpoint_url=url, **target)
    return run_suite(config, profile="ci", foci=FOCI, rules=rules, seed=SEED, recorded=False)


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    return {rule["id"]: rule["verdict"] for rule in report["rules"]}


def failing(report: dict[str, Any]) -> dict[str, str]:
    """Failing rules with what was observed, for readable assertion messages."""
    return {r["id"]: (r["failure"] or {}).get("observed", "")[:300] for r in report["rules"] if r["verdict"] == "fail"}


def assert_complete(report: dict[str, Any]) -> None:
    """Every catalogue rule has a verdict and the report renders in every format."""
    catalogue = load_catalogue()
    assert [r["id"] for r in report["rules"]] == [r.id for r in catalogue]
    assert all(r["verdict"] in ("pass", "fail", "unsupported", "inconclusive", "not-run") for r in report["rules"])
    assert sum(report["summary"]["verdicts"].values()) == len(catalogue)


@pytest.fixture(scope="module")
def direct_verdicts() -> dict[str, str]:
    """The baseline: the same seed against the reference with nothing in between."""
    with ReferenceKMS(creating_seconds=0.05) as ref:
        report = run(ref.url)
    assert not failing(report), failing(report)
    return verdicts(report)


@pytest.mark.slow
def test_throttling_is_retried_and_changes_no_verdict(
    reference: ReferenceKMS, direct_verdicts: dict[str, str]
) -> None:
    with FaultProxy(reference.url, FaultConfig(throttle=0.2), seed=7) as proxy:
        report = run(proxy.url)
        throttled = proxy.injected["throttle"]
    observed = verdicts(report)
    flipped = {r: v for r, v in observed.items() if direct_verdicts[r] == "pass" and v == "fail"}
    assert not flipped, failing(report)
    assert not failing(report), failing(report)
    assert throttled >= 20, "the proxy should have throttled a fifth of the calls"
    # Retried, not merely tolerated: with four attempts per call nearly every rule still gets its verdict.
    passes = sum(v == "pass" for v in direct_verdicts.values())
    assert sum(v == "pass" for v in observed.values()) >= passes - 1, (direct_verdicts, observed)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("faults", "target"),
    [
        pytest.param(FaultConfig(http_5xx_after=0.3, operations=frozenset({"ReplicateKey"})), {}, id="5xx-after"),
        pytest.param(FaultConfig(reset_after=0.3, operations=frozenset({"ReplicateKey", "CreateKey"})), {},
                     id="reset-after"),
        pytest.param(FaultConfig(hang=0.15, operations=frozenset({"ReplicateKey"})),
                     {"read_timeout": 0.5, "max_attempts": 1}, id="read-timeout"),
    ],
)
def test_unknown_outcome_is_inconclusive_never_fail(
    reference: ReferenceKMS, faults: FaultConfig, target: dict[str, Any]
) -> None:
    with FaultProxy(reference.url, faults, seed=3) as proxy:
        report = run(proxy.url, **target)
        injected = sum(proxy.injected.values())
    assert injected >= 3, proxy.injected
    assert not failing(report), failing(report)
    observed = verdicts(report)
    assert "pass" in observed.values()
    assert_complete(report)


@pytest.mark.slow
def test_indeterminate_outcome_reaches_the_report_as_inconclusive(reference: ReferenceKMS) -> None:
    """Every ReplicateKey answered 500 after the server applied it: its success rules cannot be judged."""
    faults = FaultConfig(http_5xx_after=1.0, operations=frozenset({"ReplicateKey"}))
    with FaultProxy(reference.url, faults, seed=1) as proxy:
        report = run(proxy.url, rules=("REGION-007", "KEYID-001", "RESP-001"))
    observed = verdicts(report)
    assert {observed[r] for r in ("REGION-007", "KEYID-001", "RESP-001")} == {"inconclusive"}, observed
    detail = next(r["detail"] for r in report["rules"] if r["id"] == "REGION-007")
    assert "InternalFailure" in detail or "unknown outcome" in detail, detail


@pytest.mark.parametrize(
    ("faults", "body_is"),
    [
        pytest.param(FaultConfig(truncate=1.0),
                     lambda b: b.startswith('{"KeyMetadata": {') and b.count("{") > b.count("}"), id="truncate"),
        pytest.param(FaultConfig(garble=1.0, garble_modes=("broken_json",)), '{"KeyMetadata": {"KeyId": "'.__eq__,
                     id="broken-json"),
        pytest.param(FaultConfig(garble=1.0, garble_modes=("wrong_type",)), '{"KeyMetadata": "not-an-object"}'.__eq__,
                     id="wrong-type"),
        pytest.param(FaultConfig(garble=1.0, garble_modes=("random_bytes",)), lambda b: b.startswith("\\xff"),
                     id="random-bytes"),
    ],
)
def test_malformed_body_fails_err003_with_the_raw_body(
    reference: ReferenceKMS, tmp_path: Path, faults: FaultConfig, body_is: Callable[[str], bool]
) -> None:
    """Every DescribeKey success is mangled (so Hypothesis's replays see it too); nothing else is touched."""
    faults = dataclasses.replace(faults, operations=frozenset({"DescribeKey"}))
    with FaultProxy(reference.url, faults, seed=5) as proxy:
        report = run(proxy.url, rules=(*RULES, "ERR-003"))
        assert sum(proxy.injected.values()) > 0
    assert set(failing(report)) == {"ERR-003"}, failing(report)
    err = next(r for r in report["rules"] if r["id"] == "ERR-003")
    evidence = err["failure"]["evidence"]
    assert body_is(evidence), evidence
    assert "DescribeKey" in err["failure"]["expected"]
    assert "pass" in verdicts(report).values(), "the run went on past the malformed answers"
    assert_complete(report)
    paths = write_reports(report, tmp_path)
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["summary"]["conformant"] is False


def _kill_after(proxy: FaultProxy, requests: int, kill: Callable[[], None], done: threading.Event) -> threading.Thread:
    """Stop the target once ``requests`` calls went through: midway in the run, whatever the machine's speed."""

    def watch() -> None:
        while not done.is_set():
            if proxy.forwarded >= requests:
                kill()
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["reference", "proxy"])
def test_target_dying_midway_still_gives_a_complete_report(victim: str) -> None:
    """The reference dying behind the proxy (the proxy answers 502) or the endpoint itself vanishing.

    Rules reached before the death keep their verdicts; the rest are not-run (no test case could
    create a key) or inconclusive (a call found the target dead); none may fail.
    """
    rules = (*RULES, "mrc", "ERR-002")
    with ReferenceKMS(creating_seconds=0.05) as ref:
        healthy = verdicts(run(ref.url, rules=rules))
    done = threading.Event()
    with ReferenceKMS(creating_seconds=0.05) as ref, FaultProxy(ref.url, FaultConfig(), seed=0) as proxy:
        watcher = _kill_after(proxy, 250, ref.stop if victim == "reference" else proxy.stop, done)
        try:
            started = time.monotonic()
            report = run(proxy.url, rules=rules, connect_timeout=0.5)
            elapsed = time.monotonic() - started
        finally:
            done.set()
            watcher.join()
        assert proxy.forwarded >= 250, "the target never died; the test proves nothing"
    assert not failing(report), failing(report)
    assert_complete(report)
    values = verdicts(report)
    assert set(values.values()) <= {"pass", "inconclusive", "not-run"}, values
    passed = {r for r, v in values.items() if v == "pass"}
    assert passed, "rules checked before the target died keep their verdicts"
    assert passed < {r for r, v in healthy.items() if v == "pass"}, "the target should have died midway"
    assert values["ERR-002"] in ("pass", "inconclusive")
    assert elapsed < 120, f"a dead target must not stall the run ({elapsed:.0f} s)"


# ---------------------------------------------------------------------- a hostile error message
SCRIPT = "<script>alert(1)</script>"
# Also tries to close a Markdown code fence and a table cell, and to break an HTML attribute.
HOSTILE = f"denied {SCRIPT} ```` | \"'& <img src=x onerror=alert(2)> \"\"\" \\x \\N"


def outside_fences(markdown: str) -> str:
    """The Markdown text outside fenced code blocks (where inline HTML would be rendered)."""
    kept: list[str] = []
    fence = ""
    for line in markdown.splitlines():
        stripped = line.lstrip()
        if fence:
            if stripped.startswith(fence) and set(stripped.rstrip()) == {"`"}:
                fence = ""
            continue
        if stripped.startswith("```"):
            fence = stripped[: len(stripped) - len(stripped.lstrip("`"))]
            continue
        kept.append(line)
    return "\n".join(kept)


class _HostileHandler(BaseHTTPRequestHandler):
    """Answers every KMS call with a well-formed 400 error whose message carries markup."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("X-Amz-Target", "").endswith(".CreateKey"):
            # CreateKey works (a refused setup call is not a verdict); everything else is hostile.
            key_id = "mrk-" + uuid.uuid4().hex
            metadata = {"AWSAccountId": "111111111111", "KeyId": key_id, "KeyState": "Enabled", "Enabled": True,
                        "Arn": f"arn:aws:kms:us-east-1:111111111111:key/{key_id}", "MultiRegion": True,
                        "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT", "Origin": "AWS_KMS"}
            body = json.dumps({"KeyMetadata": metadata}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        body = json.dumps({"__type": "AccessDeniedException", "message": HOSTILE}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture(scope="module")
def hostile_report() -> dict[str, Any]:
    """A run against a server whose every answer is an error message full of markup."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostileHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        report = run(url, rules=("REGION-007", "ERR-002", "RESP-001"))
    finally:
        server.shutdown()
        server.server_close()
    assert SCRIPT in json.dumps(report, ensure_ascii=False), "the hostile message should reach the report"
    return report


def test_target_text_is_escaped_in_html_and_markdown(hostile_report: dict[str, Any], tmp_path: Path) -> None:
    paths = write_reports(hostile_report, tmp_path)
    html_text = paths["html"].read_text(encoding="utf-8")
    assert "<script" not in html_text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert "<img" not in html_text.lower()
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert SCRIPT in markdown, "inside a code fence the message is shown as it was"
    prose = outside_fences(markdown).lower()
    assert "<script" not in prose and "<img" not in prose
    junit = paths["junit"].read_text(encoding="utf-8")
    assert "<script" not in junit


def test_replay_scripts_compile_whatever_the_target_said(hostile_report: dict[str, Any]) -> None:
    scripts = [r["failure"]["replay"] for r in hostile_report["rules"] if r["failure"] and r["failure"]["replay"]]
    assert scripts
    for script in scripts:
        compile(script, "replay.py", "exec")


# ---------------------------------------------------------------------- the CLI as users run it
def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_CONFORMANCE", "CI"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


@pytest.mark.slow
def test_cli_interrupted_writes_the_report_of_what_ran(reference: ReferenceKMS, tmp_path: Path) -> None:
    report_dir = tmp_path / "reports"
    proc = subprocess.Popen(
        # nightly: a run far longer than the wait below, so the interrupt always lands mid-run.
        [sys.executable, "-m", "conformance", "run", "--endpoint-url", reference.url, "--profile", "nightly",
         "--seed", "1", "--report-dir", str(report_dir)],
        cwd=tmp_path, env=_cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        time.sleep(8)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in stderr, stderr[-2000:]
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert any("interrupted" in note for note in report["notes"]), report["notes"]
    assert_complete(report)
    assert report["summary"]["checks"] > 0, "the report should hold what ran before the interrupt"
    assert proc.returncode == 130, (proc.returncode, stdout[-1000:], stderr[-1000:])
    for name in ("report.md", "report.html", "junit.xml"):
        assert (report_dir / name).stat().st_size > 0


SECRET, TOKEN = "SENTINELSECRET123", "SENTINELTOKEN456"


@pytest.mark.slow
def test_cli_never_writes_credentials(tmp_path: Path) -> None:
    """Run with real-looking credentials against a faulty reference, so failures with replay scripts exist."""
    report_dir = tmp_path / "reports"
    env = _cli_env(AWS_ACCESS_KEY_ID="AKIASENTINELKEYID", AWS_SECRET_ACCESS_KEY=SECRET, AWS_SESSION_TOKEN=TOKEN,
                   # One state-machine item and one recorded case instead of the whole suite (~90 s).
                   PYTEST_ADDOPTS="-k 'test_state_machine and replicate or replica_parameters'")
    with ReferenceKMS(faults=["replicate-own-region-wrong-code"], creating_seconds=0.05) as ref:
        proc = subprocess.run(
            [sys.executable, "-m", "conformance", "run", "--endpoint-url", ref.url, "--profile", "ci",
             "--seed", "3", "--rules", "REGION-004,REGION-005,REGION-007", "--report-dir", str(report_dir)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
        )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    files = sorted(p for p in report_dir.rglob("*") if p.is_file())
    assert {p.name for p in files} >= {"report.json", "report.md", "report.html", "junit.xml"}
    texts = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in files}
    texts["stdout"], texts["stderr"] = proc.stdout, proc.stderr
    for where, text in texts.items():
        assert SECRET not in text and TOKEN not in text, f"a credential leaked into {where}"
    report = json.loads(texts[str(report_dir / "report.json")])
    replays = [r["failure"]["replay"] for r in report["rules"] if r["failure"] and r["failure"]["replay"]]
    assert replays, "the seeded fault should have produced a failure with a replay script"
    assert all("os.environ" in script for script in replays)
