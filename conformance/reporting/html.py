"""HTML rendering of a conformance report (report.html): one self-contained page to open or attach.

No external assets and no script at all; a Content-Security-Policy meta tag forbids both, so even a
tampered report cannot make the page fetch or run anything. Every report value goes through
``html.escape``; the only link targets are internal anchors and vetted http(s) source URLs.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from conformance.reporting import _common as c

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:80rem;
padding:0 1rem;color:#1b1f24;background:#fff;line-height:1.45}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #d0d7de}h3{margin-top:1.4rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #d0d7de;padding:.25rem .55rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.num{text-align:right}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem}dl.meta dt{font-weight:600}
dl.meta dd{margin:0}
.verdict{font-weight:600;border-radius:.25rem;padding:0 .4rem;white-space:nowrap}
.v-pass{background:#dafbe1;color:#116329}.v-fail{background:#ffebe9;color:#a40e26}
.v-unsupported{background:#eae4f7;color:#5a32a3}.v-inconclusive{background:#fff8c5;color:#7d4e00}
.v-not-run{background:#eaeef2;color:#57606a}
.overall{font-size:1.2rem;padding:.4rem .8rem;display:inline-block;border-radius:.3rem}
tr.must-fail td{background:#fff0ee}
pre{background:#f6f8fa;border:1px solid #d0d7de;padding:.6rem;overflow:auto;white-space:pre-wrap;
word-break:break-word;max-height:40rem}
details{border:1px solid #d0d7de;border-radius:.3rem;padding:.4rem .8rem;margin:.6rem 0}
details>summary{cursor:pointer;font-weight:600}
details details{border-style:dashed}
.cmp{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.cmp h4{margin:.4rem 0}
.muted{color:#57606a}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}th,pre{background:#161b22}
th,td,pre,details{border-color:#30363d}tr.must-fail td{background:#3c1618}.muted{color:#8b949e}}
""".strip()


def esc(value: object) -> str:
    """``html.escape`` of a report value (quotes included, so it is safe in attributes too)."""
    return html.escape(c.text(value), quote=True)


def _verdict_badge(verdict: str) -> str:
    cls = verdict if verdict in c.VERDICTS else "not-run"
    return f'<span class="verdict v-{cls}">{esc(verdict)}</span>'


def _pre(content: object, label: str) -> str:
    return f'<pre aria-label="{esc(label)}"><code>{esc(content)}</code></pre>'


def _summary(report: Mapping[str, Any]) -> list[str]:
    summary = c.mapping(report.get("summary"))
    verdict = c.conformant(report)
    overall, cls = {
        True: ("CONFORMANT", "pass"),
        False: ("NOT CONFORMANT", "fail"),
        None: ("unknown", "not-run"),
    }[verdict]
    meta = [
        ("Implementation", c.implementation_label(report)),
        ("Target", c.target_label(report)),
        ("Hypothesis", c.hypothesis_label(report)),
        ("Catalogue", report.get("catalogue_version")),
        ("Tool", report.get("tool_version")),
        ("Started", report.get("started_at")),
        ("Duration", f"{c.text(report.get('duration_seconds'))} s"),
        ("Rules", summary.get("total_rules", len(c.rules(report)))),
        (
            "Checks / steps / examples",
            f"{c.text(summary.get('checks'))} / {c.text(summary.get('steps'))} / {c.text(summary.get('examples'))}",
        ),
    ]
    out = [
        "<header>",
        f"<h1>KMS ReplicateKey conformance: {esc(c.implementation_label(report))}</h1>",
        f'<p class="overall v-{cls}">Overall verdict: <strong>{esc(overall)}</strong></p>',
        '<dl class="meta">',
        *(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in meta),
        "</dl>",
    ]
    totals = c.summary_counts(report)
    by_level = c.strictness_counts(report)
    verdicts = list(dict.fromkeys([*totals, *(v for row in by_level.values() for v in row)]))
    out.append('<table class="counts"><thead><tr><th></th>')
    out.extend(f"<th>{_verdict_badge(v)}</th>" for v in verdicts)
    out.append("</tr></thead><tbody>")
    rows = [("all", totals), *by_level.items()]
    for label, counts in rows:
        cells = "".join(f'<td class="num">{esc(counts.get(v, 0))}</td>' for v in verdicts)
        out.append(f"<tr><th>{esc(label)}</th>{cells}</tr>")
    out.append("</tbody></table>")
    out.extend(_expectations(report))
    notes = [str(n) for n in report.get("notes") or []]
    if notes:
        # Run notes: unsupported operations, transport trouble, refused setup calls, interruption.
        out.append('<section class="notes"><h2>Notes</h2><ul>')
        out.extend(f"<li>{esc(n)}</li>" for n in notes[:100])
        out.append("</ul></section>")
    out.append("</header>")
    return out


def _id_list(ids: list[str]) -> str:
    if not ids:
        return "none"
    return ", ".join(f'<a href="#{esc(c.anchor(i))}">{esc(i)}</a>' for i in ids)


