"""The aws target's safety rails, against moto standing in for AWS.

In-process ``mock_aws`` for everything a single process can show; a moto server on 127.0.0.1 for the
crash paths, because the state must outlive a process killed with SIGKILL (nothing in it runs: no
``finally``, no ``atexit``), and only a real separate process shows that the ledger reached the file
before the kill.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.exceptions as bexc
import pytest
from moto import mock_aws

from conformance import aws_safety as S
from conformance.targets import TargetConfig

FAKE_ACCESS_KEY = "AKIA" + "Z7Q2" * 4
FAKE_SECRET = "kX9vQ3" * 7
FAKE_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN" + "Ab1" * 20
PRIMARY, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
MOTO_ACCOUNT = "123456789012"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Fake credentials only; no profile, no endpoint, a private state dir."""
    for var in list(os.environ):
        if var.startswith(("AWS_", "KMS_CONFORMANCE_")) and var != "AWS_CA_BUNDLE":
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # AwsRun refuses to run in an xdist worker
    state = tmp_path / "state"
    monkeypatch.setenv(S.STATE_DIR_ENV, str(state))
    return state


def call_fn(session: Any) -> Any:
    """A stand-in for Target.call: (region, operation, params) -> an observation-like object."""
    clients: dict[str, Any] = {}

    def call(region: str, operation: str, params: dict[str, Any]) -> SimpleNamespace:
        client = clients.setdefault(region, session.client("kms", region_name=region))
        method = getattr(client, "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_"))
        try:
            response = method(**params)
            response.pop("ResponseMetadata", None)
            return SimpleNamespace(operation=operation, region=region, params=params, kind="ok", response=response)
        except bexc.ClientError as exc:
            code = exc.response["Error"]["Code"]
            return SimpleNamespace(
                operation=operation, region=region, params=params, kind="error", response={}, code=code
            )

    return call


def kms(region: str) -> Any:
    return boto3.client("kms", region_name=region)


