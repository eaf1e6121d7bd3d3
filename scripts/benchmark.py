#!/usr/bin/env python3
"""Measure what the suite costs on this machine, in one run, and print it as a table.

Why: the suite is only useful as a pull-request gate if it is cheap. This script answers four
questions with numbers measured here and now (never carried over from another run):

* overhead - the suite's wall time against in-process moto, divided by the time the very same
  API calls take when replayed in a plain boto3 loop (goal: at most 1.5);
* scaling - ``kms-conformance run --profile ci -n 2`` against ``-n 1`` (goal: at least 1.6x);
* throughput - examples and steps per second against in-process moto and against moto server;
* budget - whether the ``ci`` profile against in-process moto ends within 3 minutes on two cores.

Usage::

    python scripts/benchmark.py                    # everything, about 5 minutes on two cores
    python scripts/benchmark.py --json bench.json  # also write the figures as JSON
    python scripts/benchmark.py --skip-server --foci replicate

Replay fidelity: the suite's calls are recorded through ``Target.trace`` and replayed inside a fresh
``moto.mock_aws()``, one plain client per Region. Values the original run's target created (key
IDs, also inside ARNs; ciphertexts, MACs, signatures, import tokens) are mapped to the values the
replay creates, as ``conformance/replay.py`` does. Wrapped import material is not re-wrapped, so an
``ImportKeyMaterial`` may fail on replay where it succeeded: it still costs a round trip. The table
reports how many replayed calls changed outcome.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
GOAL_OVERHEAD = 1.5
GOAL_SCALING = 1.6
GOAL_CI_SECONDS = 180.0

# Response members whose values later calls pass back: (operation, path into the response).
_PRODUCED: dict[str, tuple[tuple[str, ...], ...]] = {
    "Encrypt": (("CiphertextBlob",),),
    "ReEncrypt": (("CiphertextBlob",),),
    "GenerateDataKey": (("CiphertextBlob",),),
    "GenerateDataKeyWithoutPlaintext": (("CiphertextBlob",),),
    "GenerateDataKeyPair": (("CiphertextBlob",),),
    "GenerateMac": (("Mac",),),
    "Sign": (("Signature",),),
    "GetParametersForImport": (("ImportToken",),),
}
# Real multi-Region key IDs are mrk- and 32 hex digits; moto's are mrk- and a dashed UUID.
_KEY_ID = re.compile(r"(?:mrk-)?(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")


# --------------------------------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: they mean nothing without it."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("hypothesis", "boto3", "botocore", "moto", "pytest", "pytest-xdist", "kms-conformance"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions,
        "loadavg_start": list(os.getloadavg()),
    }


# --------------------------------------------------------------------------------------------------
# Overhead: suite against in-process moto vs the same calls in a plain boto3 loop
# --------------------------------------------------------------------------------------------------


@dataclass
class SuiteRun:
    wall: float
    call_seconds: float
    calls: int
    examples: int
    steps: int
    passes: dict[str, int]
    focus_seconds: dict[str, float]
    trace: list[tuple[str, str, dict[str, Any]]]
    outcomes: list[tuple[str, dict[str, Any]]]


@dataclass
class ReplayRun:
    wall: float
    call_seconds: float
    calls: int
    changed: int  # calls whose outcome (ok or not) differs from the suite's run
    changed_ops: dict[str, int] = field(default_factory=dict)


def run_suite_traced(foci: tuple[str, ...], profile: str, seed: int) -> SuiteRun:
    """Run the machine on the foci against in-process moto, recording every call and its result."""
    from conformance.catalogue import load_catalogue
    from conformance.events import EventLog
    from conformance.runner import probe_capabilities, run_machine
    from conformance.targets import Observation, Target, TargetConfig

    outcomes: list[tuple[str, dict[str, Any]]] = []

    class TracingTarget(Target):
        """Keeps each call's result too, so the replay can map created values to its own."""

        def call(self, region: str, operation: str, params: Mapping[str, Any]) -> Observation:
            obs = super().call(region, operation, params)
            outcomes.append((obs.kind, obs.response if obs.ok else {}))
            return obs

    catalogue = load_catalogue()
    log = EventLog()
    passes: dict[str, int] = {}
    focus_seconds: dict[str, float] = {}
    with TracingTarget(TargetConfig()) as target:
        target.trace = []
        started = time.perf_counter()
        unsupported, _notes = probe_capabilities(target)
        for index, focus in enumerate(foci):
            outcome = run_machine(target, catalogue, log, profile=profile, target_name="moto",
                                  seed=seed + index, unsupported_ops=unsupported, nonce=f"bench-{focus}",
                                  focus=focus)
            passes[focus] = outcome.passes
            focus_seconds[focus] = outcome.seconds
        wall = time.perf_counter() - started
        return SuiteRun(wall=wall, call_seconds=target.call_seconds, calls=target.calls, examples=log.examples,
                        steps=log.steps, passes=passes, focus_seconds=focus_seconds, trace=list(target.trace),
                        outcomes=outcomes)


