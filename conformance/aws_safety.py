"""Safety rails for the ``aws`` target: the suite must never run against real AWS by accident, never
spend more than a small key budget, never touch a key it did not create, and always leave a trail
from which every key it created can be scheduled for deletion, even after SIGKILL.

Layer: beside ``targets`` (imports nothing from the project at module level, so ``targets`` may import it).

The rails, in the order a run meets them:
- ``preflight``: explicit opt-in (flag or env), an allow-list of account IDs holding the caller's
  (STS GetCallerIdentity in the primary Region), and well-formed Regions. Fails with ``SafetyError``.
- ``AwsRun``: the context of one run. Every guarded call goes through ``AwsRun.guard`` (or
  ``before_call``/``after_call``): CreateKey/ReplicateKey spend the ``KeyBudget``; replicas only go
  to listed Regions; mutating calls on a key or alias this run did not create are refused when that
  key exists; every creation is appended to a fsync'ed JSON-lines ledger before the call returns.
- ``teardown``: schedules deletion (7 days, the minimum) of every key the ledger knows, replicas first.
- ``cleanup``: finds leftovers by the suite's tags and schedules them; never a key without them.
- ``redact``: strips credentials from any text a report, log or replay script is made of.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

import botocore.exceptions as bexc
from botocore.config import Config

if TYPE_CHECKING:
    from conformance.targets import TargetConfig

log = logging.getLogger(__name__)

OPT_IN_FLAG = "--i-understand-this-costs-money"
OPT_IN_ENV = "KMS_CONFORMANCE_AWS_OPT_IN"
ACCOUNTS_ENV = "KMS_CONFORMANCE_AWS_ACCOUNTS"
MAX_KEYS_ENV = "KMS_CONFORMANCE_AWS_MAX_KEYS"
STATE_DIR_ENV = "KMS_CONFORMANCE_STATE_DIR"

# Tag every key carries from CreateKey on (the machine already sends it): value = the run ID.
RUN_TAG_KEY = "kms-conformance-run"
# Tag added by TagResource right after a creation whose request did not carry RUN_TAG_KEY (every
# replica, since replicas inherit no tags; CreateKey calls of recorded cases). A distinct key, so that
# TAGS-008 ("the primary's tags are not copied to the replica") stays checkable on AWS.
CLEANUP_TAG_KEY = "kms-conformance-cleanup"
SUITE_TAG_KEYS = (RUN_TAG_KEY, CLEANUP_TAG_KEY)

DEFAULT_MAX_KEYS = 6
MAX_KEYS_CEILING = 50
PENDING_WINDOW_DAYS = 7  # the minimum AWS KMS accepts
CREATING_OPERATIONS = frozenset({"CreateKey", "ReplicateKey"})
# Calls that change a key (or alias) the caller names: refused when it exists and is not this run's.
OWNERSHIP_CHECKED = frozenset(
    {
        "EnableKey",
        "DisableKey",
        "ScheduleKeyDeletion",
        "CancelKeyDeletion",
        "UpdatePrimaryRegion",
        "TagResource",
        "UntagResource",
        "PutKeyPolicy",
        "UpdateKeyDescription",
        "EnableKeyRotation",
        "DisableKeyRotation",
        "RotateKeyOnDemand",
        "ImportKeyMaterial",
        "DeleteImportedKeyMaterial",
        "CreateAlias",
        "UpdateAlias",
        "DeleteAlias",
        "CreateGrant",
        "RevokeGrant",
        "RetireGrant",
        "ReplicateKey",
    }
)
# Recommended TargetConfig overrides for real AWS: replicas took about 60 s to leave Creating
# (LocalStack's AWS-validated test: 64.64 s), so 180 s leaves room; polling every 2 s stays far below
# the DescribeKey request quota.
RECOMMENDED_TIMEOUTS: dict[str, float] = {"creating_timeout": 180.0, "poll_interval": 2.0, "read_timeout": 30.0}

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_ACCOUNT = re.compile(r"\d{12}")
_PENDING_STATES = frozenset({"PendingDeletion", "PendingReplicaDeletion"})
_TRANSIENT_STATES = frozenset({"Creating", "Updating"})
# Outcomes after which the call certainly created nothing (targets.Observation kinds).
_NOTHING_CREATED = frozenset({"error", "unsupported", "transient"})
_TAG_ATTEMPTS = 30


# ---------------------------------------------------------------------------------------------- errors


class SafetyError(Exception):
    """The run must not start (or cleanup must not proceed); the message is one line for the user."""


class CallRefused(Exception):
    """A guarded call was not made. Not a verdict and not a failure: the machine skips the step."""


class BudgetExhausted(CallRefused):
    """The run's key budget is spent: stop creating keys (every other step may go on)."""


class RegionNotAllowed(CallRefused):
    """The call would create a key in a Region the user did not list."""


class ForeignKey(CallRefused):
    """The call would change a key or alias that exists and was not created by this run."""


class RunStopping(CallRefused):
    """SIGINT/SIGTERM arrived: no new key, teardown is on its way."""


# ---------------------------------------------------------------------------------------------- run IDs, opt-in


