"""Runs the state machine against a target until every failing rule has its own counterexample.

Layer: state machine. One Hypothesis run stops exploring past the failures it found; so after each
run the rules it caught are muted (still recorded, no longer raised) and the machine runs again,
until a run finds nothing new. Violations of different rules are different exception types, so one
run can shrink several of them at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis.errors import Flaky, HypothesisException
from hypothesis.reporting import with_reporter
from hypothesis.stateful import run_state_machine_as_test

from conformance.aws_safety import CallRefused
from conformance.catalogue import Catalogue, load_catalogue
from conformance.directed import run_scenarios
from conformance.events import EventLog
from conformance.machine import ReplicateKeyMachine, SuiteContext, violation_rules
from conformance.profiles import PROFILES, settings_for
from conformance.targets import Target, TargetConfig

MAX_PASSES = 12

# Each probe: an operation and parameters naming a key that cannot exist. An implementation that
# has the operation answers NotFoundException (or a validation error); one that lacks it says so.
_ABSENT = "mrk-00000000000000000000000000000000"
PROBES: dict[str, dict[str, Any]] = {
    "ReplicateKey": {"KeyId": _ABSENT, "ReplicaRegion": "us-west-2"},
    "UpdatePrimaryRegion": {"KeyId": _ABSENT, "PrimaryRegion": "us-west-2"},
    "ScheduleKeyDeletion": {"KeyId": _ABSENT, "PendingWindowInDays": 7},
    "CancelKeyDeletion": {"KeyId": _ABSENT},
    "TagResource": {"KeyId": _ABSENT, "Tags": [{"TagKey": "k", "TagValue": "v"}]},
    "ListResourceTags": {"KeyId": _ABSENT},
    "PutKeyPolicy": {"KeyId": _ABSENT, "PolicyName": "default", "Policy": "{}"},
    "GetKeyPolicy": {"KeyId": _ABSENT, "PolicyName": "default"},
    "CreateAlias": {"AliasName": "alias/kms-conformance-probe", "TargetKeyId": _ABSENT},
    "EnableKeyRotation": {"KeyId": _ABSENT},
    "DisableKeyRotation": {"KeyId": _ABSENT},
    "GetKeyRotationStatus": {"KeyId": _ABSENT},
    "GenerateMac": {"KeyId": _ABSENT, "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"},
    "VerifyMac": {"KeyId": _ABSENT, "Message": b"m", "MacAlgorithm": "HMAC_SHA_256", "Mac": b"x"},
    "Sign": {"KeyId": _ABSENT, "Message": b"m", "MessageType": "RAW", "SigningAlgorithm": "ECDSA_SHA_256"},
    "Verify": {
        "KeyId": _ABSENT,
        "Message": b"m",
        "MessageType": "RAW",
        "SigningAlgorithm": "ECDSA_SHA_256",
        "Signature": b"x",
    },
    "GetPublicKey": {"KeyId": _ABSENT},
    "GetParametersForImport": {
        "KeyId": _ABSENT,
        "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
        "WrappingKeySpec": "RSA_2048",
    },
    "ImportKeyMaterial": {
        "KeyId": _ABSENT,
        "ImportToken": b"t",
        "EncryptedKeyMaterial": b"m",
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
    },
}


def probe_capabilities(target: Target) -> tuple[frozenset[str], list[str]]:
    """Which operations the target lacks, found once before the machine runs (preconditions stay deterministic)."""
    unsupported: set[str] = set()
    notes: list[str] = []
    region = target.config.primary_region
    for operation, params in PROBES.items():
        try:
            obs = target.call(region, operation, params)
        except CallRefused:
            continue  # a real-AWS rail refused the probe: assume the operation exists
        if obs.kind == "unsupported":
            unsupported.add(operation)
            notes.append(f"{operation}: not implemented by the target ({obs.code or obs.message[:80]})")
    return frozenset(unsupported), notes


@dataclass
class RunOutcome:
    passes: int = 0
    failing_rules: set[str] = field(default_factory=set)
    flaky_rules: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_machine(
    target: Target,
    catalogue: Catalogue,
    log: EventLog,
    *,
    profile: str,
    target_name: str,
    seed: int | None = None,
    enabled: frozenset[str] | None = None,
    unsupported_ops: frozenset[str] = frozenset(),
    examples_share: float = 1.0,
    nonce: str = "",
    run_id: str = "",
    focus: str = "all",
    max_passes: int = MAX_PASSES,
    progress: Callable[[str], None] | None = None,
) -> RunOutcome:
    outcome = RunOutcome()
    started = time.monotonic()
    muted: set[str] = set()
    ctx = SuiteContext(
        target=target,
        catalogue=catalogue,
        log=log,
        enabled=enabled,
        unsupported_ops=unsupported_ops,
        nonce=nonce or "run",
        focus=focus,
        run_id=run_id,
    )

    def collect(line: object) -> None:
        text = str(line)
        if text.startswith("state = "):
            ctx.program_lines.clear()
        ctx.program_lines.append(text)

    def machine_class() -> type[ReplicateKeyMachine]:
        return type("ReplicateKeyMachine", (ReplicateKeyMachine,), {"context": ctx, "__module__": __name__})

    if PROFILES[profile].directed:
        # Scripted scenarios first: what they find fails under every seed, and is muted below.
        try:
            found = run_scenarios(machine_class(), focus)
        except Exception as exc:  # a bug in the suite: reported, never blamed on the target
            outcome.errors.append(f"suite error in a directed scenario: {type(exc).__name__}: {str(exc)[:300]}")
            found = set()
        outcome.failing_rules |= found
        muted |= found
        if progress and found:
            progress(f"directed scenarios: failing rules {', '.join(sorted(found))}")
    for _ in range(max_passes):
        outcome.passes += 1
        ctx.muted = frozenset(muted)
        machine = machine_class()
        if seed is not None:
            machine._hypothesis_internal_use_seed = seed
        settings = settings_for(profile, target_name, examples_share=examples_share)
        try:
            with with_reporter(collect):
                run_state_machine_as_test(machine, settings=settings)
            break
        except Flaky as exc:
            rules = set(violation_rules(exc))
            new = rules - muted
            outcome.flaky_rules |= new
            log.notes.append(
                f"flaky: Hypothesis could not reproduce a failure of {sorted(new) or 'a rule'}: "
                f"{str(exc).splitlines()[0][:200]}"
            )
            if not new:
                break
            muted |= new
        except (AssertionError, BaseExceptionGroup) as exc:
            # Every rule broken in a final (shrunk) replay now has its counterexample.
            rules = set(violation_rules(exc)) | {r for r, t in log.tallies.items() if t.fail is not None}
            new = rules - muted
            if not new:
                outcome.errors.append(f"suite error: {type(exc).__name__}: {str(exc)[:300]}")
                break
            outcome.failing_rules |= new
            muted |= new
            if progress:
                progress(f"pass {outcome.passes}: new failing rules {', '.join(sorted(new))}")
        except HypothesisException as exc:
            outcome.errors.append(f"hypothesis: {type(exc).__name__}: {str(exc)[:300]}")
            break
        except Exception as exc:  # a bug in the suite: reported, never blamed on the target
            outcome.errors.append(f"suite error: {type(exc).__name__}: {str(exc)[:300]}")
            break
    outcome.seconds = time.monotonic() - started
    return outcome


def run_suite(
    config: TargetConfig,
    *,
    profile: str = "ci",
    foci: tuple[str, ...] | None = None,
    rules: tuple[str, ...] = (),
    seed: int | None = None,
    recorded: bool = True,
    catalogue: Catalogue | None = None,
    implementation: str = "",
    implementation_version: str = "",
) -> dict[str, Any]:
    """Run the whole suite in this process, without pytest, and return the report dict.

    For the project's own tests and benchmarks; users run ``kms-conformance run``.
    """
    from datetime import UTC, datetime

    from conformance.machine import FOCI
    from conformance.verdicts import build_report

    catalogue = catalogue or load_catalogue()
    selected = frozenset(r.id for r in catalogue.select(rules)) if rules else None
    log = EventLog()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    flaky: set[str] = set()
    errors: list[str] = []
    with Target(config) as target:
        unsupported, notes = probe_capabilities(target)
        log.notes.extend(notes)
        log.unsupported_ops.update(unsupported)
        for index, focus in enumerate(foci or FOCI):
            outcome = run_machine(
                target,
                catalogue,
                log,
                profile=profile,
                target_name=implementation or config.kind,
                seed=None if seed is None else seed + index,
                enabled=selected,
                unsupported_ops=unsupported,
                nonce=f"t{seed or 0}-{focus}",
                focus=focus,
            )
            flaky |= outcome.flaky_rules
            errors += outcome.errors
        if recorded:
            try:
                from conformance.recorded import recorded_cases
            except ImportError:
                recorded_cases = None  # type: ignore[assignment]
            if recorded_cases is not None:
                for case in recorded_cases():
                    run_recorded_case(target, catalogue, log, case.id, selected=selected, name_prefix=f"t{seed or 0}")
    return build_report(
        catalogue,
        log,
        target={
            "kind": config.kind,
            "endpoint": config.endpoint_url,
            "implementation": implementation or config.kind,
            "implementation_version": implementation_version,
            "primary_region": config.primary_region,
            "replica_regions": list(config.replica_regions),
        },
        hypothesis={"profile": profile, "seed": seed},
        started_at=started_at,
        duration_seconds=time.monotonic() - started,
        selected=selected,
        flaky=flaky,
        notes=errors,
        unsupported_ops=log.unsupported_ops,
    )


class RecordingTarget:
    """A target wrapper that keeps the calls and results, for replay scripts of recorded cases."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self.config = target.config
        self.trace: list[tuple[str, str, dict[str, Any]]] = []
        self.results: list[dict[str, Any]] = []

    def call(self, region: str, operation: str, params: Any) -> Any:
        from conformance.replay import outcome_of

        obs = self._target.call(region, operation, params)
        self.trace.append((region, operation, dict(params)))
        result: dict[str, Any] = dict(obs.response) if obs.ok else {}
        result["_outcome"] = outcome_of(obs.kind, obs.code)
        self.results.append(result)
        return obs