def _substitute(value: Any, keys: dict[str, str], blobs: dict[bytes, bytes]) -> Any:
    if isinstance(value, str):
        return _KEY_ID.sub(lambda m: keys.get(m.group(0), m.group(0)), value) if keys else value
    if isinstance(value, bytes):
        return blobs.get(value, value)
    if isinstance(value, dict):
        return {k: _substitute(v, keys, blobs) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, keys, blobs) for v in value]
    return value


def _dig(response: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = response
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def replay_plain(run: SuiteRun) -> ReplayRun:
    """Replay the recorded calls with plain boto3 clients in a fresh moto; map created values."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
    from moto import mock_aws

    from conformance.targets import _snake

    # The suite's own client settings: no client-side validation (it sends invalid values on
    # purpose, so the same calls must reach moto) and one attempt (moto is in-process).
    config = Config(parameter_validation=False, retries={"mode": "standard", "total_max_attempts": 1})
    keys: dict[str, str] = {}
    blobs: dict[bytes, bytes] = {}
    changed = 0
    changed_ops: dict[str, int] = {}
    call_seconds = 0.0
    with mock_aws():
        session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        regions = sorted({region for region, _op, _params in run.trace})
        clients = {r: session.client("kms", region_name=r, config=config) for r in regions}  # outside the clock
        methods: dict[tuple[str, str], Callable[..., Any]] = {}
        started = time.perf_counter()
        for (region, operation, params), (kind, original) in zip(run.trace, run.outcomes, strict=True):
            method = methods.get((region, operation))
            if method is None:
                method = methods[(region, operation)] = getattr(clients[region], _snake(operation))
            args = _substitute(params, keys, blobs)
            t0 = time.perf_counter()
            try:
                response: dict[str, Any] | None = method(**args)
            except ClientError:
                response = None
            except Exception:  # moto raising on odd input: still a round trip
                response = None
            call_seconds += time.perf_counter() - t0
            if (response is not None) != (kind == "ok"):
                changed += 1
                changed_ops[operation] = changed_ops.get(operation, 0) + 1
            if response is None or kind != "ok":
                continue
            if operation in ("CreateKey", "ReplicateKey"):
                member = "KeyMetadata" if operation == "CreateKey" else "ReplicaKeyMetadata"
                old, new = _dig(original, (member, "KeyId")), _dig(response, (member, "KeyId"))
                if isinstance(old, str) and isinstance(new, str):
                    keys[old] = new
            for path in _PRODUCED.get(operation, ()):
                old, new = _dig(original, path), _dig(response, path)
                if isinstance(old, bytes) and isinstance(new, bytes):
                    blobs[old] = new
        wall = time.perf_counter() - started
    return ReplayRun(wall=wall, call_seconds=call_seconds, calls=len(run.trace), changed=changed,
                     changed_ops=changed_ops)


def profile_focus(focus: str, profile: str, seed: int, top: int = 25) -> dict[str, Any]:
    """cProfile one focus; own time grouped by package, and the top functions by own time."""
    prof = cProfile.Profile()
    prof.enable()
    run_suite_traced((focus,), profile, seed)
    prof.disable()
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    groups: dict[str, float] = {}
    rows = []
    total = 0.0
    for (filename, line, name), (_cc, _nc, tottime, cumtime, _callers) in raw.items():
        bucket = _bucket(filename, name)
        groups[bucket] = groups.get(bucket, 0.0) + tottime
        total += tottime
        rows.append((tottime, cumtime, f"{_short(filename)}:{line}({name})"))
    rows.sort(reverse=True)
    return {
        "focus": focus,
        "total_seconds": total,
        "by_package": dict(sorted(groups.items(), key=lambda kv: -kv[1])),
        "top_own_time": [{"own": round(t, 3), "cumulative": round(c, 3), "function": f} for t, c, f in rows[:top]],
    }


_PACKAGE_ORDER = ("hypothesis", "moto", "botocore", "boto3", "werkzeug", "responses", "cryptography", "jinja2",
                  "xmltodict", "dateutil", "urllib3", "jsonschema")


def _bucket(filename: str, function: str = "") -> str:
    if "generate_private_key" in function:
        return "key generation (cryptography, called by moto)"
    path = filename.replace("\\", "/")
    repo = str(REPO).replace("\\", "/") + "/"
    if path.startswith(repo):
        parts = path[len(repo):].split("/")
        return "/".join(parts[:2]).removesuffix(".py") if parts[0] == "conformance" else parts[0].removesuffix(".py")
    for package in _PACKAGE_ORDER:
        if f"/{package}/" in path:
            return package
    if path.startswith("<") or "/lib/python3" in path or filename == "~":
        return "python (stdlib and builtins)"
    return "other"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# --------------------------------------------------------------------------------------------------
# Whole runs through the CLI (scaling, throughput, budget)
# --------------------------------------------------------------------------------------------------


@dataclass
class CliRun:
    label: str
    wall: float
    exit_code: int
    duration: float  # the report's own duration_seconds
    examples: int
    steps: int
    verdicts: dict[str, int]

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.duration if self.duration else 0.0

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.duration if self.duration else 0.0


def run_cli(label: str, report_dir: Path, extra: list[str], env: Mapping[str, str] | None = None,
            profile: str = "ci") -> CliRun:
    """One ``kms-conformance run`` in a subprocess; exit 0 or 1 are both a completed run."""
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "conformance", "run", "--profile", profile, "--report-dir", str(report_dir),
               *extra]
    print(f"[benchmark] {label}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=report_dir, env=dict(env or os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise RuntimeError(f"{label}: exit code {result.returncode}: {result.stderr[-2000:]}")
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    summary = report["summary"]
    return CliRun(label=label, wall=wall, exit_code=result.returncode, duration=float(report["duration_seconds"]),
                  examples=int(summary["examples"]), steps=int(summary["steps"]),
                  verdicts=dict(summary["verdicts"]))


def run_server(report_dir: Path, profile: str) -> CliRun:
    """The same run against moto server on loopback (installed into its own venv on first use)."""
    from conformance.emulators import command_environment, running

    with running("moto-server") as emulator:
        env = command_environment(emulator)
        return run_cli(f"moto-server {emulator.version}", report_dir, ["--endpoint-url", emulator.url, "-n", "1"],
                       env=env, profile=profile)


# --------------------------------------------------------------------------------------------------
# Table
# --------------------------------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"machine: nproc={m['nproc']} (affinity {m['affinity']}), {m['cpu']}, {m['platform']}",
        f"python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        f"load average at start {m['loadavg_start']}, at end {m.get('loadavg_end')}",
        "",
        f"{'measure':<52} {'value':>14}  {'goal':>10}  verdict",
        "-" * 92,
    ]

    def row(name: str, value: str, goal: str = "", verdict: str = "") -> None:
        lines.append(f"{name:<52} {value:>14}  {goal:>10}  {verdict}")

    ov = results.get("overhead")
    if ov:
        row(f"suite wall, foci {'+'.join(ov['foci'])} (s)", f"{ov['suite_wall']:.2f}")
        row("  of which inside Target.call (s)", f"{ov['suite_call_seconds']:.2f}")
        row("  of which Hypothesis + model + checks (s)", f"{ov['suite_wall'] - ov['suite_call_seconds']:.2f}")
        for focus, seconds in ov["focus_seconds"].items():
            row(f"  focus {focus}: seconds (Hypothesis passes)", f"{seconds:.1f} ({ov['passes'][focus]})")
        row("plain boto3 replay, loop wall (s)", f"{ov['replay_wall']:.2f}")
        row("  of which inside the boto3 calls (s)", f"{ov['replay_call_seconds']:.2f}")
        row("API calls replayed", f"{ov['calls']}")
        row("  outcome changed on replay (ok <-> error)", f"{ov['changed']}")
        row("overhead ratio (suite wall / replay wall)", f"{ov['ratio']:.2f}", f"<= {GOAL_OVERHEAD}",
            _verdict(ov["ratio"] <= GOAL_OVERHEAD))
    sc = results.get("scaling")
    if sc:
        row("kms-conformance run --profile ci -n 1, wall (s)", f"{sc['n1_wall']:.1f}")
        row("kms-conformance run --profile ci -n 2, wall (s)", f"{sc['n2_wall']:.1f}")
        row("scaling (-n 1 wall / -n 2 wall)", f"{sc['speedup']:.2f}x", f">= {GOAL_SCALING}x",
            _verdict(sc["speedup"] >= GOAL_SCALING))
    for tp in results.get("throughput", []):
        row(f"{tp['label']}: examples/s", f"{tp['examples_per_second']:.1f}")
        row(f"{tp['label']}: steps/s", f"{tp['steps_per_second']:.1f}")
        row(f"  {tp['examples']} examples, {tp['steps']} steps in (s)", f"{tp['duration']:.1f}")
    budget = results.get("budget")
    if budget:
        row(f"ci profile, in-process moto, -n 2 on {budget['cores']} cores (s)", f"{budget['seconds']:.1f}",
            f"< {GOAL_CI_SECONDS:.0f}", _verdict(budget["ok"]))
    prof = results.get("cprofile")
    if prof:
        lines += ["", f"cProfile of focus {prof['focus']!r} (own time {prof['total_seconds']:.1f} s, by package):"]
        for name, seconds in list(prof["by_package"].items())[:12]:
            lines.append(f"  {name:<40} {seconds:7.2f} s  {100 * seconds / prof['total_seconds']:5.1f} %")
        lines.append("top functions by own time:")
        for item in prof["top_own_time"][:15]:
            lines.append(f"  {item['own']:7.3f} s own {item['cumulative']:8.3f} s cum  {item['function']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    parser.add_argument("--profile", default="ci", help="Hypothesis profile (default ci)")
    parser.add_argument("--foci", default="replicate,lifecycle,crypto", help="foci for the overhead measure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-server", action="store_true", help="no moto-server throughput run")
    parser.add_argument("--skip-cli", action="store_true", help="no scaling, throughput or budget runs")
    parser.add_argument("--cprofile", choices=("auto", "always", "never"), default="auto",
                        help="profile one focus: auto = when the overhead goal is missed")
    parser.add_argument("--cprofile-focus", default="replicate")
    parser.add_argument("--work-dir", type=Path, default=None, help="where run reports go (default a temp dir)")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {"machine": machine_info(), "profile": args.profile}
    foci = tuple(f.strip() for f in args.foci.split(",") if f.strip())

    print(f"[benchmark] overhead: suite on {'+'.join(foci)} against in-process moto", file=sys.stderr, flush=True)
    suite = run_suite_traced(foci, args.profile, args.seed)
    print(f"[benchmark] overhead: replaying {len(suite.trace)} calls in a plain boto3 loop", file=sys.stderr,
          flush=True)
    replay = replay_plain(suite)
    results["overhead"] = {
        "foci": list(foci), "suite_wall": suite.wall, "suite_call_seconds": suite.call_seconds,
        "examples": suite.examples, "steps": suite.steps, "passes": suite.passes,
        "focus_seconds": suite.focus_seconds,
        "replay_wall": replay.wall, "replay_call_seconds": replay.call_seconds, "calls": replay.calls,
        "changed": replay.changed, "changed_ops": replay.changed_ops,
        "ratio": suite.wall / replay.wall if replay.wall else float("inf"),
        "key_ids": "mapped (created key IDs, ciphertexts, MACs, signatures, import tokens)",
    }
    missed = results["overhead"]["ratio"] > GOAL_OVERHEAD
    if args.cprofile == "always" or (args.cprofile == "auto" and missed):
        print(f"[benchmark] cProfile of focus {args.cprofile_focus}", file=sys.stderr, flush=True)
        results["cprofile"] = profile_focus(args.cprofile_focus, args.profile, args.seed)

    if not args.skip_cli:
        with tempfile.TemporaryDirectory(prefix="kms-bench-") as tmp:
            work = args.work_dir or Path(tmp)
            n1 = run_cli("in-process moto -n 1", work / "moto-n1", ["-n", "1"], profile=args.profile)
            n2 = run_cli("in-process moto -n 2", work / "moto-n2", ["-n", "2"], profile=args.profile)
            results["scaling"] = {"n1_wall": n1.wall, "n2_wall": n2.wall, "speedup": n1.wall / n2.wall,
                                  "n1_verdicts": n1.verdicts, "n2_verdicts": n2.verdicts}
            runs = [n1, n2]
            if not args.skip_server:
                try:
                    runs.append(run_server(work / "moto-server", args.profile))
                except Exception as exc:  # report the gap, keep the rest of the table
                    results["server_error"] = f"{type(exc).__name__}: {exc}"
            results["throughput"] = [
                {"label": r.label, "examples": r.examples, "steps": r.steps, "duration": r.duration,
                 "wall": r.wall, "examples_per_second": r.examples_per_second,
                 "steps_per_second": r.steps_per_second}
                for r in runs
            ]
            cores = results["machine"]["affinity"] or results["machine"]["nproc"]
            results["budget"] = {"seconds": n2.wall, "cores": cores, "ok": n2.wall < GOAL_CI_SECONDS,
                                 "profile": args.profile}
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    print(render(results))
    if "server_error" in results:
        print(f"moto-server run failed: {results['server_error']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
