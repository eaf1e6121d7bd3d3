"""Markdown rendering of a conformance report (report.md), for pull requests, issues and terminals.

Everything taken from the report is escaped: outside code fences HTML-ish text is entity-encoded and
Markdown punctuation backslash-escaped, so a target's error message cannot inject markup, links or
break a table; inside fences the fence is made longer than any backtick run in the content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from conformance.reporting import _common as c

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}|~!#])")
_BACKTICK_RUN = re.compile(r"`+")


def md_text(value: object) -> str:
    """Inline-safe text: HTML entities for ``& < >``, backslashes before Markdown punctuation, one line."""
    raw = " ".join(c.text(value).replace("\x00", "\ufffd").split())
    raw = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", raw)


def md_cell(value: object, limit: int | None = None) -> str:
    """Text for a table cell: as ``md_text`` (which also escapes ``|`` and removes newlines)."""
    raw = c.text(value)
    if limit is not None:
        raw = c.one_line(raw, limit)
    return md_text(raw) or " "


def fence(content: object, info: str = "") -> str:
    """A fenced code block that the content cannot close: the fence is longer than any backtick run."""
    body = c.text(content).replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "\ufffd")
    longest = max((len(m.group(0)) for m in _BACKTICK_RUN.finditer(body)), default=0)
    marker = "`" * max(3, longest + 1)
    if not body.endswith("\n"):
        body += "\n"
    return f"{marker}{info}\n{body}{marker}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _link(label: str, url: object) -> str:
    safe = c.safe_url(url)
    if not safe:
        return md_text(label)
    return f"[{md_text(label)}](<{safe}>)"


def _summary(report: Mapping[str, Any]) -> list[str]:
    summary = c.mapping(report.get("summary"))
    verdict = c.conformant(report)
    overall = {True: "CONFORMANT", False: "NOT CONFORMANT", None: "unknown"}[verdict]
    lines = [
        "# KMS ReplicateKey conformance report",
        "",
        f"**Overall verdict: {overall}**",
        "",
        f"- **Implementation:** {md_text(c.implementation_label(report))}",
        f"- **Target:** {md_text(c.target_label(report))}",
        f"- **Hypothesis:** {md_text(c.hypothesis_label(report))}",
        f"- **Catalogue:** {md_text(report.get('catalogue_version'))}; **tool:** {md_text(report.get('tool_version'))}",
        f"- **Started:** {md_text(report.get('started_at'))}; "
        f"**duration:** {md_text(report.get('duration_seconds'))} s",
        f"- **Rules:** {md_text(summary.get('total_rules', len(c.rules(report))))}; "
        f"**checks:** {md_text(summary.get('checks'))}; **steps:** {md_text(summary.get('steps'))}; "
        f"**examples:** {md_text(summary.get('examples'))}",
        "",
    ]
    totals = c.summary_counts(report)
    by_level = c.strictness_counts(report)
    verdicts = list(dict.fromkeys([*totals, *(v for row in by_level.values() for v in row)]))
    rows = [["**all**", *(str(totals.get(v, 0)) for v in verdicts)]]
    rows.extend([md_cell(level), *(str(counts.get(v, 0)) for v in verdicts)] for level, counts in by_level.items())
    lines.extend(_table(["", *(md_cell(v) for v in verdicts)], rows))
    lines.append("")
    lines.extend(_expectations(report))
    notes = [str(n) for n in report.get("notes") or []]
    if notes:
        lines += ["### Notes", "", *(f"- {md_text(n)}" for n in notes[:100]), ""]
    return lines


def _expectations(report: Mapping[str, Any]) -> list[str]:
    lists = c.expectation_lists(report)
    if lists is None:
        return []
    expected, new, unexpected = lists
    exp_file = c.mapping(report.get("expectations")).get("file")
    lines = ["## Expectations", "", f"Expectations file: {md_text(exp_file) or 'unnamed'}", ""]
    lines.append(f"- **Expected failures:** {len(expected)}")
    ids = ", ".join(md_text(i) for i in new)
    lines.append(f"- **New failures ({len(new)}):** {ids or 'none'}")
    ids = ", ".join(md_text(i) for i in unexpected)
    lines.append(f"- **Unexpected passes ({len(unexpected)}):** {ids or 'none'}")
    lines.append("")
    return lines


def _groups(report: Mapping[str, Any]) -> list[str]:
    lines = ["## Rules", ""]
    for group, entries in c.grouped_rules(report).items():
        counts = c.count_verdicts(entries)
        tally = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        lines.extend([f"### {md_text(group)} ({md_text(tally)})", ""])
        rows = []
        for rule in entries:
            verdict = c.verdict_of(rule)
            shown = md_cell(verdict)
            if verdict == "fail":
                shown = f"**{shown}**"
            detail = "" if verdict == "pass" else c.text(rule.get("detail"))
            rows.append(
                [
                    md_cell(rule.get("id")),
                    md_cell(rule.get("strictness")),
                    md_cell(rule.get("title")),
                    shown,
                    md_cell(rule.get("checks")),
                    md_cell(detail, limit=200),
                ]
            )
        lines.extend(_table(["ID", "Strictness", "Title", "Verdict", "Checks", "Detail"], rows))
        lines.append("")
    return lines


def _failures(report: Mapping[str, Any]) -> list[str]:
    failed = [r for r in c.rules(report) if c.verdict_of(r) == "fail"]
    if not failed:
        return []
    lines = ["## Failures", ""]
    for rule in failed:
        failure = c.failure_of(rule)
        lines.extend(
            [
                f"### {md_text(rule.get('id'))} ({md_text(rule.get('strictness'))}): {md_text(rule.get('title'))}",
                "",
                f"**Statement:** {md_text(rule.get('statement'))}",
                "",
                f"**Source:** {md_text(rule.get('source'))}"
                + (
                    f" ({_link('documentation', rule.get('source_url'))})" if c.safe_url(rule.get("source_url")) else ""
                ),
                "",
            ]
        )
        if rule.get("detail"):
            lines.extend([f"**Detail:** {md_text(rule.get('detail'))}", ""])
        if not failure:
            lines.extend(["_No counterexample was recorded._", ""])
            continue
        lines.extend(["**Expected:**", "", fence(failure.get("expected"), "text"), ""])
        lines.extend(["**Observed:**", "", fence(failure.get("observed"), "text"), ""])
        if failure.get("evidence"):
            lines.extend(["**Evidence (raw response):**", "", fence(failure.get("evidence"), "text"), ""])
        steps = c.steps_text(failure)
        if steps:
            lines.extend(["**Minimal steps:**", "", fence(steps, "python"), ""])
        if failure.get("program"):
            lines.extend(["**Hypothesis program:**", "", fence(failure.get("program"), "python"), ""])
        if failure.get("replay"):
            lines.extend(["**Replay script:**", "", fence(failure.get("replay"), "python"), ""])
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    """The whole report as Markdown: summary, a table per rule group, then every failure expanded."""
    lines = [*_summary(report), *_groups(report), *_failures(report)]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"
