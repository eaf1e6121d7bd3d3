"""The report renderers: correct content, and nothing a target returned can break or inject into them."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.reporting import (
    build_matrix,
    render_html,
    render_junit,
    render_markdown,
    render_matrix_html,
    render_matrix_markdown,
    write_reports,
)
from conformance.reporting._common import text as visible_text

HOSTILE = "<script>alert(1)</script> a | b ``` still inside? ```` and `code`"
EVIDENCE = (
    'HTTP/1.1 400\n{"__type": "TagException", "message": "<script>alert(1)</script>"}\n'
    "```\n# not a heading\n| not | a | table |\n<img src=https://evil.example/x.png>\n"
)
REPLAY = "import boto3\n\nkms = boto3.client('kms', region_name='us-east-1')\nprint('replayed TAGS-005')\n"
CONTROL = "bad\x00byte\x1b[31m\x08\x0b\udc80end"


def _rule(rule_id: str, group: str, strictness: str, verdict: str, **extra: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rule_id,
        "group": group,
        "strictness": strictness,
        "title": f"title of {rule_id}",
        "statement": f"statement of {rule_id}",
        "source": "AWS KMS API Reference: ReplicateKey \u2014 'quote'",
        "source_url": "https://docs.aws.amazon.com/kms/latest/APIReference/API_ReplicateKey.html",
        "verdict": verdict,
        "checks": 12,
        "detail": "",
        "failure": None,
    }
    rule.update(extra)
    return rule


def sample_report() -> dict[str, Any]:
    rules = [
        _rule("KEYID-001", "keyid", "MUST", "pass"),
        _rule(
            "KEYID-010",
            "keyid",
            "MUST",
            "unsupported",
            detail="single-Region keys cannot be created",
            checks=0,
        ),
        _rule(
            "TAGS-005",
            "tags",
            "MUST",
            "fail",
            title="aws: prefix | rejected\nin any case",
            detail="target said <script>alert(1)</script> | ``` [link](https://evil.example)",
            failure={
                "expected": "TagException",
                "observed": "success; ReplicaTags=" + HOSTILE,
                "evidence": EVIDENCE,
                "steps": [
                    "state.create_primary(region='us-east-1')",
                    "state.replicate(tags=[{'TagKey': 'AWS:x'}])",
                ],
                "program": "state = KmsMachine()\nstate.create_primary()\n```\nstate.teardown()",
                "replay": REPLAY,
            },
        ),
        _rule(
            "TAGS-002",
            "tags",
            "MUST",
            "inconclusive",
            detail="throttled | retry\nexhausted <b>x</b>",
            checks=3,
        ),
        _rule(
            "DESC-003",
            "description",
            "SHOULD",
            "fail",
            failure={
                "expected": "ValidationException",
                "observed": "InternalFailure " + CONTROL,
                "evidence": "raw " + CONTROL,
                "steps": ["state.replicate(description='x' * 8193)"],
                "program": "",
                "replay": "print('replay DESC-003')\n",
            },
        ),
        _rule("REGION-008", "region", "INFO", "not-run", detail="not observable", checks=0),
    ]
    return {
        "schema": "kms-conformance/report/v1",
        "tool_version": "0.1.0",
        "catalogue_version": "2026.11.28",
        "target": {
            "kind": "moto",
            "endpoint": None,
            "implementation": "moto",
            "implementation_version": "5.2.1",
            "primary_region": "us-east-1",
            "replica_regions": ["us-west-2", "eu-west-1"],
        },
        "hypothesis": {"profile": "ci", "seed": 1234, "version": "6.155.2", "derandomize": True},
        "started_at": "2026-11-28T20:00:00+00:00",
        "duration_seconds": 12.3,
        "summary": {
            "verdicts": {"pass": 1, "fail": 2, "unsupported": 1, "inconclusive": 1, "not-run": 1},
            "by_strictness": {
                "MUST": {"pass": 1, "fail": 1, "unsupported": 1, "inconclusive": 1, "not-run": 0},
                "SHOULD": {"pass": 0, "fail": 1, "unsupported": 0, "inconclusive": 0, "not-run": 0},
                "INFO": {"pass": 0, "fail": 0, "unsupported": 0, "inconclusive": 0, "not-run": 1},
            },
            "conformant": False,
            "total_rules": 6,
            "checks": 5017,
            "steps": 800,
            "examples": 100,
        },
        "expectations": {
            "file": "expectations/moto.toml",
            "expected_failures": ["DESC-003", "KEYID-001"],
            "new_failures": ["TAGS-005"],
            "unexpected_passes": ["KEYID-001"],
        },
        "rules": rules,
    }


RULE_IDS = [r["id"] for r in sample_report()["rules"]]


# ---------------------------------------------------------------- HTML


class _Page(HTMLParser):
    """Collects tags, attributes, text, table cells and <pre> contents of a rendered page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.pres: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.styles: list[str] = []
        self._stack: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "pre":
            self.pres.append("")
        if tag not in ("meta", "br", "hr", "img", "link", "input"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self._stack and self._stack[-1] == tag, f"</{tag}> closes {self._stack[-1:]}"
        self._stack.pop()
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if "pre" in self._stack:
            self.pres[-1] += data
        if self._stack and self._stack[-1] == "style":
            self.styles.append(data)


def parse_page(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser._stack == [], f"unclosed elements {parser._stack}"
    return parser


def test_html_parses_and_carries_summary_and_every_rule() -> None:
    report = sample_report()
    parsed = parse_page(render_html(report))
    text = "".join(parsed.text)
    assert "NOT CONFORMANT" in text
    assert "moto 5.2.1" in text
    assert "seed 1234" in text and "profile ci" in text
    counts = parsed.tables[0]
    header = counts[0][1:]
    assert header == ["pass", "fail", "unsupported", "inconclusive", "not-run"]
    rows = {row[0]: [int(x) for x in row[1:]] for row in counts[1:]}
    assert rows["all"] == [1, 2, 1, 1, 1]
    assert rows["MUST"] == [1, 1, 1, 1, 0]
    assert rows["SHOULD"] == [0, 1, 0, 0, 0]
    for rule_id in RULE_IDS:
        assert rule_id in text
    # one table per group, after the counts table, in catalogue order
    group_ids = [[row[0] for row in table[1:]] for table in parsed.tables[1:]]
    assert group_ids == [["KEYID-001", "KEYID-010"], ["TAGS-005", "TAGS-002"], ["DESC-003"], ["REGION-008"]]
    assert "New failures (1):" in text and "Unexpected passes (1):" in text


def test_html_escapes_target_text_and_shows_it_verbatim() -> None:
    page = render_html(sample_report())
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    parsed = parse_page(page)
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "img", "iframe", "object", "embed")]
    # the evidence, observed text and replay come back exactly, as text inside <pre>
    assert EVIDENCE in parsed.pres
    assert "success; ReplicaTags=" + HOSTILE in parsed.pres
    assert REPLAY in parsed.pres
    assert (
        "state.create_primary(region='us-east-1')\nstate.replicate(tags=[{'TagKey': 'AWS:x'}])" in parsed.pres
    )