def state_of(region: str, key_id: str) -> str:
    return str(kms(region).describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"])


def tags_of(region: str, key_id: str) -> dict[str, str]:
    return {t["TagKey"]: t["TagValue"] for t in kms(region).list_resource_tags(KeyId=key_id)["Tags"]}


def events(path: Path) -> list[dict[str, Any]]:
    return S.Ledger(path).records()


# ---------------------------------------------------------------------------------------------- refusing to start


class NoNetworkSession:
    """A session whose every client is a test failure: nothing may be called before the opt-in."""

    def get_credentials(self) -> Any:
        raise AssertionError("credentials were looked at before the opt-in check")

    def client(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a client was made before the opt-in check")


def test_preflight_refuses_without_opt_in_before_any_call() -> None:
    with pytest.raises(S.SafetyError) as err:
        S.preflight(
            NoNetworkSession(), opt_in=False, allowed_accounts=[MOTO_ACCOUNT], primary_region=PRIMARY,
            replica_regions=[WEST], environ={},
        )
    assert S.OPT_IN_FLAG in str(err.value) and S.OPT_IN_ENV in str(err.value)
    assert "\n" not in str(err.value)
    for value in ("0", "yes", "true", ""):
        assert not S.opted_in(False, {S.OPT_IN_ENV: value})
    assert S.opted_in(False, {S.OPT_IN_ENV: "1"}) and S.opted_in(True, {})


def test_preflight_needs_an_allow_list(aws_env: Path) -> None:
    with pytest.raises(S.SafetyError, match="no allowed account IDs"):
        S.preflight(
            boto3.session.Session(), opt_in=True, allowed_accounts=None, primary_region=PRIMARY,
            replica_regions=[WEST], environ={},
        )
    with pytest.raises(S.SafetyError, match="malformed account ID '12345'"):
        S.parse_accounts("123456789012, 12345")
    assert S.parse_accounts("123456789012, 210987654321\n") == {"123456789012", "210987654321"}


def test_preflight_checks_the_callers_account(aws_env: Path) -> None:
    with mock_aws():
        session = boto3.session.Session()
        ok = S.preflight(
            session, opt_in=False, allowed_accounts=None, primary_region=PRIMARY, replica_regions=[WEST, EU],
            environ={S.OPT_IN_ENV: "1", S.ACCOUNTS_ENV: f"111111111111,{MOTO_ACCOUNT}"},
        )
        assert ok == MOTO_ACCOUNT
        with pytest.raises(S.SafetyError) as err:
            S.preflight(
                session, opt_in=True, allowed_accounts=["111111111111"], primary_region=PRIMARY,
                replica_regions=[WEST],
            )
    message = str(err.value)
    assert MOTO_ACCOUNT in message and "not in the allow-list" in message and "\n" not in message
    assert FAKE_SECRET not in message and FAKE_ACCESS_KEY not in message


def test_preflight_refuses_without_credentials_or_with_unknown_regions(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(S.SafetyError, match="no AWS credentials"):
        S.preflight(boto3.session.Session(), opt_in=True, allowed_accounts=[MOTO_ACCOUNT], primary_region=PRIMARY,
                    replica_regions=[WEST])
    with pytest.raises(S.SafetyError, match="unknown Region 'us-nowhere-9'"):
        S.preflight(boto3.session.Session(), opt_in=True, allowed_accounts=[MOTO_ACCOUNT], primary_region=PRIMARY,
                    replica_regions=["us-nowhere-9"])


def test_recommended_timeouts_fit_real_aws() -> None:
    cfg = S.recommended_config(TargetConfig())
    assert (cfg.creating_timeout, cfg.poll_interval, cfg.read_timeout) == (180.0, 2.0, 30.0)
    longer = S.recommended_config(TargetConfig(creating_timeout=400.0, read_timeout=60.0))
    assert (longer.creating_timeout, longer.read_timeout) == (400.0, 60.0)


# ---------------------------------------------------------------------------------------------- budget, Regions, tags


def test_budget_counts_keys_and_refuses_the_next() -> None:
    budget = S.KeyBudget()
    assert budget.limit == S.DEFAULT_MAX_KEYS == 6
    for kind in ["CreateKey", "ReplicateKey"] * 3:
        budget.spend(kind)
    with pytest.raises(S.BudgetExhausted) as err:
        budget.spend("ReplicateKey")
    assert isinstance(err.value, S.CallRefused) and not isinstance(err.value, S.SafetyError)
    budget.refund("CreateKey")
    budget.spend("CreateKey")
    assert budget.remaining == 0
    with pytest.raises(ValueError):
        S.KeyBudget().spend("Encrypt")
    with pytest.raises(S.SafetyError):
        S.KeyBudget(S.MAX_KEYS_CEILING + 1)
    assert S.max_keys_from_environment({S.MAX_KEYS_ENV: "3"}) == 3
    with pytest.raises(S.SafetyError):
        S.max_keys_from_environment({S.MAX_KEYS_ENV: "-1"})


def test_ledger_budget_holds_across_processes(tmp_path: Path) -> None:
    """Four processes race for a budget of 6 through one ledger: exactly 6 keys are granted."""
    path = tmp_path / "run.jsonl"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from conformance.aws_safety import KeyBudget, Ledger, BudgetExhausted
        budget = KeyBudget(6, Ledger(Path({str(path)!r})))
        granted = 0
        for _ in range(10):
            try:
                budget.spend("CreateKey")
                granted += 1
            except BudgetExhausted:
                pass
        print(granted)
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(4)]
    granted = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert sum(granted) == 6
    assert S.KeyBudget(6, S.Ledger(path)).spent == 6


def test_check_region_refuses_unlisted_real_regions_only() -> None:
    allowed = (PRIMARY, WEST, EU)
    for ok in (WEST, " us-west-2", "US-WEST-2", "us-invalid-1", "xx-bogus-east-3", "cn-north-1", "", "a" * 80):
        S.check_region(ok, allowed)
    for refused in ("eu-central-1", "ap-east-1", " AP-SOUTHEAST-2 "):
        with pytest.raises(S.RegionNotAllowed):
            S.check_region(refused, allowed)


def test_creation_tags_and_description() -> None:
    run_id = S.new_run_id()
    assert S.creation_tags(run_id) == [{"TagKey": "kms-conformance-run", "TagValue": run_id}]
    assert S.cleanup_tags(run_id) == [{"TagKey": "kms-conformance-cleanup", "TagValue": run_id}]
    assert run_id in S.creation_description(run_id) and len(S.creation_description(run_id)) <= 8192
    assert S.strip_cleanup_tag({"a": "1", S.CLEANUP_TAG_KEY: run_id, S.RUN_TAG_KEY: run_id}) == {
        "a": "1", S.RUN_TAG_KEY: run_id
    }
    for bad in ("", "a b", "x" * 65, "-lead", "run/1"):
        with pytest.raises(S.SafetyError):
            S.check_run_id(bad)


# ---------------------------------------------------------------------------------------------- ledger


def test_ledger_skips_a_torn_last_line(tmp_path: Path) -> None:
    ledger = S.Ledger(tmp_path / "r.jsonl")
    ledger.append("created", key_id="k1", region=PRIMARY)
    with ledger.path.open("a") as f:
        f.write('{"event": "created", "key_id": "k2", "reg')  # SIGKILL in the middle of a write
    ledger.append("created", key_id="k3", region=PRIMARY)
    assert [r.get("key_id") for r in ledger.records()] == ["k1", "k3"]


def test_creation_is_on_disk_before_after_call_returns(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        real_fsync(fd)
        path = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.isfile(path):
            synced.append(Path(path).read_text())

    with mock_aws():
        session = boto3.session.Session()
        run = S.AwsRun(session, primary_region=PRIMARY, replica_regions=[WEST], install_handlers=False,
                       teardown_on_exit=False)
        with run:
            monkeypatch.setattr(os, "fsync", spy)
            obs = run.guard(call_fn(session), PRIMARY, "CreateKey", {"MultiRegion": True, "Tags": run.creation_tags()})
            monkeypatch.setattr(os, "fsync", real_fsync)
    key_id = obs.response["KeyMetadata"]["KeyId"]
    assert any(f'"key_id": "{key_id}"' in text and '"created"' in text for text in synced)


# ---------------------------------------------------------------------------------------------- the guard


def test_guarded_run_end_to_end(aws_env: Path) -> None:
    with mock_aws():
        session = boto3.session.Session()
        call = call_fn(session)
        with S.AwsRun(session, primary_region=PRIMARY, replica_regions=[WEST, EU], max_keys=4,
                      install_handlers=False, poll_interval=0.01) as run:
            primary = run.guard(call, PRIMARY, "CreateKey", {
                "MultiRegion": True, "Tags": run.creation_tags(), "Description": run.creation_description(),
            })
            key_id = primary.response["KeyMetadata"]["KeyId"]
            replica = run.guard(call, PRIMARY, "ReplicateKey", {"KeyId": key_id, "ReplicaRegion": WEST})
            assert replica.kind == "ok"
            # Replicas inherit no tags: the rails add the cleanup tag, never the run tag (TAGS-008 stays checkable).
            assert tags_of(WEST, key_id) == {S.CLEANUP_TAG_KEY: run.run_id}
            assert tags_of(PRIMARY, key_id) == {S.RUN_TAG_KEY: run.run_id}
            # A CreateKey without the run tag (recorded cases) is tagged right after.
            single = run.guard(call, PRIMARY, "CreateKey", {})
            single_id = single.response["KeyMetadata"]["KeyId"]
            assert tags_of(PRIMARY, single_id) == {S.CLEANUP_TAG_KEY: run.run_id}
            # An unlisted Region: refused before any call, no budget spent.
            before = len(kms("eu-central-1").list_keys()["Keys"])
            with pytest.raises(S.RegionNotAllowed):
                run.guard(call, PRIMARY, "ReplicateKey", {"KeyId": key_id, "ReplicaRegion": "eu-central-1"})
            assert len(kms("eu-central-1").list_keys()["Keys"]) == before and run.budget.spent == 3
            # A call that certainly created nothing gives its key back.
            absent = "mrk-00000000000000000000000000000000"
            failed = run.guard(call, PRIMARY, "ReplicateKey", {"KeyId": absent, "ReplicaRegion": WEST})
            assert failed.kind == "error" and run.budget.spent == 3
            run.guard(call, PRIMARY, "ReplicateKey", {"KeyId": key_id, "ReplicaRegion": EU})
            with pytest.raises(S.BudgetExhausted):
                run.guard(call, PRIMARY, "CreateKey", {"Tags": run.creation_tags()})
            assert len(kms(PRIMARY).list_keys()["Keys"]) == 2  # the refused CreateKey was not made
        result = run.result
        assert result is not None and result.complete
        assert {(r.region, r.key_id) for r in result.scheduled} == {
            (PRIMARY, key_id), (WEST, key_id), (EU, key_id), (PRIMARY, single_id)
        }
        roles = [r.role for r in result.scheduled]
        assert roles.index("PRIMARY") > max(i for i, role in enumerate(roles) if role == "REPLICA")
        for region in (PRIMARY, WEST, EU):
            assert state_of(region, key_id) == "PendingDeletion"
        deletion = kms(PRIMARY).describe_key(KeyId=single_id)["KeyMetadata"]["DeletionDate"]
        days = (deletion - kms(PRIMARY).describe_key(KeyId=single_id)["KeyMetadata"]["CreationDate"]).days
        assert days in (6, 7)
    assert run.run_id not in S.pending_runs(aws_env)
    assert events(run.ledger.path)[-1]["event"] == "teardown"


def test_a_run_refuses_to_start_in_an_xdist_worker(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    with pytest.raises(S.SafetyError, match="one process"):
        S.AwsRun(boto3.session.Session(), primary_region=PRIMARY, replica_regions=[WEST])
    assert not aws_env.exists()  # refused before any ledger was written


def test_calls_on_keys_the_run_did_not_create_are_refused(aws_env: Path) -> None:
    with mock_aws():
        session = boto3.session.Session()
        call = call_fn(session)
        theirs = kms(PRIMARY).create_key(MultiRegion=True, Description="someone else's")["KeyMetadata"]
        with S.AwsRun(session, primary_region=PRIMARY, replica_regions=[WEST], install_handlers=False,
                      poll_interval=0.01) as run:
            for operation, params in [
                ("ReplicateKey", {"KeyId": theirs["KeyId"], "ReplicaRegion": WEST}),
                ("ScheduleKeyDeletion", {"KeyId": theirs["Arn"], "PendingWindowInDays": 7}),
                ("TagResource", {"KeyId": theirs["KeyId"], "Tags": [{"TagKey": "k", "TagValue": "v"}]}),
                ("DisableKey", {"KeyId": theirs["KeyId"]}),
            ]:
                with pytest.raises(S.ForeignKey):
                    run.guard(call, PRIMARY, operation, params)
            absent = run.guard(call, PRIMARY, "DisableKey", {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"})
            assert absent.kind == "error" and absent.code == "NotFoundException"  # a nonexistent key is fine
            mine = run.guard(call, PRIMARY, "CreateKey", {"Tags": run.creation_tags()}).response["KeyMetadata"]
            assert run.guard(call, PRIMARY, "DisableKey", {"KeyId": mine["KeyId"]}).kind == "ok"
            run.guard(call, PRIMARY, "ScheduleKeyDeletion", {"KeyId": mine["KeyId"], "PendingWindowInDays": 30})
        assert run.result is not None
        assert [r.key_id for r in run.result.already_pending] == [mine["KeyId"]]
        assert state_of(PRIMARY, theirs["KeyId"]) == "Enabled" and tags_of(PRIMARY, theirs["KeyId"]) == {}
        assert kms(WEST).list_keys()["Keys"] == []


def test_teardown_tolerates_missing_and_pending_keys(aws_env: Path) -> None:
    with mock_aws():
        session = boto3.session.Session()
        ledger = S.Ledger(S.ledger_path("r1", aws_env))
        pending = kms(PRIMARY).create_key()["KeyMetadata"]["KeyId"]
        kms(PRIMARY).schedule_key_deletion(KeyId=pending, PendingWindowInDays=7)
        ledger.append("created", op="CreateKey", seq=1, region=PRIMARY, key_id=pending, role="SINGLE")
        ledger.append("created", op="CreateKey", seq=2, region=PRIMARY, key_id="0f0e0d0c-1111-2222-3333-444455556666")
        result = S.teardown("r1", session, state_dir=aws_env, poll_interval=0.01)
        again = S.teardown("r1", session, state_dir=aws_env, poll_interval=0.01)
    assert result.complete and result.scheduled == []
    assert [r.key_id for r in result.already_pending] == [pending]
    assert [r.key_id for r in result.not_found] == ["0f0e0d0c-1111-2222-3333-444455556666"]
    assert again.complete and again.scheduled == []
    assert S.teardown("never-ran", session, state_dir=aws_env).scheduled == []


def test_teardown_finds_keys_whose_creation_was_never_recorded(aws_env: Path) -> None:
    """A crash after AWS answered but before after_call: the intents lead teardown to the keys."""
    with mock_aws():
        session = boto3.session.Session()
        call = call_fn(session)
        run = S.AwsRun(session, primary_region=PRIMARY, replica_regions=[WEST], install_handlers=False,
                       teardown_on_exit=False, poll_interval=0.01)
        with run:
            recorded = run.guard(call, PRIMARY, "CreateKey", {"MultiRegion": True, "Tags": run.creation_tags()})
            key_id = recorded.response["KeyMetadata"]["KeyId"]
            replicate = {"KeyId": key_id, "ReplicaRegion": WEST}
            run.before_call(PRIMARY, "ReplicateKey", replicate)
            call(PRIMARY, "ReplicateKey", replicate)  # killed here: no after_call, no cleanup tag
            create = {"Tags": run.creation_tags()}
            run.before_call(PRIMARY, "CreateKey", create)
            lost = call(PRIMARY, "CreateKey", create).response["KeyMetadata"]["KeyId"]  # killed here too
            unrelated = kms(PRIMARY).create_key()["KeyMetadata"]["KeyId"]
        assert {r.get("key_id") for r in events(run.ledger.path) if r["event"] == "created"} == {key_id}
        result = S.teardown(run.run_id, session, state_dir=aws_env, poll_interval=0.01)
        assert {(r.region, r.key_id) for r in result.scheduled} == {(PRIMARY, key_id), (WEST, key_id), (PRIMARY, lost)}
        assert state_of(PRIMARY, unrelated) == "Enabled"


# ---------------------------------------------------------------------------------------------- cleanup by tag


def test_cleanup_only_touches_keys_with_the_suite_tag(aws_env: Path) -> None:
    def make(region: str = PRIMARY, **tags: str) -> str:
        params: dict[str, Any] = {"Tags": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]}
        return str(kms(region).create_key(**params)["KeyMetadata"]["KeyId"])

    run = {S.RUN_TAG_KEY: "run-a"}
    with mock_aws():
        session = boto3.session.Session()
        mine = make(**run)
        mine_west = make(WEST, **{S.CLEANUP_TAG_KEY: "run-a"})
        other = make(**{S.RUN_TAG_KEY: "run-b"})
        untagged = make()
        lookalikes = [
            make(Name="run-a"),
            make(**{"kms-conformance-run-x": "run-a"}),
            make(**{"KMS-CONFORMANCE-RUN": "run-a"}),
            make(**{S.RUN_TAG_KEY + " ": "run-a"}),
        ]
        family = kms(PRIMARY).create_key(MultiRegion=True, Tags=[{"TagKey": S.RUN_TAG_KEY, "TagValue": "run-a"}])
        family_id = family["KeyMetadata"]["KeyId"]
        kms(PRIMARY).replicate_key(KeyId=family_id, ReplicaRegion=WEST)  # untagged replica
        already = make(**run)
        kms(PRIMARY).schedule_key_deletion(KeyId=already, PendingWindowInDays=30)

        result = S.cleanup("run-a", session, [PRIMARY, WEST], poll_interval=0.01)
        assert {(r.region, r.key_id) for r in result.scheduled} == {
            (PRIMARY, mine), (WEST, mine_west), (PRIMARY, family_id)
        }
        assert [r.key_id for r in result.already_pending] == [already]
        reasons = {(r.region, r.key_id): why for r, why in result.skipped}
        assert "another run" in reasons[(PRIMARY, other)]
        assert "untagged replica" in reasons[(WEST, family_id)]
        assert result.untagged_seen == 1 + len(lookalikes) + 1  # untagged, look-alikes, the family's replica
        for key_id in (other, untagged, *lookalikes):
            assert state_of(PRIMARY, key_id) == "Enabled"
        assert state_of(WEST, family_id) == "Enabled"

        every_run = S.cleanup(None, session, [PRIMARY, WEST], poll_interval=0.01)
        assert {r.key_id for r in every_run.scheduled} == {other}
        for key_id in (untagged, *lookalikes):
            assert state_of(PRIMARY, key_id) == "Enabled"
        assert state_of(WEST, family_id) == "Enabled"
        assert "scheduled for deletion in 7 days" in result.summary()


# ---------------------------------------------------------------------------------------------- redaction


def test_redact_removes_credentials(aws_env: Path, caplog: pytest.LogCaptureFixture) -> None:
    S.register_session_secrets(boto3.session.Session())
    text = (
        f"key={FAKE_ACCESS_KEY} secret={FAKE_SECRET} token={FAKE_TOKEN} other=ASIAABCDEFGHIJKLMNOP "
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAABCDEFGHIJKLMNOP/20260101/us-east-1/kms/aws4_request, "
        f"SignedHeaders=host, Signature={'ab' * 32} X-Amz-Security-Token: FwoGZXIvYXdzEBYaDHhBTiQ3Ymx0ZXN0 "
        'aws_secret_access_key = abcdefghijABCDEFGHIJ0123456789abcdefghij "SessionToken": "FQoGZXIvYXdzEXAMPLEXYZ"'
    )
    out = S.redact(text)
    for secret in (FAKE_ACCESS_KEY, FAKE_SECRET, FAKE_TOKEN, "ASIAABCDEFGHIJKLMNOP", "AKIAABCDEFGHIJKLMNOP",
                   "ab" * 32, "FwoGZXIvYXdzEBYaDHhBTiQ3Ymx0ZXN0", "abcdefghijABCDEFGHIJ0123456789abcdefghij",
                   "FQoGZXIvYXdzEXAMPLEXYZ"):
        assert secret not in out
    assert "us-east-1/kms/aws4_request" in out  # what is not secret stays readable
    S.register_secret("testing")  # emulators' dummy credentials: too short to be a secret
    assert S.redact("testing arn:aws:kms:us-east-1:123456789012:key/mrk-1") == (
        "testing arn:aws:kms:us-east-1:123456789012:key/mrk-1"
    )
    logger = logging.getLogger("test_aws_safety.redaction")
    logger.addFilter(S.RedactingFilter())
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("calling with %s", FAKE_SECRET)
    assert FAKE_SECRET not in caplog.text and "<redacted>" in caplog.text


# ---------------------------------------------------------------------------------------------- crashes (moto server)


@pytest.fixture
def moto_server(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)  # boto3 sends every service (KMS, STS) there
    try:
        yield url
    finally:
        server.stop()


CHILD = textwrap.dedent(
    """
    import sys, time
    import boto3
    from conformance.aws_safety import AwsRun, BudgetExhausted
    from conformance.targets import Target, TargetConfig

    run_id, url, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    cfg = TargetConfig(kind="endpoint", endpoint_url=url, primary_region="us-east-1",
                       replica_regions=("us-west-2", "eu-west-1"))
    target = Target(cfg)
    run = AwsRun(boto3.session.Session(), primary_region="us-east-1", replica_regions=cfg.replica_regions,
                 run_id=run_id, max_keys=int(sys.argv[4]), poll_interval=0.01, creating_timeout=5)

    def create_family():
        obs = run.guard(target.call, "us-east-1", "CreateKey", {"MultiRegion": True, "Tags": run.creation_tags()})
        key_id = obs.response["KeyMetadata"]["KeyId"]
        for region in ("us-west-2", "eu-west-1"):
            run.guard(target.call, "us-east-1", "ReplicateKey", {"KeyId": key_id, "ReplicaRegion": region})
        run.guard(target.call, "us-east-1", "CreateKey", {})  # untagged request: tagged after

    if mode == "atexit":  # no with-block, no __exit__: only atexit can tear down
        run.__enter__()
        create_family()
        print("ready", flush=True)
        sys.exit(0)
    with run:
        try:
            create_family()
            print("ready", flush=True)
            while True:  # keep creating until killed or out of budget
                create_family()
        except BudgetExhausted:
            print("budget", flush=True)
        while True:
            time.sleep(0.05)
    """
)


def start_child(tmp_path: Path, run_id: str, url: str, mode: str, max_keys: int) -> subprocess.Popen[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(script), run_id, url, mode, str(max_keys)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def keys_tagged_for(run_id: str, regions: tuple[str, ...] = (PRIMARY, WEST, EU)) -> dict[tuple[str, str], str]:
    """(region, key ID) -> state of every key carrying a suite tag for ``run_id``."""
    out = {}
    for region in regions:
        for key in kms(region).list_keys()["Keys"]:
            tags = tags_of(region, key["KeyId"])
            if run_id in (tags.get(S.RUN_TAG_KEY), tags.get(S.CLEANUP_TAG_KEY)):
                out[(region, key["KeyId"])] = state_of(region, key["KeyId"])
    return out


def test_sigkill_midway_then_teardown_from_a_new_process(moto_server: str, aws_env: Path, tmp_path: Path) -> None:
    run_id = "crash-" + S.new_run_id()
    child = start_child(tmp_path, run_id, moto_server, "loop", max_keys=40)
    ledger = S.ledger_path(run_id, aws_env)
    deadline = time.monotonic() + 60
    while sum(r["event"] == "created" for r in events(ledger)) < 6:
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert time.monotonic() < deadline, "the child created too few keys"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    records = events(ledger)
    assert not any(r["event"] == "teardown" for r in records)
    assert run_id in S.pending_runs(aws_env)
    created = {(r["region"], r["key_id"]) for r in records if r["event"] == "created"}
    live = keys_tagged_for(run_id)
    assert created and len(live) >= len(created) - 1  # at most the last replica is still being tagged

    result = S.teardown(run_id, boto3.session.Session(), state_dir=aws_env, poll_interval=0.01)
    assert result.complete, result.summary()
    after = keys_tagged_for(run_id)
    assert after and set(after.values()) == {"PendingDeletion"}
    scheduled = {(r.region, r.key_id) for r in result.scheduled}
    assert created <= scheduled and set(after) <= scheduled
    first_primary = next(i for i, r in enumerate(result.scheduled) if r.role != "REPLICA")
    assert all(r.role != "REPLICA" for r in result.scheduled[first_primary:])
    assert run_id not in S.pending_runs(aws_env)

    again = S.cleanup(run_id, boto3.session.Session(), (PRIMARY, WEST, EU), poll_interval=0.01)
    assert again.scheduled == [] and {(r.region, r.key_id) for r in again.already_pending} == set(after)


def test_sigkill_then_cleanup_by_tag_without_the_ledger(moto_server: str, aws_env: Path, tmp_path: Path) -> None:
    run_id = "lost-" + S.new_run_id()
    child = start_child(tmp_path, run_id, moto_server, "loop", max_keys=8)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    assert child.stdout.readline().strip() == "budget"  # 2 families of 4 keys: the budget stops the third
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    S.ledger_path(run_id, aws_env).unlink()  # the state dir is gone too: only the tags are left
    before = keys_tagged_for(run_id)
    assert len(before) == 8 and set(before.values()) == {"Enabled"}
    result = S.cleanup(run_id, boto3.session.Session(), (PRIMARY, WEST, EU), poll_interval=0.01)
    assert {(r.region, r.key_id) for r in result.scheduled} == set(before)
    assert set(keys_tagged_for(run_id).values()) == {"PendingDeletion"}


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "atexit"])
def test_signals_and_exit_tear_down(moto_server: str, aws_env: Path, tmp_path: Path, how: str) -> None:
    run_id = f"{how.lower()}-" + S.new_run_id()
    child = start_child(tmp_path, run_id, moto_server, "atexit" if how == "atexit" else "wait", max_keys=4)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    if how != "atexit":
        assert child.stdout.readline().strip() == "budget"
        child.send_signal(getattr(signal, how))
    _, stderr = child.communicate(timeout=60)
    assert "Traceback" not in stderr or "KeyboardInterrupt" in stderr
    records = events(S.ledger_path(run_id, aws_env))
    assert records[-1]["event"] == "teardown" and records[-1]["complete"], stderr
    live = keys_tagged_for(run_id)
    assert len(live) == 4 and set(live.values()) == {"PendingDeletion"}
    assert json.dumps(records).count(FAKE_SECRET) == 0
