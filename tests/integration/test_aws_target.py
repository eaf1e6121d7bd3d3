"""The aws target end to end, with moto server standing in for AWS (boto3 honours AWS_ENDPOINT_URL):
refused without opt-in or with an account not allowed; when it runs, every key it made is tagged
with the run ID and scheduled for deletion at the end, and no credential reaches a report."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

SECRET = "SENTINELAWSSECRET0123456789"


@pytest.fixture(scope="module")
def fake_aws() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def run_cli(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_CONFORMANCE", "CI", "PYTEST_"))}
    env.update(
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="AKIAFAKEFAKEFAKE1234",
        AWS_SECRET_ACCESS_KEY=SECRET,
        XDG_CACHE_HOME=str(tmp / "cache"),
        HOME=str(tmp),
    )
    return subprocess.run(
        [sys.executable, "-m", "conformance", "run", "--target", "aws", "--report-dir", str(tmp / "reports"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp,
    )


def test_refused_without_opt_in(fake_aws: str, tmp_path: Path) -> None:
    proc = run_cli(fake_aws, tmp_path, "--aws-accounts", "123456789012")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "reports").exists()


def test_refused_for_an_account_not_allowed(fake_aws: str, tmp_path: Path) -> None:
    proc = run_cli(fake_aws, tmp_path, "--i-understand-this-costs-money", "--aws-accounts", "111122223333")
    assert proc.returncode == 2, proc.stderr
    assert "123456789012" in proc.stderr or "account" in proc.stderr.lower()


@pytest.mark.slow
def test_run_tags_and_schedules_deletion_of_every_key_it_made(fake_aws: str, tmp_path: Path) -> None:
    kms = boto3.client(
        "kms", region_name="us-east-1", endpoint_url=fake_aws, aws_access_key_id="x", aws_secret_access_key="x"
    )
    foreign = kms.create_key(Description="not the suite's")["KeyMetadata"]["KeyId"]
    proc = run_cli(
        fake_aws,
        tmp_path,
        "--i-understand-this-costs-money",
        "--aws-accounts",
        "123456789012",
        "--profile",
        "aws",
        "--aws-max-keys",
        "4",
        "--run-id",
        "awstest1",
        "--replica-regions",
        "us-west-2",
    )
    assert proc.returncode in (0, 1), proc.stdout[-1500:] + proc.stderr[-1500:]
    made = 0
    for region in ("us-east-1", "us-west-2"):
        client = boto3.client(
            "kms", region_name=region, endpoint_url=fake_aws, aws_access_key_id="x", aws_secret_access_key="x"
        )
        for key in client.list_keys()["Keys"]:
            tags = {t["TagKey"]: t["TagValue"] for t in client.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
            state = client.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"]
            if key["KeyId"] == foreign:
                assert state == "Enabled", "a key the run did not create is never touched"
            elif "awstest1" in tags.values():
                made += 1
                assert state in ("PendingDeletion", "PendingReplicaDeletion"), (region, key, state)
    assert 1 <= made <= 4, "the key budget bounds what the run creates"
    for path in (tmp_path / "reports").iterdir():
        assert SECRET not in path.read_text(errors="replace"), path
    assert SECRET not in proc.stdout + proc.stderr
