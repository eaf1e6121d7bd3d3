"""Mutation score of the suite: run it against the reference KMS with one seeded fault at a time.

A fault is *caught* when at least one of the rules it names comes out ``fail``. A failing rule the
fault does not name is a *false attribution* (the suite blames the wrong rule): a suite problem.
Usage::

    python scripts/mutation_score.py [--faults a,b] [--jobs 2] [--profile ci] [--all-rules] [--json FILE]

Each fault runs in a fresh reference with ``profile`` (default ci), only the foci that exercise its
rules, and (unless ``--all-rules``) only its rules plus ERR-002/ERR-003, which keeps a run short.
Exit status 1 if the score is below 100 % or any false attribution was seen.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.quality.harness import FaultResult, run_fault  # noqa: E402
from tests.support.reference_kms import FAULTS  # noqa: E402


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.1f}, max {max(values):.1f}" if values else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", default="", help="comma-separated fault names (default: all)")
    parser.add_argument("--jobs", type=int, default=1, help="faults run in parallel processes (default 1)")
    parser.add_argument("--profile", default="ci", help="Hypothesis profile (default ci)")
    parser.add_argument("--all-rules", action="store_true", help="check every rule, not only the fault's")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.faults.split(",") if n.strip()] or list(FAULTS)
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        parser.error(f"unknown faults: {', '.join(unknown)}")
    started = time.monotonic()
    results: list[FaultResult] = []
    print("examples/seconds: until the fault's first rule failed (directed scenarios count as one example each)")
    print(f"{'fault':48} {'rules':40} {'caught':6} {'examples':>8} {'seconds':>8} {'run s':>7}", flush=True)
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = pool.map(run_fault, names, [args.profile] * len(names), [args.all_rules] * len(names))
        for result in outcomes:
            results.append(result)
            rules = ",".join(result.rules)
            print(
                f"{result.fault:48} {rules[:40]:40} {'yes' if result.caught else 'NO':6} "
                f"{result.examples:8d} {result.seconds:8.1f} {result.run_seconds:7.1f}",
                flush=True,
            )
            if not result.caught:
                print(f"    verdicts of its rules: {result.verdicts} (foci {', '.join(result.foci)})", flush=True)
            if result.false_attributions:
                print(f"    FALSE ATTRIBUTION: also failing {result.false_attributions}", flush=True)
            for note in result.notes:
                print(f"    note: {note[:300]}", flush=True)
    caught = sum(r.caught for r in results)
    score = caught / len(results) if results else 0.0
    misattributed = [r.fault for r in results if r.false_attributions]
    print(f"\nmutation score: {caught}/{len(results)} = {score:.1%} (profile {args.profile}, "
          f"{time.monotonic() - started:.0f}s wall)")
    print(f"examples per fault: {_summary([float(r.examples) for r in results])}; "
          f"seconds per fault: {_summary([r.seconds for r in results])}")
    missed = [r.fault for r in results if not r.caught]
    if missed:
        print(f"not caught: {', '.join(missed)}")
    if misattributed:
        print(f"false attributions: {', '.join(misattributed)}")
    if args.json:
        rows = [{k: v for k, v in asdict(r).items() if k != "report"} for r in results]
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if score == 1.0 and not misattributed else 1


if __name__ == "__main__":
    sys.exit(main())
