"""Compatibility matrix: several reports side by side, one row per rule, one column per implementation.

Built from report dicts only (for example several report.json files), so runs made at different times or
against different endpoints can be compared. Rows follow the first report's (catalogue) order; rules that
only later reports contain are appended in their order of appearance.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.reporting import _common as c
from conformance.reporting.html import CSP
from conformance.reporting.markdown import md_cell, md_text

ABSENT = "absent"  # the rule was not in that report (another catalogue version or a --rules selection)


@dataclass(frozen=True)
class MatrixColumn:
    """One report: the implementation, its version and how it was reached."""

    label: str
    implementation: str
    version: str
    target_kind: str
    conformant: bool | None


@dataclass(frozen=True)
class MatrixRow:
    """One rule; ``cells[i]`` is its verdict in column ``i`` or ``ABSENT``."""

    rule_id: str
    group: str
    strictness: str
    title: str
    cells: tuple[str, ...]

    def is_must_failure(self, column: int) -> bool:
        return self.strictness == "MUST" and self.cells[column] == "fail"


@dataclass(frozen=True)
class Matrix:
    columns: tuple[MatrixColumn, ...]
    rows: tuple[MatrixRow, ...]
    # totals[i][verdict]: how many rules got that verdict in column i (ABSENT counted too when non-zero).
    totals: tuple[Mapping[str, int], ...]

    @property
    def verdicts(self) -> tuple[str, ...]:
        """The verdict names the totals rows show, in ``VERDICTS`` order, then anything unusual."""
        seen = dict.fromkeys(c.VERDICTS)
        for total in self.totals:
            seen.update(dict.fromkeys(k for k, n in total.items() if n))
        return tuple(seen)

    def must_failures(self, column: int) -> int:
        return sum(1 for row in self.rows if row.is_must_failure(column))


def _column(report: Mapping[str, Any]) -> MatrixColumn:
    target = c.mapping(report.get("target"))
    name = c.text(target.get("implementation")) or "unknown"
    version = c.text(target.get("implementation_version"))
    kind = c.text(target.get("kind")) or "unknown"
    label = f"{name} {version}".strip() + f" ({kind})"
    return MatrixColumn(label, name, version, kind, c.conformant(report))


def build_matrix(reports: Sequence[Mapping[str, Any]]) -> Matrix:
    """One column per report (labels made unique with ``#2``, ``#3``), rows the union of their rule IDs."""
    columns: list[MatrixColumn] = []
    seen_labels: dict[str, int] = {}
    for report in reports:
        col = _column(report)
        n = seen_labels[col.label] = seen_labels.get(col.label, 0) + 1
        if n > 1:
            col = MatrixColumn(f"{col.label} #{n}", col.implementation, col.version, col.target_kind, col.conformant)
        columns.append(col)

    meta: dict[str, Mapping[str, Any]] = {}
    verdicts: list[dict[str, str]] = []
    for report in reports:
        by_id: dict[str, str] = {}
        for rule in c.rules(report):
            rule_id = c.text(rule.get("id"))
            meta.setdefault(rule_id, rule)
            by_id[rule_id] = c.verdict_of(rule)
        verdicts.append(by_id)

    rows = tuple(
        MatrixRow(
            rule_id=rule_id,
            group=c.text(rule.get("group")),
            strictness=c.text(rule.get("strictness")),
            title=c.text(rule.get("title")),
            cells=tuple(v.get(rule_id, ABSENT) for v in verdicts),
        )
        for rule_id, rule in meta.items()
    )
    totals: list[dict[str, int]] = []
    for i in range(len(columns)):
        counts = dict.fromkeys(c.VERDICTS, 0)
        for row in rows:
            counts[row.cells[i]] = counts.get(row.cells[i], 0) + 1
        totals.append(counts)
    return Matrix(tuple(columns), rows, tuple(totals))


def _overall(value: bool | None) -> str:
    return {True: "conformant", False: "NOT conformant", None: "unknown"}[value]


def render_matrix_markdown(matrix: Matrix) -> str:
    """The matrix as a Markdown table; MUST failures in bold with a ``(MUST)`` marker."""
    header = ["Rule", "Strictness", "Title", *(md_cell(col.label) for col in matrix.columns)]
    lines = [
        "# KMS ReplicateKey compatibility matrix",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in matrix.rows:
        cells = []
        for i, verdict in enumerate(row.cells):
            shown = md_cell(verdict)
            cells.append(f"**{shown} (MUST)**" if row.is_must_failure(i) else shown)
        lines.append(
            "| " + " | ".join([md_cell(row.rule_id), md_cell(row.strictness), md_cell(row.title), *cells]) + " |"
        )
    for verdict in matrix.verdicts:
        counts = [str(total.get(verdict, 0)) for total in matrix.totals]
        lines.append(f"| **total {md_text(verdict)}** |  |  | " + " | ".join(counts) + " |")
    must = [str(matrix.must_failures(i)) for i in range(len(matrix.columns))]
    lines.append("| **MUST failures** |  |  | " + " | ".join(must) + " |")
    overall = [md_cell(_overall(col.conformant)) for col in matrix.columns]
    lines.append("| **overall** |  |  | " + " | ".join(overall) + " |")
    return "\n".join(lines) + "\n"


_MATRIX_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24}
table{border-collapse:collapse}th,td{border:1px solid #d0d7de;padding:.2rem .5rem;text-align:left}
th{background:#f6f8fa}tfoot td,tfoot th{font-weight:600;background:#f6f8fa}
.v-pass{background:#dafbe1}.v-fail{background:#ffebe9}.v-unsupported{background:#eae4f7}
.v-inconclusive{background:#fff8c5}.v-not-run,.v-absent{background:#eaeef2;color:#57606a}
td.must-fail{background:#cf222e;color:#fff;font-weight:700}
""".strip()


def render_matrix_html(matrix: Matrix) -> str:
    """The matrix as one self-contained HTML page (inline CSS, no scripts, no external assets)."""

    def esc(value: object) -> str:
        return html.escape(c.text(value), quote=True)

    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP)}">',
        "<title>KMS ReplicateKey compatibility matrix</title>",
        f"<style>{_MATRIX_STYLE}</style></head><body>",
        "<h1>KMS ReplicateKey compatibility matrix</h1>",
        "<table><thead><tr><th>Rule</th><th>Strictness</th><th>Title</th>",
        *(f"<th>{esc(col.label)}</th>" for col in matrix.columns),
        "</tr></thead><tbody>",
    ]
    for row in matrix.rows:
        cells = []
        for i, verdict in enumerate(row.cells):
            cls = "must-fail" if row.is_must_failure(i) else f"v-{verdict if verdict in c.VERDICTS else 'absent'}"
            cells.append(f'<td class="{cls}">{esc(verdict)}</td>')
        out.append(
            f"<tr><td>{esc(row.rule_id)}</td><td>{esc(row.strictness)}</td><td>{esc(row.title)}</td>"
            + "".join(cells)
            + "</tr>"
        )
    out.append("</tbody><tfoot>")
    for verdict in matrix.verdicts:
        counts = "".join(f"<td>{esc(total.get(verdict, 0))}</td>" for total in matrix.totals)
        out.append(f'<tr><th colspan="3">total {esc(verdict)}</th>{counts}</tr>')
    must = "".join(f"<td>{matrix.must_failures(i)}</td>" for i in range(len(matrix.columns)))
    out.append(f'<tr><th colspan="3">MUST failures</th>{must}</tr>')
    overall = "".join(f"<td>{esc(_overall(col.conformant))}</td>" for col in matrix.columns)
    out.append(f'<tr><th colspan="3">overall</th>{overall}</tr>')
    out.extend(["</tfoot></table>", "</body></html>"])
    return "\n".join(out) + "\n"
