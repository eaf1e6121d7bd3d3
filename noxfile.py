"""Developer and CI entry points: ``nox`` runs lint, typecheck and tests; ``nox -l`` lists the rest.

Why one helper: every session installs the project the same way (editable, with the dev extra) and
runs one command, so CI and a laptop run exactly the same thing. Extra arguments after ``--`` go to
that command, e.g. ``nox -s tests -- -k catalogue`` or ``nox -s "conformance(moto)" -- --profile dev``.
"""

from __future__ import annotations

import glob
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
EMULATOR_TARGETS = ("moto-server", "ministack", "localstack")
TARGETS = ("moto", *EMULATOR_TARGETS, "reference")
PUBLISHED = ("moto", *EMULATOR_TARGETS)

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

# The reference KMS lives in the test tree (tests/support), so it is started from a snippet run at
# the repository root; the suite then reaches it over loopback like any other endpoint.
_REFERENCE_RUN = """
import sys
from conformance.cli import main
from tests.support.reference_kms import ReferenceKMS

with ReferenceKMS(creating_seconds=0.05) as ref:
    code = main(["run", "--endpoint-url", ref.url, "--implementation", "reference", *sys.argv[1:]])
sys.exit(code)
"""


def install_and_run(
    session: nox.Session,
    *command: str,
    posargs: bool = True,
    env: dict[str, str] | None = None,
    success_codes: list[int] | None = None,
) -> None:
    """Install the project (editable, dev extra) and run one command with the session's extra args."""
    session.install("-e", ".[dev]")
    args = [*command, *session.posargs] if posargs else list(command)
    session.run(*args, env=env, success_codes=success_codes or [0])


def conformance_command(target: str, profile: str = "ci") -> list[str]:
    """The command line that runs the suite against one target, writing reports/<target>/.

    Emulators get their endpoint from ``python -m conformance.emulators run``, which passes
    AWS_ENDPOINT_URL_KMS and KMS_CONFORMANCE_IMPLEMENTATION(_VERSION) to the command.
    """
    run_args = ["--profile", profile, "--report-dir", f"reports/{target}"]
    expectations = ROOT / "expectations" / f"{target}.toml"
    if expectations.exists():
        run_args += ["--expectations", f"expectations/{target}.toml"]
    if target == "moto":
        return ["kms-conformance", "run", "--target", "moto", *run_args]
    if target == "reference":
        return ["python", "-c", _REFERENCE_RUN, *run_args]
    if target in EMULATOR_TARGETS:
        return ["python", "-m", "conformance.emulators", "run", target, "--",
                "kms-conformance", "run", "--target", "endpoint", *run_args]
    raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")


@nox.session
def tests(session: nox.Session) -> None:
    """The project's own tests."""
    install_and_run(session, "pytest")


@nox.session
@nox.parametrize("target", TARGETS, ids=list(TARGETS))
def conformance(session: nox.Session, target: str) -> None:
    """Run the suite against one target (ci profile; ``-- --profile nightly`` overrides, the last wins)."""
    install_and_run(session, *conformance_command(target))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole repository (config in pyproject.toml)."""
    install_and_run(session, "ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the packages named in pyproject.toml ([tool.mypy] packages)."""
    install_and_run(session, "mypy")


@nox.session
def matrix(session: nox.Session) -> None:
    """One rules-by-implementation table from every report under reports/."""
    reports = sorted(glob.glob("reports/*/report.json"))
    if not reports:
        session.error("no reports/*/report.json yet: run a conformance session first")
    install_and_run(session, "kms-conformance", "matrix", *reports, "--out", "reports")


@nox.session
def mutation(session: nox.Session) -> None:
    """Seeded-fault mutation score of the suite against the reference KMS."""
    install_and_run(session, "python", "scripts/mutation_score.py")


@nox.session
def stability(session: nox.Session) -> None:
    """Verdict flips: 20 runs with one seed, then 10 with random seeds (arguments after -- replace these)."""
    defaults = [] if session.posargs else ["--runs", "20", "--seed", "1234", "--random-seeds", "10", "--jobs", "2"]
    install_and_run(session, "python", "scripts/stability.py", *defaults)


@nox.session
def benchmark(session: nox.Session) -> None:
    """Overhead, scaling and throughput, measured on this machine."""
    install_and_run(session, "python", "scripts/benchmark.py")


@nox.session
def publish(session: nox.Session) -> None:
    """Regenerate the published reports (reports/<name>/), the baselines' check and the matrix.

    One entry point, ``scripts/publish_reports.py`` (ci profile: reproducible reports); arguments after
    ``--`` go to it, e.g. ``nox -s publish -- --only ministack --update-expectations``.
    """
    install_and_run(session, "python", "scripts/publish_reports.py")
