"""Tests of the emulator launcher: loopback only, readiness, reset, and that it stops what it started.

The `ss` parser and the process-group walk run always; anything that installs or starts an emulator
is marked slow. MiniStack and LocalStack run only with KMS_CONFORMANCE_EMULATOR_TESTS=all.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from conformance import emulators
from conformance.emulators import (
    EMULATORS,
    EmulatorError,
    Listener,
    RunningEmulator,
    non_loopback,
    parse_ss_listeners,
    process_group_pids,
    running,
)

# Lines as `ss -ltnpH` printed them on this machine (moto, MiniStack without BIND_HOST), plus the
# shapes the parser must also read: IPv6, wildcard, interface suffix, several owners, no owner.
SS_TCP = """\
LISTEN 0      128    127.0.0.1:45675 0.0.0.0:* users:(("moto_server",pid=10399,fd=3))
LISTEN 0      100    0.0.0.0:45672 0.0.0.0:* users:(("ministack",pid=7122,fd=6))
LISTEN 0      100    0.0.0.0:8883  0.0.0.0:* users:(("ministack",pid=7122,fd=7))
LISTEN 0      4096   [::]:53 [::]:* users:(("dnsd",pid=501,fd=5))
LISTEN 0      4096   [::1]:9000 [::]:* users:(("py",pid=502,fd=5),("py",pid=503,fd=5))
LISTEN 0      4096   *:7000 *:* users:(("py",pid=504,fd=9))
LISTEN 0      4096   127.0.0.53%lo:53 0.0.0.0:* users:(("resolved",pid=505,fd=14))
LISTEN 0      4096   [::ffff:127.0.0.1]:9100 [::]:* users:(("py",pid=506,fd=3))
LISTEN 0      4096   [::ffff:10.0.0.1]:9101 [::]:* users:(("py",pid=507,fd=3))
LISTEN 0      128    10.1.2.3:22 0.0.0.0:*

"""

SS_WITH_NETID = """\
udp   UNCONN 0      0      0.0.0.0:53 0.0.0.0:* users:(("dns",pid=42,fd=3))
tcp   LISTEN 0      128    127.0.0.1:80 0.0.0.0:* users:(("web",pid=43,fd=3))
"""


def test_parse_ss_reads_address_and_owners() -> None:
    parsed = parse_ss_listeners(SS_TCP)
    assert [(item.local, item.host, item.is_loopback, sorted(item.pids)) for item in parsed] == [
        ("127.0.0.1:45675", "127.0.0.1", True, [10399]),
        ("0.0.0.0:45672", "0.0.0.0", False, [7122]),
        ("0.0.0.0:8883", "0.0.0.0", False, [7122]),
        ("[::]:53", "::", False, [501]),
        ("[::1]:9000", "::1", True, [502, 503]),
        ("*:7000", "*", False, [504]),
        ("127.0.0.53%lo:53", "127.0.0.53", True, [505]),
        ("[::ffff:127.0.0.1]:9100", "::ffff:127.0.0.1", True, [506]),
        ("[::ffff:10.0.0.1]:9101", "::ffff:10.0.0.1", False, [507]),
        ("10.1.2.3:22", "10.1.2.3", False, []),
    ]
    assert {item.protocol for item in parsed} == {"tcp"}


def test_parse_ss_reads_a_netid_column() -> None:
    parsed = parse_ss_listeners(SS_WITH_NETID, default_protocol="tcp")
    assert [(item.protocol, item.local, item.pids) for item in parsed] == [
        ("udp", "0.0.0.0:53", frozenset({42})),
        ("tcp", "127.0.0.1:80", frozenset({43})),
    ]


def test_non_loopback_keeps_only_exposed_sockets_of_the_given_processes() -> None:
    parsed = parse_ss_listeners(SS_TCP)
    assert [item.local for item in non_loopback(parsed, {7122})] == ["0.0.0.0:45672", "0.0.0.0:8883"]
    assert non_loopback(parsed, {10399}) == []  # moto on 127.0.0.1 only
    assert [item.local for item in non_loopback(parsed, {503, 504})] == ["*:7000"]
    assert non_loopback(parsed, {999999}) == []


def test_process_group_pids_sees_members_and_escaped_descendants() -> None:
    # A session leader with one child in its group and one grandchild that starts its own session.
    script = textwrap.dedent(
        """
        import os, subprocess, sys, time
        a = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        b = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
        print(a.pid, b.pid, flush=True)
        time.sleep(30)
        """
    )
    leader = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    escaped = None
    try:
        assert leader.stdout is not None
        in_group, escaped = (int(x) for x in leader.stdout.readline().split())
        assert process_group_pids(leader.pid) == {leader.pid, in_group}
        assert process_group_pids(leader.pid, leader.pid) == {leader.pid, in_group, escaped}
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()
        if escaped is not None:
            os.kill(escaped, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_group_pids(leader.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_group_pids(leader.pid) == set()


# --------------------------------------------------------------------------------------------------
# Real emulators
# --------------------------------------------------------------------------------------------------


def _kms(emulator: RunningEmulator, region: str) -> Any:
    return boto3.client(
        "kms",
        region_name=region,
        endpoint_url=emulator.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _gone(pid: int, timeout: float = 5.0) -> bool:
    """True once no process of group `pid` is left (the launcher reaps the leader itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_group_pids(pid) and not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.05)
    return False


