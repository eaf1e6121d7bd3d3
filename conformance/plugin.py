"""The pytest plugin that runs the suite: options, the per-worker session, xdist aggregation, reports.

Layer: CLI/plugin (top). Activated with ``-p conformance.plugin`` (the ``kms-conformance`` command
does this). Every option is registered here, in ``pytest_addoption``. Workers ship their event
logs to the controller through xdist's ``workeroutput``; only the controller writes reports, so a
rule that fails on any worker fails.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from conformance.catalogue import Catalogue, load_catalogue
from conformance.events import EventLog, current_log
from conformance.machine import FOCI
from conformance.profiles import PROFILES
from conformance.runner import probe_capabilities, run_machine
from conformance.targets import Target, TargetConfig, TargetConfigError, config_from_environment
from conformance.verdicts import build_report

PROGRESS_KEY = "kms_progress"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kms-conformance")
    group.addoption(
        "--kms-target",
        choices=("moto", "endpoint", "aws"),
        default=None,
        help="implementation to test (default: endpoint if an endpoint URL is set, else moto)",
    )
    group.addoption("--kms-endpoint-url", default=None, help="endpoint URL (implies --kms-target endpoint)")
    group.addoption("--kms-region", default="us-east-1", help="the primary Region")
    group.addoption(
        "--kms-replica-regions",
        default="us-west-2,eu-west-1,ap-southeast-2,ca-central-1",
        help="comma-separated replica Regions",
    )
    group.addoption("--kms-profile", choices=tuple(PROFILES), default="dev", help="Hypothesis budget profile")
    group.addoption("--kms-report-dir", default=None, help="where reports go (default reports/<implementation>)")
    group.addoption("--kms-rules", default="", help="comma-separated rule IDs or groups to check (default: all)")
    group.addoption("--kms-seed", type=int, default=None, help="Hypothesis seed (random when omitted)")
    group.addoption("--kms-implementation", default=None, help="implementation name for the report")
    group.addoption("--kms-implementation-version", default=None, help="implementation version for the report")
    group.addoption("--kms-run-id", default=None, help="run identifier (names and tags carry it)")
    group.addoption("--kms-aws-profile", default=None, help="aws target: the named AWS profile")
    group.addoption("--kms-aws-max-keys", type=int, default=None, help="aws target: keys this run may create")


class SuiteSession:
    """What one pytest process (controller or xdist worker) needs to run the suite."""

    def __init__(self, config: pytest.Config) -> None:
        opt = config.getoption
        self.catalogue: Catalogue = load_catalogue()
        self.profile: str = opt("--kms-profile")
        self.run_id: str = opt("--kms-run-id") or uuid.uuid4().hex[:10]
        self.worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
        seed = opt("--kms-seed")
        self.seed: int | None = (
            seed
            if seed is not None
            else (None if PROFILES[self.profile].derandomize else random.Random(self.run_id).randrange(2**32))
        )
        rules = [r for r in (opt("--kms-rules") or "").split(",") if r.strip()]
        self.selected = frozenset(r.id for r in self.catalogue.select(rules)) if rules else None
        self.target_config = make_target_config(config)
        self.log: EventLog = current_log()
        self._target: Target | None = None
        self._aws_run: Any = None
        self.aws_profile: str | None = opt("--kms-aws-profile")
        self.aws_max_keys: int | None = opt("--kms-aws-max-keys")
        self._unsupported: frozenset[str] | None = None
        self.flaky: set[str] = set()
        self.errors: list[str] = []

    @property
    def target(self) -> Target:
        if self._target is None:
            if self.target_config.kind == "aws":
                self._target = self._aws_target()
            else:
                self._target = Target(self.target_config)
        return self._target

    def _aws_target(self) -> Target:
        """Real AWS, inside the rails: every call guarded, every key in the ledger, teardown at the end.
        The CLI has already checked the opt-in and the account allow-list (``aws_safety.preflight``)."""
        import boto3

        from conformance.aws_safety import AwsRun, recommended_config

        session = boto3.session.Session(profile_name=self.aws_profile)
        cfg = recommended_config(self.target_config)
        self._aws_run = AwsRun(
            session,
            primary_region=cfg.primary_region,
            replica_regions=cfg.replica_regions,
            run_id=self.run_id,
            max_keys=self.aws_max_keys,
        ).__enter__()
        return Target(cfg, guard=self._aws_run, session=session)

    @property
    def unsupported_ops(self) -> frozenset[str]:
        if self._unsupported is None:
            self._unsupported, notes = probe_capabilities(self.target)
            self.log.notes.extend(notes)
            self.log.unsupported_ops.update(self._unsupported)
        return self._unsupported

    def run_focus(self, focus: str) -> list[str]:
        index = FOCI.index(focus) if focus in FOCI else 0
        ctx_seed = None if self.seed is None else self.seed + index
        outcome = run_machine(
            self.target,
            self.catalogue,
            self.log,
            profile=self.profile,
            target_name=implementation_name(self.target_config),
            seed=ctx_seed,
            enabled=self.selected,
            unsupported_ops=self.unsupported_ops,
            nonce=f"{self.run_id}-{self.worker}-{focus}",
            focus=focus,
            run_id=self.run_id,
        )
        self.flaky |= outcome.flaky_rules
        self.errors.extend(outcome.errors)
        return sorted(outcome.failing_rules)

    def run_recorded(self, case_id: str) -> None:
        """Replay one recorded real-AWS case; a failure carries a replay script of the calls made."""
        from conformance.runner import run_recorded_case

        run_recorded_case(
            self.target,
            self.catalogue,
            self.log,
            case_id,
            selected=self.selected,
            name_prefix=f"{self.run_id}-{self.worker}",
        )

    def close(self) -> None:
        if self._aws_run is not None:
            run, self._aws_run = self._aws_run, None
            run.__exit__(None, None, None)  # schedules deletion (7 days) of every key this run created
        if self._target is not None:
            self._target.close()


def make_target_config(config: pytest.Config) -> TargetConfig:
    opt = config.getoption
    regions = tuple(r.strip() for r in opt("--kms-replica-regions").split(",") if r.strip())
    try:
        return config_from_environment(
            opt("--kms-target"),
            endpoint_url=opt("--kms-endpoint-url"),
            primary_region=opt("--kms-region"),
            replica_regions=regions,
            implementation=opt("--kms-implementation") or "",
            implementation_version=opt("--kms-implementation-version") or "",
        )
    except TargetConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def implementation_name(cfg: TargetConfig) -> str:
    if cfg.implementation:
        return cfg.implementation
    if cfg.kind == "moto":
        return "moto"
    return os.environ.get("KMS_CONFORMANCE_IMPLEMENTATION") or cfg.kind


def implementation_version(cfg: TargetConfig) -> str:
    if cfg.implementation_version:
        return cfg.implementation_version
    if cfg.kind == "moto":
        return metadata.version("moto")
    return os.environ.get("KMS_CONFORMANCE_IMPLEMENTATION_VERSION", "")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


_SESSION_KEY = pytest.StashKey[SuiteSession]()
_STARTED_KEY = pytest.StashKey[tuple[str, float]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SESSION_KEY] = SuiteSession(config)
    config.stash[_STARTED_KEY] = (datetime.now(UTC).isoformat(timespec="seconds"), time.monotonic())


@pytest.fixture(scope="session")
def kms_session(pytestconfig: pytest.Config) -> SuiteSession:
    return pytestconfig.stash[_SESSION_KEY]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        session = item.config.stash[_SESSION_KEY]
        tallies = session.log.tallies
        progress = {
            "checked": sorted(rid for rid, t in tallies.items() if t.passes or t.fails),
            "failing": sorted(rid for rid, t in tallies.items() if t.fails),
        }
        report.user_properties.append((PROGRESS_KEY, json.dumps(progress)))


_failing_so_far: set[str] = set()
_checked_so_far: set[str] = set()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Progress on the controller: rules checked and failing so far, across all workers."""
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if key == PROGRESS_KEY:
            progress = json.loads(str(value))
            _checked_so_far.update(progress["checked"])
            _failing_so_far.update(progress["failing"])


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    if report.when == "call" and report.passed:
        total = len(load_catalogue())
        return (
            "passed",
            ".",
            f"done  [rules checked so far: {len(_checked_so_far)}/{total}, failing: {len(_failing_so_far)}]",
        )
    return None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    suite = config.stash[_SESSION_KEY]
    if _is_worker(config):
        config.workeroutput["kms_log"] = json.dumps(suite.log.to_json())  # type: ignore[attr-defined]
        config.workeroutput["kms_flaky"] = json.dumps(sorted(suite.flaky))  # type: ignore[attr-defined]
        config.workeroutput["kms_errors"] = json.dumps(suite.errors)  # type: ignore[attr-defined]
        suite.close()
        return
    suite.close()
    if not session.items and not _merged_workers[0]:
        return
    write_session_report(config, suite, interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)


