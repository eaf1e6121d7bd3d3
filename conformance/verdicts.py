"""Verdicts: fold the check events of a run into one verdict per catalogue rule, and the report dict.

Layer: verdicts and reports. Reads the catalogue and the event log; never calls a target.
The report's schema is ``kms-conformance/report/v1`` (documented in README.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conformance import __version__
from conformance.catalogue import STRICTNESS_LEVELS, Catalogue, Rule
from conformance.events import EventLog, RuleTally

SCHEMA = "kms-conformance/report/v1"
VERDICTS = ("pass", "fail", "unsupported", "inconclusive", "not-run")


@dataclass(frozen=True)
class RuleVerdict:
    rule: Rule
    verdict: str
    checks: int
    detail: str
    failure: dict[str, Any] | None


def verdict_for(
    rule: Rule, tally: RuleTally | None, *, selected: bool, flaky: bool, unsupported_ops: frozenset[str] = frozenset()
) -> RuleVerdict:
    """One rule's verdict. A failure needs evidence; a pass needs at least one passing check."""
    if not rule.checked:
        return RuleVerdict(rule, "not-run", 0, "documented behaviour this suite cannot observe", None)
    if not selected:
        return RuleVerdict(rule, "not-run", 0, "not selected (--rules)", None)
    missing = sorted(set(rule.operations) & unsupported_ops)
    if (tally is None or not (tally.passes or tally.fails or tally.fail or tally.raw_fail)) and missing:
        return RuleVerdict(rule, "unsupported", 0, f"the target does not implement {', '.join(missing)}", None)
    if tally is None:
        return RuleVerdict(rule, "not-run", 0, "no test case reached this rule", None)
    checks = tally.passes + tally.fails
    # A malformed body or a server error is a fact even when Hypothesis cannot make it happen again.
    if flaky and tally.fail is None and not (rule.id in ("ERR-002", "ERR-003") and tally.raw_fail is not None):
        return RuleVerdict(
            rule,
            "inconclusive",
            checks,
            "flaky: a failure was seen but Hypothesis could not "
            "reproduce it; the target answered differently to the same calls",
            None,
        )
    event = tally.fail or tally.raw_fail
    if event is not None:
        detail = (
            ""
            if tally.fail is not None
            else ("counterexample not minimised: the failure was met while another failure was being shrunk")
        )
        failure = {
            "expected": event.expected,
            "observed": event.observed,
            "evidence": event.evidence,
            "steps": list(event.steps),
            "program": event.program,
            "replay": event.replay,
            # How soon the run met it: test cases (directed scenarios count as one each) and seconds.
            "found_after": (
                {"examples": tally.first_fail[0], "seconds": tally.first_fail[1]} if tally.first_fail else None
            ),
        }
        return RuleVerdict(rule, "fail", checks, detail, failure)
    if rule.id == "ERR-002" and tally.inconclusive:
        # A 5xx through a network cannot be told from a server bug: never a pass once one was seen.
        return RuleVerdict(rule, "inconclusive", checks, "; ".join(tally.inconclusive[:3]), None)
    if tally.passes:
        return RuleVerdict(rule, "pass", checks, "", None)
    if tally.unsupported:
        return RuleVerdict(rule, "unsupported", 0, "; ".join(tally.unsupported[:3]), None)
    if tally.inconclusive:
        return RuleVerdict(rule, "inconclusive", 0, "; ".join(tally.inconclusive[:3]), None)
    return RuleVerdict(rule, "not-run", 0, "no test case reached this rule", None)


def rule_verdicts(
    catalogue: Catalogue,
    log: EventLog,
    *,
    selected: Iterable[str] | None = None,
    flaky: Iterable[str] = (),
    unsupported_ops: Iterable[str] = (),
) -> list[RuleVerdict]:
    chosen = set(selected) if selected is not None else None
    flaky_set = set(flaky)
    missing = frozenset(unsupported_ops)
    return [
        verdict_for(
            rule,
            log.tallies.get(rule.id),
            selected=chosen is None or rule.id in chosen,
            flaky=rule.id in flaky_set,
            unsupported_ops=missing,
        )
        for rule in catalogue
    ]


def summarise(verdicts: Iterable[RuleVerdict]) -> dict[str, Any]:
    verdicts = list(verdicts)
    counts = {v: 0 for v in VERDICTS}
    by_strictness = {s: {v: 0 for v in VERDICTS} for s in STRICTNESS_LEVELS}
    for rv in verdicts:
        counts[rv.verdict] += 1
        by_strictness[rv.rule.strictness][rv.verdict] += 1
    conformant = not any(rv.verdict == "fail" and rv.rule.fails_implementation for rv in verdicts)
    return {"verdicts": counts, "by_strictness": by_strictness, "conformant": conformant, "total_rules": len(verdicts)}


def build_report(
    catalogue: Catalogue,
    log: EventLog,
    *,
    target: Mapping[str, Any],
    hypothesis: Mapping[str, Any],
    started_at: str,
    duration_seconds: float,
    selected: Iterable[str] | None = None,
    flaky: Iterable[str] = (),
    notes: Iterable[str] = (),
    unsupported_ops: Iterable[str] = (),
) -> dict[str, Any]:
    verdicts = rule_verdicts(catalogue, log, selected=selected, flaky=flaky, unsupported_ops=unsupported_ops)
    summary = summarise(verdicts)
    summary.update(
        checks=sum(rv.checks for rv in verdicts),
        steps=log.steps,
        examples=log.examples,
    )
    rules = []
    for rv in verdicts:
        source = rv.rule.sources[0]
        rules.append(
            {
                "id": rv.rule.id,
                "group": rv.rule.group,
                "strictness": rv.rule.strictness,
                "title": rv.rule.title,
                "statement": rv.rule.statement,
                "source": f"{source.cite()}: {source.quote!r}",
                "source_url": source.url,
                "verdict": rv.verdict,
                "checks": rv.checks,
                "detail": rv.detail,
                "failure": rv.failure,
            }
        )
    return {
        "schema": SCHEMA,
        "tool_version": __version__,
        "catalogue_version": catalogue.version,
        "target": dict(target),
        "hypothesis": dict(hypothesis),
        "started_at": started_at,
        "duration_seconds": round(duration_seconds, 2),
        "summary": summary,
        "expectations": None,
        "notes": sorted(set(notes) | set(log.notes))[:200],
        "rules": rules,
    }