def test_html_is_self_contained() -> None:
    parsed = parse_page(render_html(sample_report()))
    external = []
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            if name in ("src", "href", "srcset", "action", "data", "poster", "formaction") and value:
                if tag == "a" and name == "href" and value.startswith(("#", "https://docs.aws.amazon.com/")):
                    continue
                external.append((tag, name, value))
    assert external == []
    assert [t for t, _ in parsed.tags if t == "link"] == []
    assert parsed.styles and not any("url(" in s or "@import" in s for s in parsed.styles)
    csp = [a for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    # the failing rules are expandable <details> with the anchors the table links to
    detail_ids = {a.get("id") for t, a in parsed.tags if t == "details" and a.get("id")}
    assert detail_ids == {"fail-TAGS-005", "fail-DESC-003"}
    links = {a["href"] for t, a in parsed.tags if t == "a" and (a.get("href") or "").startswith("#")}
    assert {"#fail-TAGS-005", "#fail-DESC-003"} <= links


def test_html_refuses_non_http_source_links() -> None:
    report = sample_report()
    report["rules"][2]["source_url"] = "javascript:alert(1)"
    parsed = parse_page(render_html(report))
    hrefs = [a.get("href") or "" for t, a in parsed.tags if t == "a"]
    assert not any("javascript" in h for h in hrefs)
    assert "https://docs.aws.amazon.com/kms/latest/APIReference/API_ReplicateKey.html" in hrefs


# ---------------------------------------------------------------- Markdown


def split_fences(markdown: str) -> tuple[str, list[tuple[str, str, str]]]:
    """CommonMark backtick fences at column 0: (text outside fences, [(fence, info, body)])."""
    outside: list[str] = []
    blocks: list[tuple[str, str, str]] = []
    lines = markdown.split("\n")
    i = 0
    while i < len(lines):
        opening = re.fullmatch(r"(`{3,})([^`]*)", lines[i])
        if not opening:
            outside.append(lines[i])
            i += 1
            continue
        marker, info = opening.group(1), opening.group(2)
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.fullmatch(rf"`{{{len(marker)},}}\s*", lines[i]):
            body.append(lines[i])
            i += 1
        assert i < len(lines), "unterminated fence"
        blocks.append((marker, info, "\n".join(body) + "\n"))
        i += 1
    return "\n".join(outside), blocks


def unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_summary_and_expectations() -> None:
    md = render_markdown(sample_report())
    outside, _ = split_fences(md)
    assert outside.startswith("# KMS ReplicateKey conformance report")
    assert "**Overall verdict: NOT CONFORMANT**" in outside
    assert "moto 5.2.1" in outside and "seed 1234" in outside and "profile ci" in outside
    assert "| **all** | 1 | 2 | 1 | 1 | 1 |" in outside
    assert "| MUST | 1 | 1 | 1 | 1 | 0 |" in outside
    assert "**New failures (1):** TAGS-005" in outside
    assert "**Unexpected passes (1):** KEYID-001" in outside
    for rule_id in RULE_IDS:
        assert f"| {rule_id} |" in outside


def test_markdown_escapes_target_text_outside_fences() -> None:
    md = render_markdown(sample_report())
    outside, _ = split_fences(md)
    assert "<script" not in outside.lower() and "<b>" not in outside
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in outside
    assert "&lt;b&gt;x&lt;/b&gt;" in outside
    assert re.search(r"(?<!\\)\]\(https://evil", outside) is None  # no live link from target text
    assert "\\[link\\](https://evil.example)" in outside
    # every rule row keeps its column count despite | and newlines in titles and details
    rows = [line for line in outside.split("\n") if line.startswith(tuple(f"| {i} |" for i in RULE_IDS))]
    assert len(rows) == len(RULE_IDS)
    assert all(unescaped_pipes(line) == 7 for line in rows), rows
    tags_row = next(line for line in outside.split("\n") if line.startswith("| TAGS-005 |"))
    assert "aws: prefix \\| rejected in any case" in tags_row
    assert "**fail**" in tags_row


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_control_characters_are_made_visible(render: Any) -> None:
    report = sample_report()
    report["rules"][4]["failure"]["evidence"] += "\u202eevil\u202c"
    out = render(report)
    for ch in "\x00\x1b\x08\x0b\udc80\u202e\u202c":
        assert ch not in out
    assert "bad\\x00byte\\x1b[31m\\x08\\x0b\\udc80end" in out
    assert "\\u202eevil\\u202c" in out


def test_markdown_fences_cannot_be_closed_by_content() -> None:
    _, blocks = split_fences(render_markdown(sample_report()))
    bodies = [body for _, _, body in blocks]
    assert EVIDENCE in bodies
    assert "success; ReplicaTags=" + HOSTILE + "\n" in bodies
    evidence_fence = next(marker for marker, _, body in blocks if body == EVIDENCE)
    assert len(evidence_fence) == 4  # longer than the ``` inside the evidence
    observed_fence = next(marker for marker, _, body in blocks if body.startswith("success; ReplicaTags="))
    assert len(observed_fence) == 5  # longer than the ```` inside the observed text
    replay = [(marker, info) for marker, info, body in blocks if body == REPLAY]
    assert replay == [("```", "python")]


def test_markdown_without_failures_or_expectations() -> None:
    report = sample_report()
    report["expectations"] = None
    report["rules"] = [r for r in report["rules"] if r["verdict"] != "fail"]
    md = render_markdown(report)
    assert "## Failures" not in md and "## Expectations" not in md
    assert "```" not in md


# ---------------------------------------------------------------- JUnit


def test_junit_counts_and_failure_text() -> None:
    report = sample_report()
    report["expectations"] = None
    xml = render_junit(report)
    root = ET.fromstring(xml)
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("name") == "kms-conformance"
    suite = suites[0]
    counts = [suite.get(key) for key in ("tests", "failures", "skipped", "errors")]
    assert counts == ["6", "2", "3", "0"]
    assert suite.get("time") == "12.300"
    assert root.get("tests") == "6" and root.get("failures") == "2"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert len(cases) == 6
    tags = cases["TAGS-005 aws: prefix | rejected in any case"]
    assert tags.get("classname") == "kms-conformance.tags"
    failure = tags.find("failure")
    assert failure is not None
    assert "\n" not in (failure.get("message") or "")
    assert (failure.get("message") or "").startswith(
        "expected TagException; observed success; ReplicaTags=<script>"
    )
    assert REPLAY in (failure.text or "")
    assert "state.replicate(tags=[{'TagKey': 'AWS:x'}])" in (failure.text or "")
    assert EVIDENCE in (failure.text or "")
    inconclusive = cases["TAGS-002 title of TAGS-002"]
    assert inconclusive.find("failure") is None
    skipped = inconclusive.find("skipped")
    assert skipped is not None and (skipped.get("message") or "").startswith("inconclusive: throttled")
    for name, reason in (("KEYID-010", "unsupported"), ("REGION-008", "not-run")):
        skip = cases[f"{name} title of {name}"].find("skipped")
        assert skip is not None and (skip.get("message") or "").startswith(reason)
    passed = cases["KEYID-001 title of KEYID-001"]
    assert passed.find("failure") is None and passed.find("skipped") is None


def test_junit_strips_xml_illegal_characters() -> None:
    report = sample_report()
    report["expectations"] = None
    xml = render_junit(report)
    for ch in "\x00\x1b\x08\x0b\udc80":
        assert ch not in xml
    root = ET.fromstring(xml)
    desc = next(c for c in root.iter("testcase") if (c.get("name") or "").startswith("DESC-003"))
    failure = desc.find("failure")
    assert failure is not None
    assert "bad\\x00byte\\x1b[31m\\x08\\x0b\\udc80end" in (failure.text or "")
    assert "print('replay DESC-003')" in (failure.text or "")


def test_junit_follows_expectations_like_pytest_xfail() -> None:
    root = ET.fromstring(render_junit(sample_report()))
    suite = root.find("testsuite")
    assert suite is not None
    # DESC-003 (expected failure) is skipped; KEYID-001 (unexpected pass) becomes a failure
    assert (suite.get("failures"), suite.get("skipped")) == ("2", "4")
    by_id = {(c.get("name") or "").split()[0]: c for c in suite.iter("testcase")}
    xfail = by_id["DESC-003"].find("skipped")
    assert xfail is not None and (xfail.get("message") or "").startswith("expected failure")
    xpass = by_id["KEYID-001"].find("failure")
    assert xpass is not None and "unexpected pass" in (xpass.get("message") or "")
    assert by_id["TAGS-005"].find("failure") is not None


# ---------------------------------------------------------------- Matrix


def other_report() -> dict[str, Any]:
    report = sample_report()
    report["target"] = {
        **report["target"],
        "kind": "endpoint",
        "implementation": "local-kms",
        "endpoint": "http://127.0.0.1:8080",
    }
    report["target"]["implementation_version"] = "3.12.0"
    report["summary"]["conformant"] = True
    rules = {r["id"]: r for r in copy.deepcopy(report["rules"])}
    rules["TAGS-005"]["verdict"] = "pass"
    rules["DESC-003"]["verdict"] = "pass"
    rules["KEYID-001"]["verdict"] = "fail"
    del rules["REGION-008"]
    rules["SHARED-001"] = _rule("SHARED-001", "shared", "MUST", "pass")
    report["rules"] = list(rules.values())
    return report


def test_matrix_columns_rows_and_totals() -> None:
    matrix = build_matrix([sample_report(), other_report()])
    assert [col.label for col in matrix.columns] == ["moto 5.2.1 (moto)", "local-kms 3.12.0 (endpoint)"]
    assert [row.rule_id for row in matrix.rows] == [*RULE_IDS, "SHARED-001"]
    cells = {row.rule_id: row.cells for row in matrix.rows}
    assert cells["TAGS-005"] == ("fail", "pass")
    assert cells["REGION-008"] == ("not-run", "absent")
    assert cells["SHARED-001"] == ("absent", "pass")
    assert dict(matrix.totals[0]) == {
        "pass": 1,
        "fail": 2,
        "unsupported": 1,
        "inconclusive": 1,
        "not-run": 1,
        "absent": 1,
    }
    assert dict(matrix.totals[1]) == {
        "pass": 3,
        "fail": 1,
        "unsupported": 1,
        "inconclusive": 1,
        "not-run": 0,
        "absent": 1,
    }
    assert [matrix.must_failures(i) for i in range(2)] == [1, 1]


def test_matrix_markdown_and_html() -> None:
    matrix = build_matrix([sample_report(), other_report()])
    md = render_matrix_markdown(matrix)
    lines = md.split("\n")
    header = next(line for line in lines if line.startswith("| Rule |"))
    assert unescaped_pipes(header) == 3 + 2 + 1
    assert "| moto 5.2.1 (moto) | local-kms 3.12.0 (endpoint) |" in header
    tags_row = next(line for line in lines if line.startswith("| TAGS-005 |"))
    assert tags_row.endswith("| **fail (MUST)** | pass |")
    desc_row = next(line for line in lines if line.startswith("| DESC-003 |"))
    assert desc_row.endswith("| fail | pass |")  # a SHOULD failure is not highlighted
    assert "| **total pass** |  |  | 1 | 3 |" in lines
    assert "| **total fail** |  |  | 2 | 1 |" in lines
    assert "| **MUST failures** |  |  | 1 | 1 |" in lines
    assert "| **overall** |  |  | NOT conformant | conformant |" in lines

    page = render_matrix_html(matrix)
    assert "<script" not in page.lower()
    parsed = parse_page(page)
    table = parsed.tables[0]
    assert table[0] == ["Rule", "Strictness", "Title", "moto 5.2.1 (moto)", "local-kms 3.12.0 (endpoint)"]
    assert ["total fail", "2", "1"] in table
    must = [a for t, a in parsed.tags if t == "td" and a.get("class") == "must-fail"]
    assert len(must) == 2


def test_matrix_disambiguates_identical_labels() -> None:
    matrix = build_matrix([sample_report(), sample_report()])
    assert [col.label for col in matrix.columns] == ["moto 5.2.1 (moto)", "moto 5.2.1 (moto) #2"]


# ---------------------------------------------------------------- write_reports


def test_write_reports_writes_four_files_atomically(tmp_path: Path) -> None:
    report = sample_report()
    out = tmp_path / "run" / "reports"
    paths = write_reports(report, out)
    assert paths == {
        "json": out / "report.json",
        "markdown": out / "report.md",
        "html": out / "report.html",
        "junit": out / "junit.xml",
    }
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "report.html", "report.json", "report.md"]
    raw = paths["json"].read_text(encoding="utf-8")
    assert "\u2014" in raw  # ensure_ascii=False
    assert raw.startswith('{\n  "schema": "kms-conformance/report/v1",\n  "tool_version"')  # insertion order
    assert json.loads(raw) == report  # the lone surrogate survives as a JSON escape
    assert paths["markdown"].read_text(encoding="utf-8") == render_markdown(report)
    ET.parse(paths["junit"])
    parse_page(paths["html"].read_text(encoding="utf-8"))
    # a second run replaces the files in place
    report["summary"]["conformant"] = True
    write_reports(report, out)
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["summary"]["conformant"] is True
    assert len(list(out.iterdir())) == 4