def new_run_id() -> str:
    """A run ID usable as a tag value, an alias-name part and a file name: UTC time + random suffix."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise SafetyError(f"invalid run ID {run_id!r}: use 1-64 letters, digits and '-'")
    return run_id


def opted_in(flag: bool, environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return bool(flag) or env.get(OPT_IN_ENV, "").strip() == "1"


def check_opt_in(flag: bool, environ: Mapping[str, str] | None = None) -> None:
    if not opted_in(flag, environ):
        raise SafetyError(
            f"the aws target creates real KMS keys that cost money: pass {OPT_IN_FLAG} or set {OPT_IN_ENV}=1"
        )


def parse_accounts(value: str | Iterable[str] | None) -> frozenset[str]:
    """Account IDs from a comma/space separated string or an iterable; each must be 12 digits."""
    if value is None:
        return frozenset()
    items = re.split(r"[\s,]+", value) if isinstance(value, str) else [str(v) for v in value]
    accounts = {item.strip() for item in items if item.strip()}
    bad = sorted(a for a in accounts if not _ACCOUNT.fullmatch(a))
    if bad:
        raise SafetyError(f"malformed account ID {bad[0]!r} in the allow-list: expected 12 digits")
    return frozenset(accounts)


def caller_account(session: Any, region: str) -> str:
    """The account of the session's credentials, by STS GetCallerIdentity in ``region``."""
    if session.get_credentials() is None:
        raise SafetyError("no AWS credentials found: configure a profile or the AWS_* environment variables")
    try:
        sts = session.client("sts", region_name=region, config=Config(retries={"total_max_attempts": 3}))
        account = sts.get_caller_identity().get("Account")
    except bexc.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SafetyError(f"STS GetCallerIdentity in {region} failed with {code}: check the credentials") from None
    except bexc.BotoCoreError as exc:
        raise SafetyError(f"STS GetCallerIdentity in {region} failed: {redact(str(exc)).splitlines()[0]}") from None
    if not isinstance(account, str) or not _ACCOUNT.fullmatch(account):
        raise SafetyError(f"STS GetCallerIdentity in {region} returned no usable account ID")
    return account


def check_account(session: Any, region: str, allowed: Iterable[str]) -> str:
    allowed = frozenset(allowed)
    if not allowed:
        raise SafetyError(f"no allowed account IDs: list the accounts the suite may use in {ACCOUNTS_ENV}")
    account = caller_account(session, region)
    if account not in allowed:
        raise SafetyError(f"the credentials belong to account {account}, which is not in the allow-list")
    return account


def preflight(
    session: Any,
    *,
    opt_in: bool,
    allowed_accounts: str | Iterable[str] | None,
    primary_region: str,
    replica_regions: Sequence[str],
    environ: Mapping[str, str] | None = None,
) -> str:
    """Every check before the first KMS call; returns the caller's account ID. Opt-in comes first,
    so nothing reaches AWS (not even STS) without it. ``allowed_accounts=None`` reads ACCOUNTS_ENV."""
    env = os.environ if environ is None else environ
    check_opt_in(opt_in, env)
    accounts = parse_accounts(env.get(ACCOUNTS_ENV) if allowed_accounts is None else allowed_accounts)
    if not replica_regions:
        raise SafetyError("the aws target needs at least one replica Region")
    for region in (primary_region, *replica_regions):
        if region not in _known_regions():
            raise SafetyError(f"unknown Region {region!r}: list real Region names only")
    return check_account(session, primary_region, accounts)


