"""Check events: the only thing checks emit and the only thing reporters consume.

Layer: verdicts. Imports nothing else from the project. Checks append events to the
current ``EventLog``; the pytest plugin ships each worker's log to the controller, where
``conformance.verdicts`` folds them into one verdict per rule.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["pass", "fail", "inconclusive", "unsupported"]


@dataclass(frozen=True)
class CheckEvent:
    """One check of one rule: what was expected, what was seen, and how it compared."""

    rule_id: str
    status: Status
    expected: str = ""
    observed: str = ""
    evidence: str = ""
    operation: str = ""
    # Filled in for failures once Hypothesis has shrunk them.
    steps: tuple[str, ...] = ()
    program: str = ""
    replay: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = list(self.steps)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckEvent:
        return cls(**{**data, "steps": tuple(data.get("steps", ()))})


@dataclass
class RuleTally:
    """Compact per-rule counts kept for passes: one pass event per check would be millions of objects."""

    passes: int = 0
    fail: CheckEvent | None = None  # the minimal (shrunk) counterexample, when one exists
    raw_fail: CheckEvent | None = None  # first un-shrunk failure seen, a fallback for the report
    inconclusive: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    fails: int = 0
    # When the rule first failed: (test cases run so far, seconds since the log began).
    first_fail: tuple[int, float] | None = None


class EventLog:
    """Per-process accumulator of check events, folded into per-rule tallies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tallies: dict[str, RuleTally] = {}
        self.steps = 0
        self.examples = 0
        self.notes: list[str] = []
        self.unsupported_ops: set[str] = set()
        self.started = time.monotonic()

    def record(self, event: CheckEvent) -> None:
        with self._lock:
            tally = self.tallies.setdefault(event.rule_id, RuleTally())
            if event.status == "pass":
                tally.passes += 1
            elif event.status == "fail":
                tally.fails += 1
                if tally.first_fail is None:
                    tally.first_fail = (self.examples, round(time.monotonic() - self.started, 1))
                if event.program:
                    # A shrunk counterexample replaces an earlier, larger one.
                    if tally.fail is None or len(event.steps) <= len(tally.fail.steps):
                        tally.fail = event
                elif tally.raw_fail is None:
                    tally.raw_fail = event
            elif event.status == "inconclusive":
                if len(tally.inconclusive) < 5 and event.observed not in tally.inconclusive:
                    tally.inconclusive.append(event.observed)
            elif event.status == "unsupported" and event.observed not in tally.unsupported:
                tally.unsupported.append(event.observed)

    def merge(self, other: dict[str, Any]) -> None:
        """Fold a serialised log (from ``to_json``, e.g. another xdist worker) into this one."""
        with self._lock:
            self.steps += int(other.get("steps", 0))
            self.examples += int(other.get("examples", 0))
            self.notes.extend(other.get("notes", []))
            self.unsupported_ops.update(other.get("unsupported_ops", []))
        for rule_id, raw in other.get("tallies", {}).items():
            with self._lock:
                tally = self.tallies.setdefault(rule_id, RuleTally())
                tally.passes += int(raw.get("passes", 0))
                tally.fails += int(raw.get("fails", 0))
                for text in raw.get("inconclusive", []):
                    if text not in tally.inconclusive:
                        tally.inconclusive.append(text)
                for text in raw.get("unsupported", []):
                    if text not in tally.unsupported:
                        tally.unsupported.append(text)
                first = raw.get("first_fail")
                if first and (tally.first_fail is None or tuple(first) < tally.first_fail):
                    tally.first_fail = (int(first[0]), float(first[1]))
            for key in ("fail", "raw_fail"):
                if raw.get(key):
                    event = CheckEvent.from_json(raw[key])
                    with self._lock:
                        current = getattr(tally, key)
                        if current is None or len(event.steps) < len(current.steps):
                            setattr(tally, key, event)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "steps": self.steps,
                "examples": self.examples,
                "notes": list(self.notes),
                "unsupported_ops": sorted(self.unsupported_ops),
                "tallies": {
                    rule_id: {
                        "passes": t.passes,
                        "fails": t.fails,
                        "inconclusive": list(t.inconclusive),
                        "unsupported": list(t.unsupported),
                        "fail": t.fail.to_json() if t.fail else None,
                        "raw_fail": t.raw_fail.to_json() if t.raw_fail else None,
                        "first_fail": list(t.first_fail) if t.first_fail else None,
                    }
                    for rule_id, t in self.tallies.items()
                },
            }

    def dump(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json()), encoding="utf-8")
        tmp.replace(path)

    def failed_rules(self) -> Iterator[str]:
        with self._lock:
            return iter([rid for rid, t in self.tallies.items() if t.fails])


_CURRENT = EventLog()


def current_log() -> EventLog:
    """The process-wide log that checks record into."""
    return _CURRENT


def reset_log() -> EventLog:
    global _CURRENT
    _CURRENT = EventLog()
    return _CURRENT
