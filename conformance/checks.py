"""Checks: compare one observation with the model's expectation and record a verdict event per rule.

Layer: state machine (uses catalogue, model, targets, events). A failing check raises a
``RuleViolation`` whose *type* is specific to the rule, so Hypothesis treats violations of
different rules as distinct bugs and shrinks each one separately. Rules already known to fail
(``muted``) are recorded but do not raise, so later passes can explore past them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

from conformance.catalogue import Catalogue
from conformance.events import CheckEvent, EventLog
from conformance.model.world import Expectation
from conformance.targets import Observation


class RuleViolation(AssertionError):
    """An implementation broke a catalogue rule. Subclassed per rule ID (see ``violation_type``)."""

    rule_id = ""

    def __init__(self, event: CheckEvent) -> None:
        super().__init__(f"{event.rule_id}: expected {event.expected}; observed {event.observed}")
        self.event = event


@cache
def violation_type(rule_id: str) -> type[RuleViolation]:
    name = "Violation_" + rule_id.replace("-", "_")
    return type(name, (RuleViolation,), {"rule_id": rule_id, "__module__": __name__})


def _json_default(value: Any) -> str:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return repr(value)


def render(value: Any, limit: int = 1500) -> str:
    if value == "" or value is None:
        return json.dumps(value)  # "" and null, visibly
    text = value if isinstance(value, str) else json.dumps(value, default=_json_default, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


# Errors any AWS API may return besides an operation's own (AWS common errors).
COMMON_ERRORS = frozenset(
    {
        "ValidationException",
        "AccessDeniedException",
        "ThrottlingException",
        "UnrecognizedClientException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "RequestExpired",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "ServiceUnavailable",
        "InternalFailure",
        "NotAuthorized",
        "OptInRequired",
    }
)


@cache
def documented_errors(operation: str) -> frozenset[str]:
    """The error codes botocore's service model lists for an operation, plus AWS's common errors."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("kms")
    try:
        shapes = model.operation_model(operation).error_shapes
    except Exception:
        return COMMON_ERRORS
    codes = {getattr(shape, "error_code", None) or shape.name for shape in shapes}
    return COMMON_ERRORS | codes