def max_keys_from_environment(environ: Mapping[str, str] | None = None, default: int = DEFAULT_MAX_KEYS) -> int:
    env = os.environ if environ is None else environ
    raw = env.get(MAX_KEYS_ENV, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise SafetyError(f"{MAX_KEYS_ENV}={raw!r}: expected a whole number of keys")
    return int(raw)


def recommended_config(cfg: TargetConfig) -> TargetConfig:
    """``cfg`` with timeouts that fit real AWS (never shortens a longer creating_timeout)."""
    from dataclasses import replace

    return replace(
        cfg,
        creating_timeout=max(cfg.creating_timeout, RECOMMENDED_TIMEOUTS["creating_timeout"]),
        poll_interval=RECOMMENDED_TIMEOUTS["poll_interval"],
        read_timeout=max(cfg.read_timeout, RECOMMENDED_TIMEOUTS["read_timeout"]),
    )


# ---------------------------------------------------------------------------------------------- Regions, tags


_region_cache: dict[str, Any] = {}


def _known_regions() -> frozenset[str]:
    """Every Region name botocore knows, any service, any partition."""
    if "all" not in _region_cache:
        from botocore.session import get_session

        session = get_session()
        loader = session.get_component("data_loader")
        names: set[str] = set()
        for part in loader.load_data("endpoints")["partitions"]:
            names.update(part.get("regions", {}))
        for part in loader.load_data("partitions")["partitions"]:
            names.update(part.get("regions", {}))
        for partition in session.get_available_partitions():
            names.update(session.get_available_regions("kms", partition_name=partition))
        _region_cache["all"] = frozenset(names)
    known: frozenset[str] = _region_cache["all"]
    return known


def _partition_of(region: str) -> str | None:
    from botocore.session import get_session

    loader = get_session().get_component("data_loader")
    for part in loader.load_data("partitions")["partitions"]:
        if region in part.get("regions", {}):
            return str(part["id"])
    for part in loader.load_data("partitions")["partitions"]:
        if re.fullmatch(part.get("regionRegex", "$^"), region):
            return str(part["id"])
    return None


def check_region(region: str, allowed: Iterable[str]) -> None:
    """Refuse a Region a key could really be created in unless the user listed it.

    Names no correct KMS accepts stay allowed (the suite sends them on purpose, REGION-001..003): a
    name botocore does not know (``us-invalid-1``), or a Region of another partition than the listed
    ones (cross-partition replication is rejected). Surrounding whitespace and case are normalised
    first, so ``' US-WEST-2'`` counts as us-west-2.
    """
    allowed = frozenset(allowed)
    if not isinstance(region, str) or region in allowed:
        return
    name = region.strip().lower()
    if name in allowed or name not in _known_regions():
        return
    home = {_partition_of(r) for r in allowed}
    if _partition_of(name) in home:
        raise RegionNotAllowed(f"Region {name} is not among the listed Regions {sorted(allowed)}")


def creation_tags(run_id: str) -> list[dict[str, str]]:
    """The tag a CreateKey request carries (the machine adds it already: make its value the run ID)."""
    return [{"TagKey": RUN_TAG_KEY, "TagValue": check_run_id(run_id)}]


def cleanup_tags(run_id: str) -> list[dict[str, str]]:
    """The tag put on a key by TagResource right after its creation (replicas inherit no tags)."""
    return [{"TagKey": CLEANUP_TAG_KEY, "TagValue": check_run_id(run_id)}]


def creation_description(run_id: str) -> str:
    return f"Created by kms-conformance run {check_run_id(run_id)}; scheduled for deletion when the run ends"


def strip_cleanup_tag(tags: Mapping[str, str]) -> dict[str, str]:
    """A key's tags as the model knows them: without the bookkeeping tag the rails added."""
    return {k: v for k, v in tags.items() if k != CLEANUP_TAG_KEY}


def _key_id_of(value: Any) -> str | None:
    """The key ID in a KeyId parameter (ID or key ARN); None for aliases and anything else."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith("arn:"):
        resource = value.split(":", 5)[-1]
        return resource[4:] if resource.startswith("key/") else None
    return None if value.startswith("alias/") else value


def _region_of_arn(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("arn:"):
        parts = value.split(":")
        return parts[3] if len(parts) > 5 and parts[3] else None
    return None


# ---------------------------------------------------------------------------------------------- ledger


def default_state_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(STATE_DIR_ENV):
        return Path(env[STATE_DIR_ENV])
    cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return cache / "kms-conformance" / "aws"


def ledger_path(run_id: str, state_dir: Path | None = None) -> Path:
    return (state_dir or default_state_dir()) / f"{check_run_id(run_id)}.jsonl"


class Ledger:
    """Append-only JSON lines, one fsync'ed write per record, under an exclusive lock (several
    processes of one run share it). A torn last line (SIGKILL mid-write) is skipped on reading."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if new:
                _fsync_dir(self.path.parent)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock

    def append(self, event: str, **fields: Any) -> None:
        with self._locked() as fd:
            self._write(fd, event, fields)

    @staticmethod
    def _write(fd: int, event: str, fields: Mapping[str, Any]) -> None:
        record = {"event": event, "at": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
        line = json.dumps(record, sort_keys=True, default=str) + "\n"
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = "\n" + line  # a torn line (killed mid-write) must not swallow this record
        os.write(fd, line.encode())
        os.fsync(fd)

    def records(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        out: list[dict[str, Any]] = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    out.append(record)
        return out

    def spend(self, kind: str, limit: int) -> int:
        """Record one key of the budget atomically across processes; returns the keys spent so far."""
        with self._locked() as fd:
            spent = _spent(self.records())
            if spent >= limit:
                raise BudgetExhausted(f"key budget of {limit} spent ({kind} refused): no more keys this run")
            self._write(fd, "spend", {"kind": kind})
            return spent + 1


def _spent(records: Iterable[Mapping[str, Any]]) -> int:
    n = 0
    for r in records:
        n += r.get("event") == "spend"
        n -= r.get("event") == "refund"
    return n


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def pending_runs(state_dir: Path | None = None) -> list[str]:
    """Run IDs whose ledger has no completed teardown: their keys may still exist."""
    root = state_dir or default_state_dir()
    runs = []
    for path in sorted(root.glob("*.jsonl")):
        records = Ledger(path).records()
        if not any(r.get("event") == "teardown" and r.get("complete") for r in records):
            runs.append(path.stem)
    return runs


# ---------------------------------------------------------------------------------------------- budget


class KeyBudget:
    """How many keys (primaries, single-Region keys and replicas alike) one run may create.

    ``spend`` is called before each CreateKey/ReplicateKey and raises ``BudgetExhausted`` once the
    limit is reached; ``refund`` gives a key back after a call that certainly created nothing. With
    a ledger the count lives in it, so it holds across processes and across a resumed run.
    """

    def __init__(self, limit: int = DEFAULT_MAX_KEYS, ledger: Ledger | None = None) -> None:
        if not isinstance(limit, int) or limit < 0:
            raise SafetyError(f"key budget must be a whole number >= 0, not {limit!r}")
        if limit > MAX_KEYS_CEILING:
            raise SafetyError(f"key budget {limit} exceeds the ceiling of {MAX_KEYS_CEILING} keys per run")
        self.limit = limit
        self._ledger = ledger
        self._spent = 0
        self._lock = threading.Lock()

    @property
    def spent(self) -> int:
        return _spent(self._ledger.records()) if self._ledger is not None else self._spent

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.spent)

    def spend(self, kind: str) -> None:
        if kind not in CREATING_OPERATIONS:
            raise ValueError(f"only CreateKey and ReplicateKey spend the key budget, not {kind!r}")
        with self._lock:
            if self._ledger is not None:
                self._ledger.spend(kind, self.limit)
                return
            if self._spent >= self.limit:
                raise BudgetExhausted(f"key budget of {self.limit} spent ({kind} refused): no more keys this run")
            self._spent += 1

    def refund(self, kind: str) -> None:
        with self._lock:
            if self._ledger is not None:
                self._ledger.append("refund", kind=kind)
            else:
                self._spent = max(0, self._spent - 1)


# ---------------------------------------------------------------------------------------------- redaction

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_MIN_SECRET = 16  # shorter values (emulators' "testing") would mangle ordinary words
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "<redacted-access-key-id>"),
    (re.compile(r"(Signature=)[0-9a-f]{64}"), r"\1<redacted>"),
    (re.compile(r"(?i)(x-amz-security-token['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9+/=%_-]{16,}"), r"\1<redacted>"),
    (
        re.compile(r"(?i)(aws_(?:secret_access_key|session_token)['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9+/=]{16,}"),
        r"\1<redacted>",
    ),
    (re.compile(r"(?i)(\"?(?:SecretAccessKey|SessionToken)\"?\s*[:=]\s*\"?)[A-Za-z0-9+/=]{16,}"), r"\1<redacted>"),
)


