"""Run the whole suite against the conforming reference KMS for many seeds: it must pass every time.

A MUST/SHOULD rule that fails (or is inconclusive) on the reference is either a reference bug or a false
alarm of the suite; this script finds them. Usage::

    python scripts/reference_seeds.py [--seeds 20] [--first 0] [--profile dev] [--jobs 1]

Prints one line per seed, then every rule whose verdict is not pass/unsupported/not-run with its
expected and observed outcome. Exit status 1 if any MUST or SHOULD rule failed or was inconclusive.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance.runner import run_suite  # noqa: E402
from conformance.targets import TargetConfig  # noqa: E402
from tests.support.reference_kms import ReferenceKMS  # noqa: E402

QUIET = ("pass", "unsupported", "not-run")
BLOCKING = ("fail", "inconclusive")


def run_seed(seed: int, profile: str) -> dict[str, Any]:
    """One suite run against a fresh reference; returns the report dict plus wall-clock seconds."""
    started = time.monotonic()
    with ReferenceKMS(creating_seconds=0.05) as ref:
        config = TargetConfig(kind="endpoint", endpoint_url=ref.url)
        report = run_suite(config, profile=profile, seed=seed, implementation="reference")
    report["wall_seconds"] = time.monotonic() - started
    return report


def problems(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Rules whose verdict needs a look (anything but pass/unsupported/not-run)."""
    return [r for r in report["rules"] if r["verdict"] not in QUIET]


def blocking(report: dict[str, Any]) -> list[dict[str, Any]]:
    """MUST/SHOULD rules that failed or were inconclusive: the reference is not conforming or the suite is wrong."""
    return [r for r in problems(report) if r["verdict"] in BLOCKING and r["strictness"] in ("MUST", "SHOULD")]


def describe(rule: dict[str, Any]) -> str:
    """A rule's verdict with its expected/observed outcome and the replay script, for the console."""
    lines = [f"    {rule['id']} [{rule['strictness']}] {rule['verdict']}: {rule['title']}"]
    if rule.get("detail"):
        lines.append(f"      detail: {rule['detail'][:400]}")
    failure = rule.get("failure")
    if failure:
        lines.append(f"      expected: {str(failure.get('expected'))[:600]}")
        lines.append(f"      observed: {str(failure.get('observed'))[:600]}")
        if failure.get("evidence"):
            lines.append(f"      evidence: {json.dumps(failure['evidence'], default=str)[:600]}")
        if failure.get("replay"):
            lines.append("      replay:")
            lines.extend(f"        {line}" for line in str(failure["replay"]).splitlines())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="number of seeds (default 20)")
    parser.add_argument("--first", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--profile", default="dev", help="Hypothesis profile (default dev)")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes (default 1)")
    args = parser.parse_args(argv)
    seeds = list(range(args.first, args.first + args.seeds))
    bad_seeds: list[int] = []
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        reports = pool.map(run_seed, seeds, [args.profile] * len(seeds))
        for seed, report in zip(seeds, reports, strict=True):
            counts = report["summary"]["verdicts"]
            text = " ".join(f"{k}={v}" for k, v in counts.items())
            print(
                f"seed {seed:3d}: {text} examples={report['summary']['examples']} "
                f"{report['wall_seconds']:.1f}s",
                flush=True,
            )
            for rule in problems(report):
                print(describe(rule), flush=True)
            for note in report["notes"]:
                if note.startswith(("suite error", "hypothesis:", "flaky")):
                    print(f"    note: {note}", flush=True)
            if blocking(report):
                bad_seeds.append(seed)
    total = time.monotonic() - started
    verdict = "no MUST/SHOULD failure" if not bad_seeds else f"MUST/SHOULD failures in seeds {bad_seeds}"
    print(f"{len(seeds)} seeds, profile {args.profile}, {total:.0f}s: {verdict}")
    return 1 if bad_seeds else 0


if __name__ == "__main__":
    sys.exit(main())
