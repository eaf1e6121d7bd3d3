"""Helpers shared by the renderers: reading the report dict defensively and ordering its parts.

The renderers only ever read the ``kms-conformance/report/v1`` dict. Everything in it that came from the
target (evidence, observed text, even titles in a tampered report.json) is treated as untrusted text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

SCHEMA = "kms-conformance/report/v1"
VERDICTS: tuple[str, ...] = ("pass", "fail", "unsupported", "inconclusive", "not-run")
STRICTNESS_LEVELS: tuple[str, ...] = ("MUST", "SHOULD", "INFO")


# Control characters (but tab, newline, carriage return), DEL and C1 controls, lone surrogates, U+FFFE/FFFF,
# and the bidi overrides/isolates that can make displayed text differ from the bytes ("Trojan Source").
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def text(value: object) -> str:
    """A report value as text; ``None`` becomes ``""``.

    Control characters, lone surrogates and bidi overrides become visible ``\\xNN``/``\\uNNNN`` escapes, so
    evidence cannot drive a terminal that ``cat``s report.md, break XML, or hide text in the rendered page.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return _INVISIBLE.sub(_visible, str(value))


def mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else an empty one (missing sections render as blanks, not crashes)."""
    return value if isinstance(value, Mapping) else {}


def sequence(value: object) -> Sequence[Any]:
    """``value`` if it is a list/tuple, else an empty sequence (a bare string is not a list of lines)."""
    return value if isinstance(value, list | tuple) else ()


def rules(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The rule entries in report order, skipping anything that is not a mapping."""
    return [r for r in sequence(report.get("rules")) if isinstance(r, Mapping)]


def grouped_rules(report: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """Rules by group, groups in order of first appearance (the catalogue order)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for rule in rules(report):
        groups.setdefault(text(rule.get("group")) or "ungrouped", []).append(rule)
    return groups


def verdict_of(rule: Mapping[str, Any]) -> str:
    """The rule's verdict, or ``not-run`` when the entry carries none."""
    verdict = text(rule.get("verdict"))
    return verdict or "not-run"


def count_verdicts(entries: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Counts per verdict in ``VERDICTS`` order, plus any unexpected verdict string at the end."""
    counts = dict.fromkeys(VERDICTS, 0)
    for rule in entries:
        verdict = verdict_of(rule)
        counts[verdict] = counts.get(verdict, 0) + 1
    return counts


def summary_counts(report: Mapping[str, Any]) -> dict[str, int]:
    """Per-verdict counts from ``summary.verdicts``, falling back to counting the rules."""
    given = mapping(mapping(report.get("summary")).get("verdicts"))
    if not given:
        return count_verdicts(rules(report))
    counts = dict.fromkeys(VERDICTS, 0)
    for verdict, count in given.items():
        counts[str(verdict)] = _as_int(count)
    return counts


def strictness_counts(report: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Per-strictness, per-verdict counts from ``summary.by_strictness``, falling back to counting."""
    given = mapping(mapping(report.get("summary")).get("by_strictness"))
    result: dict[str, dict[str, int]] = {}
    if given:
        for level, counts in given.items():
            row = dict.fromkeys(VERDICTS, 0)
            for verdict, count in mapping(counts).items():
                row[str(verdict)] = _as_int(count)
            result[str(level)] = row
        return result
    for level in STRICTNESS_LEVELS:
        result[level] = count_verdicts([r for r in rules(report) if text(r.get("strictness")) == level])
    return result


def _as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def conformant(report: Mapping[str, Any]) -> bool | None:
    """The overall verdict as the suite decided it; ``None`` when the report does not say."""
    value = mapping(report.get("summary")).get("conformant")
    return value if isinstance(value, bool) else None


def implementation_label(report: Mapping[str, Any]) -> str:
    """``name version`` of the implementation under test."""
    target = mapping(report.get("target"))
    name = text(target.get("implementation")) or "unknown implementation"
    version = text(target.get("implementation_version"))
    return f"{name} {version}".strip()


def target_label(report: Mapping[str, Any]) -> str:
    """How the target was reached: kind, endpoint and Regions, as one line."""
    target = mapping(report.get("target"))
    kind = text(target.get("kind")) or "unknown"
    parts = [kind]
    endpoint = text(target.get("endpoint"))
    if endpoint:
        parts.append(endpoint)
    primary = text(target.get("primary_region"))
    replicas = [text(r) for r in sequence(target.get("replica_regions"))]
    if primary or replicas:
        parts.append(f"primary {primary or '?'}, replicas {', '.join(replicas) or 'none'}")
    return "; ".join(parts)


def hypothesis_label(report: Mapping[str, Any]) -> str:
    """Profile, seed and Hypothesis version, so a reader can reproduce the run."""
    hyp = mapping(report.get("hypothesis"))
    seed = hyp.get("seed")
    parts = [
        f"profile {text(hyp.get('profile')) or '?'}",
        f"seed {text(seed) if seed is not None else 'random'}",
    ]
    if hyp.get("derandomize"):
        parts.append("derandomized")
    if hyp.get("version"):
        parts.append(f"Hypothesis {text(hyp.get('version'))}")
    return ", ".join(parts)


def failure_of(rule: Mapping[str, Any]) -> Mapping[str, Any]:
    """The failure block of a rule, empty when there is none."""
    return mapping(rule.get("failure"))


def steps_text(failure: Mapping[str, Any]) -> str:
    """The minimal steps as one line each."""
    steps = failure.get("steps")
    if isinstance(steps, str):
        return steps
    return "\n".join(text(s) for s in sequence(steps))


def safe_url(value: object) -> str:
    """``value`` if it is an absolute http(s) URL without whitespace or quotes, else ``""``.

    Keeps ``javascript:`` and friends out of links even if report.json was tampered with.
    """
    url = text(value).strip()
    if not url.lower().startswith(("https://", "http://")):
        return ""
    if any(ch.isspace() or ch in "\"'<>`\\" or ord(ch) < 0x20 for ch in url):
        return ""
    return url


def anchor(rule_id: str) -> str:
    """An HTML id / fragment derived from a rule ID, restricted to safe characters."""
    cleaned = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_") else "-" for ch in rule_id)
    return f"fail-{cleaned}"


def one_line(value: str, limit: int = 300) -> str:
    """Whitespace collapsed to single spaces and cut to ``limit`` characters (for messages and cells)."""
    collapsed = " ".join(value.split())
    if len(collapsed) > limit:
        return collapsed[: limit - 1] + "\u2026"
    return collapsed


def expectation_lists(report: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]] | None:
    """(expected_failures, new_failures, unexpected_passes) or ``None`` when no expectations file was used."""
    exp = report.get("expectations")
    if not isinstance(exp, Mapping):
        return None
    return (
        [text(i) for i in sequence(exp.get("expected_failures"))],
        [text(i) for i in sequence(exp.get("new_failures"))],
        [text(i) for i in sequence(exp.get("unexpected_passes"))],
    )