def register_secret(value: str | None) -> None:
    if isinstance(value, str) and len(value) >= _MIN_SECRET:
        with _secrets_lock:
            _secrets.add(value)


def register_session_secrets(session: Any) -> None:
    """Remember the session's access key ID, secret key and token so that ``redact`` removes them."""
    credentials = session.get_credentials()
    if credentials is None:
        return
    frozen = credentials.get_frozen_credentials()
    for value in (frozen.access_key, frozen.secret_key, frozen.token):
        register_secret(value)


def redact(text: str) -> str:
    """``text`` without any registered credential or anything shaped like an access key, signature or token."""
    if not text:
        return text
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        text = text.replace(value, "<redacted>")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (attach to the suite's handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


# ---------------------------------------------------------------------------------------------- teardown / cleanup


@dataclass(frozen=True)
class KeyRef:
    region: str
    key_id: str
    role: str = ""  # PRIMARY, REPLICA, SINGLE_REGION, or "" when unknown


@dataclass
class CleanupResult:
    """What teardown or cleanup did, key by key."""

    scheduled: list[KeyRef] = field(default_factory=list)
    already_pending: list[KeyRef] = field(default_factory=list)
    not_found: list[KeyRef] = field(default_factory=list)
    skipped: list[tuple[KeyRef, str]] = field(default_factory=list)  # left alone on purpose, with why
    failed: list[tuple[KeyRef, str]] = field(default_factory=list)  # should be deleted, could not be
    untagged_seen: int = 0  # keys without a suite tag that cleanup looked at and left alone

    @property
    def complete(self) -> bool:
        return not self.failed

    def handled(self) -> list[KeyRef]:
        return [*self.scheduled, *self.already_pending, *self.not_found]

    def summary(self) -> str:
        text = (
            f"{len(self.scheduled)} scheduled for deletion in {PENDING_WINDOW_DAYS} days, "
            f"{len(self.already_pending)} already pending deletion, {len(self.not_found)} not found, "
            f"{len(self.skipped)} skipped, {len(self.failed)} failed"
        )
        lines = [text]
        lines += [f"  failed: {r.region} {r.key_id}: {why}" for r, why in self.failed]
        lines += [f"  skipped: {r.region} {r.key_id}: {why}" for r, why in self.skipped]
        return redact("\n".join(lines))


class _Clients:
    """One KMS client per Region for the rails' own calls (never the Target's, so a tainted or
    closed Target cannot stop teardown)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self.session.client(
                    "kms",
                    region_name=region,
                    config=Config(
                        connect_timeout=10, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 6}
                    ),
                )
            return self._clients[region]


def _code(exc: bexc.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "") or "")


def _describe(clients: _Clients, region: str, key_id: str) -> dict[str, Any] | None:
    """KeyMetadata, or None when the key does not exist. Other errors propagate."""
    try:
        meta: dict[str, Any] = clients(region).describe_key(KeyId=key_id)["KeyMetadata"]
        return meta
    except bexc.ClientError as exc:
        if _code(exc) in ("NotFoundException", "InvalidArnException", "ValidationException"):
            return None
        raise


def _role(region: str, meta: Mapping[str, Any]) -> str:
    """PRIMARY, REPLICA or SINGLE_REGION. A member is the primary iff its Region is PrimaryKey.Region
    (the family's one shared fact; moto 5.2.1 reports REPLICA on the primary once a replica was described)."""
    if not meta.get("MultiRegion"):
        return "SINGLE_REGION"
    config = meta.get("MultiRegionConfiguration") or {}
    primary_region = (config.get("PrimaryKey") or {}).get("Region")
    if isinstance(primary_region, str) and primary_region:
        return "PRIMARY" if primary_region == region else "REPLICA"
    return str(config.get("MultiRegionKeyType") or "")


def _family_regions(meta: Mapping[str, Any]) -> list[str]:
    config = meta.get("MultiRegionConfiguration") or {}
    regions = [(config.get("PrimaryKey") or {}).get("Region")]
    regions += [r.get("Region") for r in config.get("ReplicaKeys") or []]
    return [r for r in regions if isinstance(r, str) and r]


def _schedule_all(
    clients: _Clients,
    refs: Iterable[KeyRef],
    result: CleanupResult,
    *,
    expand_families: bool,
    creating_timeout: float,
    poll_interval: float,
    on_scheduled: Callable[[KeyRef], None] | None = None,
) -> None:
    """Schedule deletion of ``refs`` (and, with expand_families, every Region of their multi-Region
    families): replicas first, then primaries and single-Region keys."""
    todo = list(dict.fromkeys((r.region, r.key_id) for r in refs))
    metas: dict[tuple[str, str], dict[str, Any]] = {}
    i = 0
    while i < len(todo):
        region, key_id = todo[i]
        i += 1
        try:
            meta = _describe(clients, region, key_id)
        except (bexc.ClientError, bexc.BotoCoreError) as exc:
            result.failed.append((KeyRef(region, key_id), _short(exc)))
            continue
        if meta is None:
            result.not_found.append(KeyRef(region, key_id))
            continue
        if meta.get("KeyManager") == "AWS":
            result.skipped.append((KeyRef(region, key_id), "AWS managed key"))
            continue
        metas[(region, key_id)] = meta
        if expand_families:
            for other in _family_regions(meta):
                if (other, key_id) not in todo:
                    todo.append((other, key_id))
    replicas = [k for k, m in metas.items() if _role(k[0], m) == "REPLICA"]
    others = [k for k, m in metas.items() if _role(k[0], m) != "REPLICA"]
    for region, key_id in [*replicas, *others]:
        ref = KeyRef(region, key_id, _role(region, metas[(region, key_id)]))
        outcome = _schedule_one(clients, ref, metas[(region, key_id)], creating_timeout, poll_interval)
        if outcome == "scheduled":
            result.scheduled.append(ref)
            if on_scheduled is not None:
                on_scheduled(ref)
        elif outcome == "pending":
            result.already_pending.append(ref)
        elif outcome == "gone":
            result.not_found.append(ref)
        else:
            result.failed.append((ref, outcome))


def _schedule_one(
    clients: _Clients, ref: KeyRef, meta: Mapping[str, Any], creating_timeout: float, poll_interval: float
) -> str:
    """One of scheduled, pending (already), gone, or why it failed. Waits out Creating/Updating."""
    deadline = time.monotonic() + creating_timeout
    state = meta.get("KeyState")
    while True:
        if state in _PENDING_STATES:
            return "pending"
        if state not in _TRANSIENT_STATES:
            try:
                clients(ref.region).schedule_key_deletion(KeyId=ref.key_id, PendingWindowInDays=PENDING_WINDOW_DAYS)
                return "scheduled"
            except bexc.ClientError as exc:
                if _code(exc) == "NotFoundException":
                    return "gone"
                if _code(exc) != "KMSInvalidStateException":
                    return _short(exc)
            except bexc.BotoCoreError as exc:
                return _short(exc)
        if time.monotonic() >= deadline:
            return f"still {state} after {creating_timeout:.0f} s: run cleanup later"
        time.sleep(poll_interval)
        try:
            fresh = _describe(clients, ref.region, ref.key_id)
        except (bexc.ClientError, bexc.BotoCoreError) as exc:
            return _short(exc)
        if fresh is None:
            return "gone"
        state = fresh.get("KeyState")


def _short(exc: BaseException) -> str:
    if isinstance(exc, bexc.ClientError):
        return f"{_code(exc)}: {redact(str(exc.response.get('Error', {}).get('Message', '')))[:200]}"
    return redact(f"{type(exc).__name__}: {exc}")[:200]


def _suite_tags(client: Any, key_id: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    marker: str | None = None
    while True:
        kwargs: dict[str, Any] = {"KeyId": key_id, **({"Marker": marker} if marker else {})}
        page = client.list_resource_tags(**kwargs)
        for tag in page.get("Tags", []):
            if tag.get("TagKey") in SUITE_TAG_KEYS:
                tags[tag["TagKey"]] = tag.get("TagValue", "")
        marker = page.get("NextMarker")
        if not page.get("Truncated") or not marker:
            return tags


def _find_tagged(clients: _Clients, run_id: str | None, regions: Iterable[str], result: CleanupResult) -> list[KeyRef]:
    """Keys carrying a suite tag (with value ``run_id`` when given), by ListKeys + ListResourceTags."""
    found: list[KeyRef] = []
    for region in dict.fromkeys(regions):
        client = clients(region)
        try:
            keys = [k["KeyId"] for page in client.get_paginator("list_keys").paginate() for k in page.get("Keys", [])]
        except (bexc.ClientError, bexc.BotoCoreError) as exc:
            result.failed.append((KeyRef(region, "*"), f"ListKeys: {_short(exc)}"))
            continue
        for key_id in keys:
            try:
                tags = _suite_tags(client, key_id)
            except bexc.ClientError as exc:
                if _code(exc) != "NotFoundException":
                    result.skipped.append((KeyRef(region, key_id), f"tags unreadable ({_code(exc)})"))
                continue
            except bexc.BotoCoreError as exc:
                result.skipped.append((KeyRef(region, key_id), f"tags unreadable ({_short(exc)})"))
                continue
            if not tags:
                result.untagged_seen += 1
            elif run_id is None or run_id in tags.values():
                found.append(KeyRef(region, key_id))
            else:
                result.skipped.append((KeyRef(region, key_id), f"tagged for another run ({sorted(tags.values())[0]})"))
    return found


def cleanup(
    run_id: str | None,
    session: Any,
    regions: Iterable[str],
    *,
    creating_timeout: float = RECOMMENDED_TIMEOUTS["creating_timeout"],
    poll_interval: float = RECOMMENDED_TIMEOUTS["poll_interval"],
) -> CleanupResult:
    """Schedule deletion (7 days) of every key in ``regions`` carrying a suite tag (RUN_TAG_KEY or
    CLEANUP_TAG_KEY) whose value is ``run_id`` (any value when ``run_id`` is None). A key without a
    suite tag is never touched, even a replica of a tagged primary (reported as skipped)."""
    if run_id is not None:
        check_run_id(run_id)
    regions = list(dict.fromkeys(regions))
    clients = _Clients(session)
    result = CleanupResult()
    tagged = _find_tagged(clients, run_id, regions, result)
    _schedule_all(
        clients, tagged, result, expand_families=False, creating_timeout=creating_timeout, poll_interval=poll_interval
    )
    _report_untagged_members(clients, result, {(r.region, r.key_id) for r in tagged})
    return result


def _report_untagged_members(clients: _Clients, result: CleanupResult, tagged: set[tuple[str, str]]) -> None:
    """Name the untagged replicas that keep a scheduled primary in PendingReplicaDeletion."""
    for ref in [*result.scheduled, *result.already_pending]:
        if ref.role != "PRIMARY":
            continue
        try:
            meta = _describe(clients, ref.region, ref.key_id)
        except (bexc.ClientError, bexc.BotoCoreError):
            continue
        for region in _family_regions(meta or {}):
            if (region, ref.key_id) not in tagged:
                result.skipped.append(
                    (KeyRef(region, ref.key_id, "REPLICA"), "untagged replica of a tagged primary: left alone")
                )


def teardown(
    run_id: str,
    session: Any,
    *,
    state_dir: Path | None = None,
    creating_timeout: float = RECOMMENDED_TIMEOUTS["creating_timeout"],
    poll_interval: float = RECOMMENDED_TIMEOUTS["poll_interval"],
) -> CleanupResult:
    """Schedule deletion (7 days) of every key the run's ledger knows, replicas first, then primaries.

    Why that order: AWS accepts either, but a primary scheduled while it has replicas (even replicas
    already pending deletion) goes to PendingReplicaDeletion, with no DeletionDate; its 7-day window
    only starts once the last replica is actually deleted, so a family is gone after about 14 days
    whatever the order. Replicas first keeps each replica's own window starting now and makes the
    primary's PendingReplicaDeletion the expected, tolerated answer.

    Keys come from the ledger's created records, the ReplicateKey intents naming one of them (a crash
    between the call and its record), and every Region of their multi-Region families as DescribeKey
    reports them now (the roles may have moved with UpdatePrimaryRegion). A CreateKey whose outcome
    the ledger does not hold (crash or unknown outcome) leaves a key the ledger cannot name: its
    Region is swept by the run tag. Already-pending keys and NotFound are fine. Idempotent.
    """
    ledger = Ledger(ledger_path(run_id, state_dir))
    records = ledger.records()
    result = CleanupResult()
    if not records:
        return result
    created: dict[str, set[str]] = {}
    outcomes = {r.get("seq") for r in records if r.get("event") in ("created", "nothing", "unknown")}
    sweep: set[str] = set()
    for r in records:
        if r.get("event") == "created" and r.get("key_id") and r.get("region"):
            created.setdefault(r["key_id"], set()).add(r["region"])
    for r in records:
        unresolved = r.get("event") == "intent" and r.get("seq") not in outcomes
        if r.get("op") == "CreateKey" and (unresolved or r.get("event") == "unknown"):
            sweep.add(r["region"])
        elif r.get("op") == "ReplicateKey" and (unresolved or r.get("event") == "unknown"):
            key_id, region = r.get("key_id"), r.get("region")
            if key_id in created and isinstance(region, str) and region in _known_regions():
                created[key_id].add(region)
    refs = [KeyRef(region, key_id) for key_id, regions in created.items() for region in sorted(regions)]
    clients = _Clients(session)
    if sweep:
        refs += _find_tagged(clients, run_id, sorted(sweep), result)
        result.untagged_seen = 0  # not a cleanup: nobody asked about other keys
        result.skipped = [s for s in result.skipped if not s[1].startswith("tagged for another run")]

    def note(ref: KeyRef) -> None:
        ledger.append("scheduled", region=ref.region, key_id=ref.key_id, role=ref.role)

    _schedule_all(
        clients,
        refs,
        result,
        expand_families=True,
        creating_timeout=creating_timeout,
        poll_interval=poll_interval,
        on_scheduled=note,
    )
    ledger.append(
        "teardown",
        complete=result.complete,
        scheduled=len(result.scheduled),
        already_pending=len(result.already_pending),
        not_found=len(result.not_found),
        failed=len(result.failed),
    )
    return result


# ---------------------------------------------------------------------------------------------- the run


class ObservationLike(Protocol):
    """What ``AwsRun.after_call`` reads from a ``targets.Observation``."""

    @property
    def operation(self) -> str: ...
    @property
    def region(self) -> str: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def kind(self) -> str: ...
    @property
    def response(self) -> dict[str, Any]: ...


class AwsRun:
    """One run against real AWS: the guard on every call, the ledger, and teardown on any exit.

    ``with AwsRun(session, primary_region=..., replica_regions=...) as run:`` writes the run record,
    registers the session's secrets for ``redact``, an ``atexit`` teardown and SIGINT/SIGTERM
    handlers (main thread only) that stop new keys and raise KeyboardInterrupt, so the stack unwinds
    through ``__exit__``, which tears down. A second signal during teardown abandons it (the ledger
    remains: ``teardown`` or ``cleanup`` can finish later).
    """

    def __init__(
        self,
        session: Any,
        *,
        primary_region: str,
        replica_regions: Sequence[str],
        run_id: str | None = None,
        account_id: str = "",
        max_keys: int | None = None,
        state_dir: Path | None = None,
        tag_after_create: bool = True,
        install_handlers: bool = True,
        teardown_on_exit: bool = True,
        creating_timeout: float = RECOMMENDED_TIMEOUTS["creating_timeout"],
        poll_interval: float = RECOMMENDED_TIMEOUTS["poll_interval"],
    ) -> None:
        if teardown_on_exit and os.environ.get("PYTEST_XDIST_WORKER"):
            # Each worker's exit would delete keys the other workers are still using.
            raise SafetyError("the aws target runs in one process: drop -n/--numprocesses")
        self.session = session
        self.run_id = check_run_id(run_id or new_run_id())
        self.account_id = account_id
        self.primary_region = primary_region
        self.allowed_regions = (primary_region, *replica_regions)
        self.state_dir = state_dir or default_state_dir()
        self.ledger = Ledger(ledger_path(self.run_id, self.state_dir))
        self.budget = KeyBudget(max_keys_from_environment() if max_keys is None else max_keys, self.ledger)
        self.tag_after_create = tag_after_create
        self.install_handlers = install_handlers
        self.teardown_on_exit = teardown_on_exit
        self.creating_timeout = creating_timeout
        self.poll_interval = poll_interval
        self.stopping = False
        self.result: CleanupResult | None = None
        self._clients = _Clients(session)
        self._owned: set[str] = set()  # key IDs and alias names this run created
        self._untagged: list[KeyRef] = []  # created without a suite tag, TagResource not yet accepted
        self._tag_attempts: dict[KeyRef, int] = {}
        self._lock = threading.RLock()
        self._local = threading.local()
        self._seq = 0
        self._tearing_down = False
        self._interrupts = 0
        self._previous: dict[int, Any] = {}

    # -- context
    def __enter__(self) -> AwsRun:
        register_session_secrets(self.session)
        self.ledger.append(
            "run",
            run_id=self.run_id,
            account=self.account_id,
            regions=list(self.allowed_regions),
            max_keys=self.budget.limit,
            pid=os.getpid(),
        )
        for r in self.ledger.records():  # a resumed run keeps owning what it created before
            if r.get("event") in ("created", "alias") and r.get("key_id"):
                self._owned.add(r["key_id"])
        atexit.register(self._at_exit)
        if self.install_handlers and threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.teardown_on_exit:
                self.teardown()
        finally:
            for signum, handler in self._previous.items():
                with contextlib.suppress(ValueError, TypeError):
                    signal.signal(signum, handler)
            self._previous.clear()
            atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        if self.teardown_on_exit and self.result is None:
            self.teardown()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        if self._tearing_down:
            self._interrupts += 1
            if self._interrupts >= 2:
                raise KeyboardInterrupt
            print(
                f"kms-conformance: scheduling deletion of this run's keys; signal again to abandon "
                f"(then: kms-conformance aws-cleanup --run-id {self.run_id})",
                file=sys.stderr,
            )
            return
        raise KeyboardInterrupt(f"signal {signum}: stopping the aws run {self.run_id}")

    def teardown(self) -> CleanupResult:
        """Schedule deletion of everything this run created; once per run (later calls return the result)."""
        with self._lock:
            if self.result is not None:
                return self.result
            self._tearing_down = True
            self.stopping = True
            try:
                self.result = teardown(
                    self.run_id,
                    self.session,
                    state_dir=self.state_dir,
                    creating_timeout=self.creating_timeout,
                    poll_interval=self.poll_interval,
                )
            finally:
                self._tearing_down = False
            return self.result

    # -- tags for the machine
    def creation_tags(self) -> list[dict[str, str]]:
        return creation_tags(self.run_id)

    def creation_description(self) -> str:
        return creation_description(self.run_id)

    # -- the guard
    def guard(
        self, call: Callable[[str, str, dict[str, Any]], Any], region: str, operation: str, params: Mapping[str, Any]
    ) -> Any:
        """``call(region, operation, params)`` between ``before_call`` and ``after_call``.
        Raises ``CallRefused`` (never calls) when a rail refuses the call."""
        self.before_call(region, operation, params)
        obs = call(region, operation, dict(params))
        self.after_call(obs)
        return obs

    def before_call(self, region: str, operation: str, params: Mapping[str, Any]) -> None:
        """Refuse (``CallRefused``) or let pass; for creations spend the budget and log the intent."""
        self._retry_tagging()
        if operation in OWNERSHIP_CHECKED:
            self._check_owned(region, operation, params)
        if operation not in CREATING_OPERATIONS:
            return
        if self.stopping:
            raise RunStopping(f"the run {self.run_id} is stopping: {operation} refused")
        target = params.get("ReplicaRegion") if operation == "ReplicateKey" else region
        check_region(region, self.allowed_regions)
        if isinstance(target, str):
            check_region(target, self.allowed_regions)
        if operation == "CreateKey" and (params.get("CustomKeyStoreId") or params.get("XksKeyId")):
            raise CallRefused("CreateKey in a custom key store is never made by the suite")
        self.budget.spend(operation)
        with self._lock:
            self._seq += 1
            seq = self._seq
        self._local.seq = seq
        intent: dict[str, Any] = {"op": operation, "seq": seq, "caller": region, "pid": os.getpid()}
        if operation == "ReplicateKey":
            intent.update(region=_normal_region(target), key_id=_key_id_of(params.get("KeyId")))
        else:
            intent.update(region=region)
        self.ledger.append("intent", **intent)

    def after_call(self, obs: ObservationLike) -> None:
        """Record the outcome of a guarded call (fsync'ed before returning), then tag a new key that
        carries no suite tag. Must be called for every call ``before_call`` let pass."""
        if obs.operation in ("CreateAlias",) and obs.kind == "ok":
            alias = obs.params.get("AliasName")
            if isinstance(alias, str):
                self._owned.add(alias)
                self.ledger.append("alias", key_id=alias, region=obs.region)
        if obs.operation not in CREATING_OPERATIONS:
            return
        seq = getattr(self._local, "seq", None)
        self._local.seq = None
        if obs.kind in _NOTHING_CREATED:
            self.ledger.append("nothing", op=obs.operation, seq=seq, kind=obs.kind)
            self.budget.refund(obs.operation)
            return
        if obs.kind != "ok":
            self.ledger.append("unknown", op=obs.operation, seq=seq, kind=obs.kind, **self._where(obs))
            return
        member = "ReplicaKeyMetadata" if obs.operation == "ReplicateKey" else "KeyMetadata"
        meta = obs.response.get(member) or {}
        where = self._where(obs)
        key_id = meta.get("KeyId") or where.get("key_id")
        region = _region_of_arn(meta.get("Arn")) or where["region"]
        role = "REPLICA" if obs.operation == "ReplicateKey" else ("PRIMARY" if meta.get("MultiRegion") else "SINGLE")
        self.ledger.append("created", op=obs.operation, seq=seq, region=region, key_id=key_id, role=role)
        if not key_id:
            return
        self._owned.add(key_id)
        sent = {t.get("TagKey"): t.get("TagValue") for t in obs.params.get("Tags") or [] if isinstance(t, dict)}
        if self.tag_after_create and sent.get(RUN_TAG_KEY) != self.run_id:
            self._tag(KeyRef(region, key_id, role))

    @staticmethod
    def _where(obs: ObservationLike) -> dict[str, Any]:
        if obs.operation == "ReplicateKey":
            return {
                "region": _normal_region(obs.params.get("ReplicaRegion")),
                "key_id": _key_id_of(obs.params.get("KeyId")),
            }
        return {"region": obs.region}

    def _tag(self, ref: KeyRef) -> None:
        """TagResource with the cleanup tag; a replica still Creating may refuse it: retried before
        each later guarded call, up to _TAG_ATTEMPTS times (the ledger covers the key meanwhile)."""
        try:
            self._clients(ref.region).tag_resource(KeyId=ref.key_id, Tags=cleanup_tags(self.run_id))
            self.ledger.append("tagged", region=ref.region, key_id=ref.key_id)
        except (bexc.ClientError, bexc.BotoCoreError) as exc:
            attempts = self._tag_attempts[ref] = self._tag_attempts.get(ref, 0) + 1
            if attempts < _TAG_ATTEMPTS:
                log.info("tagging %s in %s deferred: %s", ref.key_id, ref.region, _short(exc))
                self._untagged.append(ref)
            else:
                self.ledger.append("tag-failed", region=ref.region, key_id=ref.key_id, why=_short(exc))

    def _retry_tagging(self) -> None:
        pending, self._untagged = self._untagged, []
        for ref in pending:
            self._tag(ref)

    def _check_owned(self, region: str, operation: str, params: Mapping[str, Any]) -> None:
        """A key or alias this run did not create may be named only if it does not exist."""
        names = [params.get(p) for p in ("KeyId", "TargetKeyId", "AliasName") if isinstance(params.get(p), str)]
        if operation == "CreateAlias":
            names = [params.get("TargetKeyId")]  # the new alias itself cannot exist yet
        for name in names:
            if not isinstance(name, str) or not name:
                continue
            key_id = _key_id_of(name)
            if (key_id or name) in self._owned:
                continue
            try:
                exists = _describe(self._clients, region, name) is not None
            except bexc.ClientError as exc:
                why = f"its owner cannot be checked ({_code(exc)})"
                raise ForeignKey(f"{operation} on {name!r} refused: {why}") from None
            except bexc.BotoCoreError:
                raise ForeignKey(f"{operation} on {name!r} refused: its owner cannot be checked") from None
            if exists:
                raise ForeignKey(f"{operation} on {name!r} refused: it exists and this run did not create it")


def _normal_region(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in _known_regions():
        return value.strip().lower()
    return value
