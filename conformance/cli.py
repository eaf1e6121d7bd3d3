"""The ``kms-conformance`` command: run the suite, list the rules, build the matrix.

Layer: CLI (top; may import every layer). Exit codes: 0 conformant (or every failure expected),
1 non-conformant (or, with expectations, a new failure or an unexpected pass), 2 usage or
configuration error (one line, no traceback), 3 target unreachable, 130 interrupted (the report
of what ran is written; expectations are not updated from it).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

EXIT_OK, EXIT_NONCONFORMANT, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it: never mistaken for a verdict


class UsageError(Exception):
    """Printed as one line; exit code 2."""


class Unreachable(Exception):
    """Printed as one line; exit code 3."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block
        self.exit(EXIT_USAGE, f"kms-conformance: error: {message} (see --help)\n")


def _workers(value: str) -> str:
    """-n as pytest-xdist takes it, checked here so a typo is one line rather than pytest's usage block."""
    if value in ("auto", "logical") or (value.isdigit() and int(value) >= 0):
        return value
    raise argparse.ArgumentTypeError(f"invalid worker count {value!r}: a number or auto")


def build_parser() -> argparse.ArgumentParser:
    from conformance.profiles import PROFILES

    parser = _Parser(prog="kms-conformance", description="Conformance suite for AWS KMS ReplicateKey.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser("run", help="run the suite against a target and write reports")
    run.add_argument("--target", choices=("moto", "endpoint", "aws"), default=None)
    run.add_argument("--endpoint-url", default=None, help="implies --target endpoint")
    run.add_argument("--region", default="us-east-1", help="the primary Region (default us-east-1)")
    run.add_argument("--replica-regions", default="us-west-2,eu-west-1,ap-southeast-2,ca-central-1")
    run.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        default=None,
        help="Hypothesis budget (default: ci when CI is set, else dev)",
    )
    run.add_argument("--report-dir", default=None, help="default reports/<implementation>")
    run.add_argument("--rules", default="", help="rule IDs or groups, comma-separated")
    run.add_argument("--expectations", default=None, help="TOML file of expected failures")
    run.add_argument("--update-expectations", action="store_true", help="rewrite --expectations from the results")
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("-n", dest="workers", type=_workers, default=None, help="pytest-xdist workers (a number or auto)")
    run.add_argument("--implementation", default=None)
    run.add_argument("--implementation-version", default=None)
    run.add_argument("--run-id", default=None)
    aws = run.add_argument_group("aws target (real AWS: costs money; read the README first)")
    aws.add_argument(
        "--i-understand-this-costs-money",
        dest="aws_opt_in",
        action="store_true",
        help="opt in to the aws target (or KMS_CONFORMANCE_AWS_OPT_IN=1)",
    )
    aws.add_argument(
        "--aws-accounts",
        default=None,
        help="comma-separated account IDs the run may touch (or KMS_CONFORMANCE_AWS_ACCOUNTS)",
    )
    aws.add_argument("--aws-max-keys", type=int, default=None, help="keys (replicas included) the run may create")
    aws.add_argument("--aws-profile", default=None, help="named AWS profile (default: the standard chain)")
    rules = sub.add_parser("rules", help="print the rule catalogue")
    rules.add_argument("--format", choices=("text", "json", "md"), default="text")
    cleanup = sub.add_parser("aws-cleanup", help="schedule deletion of keys a run left on real AWS (by tag)")
    which = cleanup.add_mutually_exclusive_group(required=True)
    which.add_argument("--run-id", default=None)
    which.add_argument("--all-runs", action="store_true")
    cleanup.add_argument("--regions", required=True, help="comma-separated Regions to search")
    cleanup.add_argument("--i-understand-this-costs-money", dest="aws_opt_in", action="store_true")
    cleanup.add_argument("--aws-accounts", default=None)
    cleanup.add_argument("--aws-profile", default=None)
    matrix = sub.add_parser("matrix", help="one table of rules by implementation")
    matrix.add_argument("reports", nargs="+", help="report.json files")
    matrix.add_argument("--out", default="reports", help="directory for matrix.md and matrix.html")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "rules":
            return cmd_rules(args.format)
        if args.command == "matrix":
            return cmd_matrix(args.reports, Path(args.out))
        if args.command == "aws-cleanup":
            return cmd_aws_cleanup(args)
        return cmd_run(args)
    except UsageError as exc:
        print(f"kms-conformance: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Unreachable as exc:
        print(f"kms-conformance: target unreachable: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:  # outside the suite run (which handles it and writes its report)
        print("kms-conformance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def cmd_rules(fmt: str) -> int:
    from conformance.catalogue import load_catalogue

    catalogue = load_catalogue()
    if fmt == "json":
        rows = [
            {
                "id": r.id,
                "group": r.group,
                "strictness": r.strictness,
                "title": r.title,
                "statement": r.statement,
                "error_codes": sorted(r.error_codes),
                "accepted": list(r.accepted),
                "checked": r.checked,
                "sources": [
                    {"title": s.title, "section": s.section, "url": s.url, "quote": s.quote} for s in r.sources
                ],
            }
            for r in catalogue
        ]
        print(json.dumps({"version": catalogue.version, "rules": rows}, indent=2, ensure_ascii=False))
    elif fmt == "md":
        print(f"# kms-conformance rule catalogue {catalogue.version}\n")
        print("| ID | group | strictness | statement | source |\n|---|---|---|---|---|")
        for r in catalogue:
            cell = r.statement.replace("|", "\\|")
            print(f"| {r.id} | {r.group} | {r.strictness} | {cell} | {r.sources[0].cite().replace('|', '/')} |")
    else:
        for r in catalogue:
            print(f"{r.id:<12} {r.group:<12} {r.strictness:<6} {r.statement}\n{'':<32}source: {r.sources[0].cite()}")
    return EXIT_OK


def cmd_matrix(paths: Sequence[str], out: Path) -> int:
    from conformance.reporting import build_matrix, render_matrix_html, render_matrix_markdown, write_text_atomic

    reports = []
    for path in paths:
        try:
            reports.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read report {path}: {exc}") from None
    matrix = build_matrix(reports)
    out.mkdir(parents=True, exist_ok=True)
    markdown = render_matrix_markdown(matrix)
    write_text_atomic(out / "matrix.md", markdown)
    write_text_atomic(out / "matrix.html", render_matrix_html(matrix))
    print(markdown)
    return EXIT_OK


def _check_reachable(url: str) -> None:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=3):
            pass
    except OSError as exc:
        raise Unreachable(f"{url}: {exc.strerror or exc}") from None


def _aws_preflight(args: argparse.Namespace, primary: str, replicas: Sequence[str]) -> list[str]:
    """Opt-in, account allow-list (STS GetCallerIdentity), Regions: before any KMS call. Plugin options."""
    import boto3
    import botocore.exceptions

    from conformance.aws_safety import SafetyError, pending_runs, preflight

    try:
        session = boto3.session.Session(profile_name=args.aws_profile)
        account = preflight(
            session,
            opt_in=args.aws_opt_in,
            allowed_accounts=args.aws_accounts,
            primary_region=primary,
            replica_regions=replicas,
        )
    except SafetyError as exc:
        raise UsageError(str(exc)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise UsageError(f"aws target: {exc}") from None
    leftovers = pending_runs()
    if leftovers:
        print(
            f"kms-conformance: note: earlier runs may have left keys: {', '.join(leftovers[:5])} "
            "(kms-conformance aws-cleanup --run-id ID --regions ...)",
            file=sys.stderr,
        )
    print(
        f"kms-conformance: aws target: account {account}; every key created is tagged and scheduled for "
        "deletion (7 days) when the run ends",
        file=sys.stderr,
    )
    out = []
    if args.aws_profile:
        out.append(f"--kms-aws-profile={args.aws_profile}")
    if args.aws_max_keys is not None:
        out.append(f"--kms-aws-max-keys={args.aws_max_keys}")
    return out


def cmd_aws_cleanup(args: argparse.Namespace) -> int:
    import boto3
    import botocore.exceptions

    from conformance.aws_safety import SafetyError, check_opt_in, cleanup

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    try:
        check_opt_in(args.aws_opt_in)
        session = boto3.session.Session(profile_name=args.aws_profile)
        from conformance.aws_safety import check_account, parse_accounts

        accounts = parse_accounts(
            args.aws_accounts if args.aws_accounts is not None else os.environ.get("KMS_CONFORMANCE_AWS_ACCOUNTS")
        )
        check_account(session, regions[0] if regions else "us-east-1", accounts)
        result = cleanup(None if args.all_runs else args.run_id, session, regions)
    except SafetyError as exc:
        raise UsageError(str(exc)) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise UsageError(f"aws-cleanup: {exc}") from None
    print(result.summary())
    return EXIT_OK if result.complete else EXIT_NONCONFORMANT


def cmd_run(args: argparse.Namespace) -> int:
    import pytest

    from conformance.catalogue import load_catalogue
    from conformance.expectations import ExpectationsError, compare, load_expectations, render_expectations
    from conformance.plugin import implementation_name
    from conformance.reporting import write_reports, write_text_atomic
    from conformance.targets import TargetConfigError, TargetKind, config_from_environment

    catalogue = load_catalogue()
    if args.rules:
        try:
            catalogue.select(args.rules.split(","))
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
    kind: TargetKind | None = "endpoint" if args.endpoint_url and args.target is None else args.target
    if args.endpoint_url and kind != "endpoint":
        raise UsageError(f"--endpoint-url goes with --target endpoint, not {kind}")
    replicas = tuple(r.strip() for r in args.replica_regions.split(",") if r.strip())
    try:
        cfg = config_from_environment(
            kind,
            endpoint_url=args.endpoint_url,
            primary_region=args.region,
            replica_regions=replicas,
            implementation=args.implementation or "",
        )
    except TargetConfigError as exc:
        raise UsageError(str(exc)) from None
    aws_args: list[str] = []
    if cfg.kind == "aws":
        aws_args = _aws_preflight(args, cfg.primary_region, cfg.replica_regions)
    if cfg.kind == "endpoint" and cfg.endpoint_url:
        _check_reachable(cfg.endpoint_url)
    expectations_path = Path(args.expectations) if args.expectations else None
    if args.update_expectations and expectations_path is None:
        raise UsageError("--update-expectations needs --expectations FILE")
    expected = None
    if expectations_path is not None and not (args.update_expectations and not expectations_path.exists()):
        try:
            expected = load_expectations(expectations_path, {r.id for r in catalogue})
        except ExpectationsError as exc:
            raise UsageError(str(exc)) from None
    profile = args.profile or ("ci" if os.environ.get("CI") else "dev")
    name = implementation_name(cfg)
    report_dir = Path(args.report_dir or Path("reports") / name)
    try:  # before the run, not after it: an unusable report directory must not cost a whole run
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot use report directory {report_dir}: {exc.strerror or exc}") from None
    suite_dir = Path(__file__).parent / "suite"
    pytest_args = [
        str(suite_dir),
        "-p",
        "conformance.plugin",
        "-c",
        str(suite_dir / "pytest.ini"),
        "--rootdir",
        str(suite_dir),
        "-v",
        "--no-header",
        "-p",
        "no:randomly",
        f"--kms-target={cfg.kind}",
        f"--kms-region={cfg.primary_region}",
        f"--kms-replica-regions={','.join(cfg.replica_regions)}",
        f"--kms-profile={profile}",
        f"--kms-report-dir={report_dir}",
    ]
    if cfg.endpoint_url:
        pytest_args.append(f"--kms-endpoint-url={cfg.endpoint_url}")
    for option, value in (
        ("--kms-rules", args.rules),
        ("--kms-seed", args.seed),
        ("--kms-implementation", args.implementation),
        ("--kms-implementation-version", args.implementation_version),
        ("--kms-run-id", args.run_id),
    ):
        if value not in (None, ""):
            pytest_args.append(f"{option}={value}")
    if args.workers and cfg.kind != "aws":  # the aws target runs in one process (one ledger, one teardown)
        pytest_args += ["-n", str(args.workers)]
    pytest_args += aws_args
    report_path = report_dir / "report.json"
    if report_path.exists():
        report_path.unlink()  # a stale report must never pass for this run's
    code = pytest.main(pytest_args)
    if not report_path.exists():
        print(f"kms-conformance: error: the run wrote no report (pytest exit code {int(code)})", file=sys.stderr)
        return EXIT_USAGE
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    if code == pytest.ExitCode.INTERRUPTED:
        # A partial report says nothing about the rules not reached: no verdict, no expectations update.
        print(f"kms-conformance: interrupted: the report of what ran is in {report_dir}", file=sys.stderr)
        return EXIT_INTERRUPTED
    result = EXIT_OK if report["summary"]["conformant"] else EXIT_NONCONFORMANT
    if expected is not None and expectations_path is not None:
        report["expectations"] = compare(report, expected, expectations_path)
        write_reports(report, report_dir)
        section = report["expectations"]
        for label, key in (("new failures", "new_failures"), ("unexpected passes", "unexpected_passes")):
            if section[key]:
                print(f"kms-conformance: {label}: {', '.join(section[key])}")
        result = EXIT_NONCONFORMANT if section["new_failures"] or section["unexpected_passes"] else EXIT_OK
    if args.update_expectations and expectations_path is not None:
        write_text_atomic(expectations_path, render_expectations(report, expected))
        print(f"kms-conformance: expectations written to {expectations_path}")
        # The published report records the baseline it now matches, not the one it replaced.
        baseline = load_expectations(expectations_path, {r.id for r in catalogue})
        report["expectations"] = compare(report, baseline, expectations_path)
        write_reports(report, report_dir)
        result = EXIT_OK
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.INTERRUPTED):
        print(f"kms-conformance: error: pytest exit code {int(code)}", file=sys.stderr)
        return EXIT_USAGE
    if code == pytest.ExitCode.TESTS_FAILED:
        print(
            "kms-conformance: warning: a suite item failed (a bug in kms-conformance, not the target); "
            "see the report's notes",
            file=sys.stderr,
        )
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