def run_recorded_case(
    target: Target,
    catalogue: Catalogue,
    log: EventLog,
    case_id: str,
    *,
    selected: frozenset[str] | None = None,
    name_prefix: str = "",
) -> None:
    """Replay one recorded real-AWS case; each failure gets the calls made as steps and a replay script."""
    from conformance.checks import Checker
    from conformance.events import CheckEvent
    from conformance.recorded import replay_case
    from conformance.replay import replay_script

    recorder = RecordingTarget(target)
    checker = Checker(catalogue, log, enabled=selected)
    failures: list[CheckEvent] = []
    checker.on_fail = failures.append
    replay_case(case_id, recorder, checker, name_prefix=name_prefix)
    for event in failures:
        script = replay_script(
            recorder.trace,
            target.config,
            rule=event.rule_id,
            expected=event.expected,
            observed=event.observed,
            results=recorder.results,
            observed_outcome=recorder.results[-1]["_outcome"] if recorder.results else "",
        )
        log.record(
            CheckEvent(
                **{
                    **event.__dict__,
                    "program": f"recorded real-AWS case {case_id!r} (conformance/data/aws_recordings.json)",
                    "steps": tuple(f"{op} in {region}: {params}" for region, op, params in recorder.trace),
                    "replay": script,
                }
            )
        )
