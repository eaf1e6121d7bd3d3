"""Publish the suite's verdicts on real implementations: one report per implementation, then the matrix.

Why: the suite's claims are only worth something when they are shown on the implementations people
use. For each of in-process moto, moto server, MiniStack and LocalStack this script starts the
emulator on loopback (``conformance.emulators.running``, which stops it by its process group), runs
``python -m conformance run`` with a fixed profile and seed against it, gates the result against
``expectations/<name>.toml``, and finally rebuilds ``reports/matrix.md`` and ``reports/matrix.html``
from every published ``reports/*/report.json``. Usage::

    python scripts/publish_reports.py [--profile ci] [--only moto,ministack] [--update-expectations] [--jobs 2]

Exit status: 0 when every run matches its expectations; 1 when a run has a new failure or an
unexpected pass (or no expectations file), or when a run or an emulator could not be completed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IMPLEMENTATIONS: tuple[str, ...] = ("moto", "moto-server", "ministack", "localstack")
DEFAULT_SEED = 20251128  # fixed so that a published report can be regenerated
DEFAULT_PROFILE = "ci"  # derandomized with a fixed budget: reproducible reports


@dataclass
class RunResult:
    """What one implementation's run produced, for the summary line and the exit status."""

    name: str
    version: str = ""
    exit_code: int | None = None
    report: dict[str, Any] | None = None
    error: str = ""
    log: Path | None = None
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def run_command(
    name: str,
    version: str,
    *,
    profile: str,
    seed: int,
    report_dir: Path,
    expectations: Path | None,
    endpoint_url: str | None,
    update_expectations: bool = False,
) -> list[str]:
    """The ``python -m conformance run`` argv for one implementation (no endpoint: in-process moto)."""
    argv = [sys.executable, "-m", "conformance", "run"]
    if endpoint_url:
        argv += ["--endpoint-url", endpoint_url]
    argv += [
        "--implementation", name,
        "--implementation-version", version,
        "--profile", profile,
        "--seed", str(seed),
        "--report-dir", str(report_dir),
        # A fixed run ID keeps key names and tags (hence replay scripts) stable between runs.
        "--run-id", f"publish-{name}",
    ]
    if expectations is not None:
        # Relative to the repository (the run's working directory): published reports name no local path.
        shown = expectations.relative_to(ROOT) if expectations.is_relative_to(ROOT) else expectations
        argv += ["--expectations", str(shown)]
        if update_expectations:
            argv.append("--update-expectations")
    return argv


