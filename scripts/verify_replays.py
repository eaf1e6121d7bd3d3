"""Check that every published failure reproduces: run each failing rule's replay script on a fresh target.

Why: a published verdict is only as good as its evidence. Every ``fail`` in ``reports/<name>/report.json``
ships a standalone replay script; this script runs each against the same implementation (in-process
moto: the script starts ``mock_aws`` itself; an emulator: started on loopback with
``conformance.emulators.running`` and handed to the script as ``AWS_ENDPOINT_URL_KMS``) and checks that
it exits 0, i.e. that the last call gives the outcome the suite observed. Usage::

    python scripts/verify_replays.py [--only moto,ministack] [--rules KEYID-011,...] [--json FILE]

Each script gets a clean target: moto server and MiniStack are reset before every script; LocalStack
(no reset endpoint) runs the scripts of one report on one instance, and a script that does not
reproduce there is run once more on a freshly started instance before it counts as not reproduced.
The ``checks`` column says what exit 0 proves: ``outcome`` (the deviating error code, or a success
where AWS answers an error, came back) or ``body`` (the last call succeeded as in the run; the
deviation is in the response body, which the script prints but does not compare). Exit status 1 if
any script does not reproduce.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance.emulators import EMULATORS, RunningEmulator, running  # noqa: E402

SCRIPT_TIMEOUT = 300.0  # seconds; a script polls a Creating replica at most a few times
_OBSERVED = re.compile(r"return 0 if outcome == '([^']*)' else 1")


@dataclass
class Verification:
    """One replay script's run."""

    implementation: str
    rule: str
    reproduced: bool
    exit_code: int | None
    checks: str  # "outcome": the outcome itself is the deviation; "body": the response body is
    seconds: float
    last_line: str
    fresh_retry: bool = False
    note: str = ""


def failing_rules(report: dict[str, Any], only_rules: set[str] | None = None) -> list[dict[str, Any]]:
    """The report's failing rules, in report order (optionally only some IDs)."""
    return [
        r for r in report.get("rules", [])
        if r.get("verdict") == "fail" and (only_rules is None or r["id"] in only_rules)
    ]


def observed_outcome(script: str) -> str:
    """The outcome the script must see again (read from its last line of ``main``)."""
    match = _OBSERVED.search(script)
    return match.group(1) if match else ""


def what_exit_zero_shows(script: str, expected: str) -> str:
    """``outcome`` when the last call's outcome is itself the deviation, ``body`` when it is in the response.

    An error where AWS succeeds, or a success where AWS answers an error, is shown by the outcome
    alone; a success with a wrong or missing member is not (the script prints the body, it does
    not compare it).
    """
    if observed_outcome(script) != "Success" or re.search(r"\b\w+Exception\b", expected):
        return "outcome"
    return "body"


