#!/usr/bin/env python3
"""Are the suite's verdicts stable? Same seed must give the same verdicts; different seeds must not flip MUST rules.

Runs the suite in-process against moto (``conformance.runner.run_suite``, no pytest):

* ``--runs N --seed S``: N runs with one seed. Every rule's verdict must be identical across them; a
  rule that is ``pass`` in one run and ``fail`` in another is a *flip*, and the script exits 1.
* ``--random-seeds K``: K runs with random seeds (printed, so any run can be repeated). Lists the MUST
  rules that flip between ``pass`` and ``fail`` across seeds: either a deviation only some seeds find
  (fine, if it has a counterexample) or a verdict that depends on luck (a suite bug to look at).

Usage::

    python scripts/stability.py --runs 20 --seed 1234
    python scripts/stability.py --runs 0 --random-seeds 10 --foci replicate --jobs 2

Exit codes: 0 stable, 1 a flip among identical-seed runs (or, with ``--strict``, any difference), 2 bad usage.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERDICTS = ("pass", "fail", "unsupported", "inconclusive", "not-run")


@dataclass(frozen=True)
class RunResult:
    """One suite run: its seed, duration, verdict per rule and the MUST rules."""

    seed: int
    seconds: float
    verdicts: dict[str, str]
    must: frozenset[str] = field(default_factory=frozenset)
    notes: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        text = json.dumps(sorted(self.verdicts.items()))
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def count(self, verdict: str) -> int:
        return sum(v == verdict for v in self.verdicts.values())


def run_once(
    seed: int, profile: str, foci: tuple[str, ...] | None, rules: tuple[str, ...], recorded: bool
) -> RunResult:
    """One in-process run against moto (a fresh mock per run, so no state leaks between runs)."""
    from conformance.runner import run_suite
    from conformance.targets import TargetConfig

    started = time.monotonic()
    report = run_suite(TargetConfig(kind="moto"), profile=profile, foci=foci, rules=rules, seed=seed,
                       recorded=recorded, implementation="moto")
    return RunResult(
        seed=seed,
        seconds=time.monotonic() - started,
        verdicts={r["id"]: r["verdict"] for r in report["rules"]},
        must=frozenset(r["id"] for r in report["rules"] if r["strictness"] == "MUST"),
        notes=tuple(report.get("notes", ())),
    )


def run_many(
    seeds: Sequence[int], profile: str, foci: tuple[str, ...] | None, rules: tuple[str, ...], recorded: bool,
    jobs: int, label: str,
) -> list[RunResult]:
    """Run one suite per seed, in worker processes when jobs > 1 (moto's mock is process-wide)."""
    results: list[RunResult] = []
    if jobs <= 1:
        for index, seed in enumerate(seeds, 1):
            result = run_once(seed, profile, foci, rules, recorded)
            results.append(result)
            print(f"  {label} {index}/{len(seeds)}: seed {seed}, {result.seconds:.1f} s, digest {result.digest}",
                  file=sys.stderr, flush=True)
        return results
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_once, seed, profile, foci, rules, recorded) for seed in seeds]
        for index, future in enumerate(futures, 1):
            result = future.result()
            results.append(result)
            print(f"  {label} {index}/{len(seeds)}: seed {result.seed}, {result.seconds:.1f} s, "
                  f"digest {result.digest}", file=sys.stderr, flush=True)
    return results


def flips(results: Iterable[RunResult], rules: Iterable[str] | None = None) -> dict[str, tuple[list[int], list[int]]]:
    """Rules that are ``pass`` in some runs and ``fail`` in others: rule -> (indices passing, indices failing)."""
    results = list(results)
    wanted = set(rules) if rules is not None else None
    out: dict[str, tuple[list[int], list[int]]] = {}
    for rule in results[0].verdicts if results else ():
        if wanted is not None and rule not in wanted:
            continue
        passing = [i for i, r in enumerate(results) if r.verdicts.get(rule) == "pass"]
        failing = [i for i, r in enumerate(results) if r.verdicts.get(rule) == "fail"]
        if passing and failing:
            out[rule] = (passing, failing)
    return out