_merged_workers = [0]


def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist: fold a finished worker's events into the controller's log."""
    output = getattr(node, "workeroutput", {}) or {}
    suite = node.config.stash[_SESSION_KEY]
    if "kms_log" in output:
        suite.log.merge(json.loads(output["kms_log"]))
        suite.flaky.update(json.loads(output.get("kms_flaky", "[]")))
        suite.errors.extend(json.loads(output.get("kms_errors", "[]")))
        _merged_workers[0] += 1


def write_session_report(config: pytest.Config, suite: SuiteSession, *, interrupted: bool) -> Path:
    from hypothesis import __version__ as hypothesis_version

    from conformance.reporting import write_reports

    started_at, started = config.stash[_STARTED_KEY]
    cfg = suite.target_config
    name = implementation_name(cfg)
    report_dir = Path(config.getoption("--kms-report-dir") or Path("reports") / name)
    notes = list(suite.errors)
    if interrupted:
        notes.append("interrupted: the run was stopped early; rules not reached are not-run")
    report = build_report(
        suite.catalogue,
        suite.log,
        target={
            "kind": cfg.kind,
            "endpoint": cfg.endpoint_url,
            "implementation": name,
            "implementation_version": implementation_version(cfg),
            "primary_region": cfg.primary_region,
            "replica_regions": list(cfg.replica_regions),
        },
        hypothesis={
            "profile": suite.profile,
            "seed": suite.seed,
            "version": hypothesis_version,
            "derandomize": PROFILES[suite.profile].derandomize,
        },
        started_at=started_at,
        duration_seconds=time.monotonic() - started,
        selected=suite.selected,
        flaky=suite.flaky,
        notes=notes,
        unsupported_ops=suite.log.unsupported_ops,
    )
    report["run_id"] = suite.run_id
    paths = write_reports(report, report_dir)
    summary = report["summary"]
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    line = (
        f"kms-conformance: {name} {report['target']['implementation_version']}: "
        + ", ".join(f"{k} {v}" for k, v in summary["verdicts"].items())
        + f"; {'conformant' if summary['conformant'] else 'NOT conformant'}; report: {paths['json']}"
    )
    if reporter is not None:
        reporter.write_line(line)
    return paths["json"]
