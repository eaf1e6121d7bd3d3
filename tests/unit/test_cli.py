"""Bad input to ``kms-conformance``: each mistake gets exit 2 (3 for an unreachable target) and ONE line on stderr.

The CLI runs as users run it, ``python -m conformance`` in a subprocess, so a traceback or pytest's
multi-line usage block cannot hide behind an in-process ``SystemExit``. Every case fails before the
suite starts, so each takes well under a second.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_CONFORMANCE", "PYTEST_"))}
    base["PYTHONPATH"] = str(REPO) + os.pathsep + base.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args], cwd=cwd, env={**base, **(env or {})},
        capture_output=True, text=True, timeout=60,
    )


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_one_line(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    line = lines[0]
    assert line.startswith("kms-conformance: "), line
    for needle in needles:
        assert needle in line, line
    return line


EXPECTATION_FILES = {
    "bad.toml": 'implementation = "x"\n[[expected_failure]\nrule = ',
    "unknown.toml": '[[expected_failure]]\nrule = "NOPE-999"\nreason = "no such rule"\n',
    "no-reason.toml": '[[expected_failure]]\nrule = "KEYID-001"\n',
    "not-a-list.toml": 'expected_failure = "KEYID-001"\n',
    "binary.toml": "\udcff\udcfe",
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name, text in EXPECTATION_FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8", errors="surrogateescape")
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    (tmp_path / "a-dir.toml").mkdir()
    return tmp_path


USAGE_CASES = {
    "unknown target": (["--target", "nosuch"], ["invalid choice", "nosuch"]),
    "malformed URL (scheme)": (["--endpoint-url", "ftp://example"], ["malformed endpoint URL"]),
    "malformed URL (no host)": (["--endpoint-url", "http://"], ["malformed endpoint URL"]),
    "malformed URL (port)": (["--endpoint-url", "http://127.0.0.1:99999"], ["bad port"]),
    "malformed URL (IPv6)": (["--endpoint-url", "http://[::1"], ["malformed endpoint URL"]),
    "malformed URL (words)": (["--endpoint-url", "not a url"], ["malformed endpoint URL"]),
    "aws refused": (["--target", "aws"], ["aws target"]),
    "endpoint URL with moto": (["--target", "moto", "--endpoint-url", "http://127.0.0.1:1"], ["--endpoint-url"]),
    "endpoint target without URL": (["--target", "endpoint"], ["--endpoint-url"]),
    "unknown rule": (["--target", "moto", "--rules", "KEYID-001,NOPE-999"], ["NOPE-999"]),
    "unknown group": (["--target", "moto", "--rules", "keyids"], ["keyids"]),
    "invalid primary Region": (["--target", "moto", "--region", "us-nowhere-1"], ["invalid Region", "us-nowhere-1"]),
    "Region in capitals": (["--target", "moto", "--region", "US-EAST-1"], ["invalid Region"]),
    "invalid replica Region": (["--target", "moto", "--replica-regions", "us-west-2,mars-1"], ["mars-1"]),
    "no replica Region": (["--target", "moto", "--replica-regions", ","], ["replica Region"]),
    "primary as replica": (["--target", "moto", "--replica-regions", "us-east-1"], ["us-east-1"]),
    "replica twice": (["--target", "moto", "--replica-regions", "us-west-2,us-west-2"], ["twice"]),
    "replica in another partition": (["--target", "moto", "--replica-regions", "cn-north-1"], ["partition"]),
    "malformed expectations": (["--target", "moto", "--expectations", "bad.toml"], ["not valid TOML"]),
    "binary expectations": (["--target", "moto", "--expectations", "binary.toml"], ["not valid TOML"]),
    "unknown rule in expectations": (["--target", "moto", "--expectations", "unknown.toml"], ["NOPE-999"]),
    "expectation without reason": (["--target", "moto", "--expectations", "no-reason.toml"], ["reason"]),
    "expectations not a list": (["--target", "moto", "--expectations", "not-a-list.toml"], ["expected_failure"]),
    "missing expectations": (["--target", "moto", "--expectations", "missing.toml"], ["does not exist"]),
    "expectations is a directory": (["--target", "moto", "--expectations", "a-dir.toml"], ["a-dir.toml"]),
    "update without file": (["--target", "moto", "--update-expectations"], ["--expectations"]),
    "bad seed": (["--seed", "abc"], ["--seed"]),
    "bad worker count": (["--target", "moto", "-n", "many"], ["-n"]),
    "report dir under a file": (["--target", "moto", "--report-dir", "a-file/reports"], ["report directory"]),
    "unknown option": (["--nosuch-option"], ["--nosuch-option"]),
}


@pytest.mark.parametrize(("args", "needles"), list(USAGE_CASES.values()), ids=list(USAGE_CASES))
def test_bad_input_is_one_line_and_exit_2(workdir: Path, args: list[str], needles: list[str]) -> None:
    assert_one_line(cli("run", *args, cwd=workdir), 2, *needles)
    assert not (workdir / "reports").exists() or not any((workdir / "reports").rglob("report.json"))


def test_malformed_endpoint_from_the_environment(workdir: Path) -> None:
    """boto3's own variable is honoured, so it is validated like the option."""
    proc = cli("run", cwd=workdir, env={"AWS_ENDPOINT_URL_KMS": "http//127.0.0.1"})
    assert_one_line(proc, 2, "malformed endpoint URL")


def test_unreachable_endpoint_is_exit_3(workdir: Path) -> None:
    port = closed_port()
    line = assert_one_line(cli("run", "--endpoint-url", f"http://127.0.0.1:{port}", cwd=workdir), 3, "unreachable")
    assert str(port) in line


def test_matrix_of_unreadable_reports_is_exit_2(workdir: Path) -> None:
    (workdir / "broken.json").write_text("{", encoding="utf-8")
    assert_one_line(cli("matrix", "broken.json", cwd=workdir), 2, "broken.json")
    assert_one_line(cli("matrix", "missing.json", cwd=workdir), 2, "missing.json")


def test_no_command_is_exit_2(workdir: Path) -> None:
    assert_one_line(cli(cwd=workdir), 2)


def test_rules_listing_works(workdir: Path) -> None:
    """The control case: the same harness sees a clean exit and parseable output when nothing is wrong."""
    proc = cli("rules", "--format", "json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    ids = [rule["id"] for rule in json.loads(proc.stdout)["rules"]]
    assert "KEYID-001" in ids and "ERR-003" in ids