def differences(results: Sequence[RunResult]) -> dict[str, Counter[str]]:
    """Rules whose verdict is not the same in every run: rule -> how often each verdict occurred."""
    out: dict[str, Counter[str]] = {}
    for rule in results[0].verdicts if results else ():
        seen = Counter(r.verdicts.get(rule, "?") for r in results)
        if len(seen) > 1:
            out[rule] = seen
    return out


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain-text table with columns padded to their widest cell."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def runs_table(results: Sequence[RunResult]) -> str:
    return table(
        ("run", "seed", "seconds", *VERDICTS, "digest"),
        ((i + 1, r.seed, f"{r.seconds:.1f}", *(r.count(v) for v in VERDICTS), r.digest) for i, r in enumerate(results)),
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="identical-seed runs (0 to skip)")
    parser.add_argument("--seed", type=int, default=1234, help="the seed of the identical-seed runs")
    parser.add_argument("--random-seeds", type=int, default=0, help="runs with random seeds, for MUST-rule flips")
    parser.add_argument("--profile", choices=("ci", "dev"), default="ci",
                        help="ci (derandomized, no database) or dev; with dev, runs use the fixed seeds given here")
    parser.add_argument("--foci", default="", help="comma-separated state-machine foci (default: all)")
    parser.add_argument("--rules", default="", help="comma-separated rule IDs or groups (default: all)")
    parser.add_argument("--no-recorded", action="store_true", help="skip the recorded real-AWS cases")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel worker processes")
    parser.add_argument("--strict", action="store_true", help="exit 1 on any identical-seed difference, not only flips")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw results here")
    args = parser.parse_args(argv)
    if args.runs < 0 or args.random_seeds < 0 or args.jobs < 1:
        parser.error("--runs and --random-seeds must be >= 0, --jobs >= 1")
    if args.runs == 1:
        parser.error("--runs needs at least 2 runs to compare (or 0 to skip)")
    if args.random_seeds == 1:
        parser.error("--random-seeds needs at least 2 seeds to compare (or 0 to skip)")
    if not args.runs and not args.random_seeds:
        parser.error("nothing to do: give --runs and/or --random-seeds")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from conformance.catalogue import load_catalogue
    from conformance.machine import FOCI

    foci = tuple(f for f in args.foci.split(",") if f) or None
    if foci and set(foci) - set(FOCI):
        print(f"stability: unknown focus {sorted(set(foci) - set(FOCI))}; choose from {FOCI}", file=sys.stderr)
        return 2
    rules = tuple(r for r in args.rules.split(",") if r)
    try:
        load_catalogue().select(rules)
    except KeyError as exc:
        print(f"stability: {exc.args[0]}", file=sys.stderr)
        return 2
    scope = (f"profile {args.profile}, foci {','.join(foci or FOCI)}, rules {args.rules or 'all'}, "
             f"recorded {'no' if args.no_recorded else 'yes'}, target moto (in-process)")
    status = 0
    dump: dict[str, Any] = {"scope": scope}

    if args.runs:
        print(f"== {args.runs} runs with seed {args.seed} ({scope})", flush=True)
        same = run_many([args.seed] * args.runs, args.profile, foci, rules, not args.no_recorded, args.jobs, "run")
        print(runs_table(same))
        diff = differences(same)
        flipped = flips(same)
        print(f"\nverdicts identical across {len(same)} runs: {'yes' if not diff else 'NO'}")
        if diff:
            print(table(("rule", "verdicts (count of runs)", "pass<->fail"),
                        ((rule, ", ".join(f"{v} {n}" for v, n in sorted(c.items())), "FLIP" if rule in flipped else "")
                         for rule, c in sorted(diff.items()))))
        if flipped or (diff and args.strict):
            status = 1
        dump["same_seed"] = {"seed": args.seed, "runs": [r.__dict__ | {"must": sorted(r.must)} for r in same],
                             "differences": {k: dict(v) for k, v in diff.items()}, "flips": sorted(flipped)}

    if args.random_seeds:
        seeds = random.SystemRandom().sample(range(2**31), args.random_seeds)
        print(f"\n== {args.random_seeds} random seeds ({scope})", flush=True)
        varied = run_many(seeds, args.profile, foci, rules, not args.no_recorded, args.jobs, "seed")
        print(runs_table(varied))
        must = varied[0].must
        flipped = flips(varied, must)
        print(f"\nMUST rules flipping between pass and fail across {len(varied)} seeds: {len(flipped)}")
        if flipped:
            print(table(("rule", "pass with seeds", "fail with seeds"),
                        ((rule, " ".join(str(varied[i].seed) for i in p), " ".join(str(varied[i].seed) for i in f))
                         for rule, (p, f) in sorted(flipped.items()))))
        dump["random_seeds"] = {
            "runs": [r.__dict__ | {"must": sorted(r.must)} for r in varied],
            "must_flips": {k: {"pass": [varied[i].seed for i in p], "fail": [varied[i].seed for i in f]}
                           for k, (p, f) in flipped.items()},
        }

    if args.json is not None:
        args.json.write_text(json.dumps(dump, indent=2, default=str), encoding="utf-8")
    return status


if __name__ == "__main__":
    sys.exit(main())