def _clean_env() -> dict[str, str]:
    """The caller's environment without anything that could send the suite to a real account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    env.pop("KMS_CONFORMANCE_IMPLEMENTATION", None)
    env.pop("KMS_CONFORMANCE_IMPLEMENTATION_VERSION", None)
    return env


def _run_logged(argv: list[str], env: dict[str, str], log: Path) -> int:
    with log.open("w", encoding="utf-8") as out:
        out.write("$ " + " ".join(argv) + "\n")
        out.flush()
        return subprocess.run(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def publish_one(
    name: str,
    *,
    profile: str,
    seed: int,
    reports: Path,
    expectations_dir: Path,
    logs: Path,
    update_expectations: bool,
) -> RunResult:
    """Run the suite against one implementation (starting and stopping its emulator) and gate it."""
    from conformance.emulators import EmulatorError, running

    result = RunResult(name)
    report_dir = reports / name
    expectations_file = expectations_dir / f"{name}.toml"
    expectations: Path | None = expectations_file
    if not update_expectations and not expectations_file.exists():
        result.problems.append(f"no expectations file {expectations_file}")
        expectations = None
    result.log = logs / f"{name}.log"
    started = time.monotonic()
    env = _clean_env()
    try:
        if name == "moto":
            result.version = metadata.version("moto")
            argv = run_command(name, result.version, profile=profile, seed=seed, report_dir=report_dir,
                               expectations=expectations, endpoint_url=None,
                               update_expectations=update_expectations)
            result.exit_code = _run_logged(argv, env, result.log)
        else:
            with running(name) as emulator:
                result.version = emulator.version
                argv = run_command(name, result.version, profile=profile, seed=seed, report_dir=report_dir,
                                   expectations=expectations, endpoint_url=emulator.url,
                                   update_expectations=update_expectations)
                result.exit_code = _run_logged(argv, {**env, "AWS_ENDPOINT_URL_KMS": emulator.url}, result.log)
    except EmulatorError as exc:
        result.error = str(exc).splitlines()[0]
        result.problems.append(f"emulator: {result.error}")
    result.seconds = time.monotonic() - started
    report_path = report_dir / "report.json"
    if result.exit_code is not None:
        if result.exit_code not in (0, 1):
            result.problems.append(f"run exited {result.exit_code} (see {result.log})")
        elif report_path.exists():
            result.report = json.loads(report_path.read_text(encoding="utf-8"))
            section = result.report.get("expectations") or {}
            if section.get("new_failures"):
                result.problems.append("new failures: " + ", ".join(section["new_failures"]))
            if section.get("unexpected_passes"):
                result.problems.append("unexpected passes: " + ", ".join(section["unexpected_passes"]))
        else:
            result.problems.append(f"no report written (see {result.log})")
    return result


def summary_line(result: RunResult) -> str:
    """One line per implementation: version, verdict counts, gate outcome, time."""
    head = f"{result.name:<12} {result.version or '?':<8}"
    if result.report is None:
        return f"{head} ERROR {'; '.join(result.problems) or result.error} ({result.seconds:.0f}s)"
    counts = result.report["summary"]["verdicts"]
    figures = " ".join(f"{verdict}={counts.get(verdict, 0)}"
                       for verdict in ("pass", "fail", "unsupported", "inconclusive", "not-run"))
    expected = len((result.report.get("expectations") or {}).get("expected_failures", []))
    gate = "OK" if result.ok else "GATE FAILED: " + "; ".join(result.problems)
    return f"{head} {figures} expected={expected} {gate} ({result.seconds:.0f}s)"


def build_matrix(reports: Path) -> int:
    """Rebuild the matrix from every published report (not only this invocation's)."""
    paths = sorted(str(p) for p in reports.glob("*/report.json"))
    if not paths:
        return 0
    argv = [sys.executable, "-m", "conformance", "matrix", *paths, "--out", str(reports)]
    return subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"Hypothesis profile (default {DEFAULT_PROFILE})")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(IMPLEMENTATIONS)}")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"Hypothesis seed (default {DEFAULT_SEED})")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports", help="published reports (default reports/)")
    parser.add_argument("--expectations-dir", type=Path, default=ROOT / "expectations")
    parser.add_argument("--update-expectations", action="store_true",
                        help="rewrite expectations/<name>.toml from the results (keeps reasons of rules still failing)")
    parser.add_argument("--logs", type=Path, default=None, help="where run logs go (default: a temporary directory)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="implementations run at the same time (default 1; each has its own emulator and port)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(IMPLEMENTATIONS)
    unknown = sorted(set(names) - set(IMPLEMENTATIONS))
    if unknown:
        parser.error(f"unknown implementation(s) {', '.join(unknown)}; known: {', '.join(IMPLEMENTATIONS)}")
    logs = args.logs or Path(tempfile.mkdtemp(prefix="kms-conformance-publish-"))
    logs.mkdir(parents=True, exist_ok=True)
    args.reports.mkdir(parents=True, exist_ok=True)

    def one(name: str) -> RunResult:
        print(f"[publish] {name}: running (log: {logs / (name + '.log')})", file=sys.stderr, flush=True)
        result = publish_one(name, profile=args.profile, seed=args.seed, reports=args.reports,
                             expectations_dir=args.expectations_dir, logs=logs,
                             update_expectations=args.update_expectations)
        print(f"[publish] {summary_line(result)}", file=sys.stderr, flush=True)
        return result

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, names))
    matrix_code = build_matrix(args.reports)
    for result in results:
        print(summary_line(result))
    if matrix_code != 0:
        print(f"matrix: python -m conformance matrix exited {matrix_code}")
    return 0 if all(r.ok for r in results) and matrix_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