def _assert_loopback_only(emulator: RunningEmulator) -> None:
    listeners = emulator.check_loopback_only()
    assert listeners, "the emulator's own listening socket was not found"
    assert f"127.0.0.1:{emulator.port}" in {item.local for item in listeners}
    assert all(item.is_loopback for item in listeners), listeners


def _assert_replicate_round_trip(emulator: RunningEmulator) -> None:
    east, west = _kms(emulator, "us-east-1"), _kms(emulator, "us-west-2")
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replica = east.replicate_key(KeyId=key["KeyId"], ReplicaRegion="us-west-2")
    assert replica["ReplicaKeyMetadata"]["KeyId"] == key["KeyId"]
    described = west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert described["Arn"] == key["Arn"].replace(":us-east-1:", ":us-west-2:")
    assert described["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"


def _key_count(emulator: RunningEmulator) -> int:
    return len(_kms(emulator, "us-east-1").list_keys()["Keys"])


@pytest.mark.slow
def test_moto_server_runs_on_loopback_round_trips_resets_and_stops() -> None:
    with running("moto-server") as emulator:
        assert emulator.url == f"http://127.0.0.1:{emulator.port}"
        assert emulator.version and emulator.version[0].isdigit()
        assert emulator.log_path.is_file()
        assert emulator.run_dir.is_relative_to(emulators.emulator_home())
        _assert_loopback_only(emulator)
        _assert_replicate_round_trip(emulator)
        assert _key_count(emulator) == 1
        assert emulator.reset() is True
        assert _key_count(emulator) == 0
        pid = emulator.pid
        assert process_group_pids(pid)
    assert _gone(pid)


@pytest.mark.slow
def test_moto_server_is_stopped_when_the_body_raises() -> None:
    with pytest.raises(ZeroDivisionError), running("moto-server") as emulator:
        pid = emulator.pid
        _ = 1 / 0
    assert _gone(pid)


@pytest.mark.slow
def test_an_emulator_found_listening_beyond_loopback_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing is really exposed: `ss` is made to report one extra wildcard socket of the emulator.
    real = emulators._system_listeners
    with running("moto-server") as emulator:
        pid = emulator.pid
        fake = Listener("tcp", "0.0.0.0:8883", frozenset({pid}))
        monkeypatch.setattr(emulators, "_system_listeners", lambda: [*real(), fake])
        with pytest.raises(EmulatorError, match=r"beyond loopback \(tcp 0\.0\.0\.0:8883\)"):
            emulator.check_loopback_only()
        assert _gone(pid)


def _replaced(monkeypatch: pytest.MonkeyPatch, code: str, marker: str) -> None:
    """Make `moto-server` start a stand-in Python process (same venv, so no reinstall)."""
    spec = dataclasses.replace(
        EMULATORS["moto-server"], command=lambda python, _port, _run: [str(python), "-c", code, marker]
    )
    monkeypatch.setitem(EMULATORS, "moto-server", spec)


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.slow
def test_an_emulator_that_exits_early_is_reported_with_its_log(monkeypatch: pytest.MonkeyPatch) -> None:
    marker = f"early-exit-{uuid.uuid4()}"
    _replaced(monkeypatch, "import sys; print('boom', sys.argv[1]); raise SystemExit(3)", marker)
    with (
        pytest.raises(EmulatorError, match=r"exited with code 3 before it was ready") as caught,
        running("moto-server"),
    ):
        pass
    assert f"boom {marker}" in str(caught.value)


@pytest.mark.slow
def test_an_emulator_never_ready_times_out_and_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    marker = f"never-ready-{uuid.uuid4()}"
    code = "import sys, time; print('waiting', sys.argv[1], flush=True); time.sleep(120)"
    _replaced(monkeypatch, code, marker)
    started = time.monotonic()
    with (
        pytest.raises(EmulatorError, match=r"not ready after 2s") as caught,
        running("moto-server", ready_timeout=2),
    ):
        pass
    assert time.monotonic() - started < 30
    assert f"waiting {marker}" in str(caught.value)
    assert _processes_with(marker) == []


@pytest.mark.slow
def test_cli_run_passes_endpoint_and_exit_code() -> None:
    probe = textwrap.dedent(
        """
        import os, sys, urllib.request
        url = os.environ["AWS_ENDPOINT_URL_KMS"]
        assert url.startswith("http://127.0.0.1:"), url
        assert os.environ["KMS_CONFORMANCE_IMPLEMENTATION"] == "moto-server"
        assert os.environ["KMS_CONFORMANCE_IMPLEMENTATION_VERSION"][0].isdigit()
        print("status", urllib.request.urlopen(url + "/moto-api/data.json").status, flush=True)
        print("url", url, flush=True)
        sys.exit(7)
        """
    )
    cli = [sys.executable, "-m", "conformance.emulators", "run", "moto-server"]
    result = subprocess.run(
        [*cli, "--", sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 7, result.stderr
    assert "status 200" in result.stdout
    port = int(result.stdout.split("url http://127.0.0.1:")[1].split()[0])
    # The emulator is gone with the CLI: nothing listens on its port any more.
    assert all(item.local != f"127.0.0.1:{port}" for item in emulators._system_listeners())


@pytest.mark.slow
@pytest.mark.parametrize("how", ["atexit", "sigkill"])
def test_emulator_does_not_outlive_a_launcher_that_skips_the_context_manager(how: str) -> None:
    ending = "pass" if how == "atexit" else "os.kill(os.getpid(), signal.SIGKILL)"
    script = textwrap.dedent(
        f"""
        import os, signal
        from conformance.emulators import start
        emulator = start("moto-server")
        print(emulator.pid, emulator.run_dir, flush=True)
        {ending}
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    pid_text, run_dir = result.stdout.split()
    pid = int(pid_text)
    # SIGKILL skips atexit; the emulator then gets SIGTERM from the kernel (parent-death signal).
    assert _gone(pid, timeout=15.0), f"{how}: emulator pid {pid} outlived its launcher"
    # Only stop() removes the run's ".active" marker: it shows that atexit, not the kernel, ended it.
    assert (Path(run_dir) / ".active").exists() is (how == "sigkill")


# --------------------------------------------------------------------------------------------------
# MiniStack and LocalStack: slower installs; opt in with KMS_CONFORMANCE_EMULATOR_TESTS=all
# --------------------------------------------------------------------------------------------------


@pytest.fixture(params=["ministack", "localstack"])
def other_emulator(request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    if os.environ.get("KMS_CONFORMANCE_EMULATOR_TESTS") != "all":
        pytest.skip("set KMS_CONFORMANCE_EMULATOR_TESTS=all to install and run MiniStack and LocalStack")
    with running(request.param) as emulator:
        yield emulator
    assert _gone(emulator.pid)


@pytest.mark.slow
def test_other_emulators_run_on_loopback_and_round_trip(other_emulator: RunningEmulator) -> None:
    _assert_loopback_only(other_emulator)
    _assert_replicate_round_trip(other_emulator)
    supported = EMULATORS[other_emulator.name].reset_path is not None
    assert other_emulator.reset() is supported
    if supported:
        assert _key_count(other_emulator) == 0