def script_env(endpoint_url: str | None) -> dict[str, str]:
    """Dummy credentials and, for an emulator, its endpoint; nothing else from AWS_* survives."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"})
    if endpoint_url:
        env["AWS_ENDPOINT_URL_KMS"] = endpoint_url
    return env


def run_script(path: Path, endpoint_url: str | None, timeout: float = SCRIPT_TIMEOUT) -> tuple[int | None, str, float]:
    """Run one replay script; (exit code or None on timeout, its last output line, seconds)."""
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, str(path)], env=script_env(endpoint_url), cwd=path.parent,
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f}s", time.monotonic() - started
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return proc.returncode, (lines[-1] if lines else ""), time.monotonic() - started


def crash_note(script: str, result: Verification) -> str:
    """Say so when a script died of the very exception the suite observed (an in-process crash).

    The replay script catches only botocore's ClientError, so an in-process moto crash such as
    KeyError ends the script with a traceback instead of being compared; it still counts as
    not reproduced, but the reader should know the crash itself did happen again.
    """
    wanted = observed_outcome(script)
    if result.reproduced or not wanted or wanted == "Success":
        return ""
    if result.last_line.startswith(f"{wanted}:") or result.last_line.startswith(f"{wanted}("):
        return f"raised {wanted} (the observed crash) uncaught: the script catches only ClientError"
    return ""


@contextlib.contextmanager
def _no_emulator() -> Iterator[None]:
    yield None


def verify_report(report: dict[str, Any], workdir: Path, only_rules: set[str] | None = None) -> list[Verification]:
    """Run the replay script of every failing rule of one report against a fresh instance of its target."""
    name = str(report["target"]["implementation"])
    in_process = report["target"].get("kind") == "moto"
    if not in_process and name not in EMULATORS:
        raise SystemExit(f"verify_replays: no launcher for implementation {name!r}")
    rules = failing_rules(report, only_rules)
    out: list[Verification] = []
    if not rules:
        return out
    scripts: list[tuple[str, Path, str]] = []
    expected = {rule["id"]: str((rule.get("failure") or {}).get("expected") or "") for rule in rules}
    for rule in rules:
        script = (rule.get("failure") or {}).get("replay") or ""
        path = workdir / name / f"replay_{rule['id']}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(script, encoding="utf-8")
        scripts.append((rule["id"], path, script))
    manager = _no_emulator() if in_process else running(name)
    with manager as emulator:
        for rule_id, path, script in scripts:
            if not script:
                out.append(Verification(name, rule_id, False, None, "-", 0.0, "no replay script"))
                continue
            checks = what_exit_zero_shows(script, expected[rule_id])
            url = emulator.url if isinstance(emulator, RunningEmulator) else None
            reset = isinstance(emulator, RunningEmulator) and emulator.reset()
            code, last, seconds = run_script(path, url)
            result = Verification(name, rule_id, code == 0, code, checks, seconds, last)
            if code != 0 and isinstance(emulator, RunningEmulator) and not reset:
                # No reset endpoint: earlier scripts' keys and aliases may be in the way; try a fresh one.
                with running(name) as fresh:
                    code, last, seconds = run_script(path, fresh.url)
                result = Verification(name, rule_id, code == 0, code, checks, seconds, last, fresh_retry=True)
            result.note = crash_note(script, result)
            out.append(result)
            mark = "ok" if result.reproduced else "NOT REPRODUCED"
            print(f"[verify] {name} {rule_id}: {mark} ({result.seconds:.1f}s)", file=sys.stderr, flush=True)
    return out


def render_table(results: list[Verification]) -> str:
    """A Markdown table, one row per replay script."""
    rows = [
        "| implementation | rule | reproduced | exit | checks | seconds | last line / note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        last = (r.note or r.last_line).replace("|", "\\|")[:100]
        fresh = " (fresh retry)" if r.fresh_retry else ""
        rows.append(
            f"| {r.implementation} | {r.rule} | {'yes' if r.reproduced else 'NO'}{fresh} | {r.exit_code} | {r.checks} "
            f"| {r.seconds:.1f} | {last} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reports", type=Path, default=ROOT / "reports", help="published reports (default reports/)")
    parser.add_argument("--only", default="", help="comma-separated implementations (default: every report)")
    parser.add_argument("--rules", default="", help="comma-separated rule IDs (default: every failing rule)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    only_rules = {n.strip() for n in args.rules.split(",") if n.strip()} or None
    paths = sorted(args.reports.glob("*/report.json"))
    reports = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    reports = [r for r in reports if not only or r["target"]["implementation"] in only]
    if not reports:
        print(f"verify_replays: no report.json under {args.reports}", file=sys.stderr)
        return 2
    results: list[Verification] = []
    with tempfile.TemporaryDirectory(prefix="kms-conformance-replays-") as tmp:
        for report in reports:
            results.extend(verify_report(report, Path(tmp), only_rules))
    print(render_table(results))
    failed = [r for r in results if not r.reproduced]
    per_impl: dict[str, list[int]] = {}
    for r in results:
        counts = per_impl.setdefault(r.implementation, [0, 0])
        counts[0] += r.reproduced
        counts[1] += 1
    print()
    for name, (ok, total) in per_impl.items():
        print(f"{name}: {ok}/{total} replay scripts reproduce")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