def test_write_reports_leaves_old_files_when_rendering_fails(tmp_path: Path) -> None:
    write_reports(sample_report(), tmp_path)
    before = (tmp_path / "report.json").read_text(encoding="utf-8")
    broken = sample_report()
    broken["not_json"] = object()
    with pytest.raises(TypeError):
        write_reports(broken, tmp_path)
    assert (tmp_path / "report.json").read_text(encoding="utf-8") == before
    assert len(list(tmp_path.iterdir())) == 4


@pytest.mark.parametrize("render", [render_markdown, render_html, render_junit])
def test_renderers_tolerate_a_minimal_report(render: Any) -> None:
    out = render({"schema": "kms-conformance/report/v1", "rules": []})
    assert isinstance(out, str) and out


def _normalise_newlines(value: str) -> str:
    return value.replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=150, deadline=None)
@given(title=st.text(), detail=st.text(), observed=st.text(), evidence=st.text(min_size=1))
def test_arbitrary_target_text_never_breaks_any_format(
    title: str, detail: str, observed: str, evidence: str
) -> None:
    report = sample_report()
    report["expectations"] = None
    for each in report["rules"]:
        each["source_url"] = ""  # the only "<...>" our own Markdown emits is the link to it
    rule = report["rules"][2]
    rule.update(title=title, detail=detail)
    rule["failure"].update(observed=observed, evidence=evidence)
    shown = visible_text(evidence)

    outside, blocks = split_fences(render_markdown(report))
    assert "<" not in outside and ">" not in outside  # nothing HTML-ish survives outside fences
    assert _normalise_newlines(shown if shown.endswith("\n") else shown + "\n") in [b for _, _, b in blocks]
    rows = [line for line in outside.split("\n") if line.startswith(tuple(f"| {i} |" for i in RULE_IDS))]
    assert len(rows) == len(RULE_IDS) and all(unescaped_pipes(line) == 7 for line in rows)

    page = render_html(report)
    assert "<script" not in page.lower()
    assert shown in parse_page(page).pres

    root = ET.fromstring(render_junit(report))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "6" and suite.get("failures") == "2"
    failure = next(case for case in suite.iter("testcase") if case.get("name", "").startswith("TAGS-005"))
    body = failure.findtext("failure") or ""
    assert _normalise_newlines(shown) in body and REPLAY in body
