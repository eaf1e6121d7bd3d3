"""JUnit XML rendering (junit.xml), so CI systems show one test case per catalogue rule.

Mapping: ``fail`` is a ``<failure>``; ``unsupported``, ``not-run`` and ``inconclusive`` are ``<skipped>``
(inconclusive is "could not decide", never a failure). When the run used an expectations file, a failure
listed in it is reported the way pytest reports an xfail (skipped, "expected failure") and an unexpected
pass the way pytest reports a strict xpass (a failure), so CI goes red exactly when the run's outcome changed.
Characters XML 1.0 cannot carry are replaced by a visible ``\\xNN``/``\\uNNNN`` escape.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from conformance.reporting import _common as c

SUITE_NAME = "kms-conformance"


def xml_text(value: object) -> str:
    """Report text for XML: ``_common.text`` already turns every character XML 1.0 forbids (C0 controls
    but tab/newline/CR, lone surrogates, U+FFFE/U+FFFF) into a visible escape, so this is only a name."""
    return c.text(value)


def _failure_message(rule: Mapping[str, Any]) -> str:
    failure = c.failure_of(rule)
    expected = c.text(failure.get("expected"))
    observed = c.text(failure.get("observed"))
    if not failure:
        return c.one_line(f"{c.text(rule.get('statement'))} {c.text(rule.get('detail'))}", 500)
    return c.one_line(f"expected {expected}; observed {observed}", 500)


def _failure_body(rule: Mapping[str, Any]) -> str:
    failure = c.failure_of(rule)
    parts = [
        f"{c.text(rule.get('id'))} [{c.text(rule.get('strictness'))}] {c.text(rule.get('title'))}",
        f"Statement: {c.text(rule.get('statement'))}",
        f"Source: {c.text(rule.get('source'))} {c.text(rule.get('source_url'))}".rstrip(),
    ]
    if rule.get("detail"):
        parts.append(f"Detail: {c.text(rule.get('detail'))}")
    if failure:
        parts.append(f"Expected:\n{c.text(failure.get('expected'))}")
        parts.append(f"Observed:\n{c.text(failure.get('observed'))}")
        if failure.get("evidence"):
            parts.append(f"Evidence:\n{c.text(failure.get('evidence'))}")
        steps = c.steps_text(failure)
        if steps:
            parts.append(f"Minimal steps:\n{steps}")
        if failure.get("program"):
            parts.append(f"Hypothesis program:\n{c.text(failure.get('program'))}")
        if failure.get("replay"):
            parts.append(f"Replay script:\n{c.text(failure.get('replay'))}")
    return "\n\n".join(parts) + "\n"


def _properties(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    target = c.mapping(report.get("target"))
    hyp = c.mapping(report.get("hypothesis"))
    verdict = c.conformant(report)
    props = [
        ("implementation", c.text(target.get("implementation"))),
        ("implementation_version", c.text(target.get("implementation_version"))),
        ("target_kind", c.text(target.get("kind"))),
        ("endpoint", c.text(target.get("endpoint"))),
        ("primary_region", c.text(target.get("primary_region"))),
        ("replica_regions", ",".join(c.text(r) for r in c.sequence(target.get("replica_regions")))),
        ("hypothesis_profile", c.text(hyp.get("profile"))),
        ("hypothesis_seed", c.text(hyp.get("seed"))),
        ("hypothesis_version", c.text(hyp.get("version"))),
        ("catalogue_version", c.text(report.get("catalogue_version"))),
        ("tool_version", c.text(report.get("tool_version"))),
        ("conformant", "" if verdict is None else str(verdict).lower()),
    ]
    return [(k, v) for k, v in props if v]


def render_junit(report: Mapping[str, Any]) -> str:
    """JUnit XML: ``<testsuites>`` around one ``<testsuite name="kms-conformance">``, a testcase per rule."""
    lists = c.expectation_lists(report)
    expected_failures = set(lists[0]) if lists else set()
    unexpected_passes = set(lists[2]) if lists else set()
    duration = c.text(report.get("duration_seconds")) or "0"
    try:
        duration = f"{float(duration):.3f}"
    except ValueError:
        duration = "0"

    suite = ET.Element("testsuite", name=SUITE_NAME)
    if report.get("started_at"):
        suite.set("timestamp", xml_text(report.get("started_at")))
    props = ET.SubElement(suite, "properties")
    for key, value in _properties(report):
        ET.SubElement(props, "property", name=key, value=xml_text(value))

    tests = failures = skipped = 0
    for rule in c.rules(report):
        tests += 1
        rule_id = c.text(rule.get("id"))
        group = c.text(rule.get("group")) or "ungrouped"
        case = ET.SubElement(
            suite,
            "testcase",
            classname=xml_text(f"{SUITE_NAME}.{group}"),
            name=xml_text(c.one_line(f"{rule_id} {c.text(rule.get('title'))}", 500)),
        )
        verdict = c.verdict_of(rule)
        detail = c.one_line(c.text(rule.get("detail")), 500)
        if verdict == "fail" and rule_id in expected_failures:
            skipped += 1
            el = ET.SubElement(
                case, "skipped", type="xfail", message=xml_text(f"expected failure: {_failure_message(rule)}")
            )
            el.text = xml_text(_failure_body(rule))
        elif verdict == "fail":
            failures += 1
            el = ET.SubElement(case, "failure", type="fail", message=xml_text(_failure_message(rule)))
            el.text = xml_text(_failure_body(rule))
        elif verdict == "pass" and rule_id in unexpected_passes:
            failures += 1
            el = ET.SubElement(
                case,
                "failure",
                type="unexpected-pass",
                message=f"unexpected pass: {xml_text(rule_id)} is listed as an expected failure but passed",
            )
        elif verdict == "pass":
            pass
        else:
            skipped += 1
            message = f"{verdict}: {detail}" if detail else verdict
            ET.SubElement(case, "skipped", type=xml_text(verdict), message=xml_text(message))
        checks = rule.get("checks")
        if checks is not None:
            ET.SubElement(case, "system-out").text = xml_text(f"checks: {c.text(checks)}")

    counts = {"tests": str(tests), "failures": str(failures), "errors": "0", "skipped": str(skipped)}
    for key, value in counts.items():
        suite.set(key, value)
    suite.set("time", duration)
    root = ET.Element("testsuites", {"name": SUITE_NAME, "time": duration, **counts})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
