"""The state machine: drives a target through boto3 and checks every answer against the model.

Layer: state machine. Bundles hold model-side handles (never raw responses); every rule
(1) asks the model what a correct AWS may answer, (2) calls the target, (3) records a verdict
per catalogue rule via the ``Checker`` and (4) tells the model what happened. Remote
observations (DescribeKey, ListResourceTags, GetKeyPolicy...) are rules of their own.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from conformance import inputs
from conformance.aws_safety import CallRefused, strip_cleanup_tag
from conformance.catalogue import Catalogue
from conformance.checks import Checker, RuleViolation, render, violation_type
from conformance.events import CheckEvent, EventLog
from conformance.model.limits import partition_of
from conformance.model.policy import policies_equal
from conformance.model.world import (
    CREATING,
    DELETION_STATES,
    DISABLED,
    ENABLED,
    PENDING_DELETION,
    PENDING_IMPORT,
    PENDING_REPLICA_DELETION,
    Expectation,
    Family,
    KeyRecord,
    World,
)
from conformance.replay import outcome_of, replay_script
from conformance.targets import MUTATING_OPERATIONS, Observation, Target

# How many primaries a test case may create, per focus: moto's CreateKey costs ~50 ms (an RSA key
# each time), so a focus creates only the keys its rules need.
MAX_FAMILIES = {"validation": 1, "replicate": 2, "lifecycle": 2, "crypto": 3, "all": 3}

# Foci split the machine into independent pytest items (parallel under xdist); "all" runs every rule.
FOCI = ("validation", "replicate", "lifecycle", "crypto")


def step(*foci: str, returns_handle: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run a rule only in its foci, and not at all once the model has lost track of the target.

    After a mutating call answered what the model did not allow (a recorded failure of a rule
    already known to fail), later checks could blame other rules for its consequences, so the
    rest of that test case does nothing.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def guarded(self: ReplicateKeyMachine, *args: Any, **kwargs: Any) -> Any:
            if self.tainted:
                return multiple() if returns_handle else None
            try:
                return fn(self, *args, **kwargs)
            except CallRefused:
                # A real-AWS safety rail refused a call (key budget, unlisted Region, a key not ours):
                # not a verdict; the rest of this test case does nothing.
                self.tainted = True
                return multiple() if returns_handle else None

        if set(foci) >= set(FOCI):
            return guarded
        in_focus = precondition(lambda self: self.ctx.focus == "all" or self.ctx.focus in foci)
        return in_focus(guarded)

    return decorate


@dataclass
class SuiteContext:
    """Everything a machine needs that is not part of a test case: set once per run by the runner."""

    target: Target
    catalogue: Catalogue
    log: EventLog
    muted: frozenset[str] = frozenset()
    enabled: frozenset[str] | None = None
    unsupported_ops: frozenset[str] = frozenset()
    focus: str = "all"
    nonce: str = field(default_factory=lambda: f"{os.getpid():x}")
    run_id: str = ""  # the value of the kms-conformance-run tag on every key the run creates
    counter: int = 0
    program_lines: list[str] = field(default_factory=list)

    def next_name(self) -> str:
        self.counter += 1
        return f"{self.nonce}-{self.counter}"


@dataclass(frozen=True)
class Handle:
    """A model-side reference to a key family (or a single-Region key); printed as a variable name."""

    key_id: str


@dataclass(frozen=True)
class Ciphertext:
    key_id: str
    region: str
    blob: bytes
    plaintext: bytes
    context: tuple[tuple[str, str], ...]
    regions_at_encryption: tuple[str, ...]


class ReplicateKeyMachine(RuleBasedStateMachine):
    """Every documented ReplicateKey behaviour, exercised against one target."""

    context: ClassVar[SuiteContext]
    families = Bundle("families")
    singles = Bundle("singles")
    ciphertexts = Bundle("ciphertexts")

    def __init__(self) -> None:
        super().__init__()
        ctx = type(self).context
        self.ctx = ctx
        self.target = ctx.target
        self.cfg = ctx.target.config
        self.world = World(partition=partition_of(self.cfg.primary_region) or "aws")
        self.trace: list[tuple[str, str, dict[str, Any]]] = []
        self.results: list[dict[str, Any]] = []
        self.fail_points: list[tuple[CheckEvent, int, int]] = []  # (event, calls so far, steps so far)
        self.steps: list[str] = []
        self.checker = Checker(ctx.catalogue, ctx.log, ctx.muted, ctx.enabled, set(ctx.unsupported_ops))
        self.checker.on_fail = self._on_fail
        self.tainted = False
        self.material: dict[str, bytes] = {}
        self.algorithms: dict[str, dict[str, Any]] = {}  # key ID -> observed CreateKey metadata
        self.created_at: dict[tuple[str, str], Any] = {}
        self.created_wall: dict[tuple[str, str], float] = {}  # client clock at CreateKey
        # Set by a directed scenario that waited on purpose after CreateKey: only then is a replica's
        # CreationDate required to be later than the primary's. A gap that happened by itself (a slow
        # machine) must not change what is checked, or one seed would give different verdicts.
        self.waited_after_create = False
        ctx.log.examples += 1

    # ------------------------------------------------------------------ plumbing
    def call(self, region: str, operation: str, **params: Any) -> Observation:
        self.trace.append((region, operation, params))
        self.ctx.log.steps += 1
        obs = self.target.call(region, operation, {k: v for k, v in params.items() if not k.startswith("_")})
        result: dict[str, Any] = dict(obs.response) if obs.ok else {}
        result["_outcome"] = outcome_of(obs.kind, obs.code)
        self.results.append(result)
        return obs

    def expect(
        self,
        expectation: Expectation,
        obs: Observation,
        success_rules: Iterable[str] = (),
        blame: Iterable[str] | None = None,
    ) -> Any:
        """Check one call; if a mutating call disagreed with the model, the model no longer knows the target."""
        if self._state_changed_behind_our_back(obs.region, obs.params, expectation, obs):
            return None
        response = self.checker.outcome(expectation, obs, success_rules, blame)
        if self.checker.diverged and obs.operation in MUTATING_OPERATIONS:
            self.tainted = True
        return response

    @invariant()
    def no_rule_broken_in_this_step(self) -> None:
        event = self.checker.take_pending()
        if event is not None:
            raise violation_type(event.rule_id)(event)

    def _on_fail(self, event: CheckEvent) -> None:
        self.fail_points.append((event, len(self.trace), len(self.steps)))
        tally = self.ctx.log.tallies.get(event.rule_id)
        if tally is not None and tally.raw_fail is not None and not tally.raw_fail.replay:
            # The first failure of a rule keeps its (unshrunk) program, in case no shrunk one ever comes:
            # failures met while Hypothesis shrinks another bug are real, but not replayed as final.
            tally.raw_fail = self._counterexample(event, len(self.trace), len(self.steps))

    def _counterexample(self, event: CheckEvent, n_calls: int, n_steps: int) -> CheckEvent:
        last = self.results[n_calls - 1]["_outcome"] if n_calls else "Success"
        script = replay_script(
            self.trace[:n_calls],
            self.cfg,
            rule=f"{event.rule_id} {self.ctx.catalogue[event.rule_id].title}",
            expected=event.expected,
            observed=event.observed,
            results=self.results[:n_calls],
            observed_outcome=last,
        )
        return CheckEvent(
            rule_id=event.rule_id,
            status="fail",
            expected=event.expected,
            observed=event.observed,
            evidence=event.evidence,
            operation=event.operation,
            steps=tuple(self.steps[:n_steps]),  # what led to the failure, not what came after
            replay=script,
        )

    def supported(self, operation: str) -> bool:
        return operation not in self.checker.unsupported_ops

    def note(self, text: str) -> None:
        self.steps.append(text)

    def teardown(self) -> None:
        if not self.fail_points or not current_build_context().is_final:
            return
        # Only the final (shrunk) replay of a failure carries the program and the replay script.
        self.record_counterexamples("\n".join(self.ctx.program_lines))

    def record_counterexamples(self, program: str | Callable[[int], str]) -> None:
        """Record this test case's failures as final counterexamples; ``program`` is their source (or,
        called with a failure's index in ``fail_points``, gives the source up to that failure)."""
        for index, (event, n_calls, n_steps) in enumerate(self.fail_points):
            if event.rule_id in self.ctx.muted:
                continue
            example = self._counterexample(event, n_calls, n_steps)
            text = program(index) if callable(program) else program
            self.ctx.log.record(CheckEvent(**{**example.__dict__, "program": text}))

    # ------------------------------------------------------------------ helpers
    def _family(self, handle: Handle) -> Family:
        return self.world.families[handle.key_id]

    def _member(self, handle: Handle, pick: int) -> KeyRecord:
        members = self.world.members(self._family(handle))
        return members[pick % len(members)]

    def _create_key(self, params: dict[str, Any]) -> KeyRecord | None:
        region = self.cfg.primary_region
        params = dict(params)
        params.setdefault("Tags", [])
        params["Tags"] = [
            *params["Tags"],
            {"TagKey": "kms-conformance-run", "TagValue": self.ctx.run_id or self.ctx.nonce},
        ]
        obs = self.call(region, "CreateKey", **params)
        self.note(f"CreateKey in {region}: {render(params, 300)} -> {obs.describe()[:120]}")
        if not obs.ok:
            if obs.kind == "error":
                # A refused CreateKey (a key spec the target lacks, a permission) is setup, not a rule:
                # the rules that needed this key stay unchecked.
                self.ctx.log.notes.append(f"CreateKey {render(params, 120)} refused: {obs.code}: {obs.message[:200]}")
                return None
            response = self.expect(Expectation(), obs, ("ERR-002",))
            assert response is None
            return None
        metadata = obs.response.get("KeyMetadata", {})
        if not isinstance(metadata, dict) or "KeyId" not in metadata:
            self.checker.failed("ERR-003", "CreateKey returns KeyMetadata", render(obs.response), operation="CreateKey")
            return None
        record = self.world.apply_create(region, metadata, params)
        self.algorithms[record.key_id] = metadata
        want = PENDING_IMPORT if record.origin == "EXTERNAL" else ENABLED
        state = metadata.get("KeyState")
        self.checker.check(
            "LIFE-015",
            state == want and metadata.get("Enabled") is (want == ENABLED),
            f"KeyState {want} for Origin {record.origin}",
            {"KeyState": state, "Enabled": metadata.get("Enabled")},
            operation="CreateKey",
        )
        if isinstance(state, str) and state != want:
            record.states = {state}  # adopt it: later rules are judged from what the key really is
            record.has_material = state != PENDING_IMPORT
        self.created_at[(region, record.key_id)] = metadata.get("CreationDate")
        self.created_wall[(region, record.key_id)] = time.time()
        if record.multi_region:
            self._check_configuration(record, metadata, "CreateKey")
        else:
            self.checker.check(
                "MRC-006",
                metadata.get("MultiRegion") is False and "MultiRegionConfiguration" not in metadata,
                "MultiRegion false and no MultiRegionConfiguration on a single-Region key",
                {k: metadata.get(k) for k in ("MultiRegion", "MultiRegionConfiguration")},
                operation="CreateKey",
            )
        return record

    def _check_configuration(self, record: KeyRecord, metadata: dict[str, Any], operation: str) -> None:
        expected = self.world.expected_configuration(record)
        assert expected is not None
        observed = metadata.get("MultiRegionConfiguration") or {}
        is_primary = expected["MultiRegionKeyType"] == "PRIMARY"
        type_rule = "MRC-001" if is_primary else "MRC-002"
        self.checker.check(
            "SHARED-012",
            metadata.get("MultiRegion") is True,
            "MultiRegion true",
            metadata.get("MultiRegion"),
            operation=operation,
        )
        self.checker.check(
            type_rule,
            observed.get("MultiRegionKeyType") == expected["MultiRegionKeyType"]
            and observed.get("PrimaryKey") == expected["PrimaryKey"],
            f"{expected['MultiRegionKeyType']} with PrimaryKey {expected['PrimaryKey']}",
            {k: observed.get(k) for k in ("MultiRegionKeyType", "PrimaryKey")},
            operation=operation,
        )
        replicas = observed.get("ReplicaKeys")
        entries = [(e.get("Arn"), e.get("Region")) for e in replicas or [] if isinstance(e, dict)]
        consistent = all(
            isinstance(arn, str) and isinstance(region, str) and f":kms:{region}:" in arn for arn, region in entries
        ) and len(set(entries)) == len(entries)
        self.checker.check(
            "MRC-004",
            isinstance(replicas, list) and consistent,
            "ReplicaKeys entries with agreeing Arn and Region, no duplicates",
            replicas,
            operation=operation,
        )
        listed = sorted(entries, key=str)
        want = [tuple(x) for x in expected["ReplicaKeys"]]
        rule = "MRC-001" if is_primary else "MRC-003"
        self.checker.check(
            rule,
            listed == sorted(want, key=str),
            f"ReplicaKeys = {[r for _, r in want]}",
            [r for _, r in listed],
            operation=operation,
        )

    @property
    def sync_timeout(self) -> float:
        """How long a synchronised property may lag on a related key (AWS syncs asynchronously)."""
        return 0.5 if self.cfg.is_loopback else 60.0

    def _configuration_matches(self, record: KeyRecord, meta: dict[str, Any]) -> bool:
        expected = self.world.expected_configuration(record)
        observed = meta.get("MultiRegionConfiguration") or {}
        if expected is None:
            return True
        listed = sorted(
            (e.get("Arn"), e.get("Region")) for e in observed.get("ReplicaKeys") or [] if isinstance(e, dict)
        )
        return (
            observed.get("MultiRegionKeyType") == expected["MultiRegionKeyType"]
            and observed.get("PrimaryKey") == expected["PrimaryKey"]
            and listed == sorted(tuple(x) for x in expected["ReplicaKeys"])
        )

    def _eventually(self, record: KeyRecord, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """Re-read a key's metadata until ``ok`` holds or the sync bound passes; the last metadata read."""
        deadline = time.monotonic() + self.sync_timeout
        delay = self.cfg.poll_interval
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            obs = self.call(record.region, "DescribeKey", KeyId=record.key_id)
            if not obs.ok:
                return last
            last = obs.response.get("KeyMetadata", {})
            if ok(last):
                return last
        return last

    def _some_region(self, record: KeyRecord) -> str:
        """A replica Region this key's family does not use yet (else the first one)."""
        family = self.world.families.get(record.key_id)
        used = set(family.regions) if family else {record.region}
        free = [r for r in self.cfg.replica_regions if r not in used]
        return free[0] if free else self.cfg.replica_regions[0]

    def _try_crypto(self, record: KeyRecord) -> None:
        """One cheap cryptographic call on a key, judged by its state (LIFE-003/010/011/013)."""
        if record.uncertain:
            return
        if record.key_usage == "ENCRYPT_DECRYPT" and record.key_spec == "SYMMETRIC_DEFAULT":
            obs = self.call(record.region, "Encrypt", KeyId=record.key_id, Plaintext=b"state probe")
        elif record.key_usage == "GENERATE_VERIFY_MAC":
            algorithm = (self.algorithms.get(record.key_id, {}).get("MacAlgorithms") or [None])[0]
            if algorithm is None:
                return
            obs = self.call(record.region, "GenerateMac", KeyId=record.key_id, Message=b"m", MacAlgorithm=algorithm)
        else:
            return
        self.expect(self._crypto_expectation(record), obs, ())

    def _settle(self, record: KeyRecord, *, after: str) -> dict[str, Any] | None:
        """Poll DescribeKey in the key's own Region until it leaves Creating (bounded)."""
        deadline = time.monotonic() + self.cfg.creating_timeout
        delay = self.cfg.poll_interval
        last: dict[str, Any] | None = None
        while True:
            obs = self.call(record.region, "DescribeKey", KeyId=record.key_id)
            if obs.ok:
                last = obs.response.get("KeyMetadata", {})
                if last.get("KeyState") != CREATING:
                    return last
            elif obs.kind == "error" and obs.code == "NotFoundException":
                pass  # eventual consistency: the new replica may not be visible in its Region yet
            elif not obs.ok:
                self.expect(Expectation(), obs, ("LIFE-009",))
                return None
            if time.monotonic() >= deadline:
                self.checker.check(
                    "LIFE-009",
                    False,
                    f"the replica leaves Creating within {self.cfg.creating_timeout:.0f} s after {after}",
                    (last or {}).get("KeyState", "not found"),
                    operation="DescribeKey",
                )
                return None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    # ------------------------------------------------------------------ key creation
    @initialize(target=families, params=inputs.primary_key_params())
    @step("validation", "replicate", "lifecycle", "crypto", returns_handle=True)
    def first_primary(self, params: dict[str, Any]) -> Any:
        handle = self._new_primary(params)
        if isinstance(handle, Handle):
            # Most rules concern related keys: every test case starts with one replica.
            record = self.world.key(self.cfg.primary_region, handle.key_id)
            if record is not None and record.states == {ENABLED}:
                self._replicate(
                    self.cfg.primary_region, {"KeyId": handle.key_id, "ReplicaRegion": self.cfg.replica_regions[0]}
                )
        return handle

    @precondition(lambda self: len(self.world.families) < MAX_FAMILIES.get(self.ctx.focus, 3))
    @rule(target=families, params=inputs.primary_key_params())
    @step("validation", "replicate", "lifecycle", "crypto", returns_handle=True)
    def create_primary(self, params: dict[str, Any]) -> Any:
        return self._new_primary(params)

    def _new_primary(self, params: dict[str, Any]) -> Any:
        record = self._create_key({**params, "MultiRegion": True})
        if record is None:
            return multiple()
        if record.origin == "EXTERNAL":
            self.material[record.key_id] = os.urandom(32)
        return Handle(record.key_id)

    @precondition(lambda self: sum(1 for k in self.world.keys.values() if not k.multi_region) < 1)
    @rule(target=singles)
    @step("validation", returns_handle=True)
    def create_single_region_key(self) -> Any:
        record = self._create_key({"Description": "kms-conformance single-Region key"})
        return multiple() if record is None else Handle(record.key_id)

    # ------------------------------------------------------------------ ReplicateKey
    @rule(
        handle=families,
        region_pick=st.integers(0, 7),
        key_form=st.sampled_from(["id", "arn"]),
        extras=inputs.valid_replicate_extras(),
    )
    @step("validation", "replicate", "lifecycle", "crypto")
    def replicate_key(self, handle: Handle, region_pick: int, key_form: str, extras: dict[str, Any]) -> None:
        family = self._family(handle)
        region = self.cfg.regions[region_pick % len(self.cfg.regions)]
        caller = family.primary_region
        key_id = family.key_id if key_form == "id" else self.world.arn(caller, family.key_id)
        if "Policy" in extras:
            extras = {
                **extras,
                "Policy": inputs.fill(extras["Policy"], self.world.account_id or "", self.world.partition),
            }
        self._replicate(caller, {"KeyId": key_id, "ReplicaRegion": region, **extras})

    @rule(
        handle=families,
        bads=st.sampled_from(inputs.INVALID_GROUPS).flatmap(
            lambda group: st.lists(inputs.invalid_replicate_input(group), min_size=1, max_size=4)
        ),
        region_pick=st.integers(0, 7),
    )
    @step("validation")
    def replicate_key_invalid(self, handle: Handle, bads: list[inputs.BadInput], region_pick: int) -> None:
        for bad in bads:
            self._replicate_invalid(handle, bad, region_pick)
            if self.tainted:
                return

    def _replicate_invalid(self, handle: Handle, bad: inputs.BadInput, region_pick: int) -> None:
        family = self._family(handle)
        caller = family.primary_region
        free = [r for r in self.cfg.replica_regions if r not in family.regions]
        region = free[region_pick % len(free)] if free else self.cfg.replica_regions[0]
        params: dict[str, Any] = {"KeyId": family.key_id, "ReplicaRegion": region}
        params.update(bad.resolve(self.world, caller, family.key_id))
        expectation = self.world.predict_replicate(caller, params)
        if bad.rule_id not in expectation.errors:
            # The strategy's label and the model disagree: a bug in the suite, never the target's.
            self.ctx.log.notes.append(f"suite: {bad.rule_id} input not recognised by the model: {render(params, 200)}")
            return
        self._replicate(caller, params, expectation)

    @precondition(lambda self: any(len(f.regions) > 1 for f in self.world.families.values()))
    @rule(handle=families, pick=st.integers(0, 7), region_pick=st.integers(0, 7))
    @step("validation", "lifecycle")
    def replicate_a_replica(self, handle: Handle, pick: int, region_pick: int) -> None:
        family = self._family(handle)
        replicas = self.world.replicas(family)
        if not replicas:
            return
        replica = replicas[pick % len(replicas)]
        region = self.cfg.regions[region_pick % len(self.cfg.regions)]
        self._replicate(replica.region, {"KeyId": replica.key_id, "ReplicaRegion": region})

    @rule(handle=singles, region_pick=st.integers(0, 7))
    @step("validation")
    def replicate_single_region_key(self, handle: Handle, region_pick: int) -> None:
        region = self.cfg.replica_regions[region_pick % len(self.cfg.replica_regions)]
        self._replicate(self.cfg.primary_region, {"KeyId": handle.key_id, "ReplicaRegion": region})

    def _replicate(self, caller: str, params: dict[str, Any], expectation: Expectation | None = None) -> None:
        expectation = expectation or self.world.predict_replicate(caller, params)
        success_rules = self._replicate_success_rules(params)
        started = time.time()
        obs = self.call(caller, "ReplicateKey", **params)
        self.note(f"ReplicateKey from {caller}: {render(params, 300)} -> {obs.describe()[:160]}")
        if obs.unknown and (obs.http_status or 0) >= 500 and expectation.must_fail:
            # An invalid request answered 5xx: ask once more. Twice is the server, not the network
            # (the retries inside each call make a transient double failure very unlikely).
            # The health probe comes first, so that the repeated request is the last call of the trace
            # (and of the replay script, which then reproduces the 5xx itself).
            healthy = self._target_answers(caller)
            again = self.call(caller, "ReplicateKey", **params)
            if again.unknown and (again.http_status or 0) >= 500 and healthy:
                again.kind = "crash"  # a healthy target that 5xx's this request: its own error
                obs = again
        response = self.expect(expectation, obs, success_rules, self._replicate_blame(params, obs))
        if response is None:
            if obs.unknown and expectation.success_allowed:
                self._resync_after_unknown(caller, params)
            return
        primary, _ = self.world.resolve_key_id(caller, params["KeyId"], aliases_allowed=False)
        assert primary is not None
        replica = self.world.apply_replicate(caller, params)
        if not self._check_replicate_response(primary, replica, params, response, started):
            # The replica is not where or what the model says it is: nothing after this can be judged.
            self.tainted = True
            return
        self._after_replication(primary, replica)

    def _target_answers(self, region: str) -> bool:
        """Whether the target answers a plain read right now (tells a dead target from a failing request)."""
        known = next((k for k in self.world.keys.values() if k.region == region), None)
        if known is None:
            return False
        return self.call(region, "DescribeKey", KeyId=known.key_id).ok

    def _state_changed_behind_our_back(
        self, caller: str, params: dict[str, Any], expectation: Expectation, obs: Observation
    ) -> bool:
        """A refusal for the key's state where the model saw none: if the key's state changed without a
        call on it, that is the deviation (an independent property synchronised), not this call's."""
        if not obs.is_error or obs.code not in ("DisabledException", "KMSInvalidStateException"):
            return False
        accepted = set(expectation.extra_codes)
        for rule_id in expectation.errors:
            accepted |= self.ctx.catalogue[rule_id].error_codes
        if obs.code in accepted or "KeyId" not in params:
            return False
        primary, _ = self.world.resolve_key_id(caller, params.get("KeyId"), aliases_allowed=True)
        if primary is None:
            return False
        probe = self.call(primary.region, "DescribeKey", KeyId=primary.key_id)
        state = probe.response.get("KeyMetadata", {}).get("KeyState") if probe.ok else None
        if not isinstance(state, str) or state in primary.states:
            return False
        self.checker.failed(
            "INDEP-001",
            f"KeyState {sorted(primary.states)}: nothing was done to this key",
            f"{state} (another related key's change reached it); {obs.operation} answered {obs.code}",
            operation="DescribeKey",
        )
        primary.states = {state}
        self.tainted = True
        return True

    @staticmethod
    def _replicate_blame(params: dict[str, Any], obs: Observation) -> tuple[str, ...]:
        """Rules to blame when a ReplicateKey the model allowed fails: the call itself, plus the
        parameter rule its error code points at.

        With a key ARN, the ARN form is blamed (KEYID-002), not REGION-007: an implementation that
        replicates by key ID but not by ARN would otherwise fail REGION-007 only under the seeds
        whose ARN call happened to come first, and pass it under the others.
        """
        by_arn = str(params.get("KeyId", "")).startswith("arn:")
        blamed = ["KEYID-002"] if by_arn else ["KEYID-001", "REGION-007"]
        if obs.code == "TagException" and "Tags" in params:
            blamed.append("TAGS-001")
        elif obs.code == "MalformedPolicyDocumentException" and "Policy" in params:
            blamed.append("POLICY-008" if params.get("BypassPolicyLockoutSafetyCheck") else "POLICY-002")
        return tuple(blamed)

    def _replicate_success_rules(self, params: dict[str, Any]) -> tuple[str, ...]:
        rules = ["KEYID-001" if not str(params.get("KeyId", "")).startswith("arn:") else "KEYID-002", "REGION-007"]
        rules += ["RESP-001", "RESP-002", "RESP-003"]
        rules.append("DESC-002" if "Description" in params else "DESC-001")
        rules.append("POLICY-002" if "Policy" in params else "POLICY-001")
        rules.append("TAGS-007")
        if "Tags" in params:
            rules.append("TAGS-001")
        return tuple(rules)

    def _check_replicate_response(
        self, primary: KeyRecord, replica: KeyRecord, params: dict[str, Any], response: dict[str, Any], started: float
    ) -> bool:
        """Check a ReplicateKey success; False when the replica's identity is not the documented one."""
        c = self.checker
        op = "ReplicateKey"
        meta = response.get("ReplicaKeyMetadata")
        if not isinstance(meta, dict):
            c.failed("RESP-001", "ReplicaKeyMetadata in the response", render(response), operation=op)
            return False
        key_form_rule = "KEYID-002" if str(params["KeyId"]).startswith("arn:") else "KEYID-001"
        c.passed(key_form_rule, op)
        c.passed("REGION-007", op)
        c.check(
            "RESP-001",
            meta.get("KeyId") == replica.key_id
            and meta.get("Arn") == replica.arn
            and meta.get("AWSAccountId") == replica.account_id,
            f"KeyId {replica.key_id}, Arn {replica.arn}, AWSAccountId {replica.account_id}",
            {k: meta.get(k) for k in ("KeyId", "Arn", "AWSAccountId")},
            operation=op,
        )
        final = PENDING_IMPORT if replica.origin == "EXTERNAL" else ENABLED
        state, enabled = meta.get("KeyState"), meta.get("Enabled")
        c.check(
            "RESP-002",
            (state == CREATING and enabled is False) or (state == final and enabled is (final == ENABLED)),
            f"KeyState Creating with Enabled false, or already {final}",
            {"KeyState": state, "Enabled": enabled},
            operation=op,
        )
        c.check(
            "RESP-006",
            meta.get("KeyManager") == "CUSTOMER",
            "KeyManager CUSTOMER",
            meta.get("KeyManager"),
            operation=op,
        )
        self._check_configuration_response(replica, meta)
        created = meta.get("CreationDate")
        primary_created = self.created_at.get((primary.region, primary.key_id))
        made_at = self.created_wall.get((primary.region, primary.key_id))
        if (
            created is not None
            and primary_created is not None
            and made_at is not None
            and self.waited_after_create
            and started - made_at > 1.5
        ):
            # More than a second after the primary was made, the replica's own date must be later.
            c.check(
                "RESP-005",
                created > primary_created,
                f"a CreationDate of its own, after the primary's ({primary_created})",
                str(created),
                operation=op,
            )
        elif created is not None and primary_created is not None:
            c.check(
                "RESP-005",
                created >= primary_created,
                f"CreationDate not before the primary's ({primary_created})",
                str(created),
                operation=op,
            )
        self.created_at[(replica.region, replica.key_id)] = created
        self._check_shared(primary, meta, op)
        if "Description" in params:
            c.check(
                "DESC-002",
                meta.get("Description") == params["Description"],
                "the given Description",
                meta.get("Description"),
                operation=op,
            )
        else:
            c.check(
                "DESC-001",
                meta.get("Description") == "",
                'Description "" (not the primary\'s)',
                meta.get("Description"),
                operation=op,
            )
        if isinstance(meta.get("Description"), str):
            # Adopt what the target did, so a broken DESC-001/002 is not blamed again on DESC-004.
            replica.description = meta["Description"]
        policy = response.get("ReplicaPolicy")
        c.check(
            "POLICY-011", isinstance(policy, str), "ReplicaPolicy as a JSON string", type(policy).__name__, operation=op
        )
        if isinstance(policy, str):
            if "Policy" in params:
                c.check(
                    "POLICY-002",
                    policies_equal(policy, params["Policy"]),
                    "ReplicaPolicy = the given Policy",
                    policy,
                    operation=op,
                )
            else:
                c.check(
                    "POLICY-001",
                    policies_equal(policy, json.dumps(self.world.default_policy())),
                    "the default key policy",
                    policy,
                    operation=op,
                )
        tags = response.get("ReplicaTags")
        given = sorted((t["TagKey"], t["TagValue"]) for t in params.get("Tags", []))
        observed = None if tags is None else sorted((t.get("TagKey"), t.get("TagValue")) for t in tags)
        ok = observed == given if given else observed in (None, [])
        c.check("TAGS-007", ok, f"ReplicaTags {given}" if given else "ReplicaTags absent or []", observed, operation=op)
        if given and any(len(k) in (1, 128) or len(v) in (0, 256) for k, v in given):
            c.passed("TAGS-009", op)
        if "Description" in params and len(params["Description"]) in (0, 8192):
            c.passed("DESC-005", op)
        if params.get("BypassPolicyLockoutSafetyCheck") and "Policy" in params:
            c.passed("POLICY-008", op)
        return meta.get("KeyId") == replica.key_id and meta.get("Arn") == replica.arn

    def _check_configuration_response(self, replica: KeyRecord, meta: dict[str, Any]) -> None:
        """The ReplicateKey response's configuration: REPLICA, PrimaryKey; ReplicaKeys is a SHOULD."""
        c = self.checker
        expected = self.world.expected_configuration(replica)
        assert expected is not None
        observed = meta.get("MultiRegionConfiguration") or {}
        c.check(
            "RESP-003",
            meta.get("MultiRegion") is True
            and observed.get("MultiRegionKeyType") == "REPLICA"
            and observed.get("PrimaryKey") == expected["PrimaryKey"],
            f"MultiRegion true, REPLICA, PrimaryKey {expected['PrimaryKey']}",
            {
                "MultiRegion": meta.get("MultiRegion"),
                **{k: observed.get(k) for k in ("MultiRegionKeyType", "PrimaryKey")},
            },
            operation="ReplicateKey",
        )
        listed = sorted((e.get("Arn"), e.get("Region")) for e in observed.get("ReplicaKeys") or [])
        want = sorted(tuple(x) for x in expected["ReplicaKeys"])
        c.check(
            "RESP-004",
            listed == want,
            f"ReplicaKeys = {[r for _, r in want]}",
            [r for _, r in listed],
            operation="ReplicateKey",
        )

    def _check_shared(self, primary: KeyRecord, meta: dict[str, Any], operation: str) -> None:
        """Shared properties of a related key equal the primary's as observed at creation."""
        reference = self.algorithms.get(primary.key_id, {})
        for rule_id, name in inputs.SHARED_FIELDS:
            want, got = reference.get(name), meta.get(name)
            if name.endswith("Algorithms"):
                want, got = sorted(want or []), sorted(got or [])
            if name == "ExpirationModel" and primary.origin != "EXTERNAL":
                continue
            if name == "CustomerMasterKeySpec" and got is None:
                continue  # deprecated field: absence is not a difference
            self.checker.check(rule_id, want == got, f"{name} = {want!r} (the primary's)", got, operation=operation)

    def _after_replication(self, primary: KeyRecord, replica: KeyRecord) -> None:
        c = self.checker
        # MRC-005: the primary lists the new replica at once.
        obs = self.call(primary.region, "DescribeKey", KeyId=primary.key_id)
        if obs.ok:
            config = obs.response.get("KeyMetadata", {}).get("MultiRegionConfiguration") or {}
            regions = {e.get("Region") for e in config.get("ReplicaKeys") or []}
            c.check(
                "MRC-005",
                replica.region in regions,
                f"the primary lists {replica.region} at once",
                sorted(r for r in regions if r),
                operation="DescribeKey",
            )
        # LIFE-003: while Creating, cryptographic operations fail. Only a symmetric key is tried.
        if CREATING in replica.states and primary.key_spec == "SYMMETRIC_DEFAULT" and replica.origin == "AWS_KMS":
            enc = self.call(replica.region, "Encrypt", KeyId=replica.key_id, Plaintext=b"creating")
            if enc.ok:
                probe = self.call(replica.region, "DescribeKey", KeyId=replica.key_id)
                if probe.ok and probe.response.get("KeyMetadata", {}).get("KeyState") == CREATING:
                    c.failed(
                        "LIFE-003",
                        "KMSInvalidStateException while the replica is Creating",
                        "Encrypt succeeded and the key still reads Creating",
                        operation="Encrypt",
                    )
            elif enc.kind == "error":
                c.check(
                    "LIFE-003",
                    enc.code == "KMSInvalidStateException",
                    "KMSInvalidStateException",
                    enc.describe(),
                    operation="Encrypt",
                )
        metadata = self._settle(replica, after="ReplicateKey")
        if metadata is None:
            return
        final = PENDING_IMPORT if replica.origin == "EXTERNAL" else ENABLED
        rule_id = "LIFE-002" if replica.origin == "EXTERNAL" else "LIFE-001"
        state = metadata.get("KeyState")
        c.check(rule_id, state == final, f"the new replica settles in {final}", state, operation="DescribeKey")
        c.passed("LIFE-009", "DescribeKey")
        if primary.origin == "EXTERNAL":
            c.passed("LIFE-007", "ReplicateKey")
        family = self.world.families[primary.key_id]
        if (
            family.rotation_enabled
            and not family.rotation_uncertain
            and state == ENABLED
            and self.supported("GetKeyRotationStatus")
        ):
            status = self.call(replica.region, "GetKeyRotationStatus", KeyId=replica.key_id)
            response = self.expect(Expectation(), status, ("ROT-004",))
            if response is not None:
                c.check(
                    "ROT-004",
                    response.get("KeyRotationEnabled") is True,
                    "a new replica reports the primary's rotation (enabled)",
                    response.get("KeyRotationEnabled"),
                    operation="GetKeyRotationStatus",
                )
        if isinstance(state, str):
            replica.states = {state}

    def _resync_after_unknown(self, caller: str, params: dict[str, Any]) -> None:
        """After an unknown ReplicateKey outcome, learn from the target whether the replica exists."""
        region = params.get("ReplicaRegion")
        primary, _ = self.world.resolve_key_id(caller, params["KeyId"], aliases_allowed=False)
        if primary is None or not isinstance(region, str):
            return
        obs = self.call(region, "DescribeKey", KeyId=primary.key_id)
        if obs.ok:
            replica = self.world.apply_replicate(caller, params)
            replica.uncertain = True
            self._settle(replica, after="an unknown ReplicateKey outcome")
            state = obs.response.get("KeyMetadata", {}).get("KeyState")
            if isinstance(state, str):
                replica.states = {state}

    # ------------------------------------------------------------------ observations
    @rule(handle=families)
    @step("replicate", "lifecycle", "crypto")
    def describe_related_keys(self, handle: Handle) -> None:
        """DescribeKey every related key from its own Region; check shared, independent, configuration."""
        family = self._family(handle)
        primary = self.world.key(family.primary_region, family.key_id)
        assert primary is not None
        for record in self.world.members(family):
            obs = self.call(record.region, "DescribeKey", KeyId=record.key_id)
            response = self.expect(Expectation(), obs, ("SHARED-001", "LIFE-008"))
            if response is None:
                continue
            meta = response.get("KeyMetadata", {})
            if record.role == "REPLICA" and not self._configuration_matches(record, meta):
                # Replicas learn of configuration changes asynchronously on AWS: wait a bounded time.
                meta = self._eventually(record, functools.partial(self._configuration_matches, record)) or meta
            self.checker.check(
                "SHARED-001",
                meta.get("KeyId") == family.key_id,
                f"KeyId {family.key_id}",
                meta.get("KeyId"),
                operation="DescribeKey",
            )
            self._check_state(record, meta)
            self._check_configuration(record, meta, "DescribeKey")
            self._check_shared(primary, meta, "DescribeKey")
            if not record.uncertain:
                self.checker.check(
                    "DESC-004",
                    meta.get("Description") == record.description,
                    f"Description {record.description[:60]!r} (this key's own)",
                    meta.get("Description"),
                    operation="DescribeKey",
                )

    def _check_state(self, record: KeyRecord, meta: dict[str, Any]) -> None:
        state, enabled = meta.get("KeyState"), meta.get("Enabled")
        self.checker.check(
            "LIFE-008",
            (state == ENABLED) == (enabled is True),
            "Enabled true iff KeyState Enabled",
            {"KeyState": state, "Enabled": enabled},
            operation="DescribeKey",
        )
        if not isinstance(state, str):
            return
        rule_id = "INDEP-001" if record.states & {ENABLED, DISABLED} else "LIFE-008"
        if record.states & DELETION_STATES:
            rule_id = "INDEP-004"
        self.checker.check(
            rule_id, state in record.states, f"KeyState in {sorted(record.states)}", state, operation="DescribeKey"
        )
        # Adopt what the key really is (a difference was just recorded), so the next checks do not
        # blame other rules for the same deviation.
        record.states = {state}

    # ------------------------------------------------------------------ independent properties
    @rule(handle=families, pick=st.integers(0, 7), enable=st.booleans())
    @step("lifecycle", "crypto")
    def set_enabled(self, handle: Handle, pick: int, enable: bool) -> None:
        record = self._member(handle, pick)
        if not record.states <= {ENABLED, DISABLED, *DELETION_STATES} or record.uncertain:
            return
        op = "EnableKey" if enable else "DisableKey"
        errors = {"DEL-006": "the key is pending deletion"} if record.states & DELETION_STATES else {}
        exp = Expectation(errors=errors, success_allowed=not errors)
        obs = self.call(record.region, op, KeyId=record.key_id)
        self.note(f"{op} in {record.region} -> {obs.describe()[:100]}")
        if self.expect(exp, obs, ("LIFE-012",)) is not None:
            record.states = {ENABLED if enable else DISABLED}
            self.checker.passed("LIFE-012", op)
            if not enable:
                # Directed follow-ups: what a Disabled key must refuse (LIFE-004, LIFE-010).
                self._try_crypto(record)
                if record.role == "PRIMARY":
                    self._replicate(record.region, {"KeyId": record.key_id, "ReplicaRegion": self._some_region(record)})
        elif obs.unknown:
            record.states = record.states | {ENABLED if enable else DISABLED}

    @rule(handle=families, pick=st.integers(0, 7), days=st.sampled_from([7, 7, 30, 15, 6, 31]))
    @step("lifecycle")
    def schedule_deletion(self, handle: Handle, pick: int, days: int) -> None:
        if not self.supported("ScheduleKeyDeletion"):
            return
        record = self._member(handle, pick)
        if not record.states <= {ENABLED, DISABLED, *DELETION_STATES} or record.uncertain:
            return
        errors: dict[str, str] = {}
        if not 7 <= days <= 30:
            errors["DEL-004"] = f"PendingWindowInDays {days} outside 7..30"
        if record.states & DELETION_STATES:
            errors["DEL-006"] = "the key is already pending deletion"
        new_state = self.world.schedule_deletion_state(record)
        rule_id = "DEL-001" if new_state == PENDING_REPLICA_DELETION else "DEL-002"
        obs = self.call(record.region, "ScheduleKeyDeletion", KeyId=record.key_id, PendingWindowInDays=days)
        self.note(f"ScheduleKeyDeletion({days} days) in {record.region} -> {obs.describe()[:100]}")
        response = self.expect(Expectation(errors, not errors), obs, (rule_id,))
        if response is None:
            if obs.unknown:
                record.uncertain = True
            elif obs.is_error and "DEL-004" in errors and obs.code == "ValidationException":
                self.checker.passed("DEL-004", "ScheduleKeyDeletion")
            return
        if "DEL-004" not in errors:
            self.checker.passed("DEL-004", "ScheduleKeyDeletion")
        has_date = response.get("DeletionDate") is not None
        if new_state == PENDING_REPLICA_DELETION:
            self.checker.check(
                "DEL-001",
                response.get("KeyState") in (None, PENDING_REPLICA_DELETION) and not has_date,
                "PendingReplicaDeletion with no DeletionDate",
                {"KeyState": response.get("KeyState"), "DeletionDate": response.get("DeletionDate")},
                operation="ScheduleKeyDeletion",
            )
        else:
            self.checker.check(
                "DEL-002",
                response.get("KeyState") in (None, PENDING_DELETION) and has_date,
                "PendingDeletion with a DeletionDate",
                {"KeyState": response.get("KeyState"), "DeletionDate": response.get("DeletionDate")},
                operation="ScheduleKeyDeletion",
            )
        observed_state = response.get("KeyState")
        record.states = {observed_state if isinstance(observed_state, str) else new_state}
        # Directed follow-ups: a key pending deletion refuses cryptography (LIFE-011) and replication
        # (LIFE-005); its Region stays occupied for the family (REGION-006, DEL-007).
        self._try_crypto(record)
        family = self.world.families[record.key_id]
        primary = self.world.key(family.primary_region, family.key_id)
        if record.role == "REPLICA" and primary is not None and not primary.uncertain:
            self._replicate(primary.region, {"KeyId": primary.key_id, "ReplicaRegion": record.region})
            self.checker.passed("DEL-007", "ReplicateKey") if not self.checker.pending else None
        elif record.role == "PRIMARY":
            self._replicate(record.region, {"KeyId": record.key_id, "ReplicaRegion": self._some_region(record)})

    @rule(handle=families, pick=st.integers(0, 7))
    @step("lifecycle")
    def cancel_deletion(self, handle: Handle, pick: int) -> None:
        record = self._member(handle, pick)
        if not record.states <= DELETION_STATES or record.uncertain or not self.supported("CancelKeyDeletion"):
            return
        obs = self.call(record.region, "CancelKeyDeletion", KeyId=record.key_id)
        self.note(f"CancelKeyDeletion in {record.region} -> {obs.describe()[:100]}")
        if self.expect(Expectation(), obs, ("DEL-003",)) is None:
            if obs.unknown:
                record.uncertain = True
            return
        record.states = {DISABLED}
        meta = self.call(record.region, "DescribeKey", KeyId=record.key_id)
        if meta.ok:
            state = meta.response.get("KeyMetadata", {}).get("KeyState")
            self.checker.check(
                "DEL-003", state == DISABLED, "Disabled after CancelKeyDeletion", state, operation="DescribeKey"
            )
            if isinstance(state, str):
                record.states = {state}  # a difference was just recorded: later checks must not blame it again
            self._check_others_still_pending_deletion(handle, record)

    def _check_others_still_pending_deletion(self, handle: Handle, cancelled: KeyRecord) -> None:
        """INDEP-005: a CancelKeyDeletion leaves every other related key's pending deletion alone."""
        for other in self.world.members(self._family(handle)):
            if other.region == cancelled.region or other.uncertain or not other.states <= DELETION_STATES:
                continue
            meta = self.call(other.region, "DescribeKey", KeyId=other.key_id)
            state = meta.response.get("KeyMetadata", {}).get("KeyState") if meta.ok else None
            if not isinstance(state, str):
                continue
            self.checker.check(
                "INDEP-005",
                state in other.states,
                f"KeyState {sorted(other.states)} (CancelKeyDeletion was on the key in {cancelled.region})",
                state,
                operation="DescribeKey",
            )
            other.states = {state}
        self.checker.passed("INDEP-005", "CancelKeyDeletion")

    @rule(handle=families, pick=st.integers(0, 7), text=inputs.descriptions())
    @step("replicate", "lifecycle")
    def update_description(self, handle: Handle, pick: int, text: str) -> None:
        record = self._member(handle, pick)
        if record.uncertain or record.states & DELETION_STATES:
            return
        obs = self.call(record.region, "UpdateKeyDescription", KeyId=record.key_id, Description=text)
        if self.expect(Expectation(), obs, ("DESC-004",)) is not None:
            record.description = text
        elif obs.unknown:
            record.uncertain = True

    @rule(handle=families, pick=st.integers(0, 7), tags=inputs.tag_lists(min_size=1, max_size=3))
    @step("replicate", "lifecycle")
    def tag_key(self, handle: Handle, pick: int, tags: list[dict[str, str]]) -> None:
        record = self._member(handle, pick)
        if record.uncertain or record.states & DELETION_STATES or not self.supported("TagResource"):
            return
        errors: dict[str, str] = {}
        if len(set(record.tags) | {t["TagKey"] for t in tags}) > 50:
            errors["TAGS-004"] = "the key would have more than 50 tags"
        obs = self.call(record.region, "TagResource", KeyId=record.key_id, Tags=tags)
        if self.expect(Expectation(errors, not errors), obs, ("TAGS-008",)) is not None:
            record.tags.update({t["TagKey"]: t["TagValue"] for t in tags})
        elif obs.unknown:
            record.uncertain = True

    @rule(handle=families)
    @step("replicate", "lifecycle")
    def list_tags_of_related_keys(self, handle: Handle) -> None:
        if not self.supported("ListResourceTags"):
            return
        for record in self.world.members(self._family(handle)):
            if record.uncertain:
                continue
            obs = self.call(record.region, "ListResourceTags", KeyId=record.key_id)
            response = self.expect(Expectation(), obs, ("TAGS-008",))
            if response is None:
                continue
            got = strip_cleanup_tag({t.get("TagKey"): t.get("TagValue") for t in response.get("Tags", [])})
            want = dict(record.tags)  # the run tag is among a primary's own tags since CreateKey
            # Tags another related key has, and this one should not: synchronised tags (TAGS-008).
            others = [k for k in self.world.members(self._family(handle)) if k.region != record.region]
            leaked = {k: v for k, v in got.items() if k not in want and any(o.tags.get(k) == v for o in others)}
            own = {k: v for k, v in got.items() if k not in leaked}
            rule_id = "TAGS-008" if "kms-conformance-run" in want else "TAGS-001"
            self.checker.check(rule_id, own == want, f"this key's own tags {want}", own, operation="ListResourceTags")
            self.checker.check(
                "TAGS-008", not leaked, "no tags copied from related keys", leaked, operation="ListResourceTags"
            )

    @rule(handle=families, pick=st.integers(0, 7), policy=inputs.safe_policies())
    @step("replicate", "lifecycle")
    def put_key_policy(self, handle: Handle, pick: int, policy: str) -> None:
        record = self._member(handle, pick)
        if record.uncertain or record.states & DELETION_STATES or not self.supported("PutKeyPolicy"):
            return
        policy = inputs.fill(policy, self.world.account_id or "", self.world.partition)
        obs = self.call(record.region, "PutKeyPolicy", KeyId=record.key_id, PolicyName="default", Policy=policy)
        if (
            self.expect(Expectation(extra_codes=frozenset({"MalformedPolicyDocumentException"})), obs, ("POLICY-010",))
            is not None
        ):
            record.policy = policy
        elif obs.unknown:
            record.uncertain = True

    @rule(handle=families)
    @step("replicate", "lifecycle")
    def get_policies_of_related_keys(self, handle: Handle) -> None:
        if not self.supported("GetKeyPolicy"):
            return
        for record in self.world.members(self._family(handle)):
            if record.uncertain:
                continue
            obs = self.call(record.region, "GetKeyPolicy", KeyId=record.key_id, PolicyName="default")
            response = self.expect(Expectation(), obs, ("POLICY-010",))
            if response is None:
                continue
            want = record.policy if record.policy is not None else json.dumps(self.world.default_policy())
            got = response.get("Policy", "")
            rule_id = "POLICY-010"
            if record.role == "REPLICA" and record.policy is None:
                rule_id = "POLICY-001"
            self.checker.check(
                rule_id, policies_equal(str(got), want), "this key's own policy", got, operation="GetKeyPolicy"
            )

    # ------------------------------------------------------------------ aliases
    @rule(handle=families, pick=st.integers(0, 7))
    @step("validation")
    def alias_in_one_region(self, handle: Handle, pick: int) -> None:
        record = self._member(handle, pick)
        if record.uncertain or not self.supported("CreateAlias"):
            return
        name = f"alias/kms-conformance-{self.ctx.next_name()}"
        obs = self.call(record.region, "CreateAlias", AliasName=name, TargetKeyId=record.key_id)
        if self.expect(Expectation(), obs, ("ALIAS-001",)) is None:
            return
        self.world.aliases[(record.region, name)] = record.key_id
        for other in self.world.members(self._family(handle)):
            if other.region == record.region:
                continue
            found = self.call(other.region, "DescribeKey", KeyId=name)
            self.expect(
                Expectation(errors={"ALIAS-002": f"{name} exists only in {record.region}"}, success_allowed=False),
                found,
                (),
            )
            if found.is_error and found.code == "NotFoundException":
                self.checker.passed("ALIAS-001", "DescribeKey")
                self.checker.passed("INDEP-002", "DescribeKey")
            elif found.ok:
                self.checker.failed(
                    "ALIAS-001",
                    f"{name} not visible in {other.region}",
                    "the alias resolved",
                    render(found.response),
                    "DescribeKey",
                )
            break
        # ReplicateKey never accepts an alias, even one that exists.
        if record.role == "PRIMARY":
            self._replicate(record.region, {"KeyId": name, "ReplicaRegion": self.cfg.replica_regions[0]})

    # ------------------------------------------------------------------ UpdatePrimaryRegion
    @precondition(lambda self: any(len(f.regions) > 1 for f in self.world.families.values()))
    @rule(handle=families, pick=st.integers(0, 7), region_pick=st.integers(0, 7))
    @step("lifecycle")
    def update_primary_region(self, handle: Handle, pick: int, region_pick: int) -> None:
        if not self.supported("UpdatePrimaryRegion"):
            return
        family = self._family(handle)
        members = self.world.members(family)
        if any(m.uncertain or not m.states <= {ENABLED, DISABLED} for m in members):
            return
        caller = members[pick % len(members)]
        # Half the picks land on a Region of the family, where a swap is possible.
        choices = [*family.regions, *self.cfg.regions]
        target_region = choices[region_pick % len(choices)]
        errors: dict[str, str] = {}
        if caller.role == "REPLICA":
            errors["PRIMARY-004"] = "called on a replica"
        elif target_region not in family.regions:
            errors["PRIMARY-003"] = f"no replica in {target_region}"
        obs = self.call(caller.region, "UpdatePrimaryRegion", KeyId=caller.key_id, PrimaryRegion=target_region)
        self.note(f"UpdatePrimaryRegion from {caller.region} to {target_region} -> {obs.describe()[:100]}")
        success_rule = "PRIMARY-005" if target_region == family.primary_region else "PRIMARY-001"
        # With a Disabled key involved, AWS documents no answer: refusing (DisabledException) is accepted too.
        loose = frozenset({"DisabledException"}) if any(DISABLED in m.states for m in members) else frozenset()
        response = self.expect(Expectation(errors, not errors, loose), obs, (success_rule,))
        if response is None:
            if obs.unknown:
                for m in members:
                    m.uncertain = True
            return
        if target_region == family.primary_region:
            self.checker.passed("PRIMARY-005", "UpdatePrimaryRegion")
            return
        previous = {m.region: set(m.states) for m in members}
        for m in members:
            # What each key really was before the update (a drift is INDEP-001's, not PRIMARY-007's).
            before = self.call(m.region, "DescribeKey", KeyId=m.key_id)
            state = before.response.get("KeyMetadata", {}).get("KeyState") if before.ok else None
            if isinstance(state, str) and state not in ("Updating", *previous[m.region]):
                self.checker.failed(
                    "INDEP-001",
                    f"KeyState {sorted(previous[m.region])}: nothing was done to this key",
                    f"{state} before UpdatePrimaryRegion",
                    operation="DescribeKey",
                )
            if isinstance(state, str) and state != "Updating":
                previous[m.region] = {state}
        old_region = family.primary_region
        self.world.update_primary(family, target_region)
        for m in members:
            metadata = self._settle_updating(m)
            if metadata is None:
                continue
            state = metadata.get("KeyState")
            self.checker.check(
                "PRIMARY-007",
                state in previous[m.region],
                f"back to {sorted(previous[m.region])} after Updating",
                state,
                operation="DescribeKey",
            )
            self._check_configuration(m, metadata, "DescribeKey")
            observed = (metadata.get("MultiRegionConfiguration") or {}).get("PrimaryKey", {}).get("Region")
            self.checker.check(
                "PRIMARY-001" if m.region in (old_region, target_region) else "PRIMARY-002",
                observed == target_region,
                f"PrimaryKey Region {target_region}",
                observed,
                operation="DescribeKey",
            )
        # PRIMARY-006: the old primary can no longer replicate.
        free = [r for r in self.cfg.regions if r not in family.regions]
        if free:
            self._replicate(old_region, {"KeyId": family.key_id, "ReplicaRegion": free[0]})

    def _settle_updating(self, record: KeyRecord) -> dict[str, Any] | None:
        deadline = time.monotonic() + self.cfg.creating_timeout
        delay = self.cfg.poll_interval
        while True:
            obs = self.call(record.region, "DescribeKey", KeyId=record.key_id)
            if not obs.ok:
                self.expect(Expectation(), obs, ("PRIMARY-007",))
                return None
            meta = obs.response.get("KeyMetadata", {})
            if meta.get("KeyState") != "Updating" or time.monotonic() >= deadline:
                return dict(meta)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    # ------------------------------------------------------------------ rotation
    @rule(handle=families, pick=st.integers(0, 7), enable=st.booleans())
    @step("lifecycle", "crypto")
    def set_rotation(self, handle: Handle, pick: int, enable: bool) -> None:
        family = self._family(handle)
        record = self._member(handle, pick)
        op = "EnableKeyRotation" if enable else "DisableKeyRotation"
        if not self.supported(op) or record.uncertain or record.states != {ENABLED}:
            return
        errors: dict[str, str] = {}
        if record.role == "REPLICA":
            errors["ROT-001" if enable else "ROT-002"] = "rotation is managed on the primary"
        elif record.key_spec != "SYMMETRIC_DEFAULT" and enable:
            errors["ROT-005"] = f"automatic rotation is not supported for {record.key_spec}"
        # Disabling rotation of an asymmetric/HMAC key, or rotating imported material: AWS's answer is
        # not pinned down by a rule; both outcomes are accepted and the model stops tracking rotation.
        loose = record.key_spec != "SYMMETRIC_DEFAULT" or record.origin != "AWS_KMS"
        obs = self.call(record.region, op, KeyId=record.key_id)
        self.note(f"{op} in {record.region} -> {obs.describe()[:100]}")
        expectation = Expectation(
            errors, not errors, frozenset({"UnsupportedOperationException"}) if loose else frozenset()
        )
        if loose and not errors:
            self.expect(expectation, obs, ())
            return
        if self.expect(expectation, obs, ("SHARED-009",)) is not None:
            family.rotation_enabled = enable
        elif obs.unknown:
            family.rotation_uncertain = True

    @rule(handle=families)
    @step("lifecycle", "crypto")
    def rotation_status_of_related_keys(self, handle: Handle) -> None:
        family = self._family(handle)
        if not self.supported("GetKeyRotationStatus") or family.rotation_uncertain:
            return
        for record in self.world.members(family):
            if record.key_spec != "SYMMETRIC_DEFAULT" or record.origin != "AWS_KMS" or record.states != {ENABLED}:
                continue
            obs = self.call(record.region, "GetKeyRotationStatus", KeyId=record.key_id)
            response = self.expect(Expectation(), obs, ("SHARED-009",))
            if response is None:
                continue
            got = response.get("KeyRotationEnabled")
            deadline = time.monotonic() + self.sync_timeout
            while got is not family.rotation_enabled and record.role == "REPLICA" and time.monotonic() < deadline:
                time.sleep(self.cfg.poll_interval)  # the primary's setting reaches replicas asynchronously
                again = self.call(record.region, "GetKeyRotationStatus", KeyId=record.key_id)
                if not again.ok:
                    break
                got = again.response.get("KeyRotationEnabled")
            rule_id = "ROT-003" if record.role == "REPLICA" else "SHARED-009"
            self.checker.check(
                rule_id,
                got is family.rotation_enabled,
                f"KeyRotationEnabled {family.rotation_enabled} (the primary's setting)",
                got,
                operation="GetKeyRotationStatus",
            )
            if record.role == "REPLICA" and got is family.rotation_enabled:
                self.checker.passed("SHARED-009", "GetKeyRotationStatus")

    # ------------------------------------------------------------------ cryptography across Regions
    def _crypto_expectation(self, record: KeyRecord) -> Expectation:
        errors: dict[str, str] = {}
        if DISABLED in record.states:
            errors["LIFE-010"] = "the key is Disabled"
        if record.states & DELETION_STATES:
            errors["LIFE-011"] = "the key is pending deletion"
        if PENDING_IMPORT in record.states:
            errors["LIFE-013"] = "the key has no key material yet"
        if CREATING in record.states:
            errors["LIFE-003"] = "the key is Creating"
        usable = ENABLED in record.states
        return Expectation(errors=errors, success_allowed=usable)

    @rule(
        target=ciphertexts,
        handle=families,
        pick=st.integers(0, 7),
        plaintext=st.binary(min_size=1, max_size=64),
        context=inputs.encryption_contexts(),
    )
    @step("crypto", returns_handle=True)
    def encrypt(self, handle: Handle, pick: int, plaintext: bytes, context: dict[str, str]) -> Any:
        record = self._member(handle, pick)
        if record.key_usage != "ENCRYPT_DECRYPT" or record.uncertain or not self.supported("Encrypt"):
            return multiple()
        params: dict[str, Any] = {"KeyId": record.key_id, "Plaintext": plaintext}
        if record.key_spec == "SYMMETRIC_DEFAULT":
            if context:
                params["EncryptionContext"] = context
        else:
            params["EncryptionAlgorithm"] = "RSAES_OAEP_SHA_256"
            params["Plaintext"] = plaintext[:32]
        obs = self.call(record.region, "Encrypt", **params)
        response = self.expect(self._crypto_expectation(record), obs, ("CRYPTO-001",))
        if response is None or not isinstance(response.get("CiphertextBlob"), bytes):
            return multiple()
        family = self._family(handle)
        return Ciphertext(
            record.key_id,
            record.region,
            response["CiphertextBlob"],
            params["Plaintext"],
            tuple(sorted(params.get("EncryptionContext", {}).items())),
            tuple(family.regions),
        )

    @rule(
        ct=ciphertexts,
        pick=st.integers(0, 7),
        variant=st.sampled_from(["same", "same", "other-context", "primary-arn"]),
    )
    @step("crypto")
    def decrypt_elsewhere(self, ct: Ciphertext, pick: int, variant: str) -> None:
        family = self.world.families.get(ct.key_id)
        if family is None or not self.supported("Decrypt"):
            return
        record = self._member(Handle(ct.key_id), pick)
        if record.uncertain:
            return
        params: dict[str, Any] = {"CiphertextBlob": ct.blob, "KeyId": record.key_id}
        if record.key_spec != "SYMMETRIC_DEFAULT":
            params["EncryptionAlgorithm"] = "RSAES_OAEP_SHA_256"
        context = dict(ct.context)
        expectation = self._crypto_expectation(record)
        success_rules: tuple[str, ...]
        if record.region not in ct.regions_at_encryption:
            success_rules = ("CRYPTO-003",)
        elif ct.region == family.primary_region:
            success_rules = ("CRYPTO-001",)
        else:
            success_rules = ("CRYPTO-002",)
        if variant == "other-context" and record.key_spec == "SYMMETRIC_DEFAULT":
            context = {**context, "kms-conformance": "other"}
            if expectation.success_allowed:
                expectation = Expectation(
                    errors={"CRYPTO-009": "the encryption context differs"}, success_allowed=False
                )
        elif (
            variant == "primary-arn"
            and record.region != family.primary_region
            and record.key_spec == "SYMMETRIC_DEFAULT"
        ):
            params["KeyId"] = self.world.arn(family.primary_region, ct.key_id)
            if expectation.success_allowed:
                expectation = Expectation(
                    errors={"CRYPTO-007": "KeyId is the primary's ARN in a replica's Region"}, success_allowed=False
                )
        if context and record.key_spec == "SYMMETRIC_DEFAULT":
            params["EncryptionContext"] = context
        obs = self.call(record.region, "Decrypt", **params)
        self.note(f"Decrypt in {record.region} of a ciphertext from {ct.region} ({variant}) -> {obs.describe()[:80]}")
        response = self.expect(expectation, obs, success_rules)
        if response is None:
            return
        got = response.get("Plaintext")
        ok = got == ct.plaintext
        for rule_id in success_rules:
            self.checker.check(
                rule_id,
                ok,
                "the original plaintext",
                f"{len(got or b'')} bytes that differ" if not ok else "",
                operation="Decrypt",
            )
        self.checker.check(
            "SHARED-011",
            ok,
            "the same key material in every related key",
            "plaintext differs" if not ok else "",
            operation="Decrypt",
        )

    @rule(
        handle=families,
        pick=st.integers(0, 7),
        plaintext=st.binary(min_size=1, max_size=64),
        context=inputs.encryption_contexts(),
        variant=st.sampled_from(["same", "other-context", "primary-arn"]),
    )
    @step("crypto")
    def encrypt_then_decrypt_everywhere(
        self, handle: Handle, pick: int, plaintext: bytes, context: dict[str, str], variant: str
    ) -> None:
        """Encrypt with one related key; decrypt with every other (CRYPTO-001/002, 007, 009)."""
        made = self.encrypt.__wrapped__(self, handle, pick, plaintext, context)  # type: ignore[attr-defined]
        if not isinstance(made, Ciphertext):
            return
        for index, _ in enumerate(self.world.members(self._family(handle))):
            if self.tainted:
                return
            self.decrypt_elsewhere.__wrapped__(self, made, index, variant if index == 0 else "same")  # type: ignore[attr-defined]

    @rule(handle=families, pick=st.integers(0, 7))
    @step("crypto")
    def data_key_everywhere(self, handle: Handle, pick: int) -> None:
        """A data key made in one Region decrypts in every related Region (CRYPTO-008)."""
        record = self._member(handle, pick)
        if record.key_spec != "SYMMETRIC_DEFAULT" or record.uncertain or not self.supported("GenerateDataKey"):
            return
        obs = self.call(record.region, "GenerateDataKey", KeyId=record.key_id, KeySpec="AES_256")
        response = self.expect(self._crypto_expectation(record), obs, ("CRYPTO-008",))
        if response is None:
            return
        for other in self.world.members(self._family(handle)):
            if other.region == record.region or other.uncertain or other.states != {ENABLED}:
                continue
            result = self.call(other.region, "Decrypt", CiphertextBlob=response["CiphertextBlob"], KeyId=other.key_id)
            decrypted = self.expect(Expectation(), result, ("CRYPTO-008",))
            if decrypted is not None:
                self.checker.check(
                    "CRYPTO-008",
                    decrypted.get("Plaintext") == response["Plaintext"],
                    f"the data key from {record.region}",
                    "different bytes",
                    operation="Decrypt",
                )

    @rule(handle=families, pick=st.integers(0, 7), message=st.binary(min_size=1, max_size=64))
    @step("crypto")
    def mac_or_sign_everywhere(self, handle: Handle, pick: int, message: bytes) -> None:
        """Make a MAC or signature with one related key; verify it with every other."""
        record = self._member(handle, pick)
        meta = self.algorithms.get(record.key_id, {})
        if record.key_usage == "GENERATE_VERIFY_MAC":
            make_op, check_op, rule_id = "GenerateMac", "VerifyMac", "CRYPTO-004"
            algorithm = (meta.get("MacAlgorithms") or [None])[0]
        elif record.key_usage == "SIGN_VERIFY":
            make_op, check_op, rule_id = "Sign", "Verify", "CRYPTO-005"
            algorithm = (meta.get("SigningAlgorithms") or [None])[0]
        else:
            return
        if algorithm is None or not self.supported(make_op) or record.uncertain:
            return
        if make_op == "GenerateMac":
            params: dict[str, Any] = {"KeyId": record.key_id, "Message": message, "MacAlgorithm": algorithm}
        else:
            params = {"KeyId": record.key_id, "Message": message, "MessageType": "RAW", "SigningAlgorithm": algorithm}
        obs = self.call(record.region, make_op, **params)
        response = self.expect(self._crypto_expectation(record), obs, (rule_id,))
        if response is None:
            return
        token = response.get("Mac") if make_op == "GenerateMac" else response.get("Signature")
        if not isinstance(token, bytes):
            self.checker.failed("ERR-003", f"{make_op} returns bytes", render(response), operation=make_op)
            return
        for other in self.world.members(self._family(handle)):
            if other.region == record.region or other.uncertain or other.states != {ENABLED}:
                continue
            if make_op == "GenerateMac":
                verify = {"KeyId": other.key_id, "Message": message, "MacAlgorithm": algorithm, "Mac": token}
            else:
                verify = {
                    "KeyId": other.key_id,
                    "Message": message,
                    "MessageType": "RAW",
                    "SigningAlgorithm": algorithm,
                    "Signature": token,
                }
            result = self.call(other.region, check_op, **verify)
            response = self.expect(Expectation(), result, (rule_id,))
            if response is None:
                continue
            valid = response.get("MacValid") if make_op == "GenerateMac" else response.get("SignatureValid")
            self.checker.check(
                rule_id,
                valid is True,
                f"{check_op} in {other.region} accepts a {make_op} result from {record.region}",
                valid,
                operation=check_op,
            )
            self.checker.check(
                "SHARED-011", valid is True, "the same key material in every related key", valid, operation=check_op
            )

    @rule(handle=families)
    @step("crypto")
    def public_keys_of_related_keys(self, handle: Handle) -> None:
        family = self._family(handle)
        primary = self.world.key(family.primary_region, family.key_id)
        if primary is None or primary.key_spec.startswith(("SYMMETRIC", "HMAC")) or not self.supported("GetPublicKey"):
            return
        keys: dict[str, Any] = {}
        for record in self.world.members(family):
            if record.states != {ENABLED} or record.uncertain:
                continue
            obs = self.call(record.region, "GetPublicKey", KeyId=record.key_id)
            response = self.expect(self._crypto_expectation(record), obs, ("CRYPTO-006",))
            if response is not None:
                keys[record.region] = response.get("PublicKey")
        if len(keys) > 1:
            values = list(keys.values())
            self.checker.check(
                "CRYPTO-006",
                all(v == values[0] for v in values),
                "one public key in every Region",
                {r: base64.b64encode(v or b"").decode()[:24] for r, v in keys.items()},
                operation="GetPublicKey",
            )

    # ------------------------------------------------------------------ imported key material
    @rule(handle=families, pick=st.integers(0, 7), wrong=st.booleans())
    @step("crypto", "lifecycle")
    def import_key_material(self, handle: Handle, pick: int, wrong: bool) -> None:
        record = self._member(handle, pick)
        family = self._family(handle)
        if self._import(record, family, wrong) and record.role == "PRIMARY":
            # Directed follow-up: replicate the imported primary (LIFE-007, LIFE-002), then import into
            # the replica: different material first (IMPORT-003), then the primary's (IMPORT-001/002).
            region = self._some_region(record)
            if region in family.regions:
                return
            self._replicate(record.region, {"KeyId": record.key_id, "ReplicaRegion": region})
            replica = self.world.key(region, record.key_id)
            if replica is not None and not self.tainted:
                self._import(replica, family, True)
                if not self.tainted:
                    self._import(replica, family, False)

    def _import(self, record: KeyRecord, family: Family, wrong: bool) -> bool:
        """Import key material into a key pending import; True when it was imported."""
        if record.origin != "EXTERNAL" or record.uncertain or record.states != {PENDING_IMPORT}:
            return False
        if not self.supported("GetParametersForImport") or not self.supported("ImportKeyMaterial"):
            return False
        primary = self.world.key(family.primary_region, family.key_id)
        is_replica = record.role == "REPLICA"
        if not is_replica:
            wrong = False  # the first import defines the family's material
        elif primary is None or not primary.has_material:
            return False
        material = os.urandom(32) if wrong else self.material[family.key_id]
        obs = self.call(
            record.region,
            "GetParametersForImport",
            KeyId=record.key_id,
            WrappingAlgorithm="RSAES_OAEP_SHA_256",
            WrappingKeySpec="RSA_2048",
        )
        rule_id = "IMPORT-001" if is_replica else "LIFE-007"
        response = self.expect(Expectation(), obs, (rule_id,))
        if response is None:
            return False
        if is_replica:
            self.checker.passed("IMPORT-001", "GetParametersForImport")
        wrapped = inputs.wrap_key_material(response["PublicKey"], material)
        errors = {"IMPORT-003": "the material differs from the primary's"} if wrong else {}
        result = self.call(
            record.region,
            "ImportKeyMaterial",
            KeyId=record.key_id,
            ImportToken=response["ImportToken"],
            EncryptedKeyMaterial=wrapped,
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
            _material=material,
        )
        self.note(
            f"ImportKeyMaterial in {record.region} ({'wrong' if wrong else 'same'} material) -> "
            f"{result.describe()[:80]}"
        )
        success_rule = "IMPORT-002" if is_replica else "LIFE-007"
        if self.expect(Expectation(errors, not errors), result, (success_rule,)) is None:
            if result.unknown:
                record.uncertain = True
            return False
        record.has_material = True
        metadata = self._settle(record, after="ImportKeyMaterial")
        if metadata is not None:
            state = metadata.get("KeyState")
            self.checker.check(
                success_rule, state == ENABLED, "Enabled once the material is imported", state, operation="DescribeKey"
            )
            if isinstance(state, str):
                record.states = {state}
        return True


def violation_rules(exc: BaseException) -> list[str]:
    """Rule IDs of every RuleViolation inside an exception (or exception group)."""
    if isinstance(exc, RuleViolation):
        return [exc.event.rule_id]
    if isinstance(exc, BaseExceptionGroup):
        return [r for inner in exc.exceptions for r in violation_rules(inner)]
    return []