def _expectations(report: Mapping[str, Any]) -> list[str]:
    lists = c.expectation_lists(report)
    if lists is None:
        return []
    expected, new, unexpected = lists
    exp_file = c.mapping(report.get("expectations")).get("file")
    return [
        '<section class="expectations"><h2>Expectations</h2>',
        f"<p>Expectations file: <code>{esc(exp_file)}</code></p><ul>",
        f"<li>Expected failures: {len(expected)}</li>",
        f"<li><strong>New failures ({len(new)}):</strong> {_id_list(new)}</li>",
        f"<li><strong>Unexpected passes ({len(unexpected)}):</strong> {esc(', '.join(unexpected)) or 'none'}</li>",
        "</ul></section>",
    ]


def _groups(report: Mapping[str, Any]) -> list[str]:
    out = ["<main>", "<h2>Rules</h2>"]
    for group, entries in c.grouped_rules(report).items():
        tally = ", ".join(f"{n} {v}" for v, n in c.count_verdicts(entries).items() if n)
        out.append(f'<section class="group"><h3>{esc(group)} <span class="muted">({esc(tally)})</span></h3>')
        out.append(
            "<table><thead><tr><th>ID</th><th>Strictness</th><th>Title</th><th>Verdict</th>"
            "<th>Checks</th><th>Detail</th></tr></thead><tbody>"
        )
        for rule in entries:
            verdict = c.verdict_of(rule)
            rule_id = c.text(rule.get("id"))
            shown_id = esc(rule_id)
            if verdict == "fail":
                shown_id = f'<a href="#{esc(c.anchor(rule_id))}">{shown_id}</a>'
            row_cls = ' class="must-fail"' if verdict == "fail" and rule.get("strictness") == "MUST" else ""
            detail = "" if verdict == "pass" else rule.get("detail")
            out.append(
                f"<tr{row_cls}><td>{shown_id}</td><td>{esc(rule.get('strictness'))}</td>"
                f'<td title="{esc(rule.get("statement"))}">{esc(rule.get("title"))}</td>'
                f'<td>{_verdict_badge(verdict)}</td><td class="num">{esc(rule.get("checks"))}</td>'
                f"<td>{esc(detail)}</td></tr>"
            )
        out.append("</tbody></table></section>")
    out.append("</main>")
    return out


def _source(rule: Mapping[str, Any]) -> str:
    url = c.safe_url(rule.get("source_url"))
    source = esc(rule.get("source"))
    if url:
        source += f' (<a href="{esc(url)}" rel="noreferrer noopener">documentation</a>)'
    return source


def _failures(report: Mapping[str, Any]) -> list[str]:
    failed = [r for r in c.rules(report) if c.verdict_of(r) == "fail"]
    if not failed:
        return []
    out = ['<section class="failures"><h2>Failures</h2>']
    for rule in failed:
        rule_id = c.text(rule.get("id"))
        failure = c.failure_of(rule)
        out.append(
            f'<details open id="{esc(c.anchor(rule_id))}"><summary>{esc(rule_id)} '
            f"({esc(rule.get('strictness'))}): {esc(rule.get('title'))}</summary>"
        )
        out.append(f"<p><strong>Statement:</strong> {esc(rule.get('statement'))}</p>")
        out.append(f"<p><strong>Source:</strong> {_source(rule)}</p>")
        if rule.get("detail"):
            out.append(f"<p><strong>Detail:</strong> {esc(rule.get('detail'))}</p>")
        if not failure:
            out.append("<p><em>No counterexample was recorded.</em></p></details>")
            continue
        out.append(
            '<div class="cmp"><div><h4>Expected</h4>'
            f"{_pre(failure.get('expected'), 'expected')}</div><div><h4>Observed</h4>"
            f"{_pre(failure.get('observed'), 'observed')}</div></div>"
        )
        steps = c.steps_text(failure)
        if steps:
            out.append(f"<details open><summary>Minimal steps</summary>{_pre(steps, 'steps')}</details>")
        if failure.get("evidence"):
            out.append(
                "<details open><summary>Evidence (raw response)</summary>"
                f"{_pre(failure.get('evidence'), 'evidence')}</details>"
            )
        if failure.get("program"):
            out.append(
                f"<details><summary>Hypothesis program</summary>{_pre(failure.get('program'), 'program')}</details>"
            )
        if failure.get("replay"):
            out.append(
                "<details><summary>Replay script (standalone Python)</summary>"
                f"{_pre(failure.get('replay'), 'replay')}</details>"
            )
        out.append("</details>")
    out.append("</section>")
    return out


def render_html(report: Mapping[str, Any]) -> str:
    """The whole report as one self-contained HTML page: summary, a table per group, failures expanded."""
    title = f"KMS conformance: {c.implementation_label(report)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{esc(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head><body>",
        *_summary(report),
        *_groups(report),
        *_failures(report),
        f'<footer class="muted"><p>Schema {esc(report.get("schema"))}</p></footer>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
