"""Hypothesis profiles for the suite: dev, ci, nightly, aws.

Registering our own ``ci`` replaces Hypothesis's built-in one, which it loads whenever a CI
variable is set (derandomized, no database). ``deadline=None`` everywhere: calls are network-bound;
real timeouts are set on botocore instead (``targets.Target.botocore_config``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.internal.conjecture import engine as _engine


@dataclass(frozen=True)
class Budget:
    max_examples: int
    steps: int
    derandomize: bool
    use_database: bool
    shrink: bool = True
    # Bounds on shrinking in one run (Hypothesis's default is 300 s, far too long when every shrink
    # step replays network calls). Deterministic profiles bound the number of successful shrinks
    # instead of the time, so that the same seed gives the same verdicts on a slower machine.
    shrink_seconds: int = 30
    max_shrinks: int = 500
    # Run the scripted scenarios of conformance/directed.py before exploring (a primary each: ~100 keys a run).
    directed: bool = True


PROFILES: dict[str, Budget] = {
    "dev": Budget(max_examples=20, steps=20, derandomize=False, use_database=True, shrink_seconds=20),
    # The pull-request gate: deterministic, small, no example database.
    "ci": Budget(max_examples=25, steps=20, derandomize=True, use_database=False, shrink_seconds=600, max_shrinks=40),
    # Nightly: random exploration at scale; failures are saved and replayed first the next night.
    "nightly": Budget(max_examples=150, steps=40, derandomize=False, use_database=True, shrink_seconds=120),
    # Real AWS: every call costs money and time (replicas take about 60 s); no shrinking.
    # No directed scenarios: they create about 100 keys, and the aws key budget is small by default.
    "aws": Budget(max_examples=3, steps=12, derandomize=False, use_database=True, shrink=False, directed=False),
}


def database_for(target_name: str, root: Path | None = None) -> ExampleDatabase:
    """One example database per target, so emulators never replay each other's failures."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in target_name) or "default"
    return DirectoryBasedExampleDatabase(str((root or Path(".hypothesis")) / "kms-conformance" / safe))


def settings_for(
    profile: str, target_name: str, *, examples_share: float = 1.0, db_root: Path | None = None
) -> settings:
    """Hypothesis settings for one state-machine run of a profile (a share of its example budget)."""
    budget = PROFILES[profile]
    _engine.MAX_SHRINKING_SECONDS = budget.shrink_seconds
    _engine.MAX_SHRINKS = budget.max_shrinks
    phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
    if budget.shrink:
        phases.append(Phase.shrink)
    return settings(
        max_examples=max(1, round(budget.max_examples * examples_share)),
        stateful_step_count=budget.steps,
        deadline=None,
        derandomize=budget.derandomize,
        database=database_for(target_name, db_root) if budget.use_database and not budget.derandomize else None,
        print_blob=True,
        phases=phases,
        report_multiple_bugs=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


for _name, _budget in PROFILES.items():
    settings.register_profile(
        _name,
        max_examples=_budget.max_examples,
        stateful_step_count=_budget.steps,
        deadline=None,
        derandomize=_budget.derandomize,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