@dataclass
class Checker:
    """Records check events for one test case.

    Failures are collected, not raised: the machine raises the first unmuted one at the end of the
    step (``take_pending``), so every rule a step breaks is recorded against the same minimal program.
    """

    catalogue: Catalogue
    log: EventLog
    muted: frozenset[str] = frozenset()
    enabled: frozenset[str] | None = None  # rule selection (--rules); None = all
    unsupported_ops: set[str] = field(default_factory=set)
    violations: list[CheckEvent] = field(default_factory=list)
    pending: list[CheckEvent] = field(default_factory=list)
    on_fail: Callable[[CheckEvent], None] | None = None
    # True when the last ``outcome`` disagreed with the model: the target's state is now unknown.
    diverged: bool = False

    def wanted(self, rule_id: str) -> bool:
        return self.enabled is None or rule_id in self.enabled

    def record(self, event: CheckEvent) -> None:
        if not self.wanted(event.rule_id):
            return
        self.log.record(event)
        if event.status == "fail":
            self.violations.append(event)
            if self.on_fail is not None:
                self.on_fail(event)
            if event.rule_id not in self.muted:
                self.pending.append(event)

    def take_pending(self) -> CheckEvent | None:
        """The first unmuted failure since the last call (the one to raise), clearing the rest."""
        first = self.pending[0] if self.pending else None
        self.pending.clear()
        return first

    def passed(self, rule_id: str, operation: str = "") -> None:
        self.record(CheckEvent(rule_id, "pass", operation=operation))

    def failed(self, rule_id: str, expected: str, observed: str, evidence: str = "", operation: str = "") -> None:
        self.record(CheckEvent(rule_id, "fail", expected, observed, evidence, operation))

    def check(
        self, rule_id: str, ok: bool, expected: str, observed: Any, evidence: Any = "", operation: str = ""
    ) -> bool:
        if ok:
            self.passed(rule_id, operation)
        else:
            self.failed(rule_id, expected, render(observed), render(evidence) if evidence else "", operation)
        return ok

    def inconclusive(self, rule_ids: Iterable[str], why: str, operation: str = "") -> None:
        for rule_id in rule_ids:
            self.record(CheckEvent(rule_id, "inconclusive", observed=why, operation=operation))

    def unsupported(self, rule_ids: Iterable[str], operation: str) -> None:
        self.unsupported_ops.add(operation)
        for rule_id in rule_ids:
            self.record(CheckEvent(rule_id, "unsupported", observed=f"{operation} is not implemented"))

    # ---------- the common shape of every call check ----------
    def outcome(
        self,
        expectation: Expectation,
        obs: Observation,
        success_rules: Iterable[str] = (),
        blame: Iterable[str] | None = None,
    ) -> dict[str, Any] | None:
        """Check an observation against an expectation. Returns the response when it may be checked further.

        success_rules are the rules a success would go on to verify; they are the ones left
        unverified (inconclusive, unsupported) when no usable answer came back. ``blame`` (default:
        all of them) are the ones failed when a call the model allowed to succeed fails instead; the
        rest could not be checked and are inconclusive.
        """
        success_rules = tuple(success_rules)
        blamed_on_failure = tuple(blame) if blame is not None else success_rules
        unverified = tuple(r for r in success_rules if r not in blamed_on_failure)
        involved = (*expectation.errors, *success_rules)
        self.diverged = False
        op = obs.operation
        if obs.kind == "unsupported":
            self.unsupported(involved, op)
            return None
        if obs.kind in ("indeterminate", "transient"):
            server_error = obs.http_status is not None and obs.http_status >= 500
            self.inconclusive(
                (*involved, "ERR-002") if server_error else involved,
                f"{obs.describe()} (no verdict from a transport failure)"[:300],
                op,
            )
            note = (
                f"transport: the target did not answer usably ({obs.code or obs.kind}); rules involved are inconclusive"
            )
            if note not in self.log.notes:
                self.log.notes.append(note)
            return None
        if obs.kind == "malformed":
            self.inconclusive(involved, f"{op} answered a malformed body", op)
            self.failed(
                "ERR-003",
                f"{op} response parses as its service-model shape",
                obs.message or "malformed body",
                obs.raw,
                op,
            )
            return None
        if obs.kind == "crash":
            self.diverged = True
            expected = self._expected_text(expectation)
            self.failed("ERR-002", "no internal error for a well-formed request", obs.describe(), obs.raw, op)
            blamed = tuple(expectation.errors) if expectation.must_fail else (*expectation.errors, *blamed_on_failure)
            for rule_id in blamed:
                self.failed(rule_id, expected, obs.describe(), obs.raw, op)
            if not expectation.must_fail:
                self.inconclusive(unverified, f"not checked: {obs.describe()[:200]}", op)
            return None
        if obs.kind == "error":
            self.passed("ERR-002", op)
            self.check(
                "ERR-001",
                obs.code in documented_errors(op),
                f"one of {op}'s documented error codes",
                obs.code,
                obs.raw,
                op,
            )
            self.check(
                "RESP-007",
                obs.http_status is None or 400 <= obs.http_status < 500,
                "an error answer with a 4xx status",
                f"HTTP {obs.http_status} {obs.code}",
                op,
            )
            accepted = set(expectation.extra_codes)
            crediting = [r for r in expectation.errors if obs.code in self.catalogue[r].error_codes]
            for rule_id in expectation.errors:
                accepted |= self.catalogue[rule_id].error_codes
            if obs.code in accepted:
                for rule_id in crediting:
                    self.passed(rule_id, op)
                return None
            self.diverged = True
            expected = self._expected_text(expectation)
            blamed = tuple(expectation.errors) or blamed_on_failure
            for rule_id in blamed:
                self.failed(rule_id, expected, obs.describe(), obs.raw or render(obs.params), op)
            if not expectation.errors:
                self.inconclusive(unverified, f"not checked: {obs.describe()[:200]}", op)
            return None
        # success
        self.passed("ERR-002", op)
        self.passed("ERR-003", op)
        if not expectation.success_allowed:
            self.diverged = True
            for rule_id, why in expectation.errors.items():
                codes = " or ".join(sorted(self.catalogue[rule_id].error_codes))
                self.failed(rule_id, f"{codes} ({why})", f"{op} succeeded", render(obs.response), op)
            return None
        return obs.response

    def _expected_text(self, expectation: Expectation) -> str:
        if not expectation.errors:
            return "success"
        parts = [
            f"{' or '.join(sorted(self.catalogue[r].error_codes))} [{r}: {why}]"
            for r, why in expectation.errors.items()
        ]
        if expectation.success_allowed:
            parts.append("success")
        return "; or ".join(parts)
