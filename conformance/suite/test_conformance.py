"""The conformance suite as pytest items (collected by ``kms-conformance run``).

Each state-machine focus is its own item, so pytest-xdist runs them in parallel; each recorded
real-AWS case is its own item too. Items pass unless the suite itself breaks: verdicts live in
the report, not in pytest's outcome.
"""

from __future__ import annotations

import pytest

from conformance.machine import FOCI
from conformance.plugin import SuiteSession


@pytest.mark.parametrize("focus", FOCI)
def test_state_machine(kms_session: SuiteSession, focus: str) -> None:
    kms_session.run_focus(focus)
    assert not kms_session.errors, "\n".join(kms_session.errors)


def _recorded_ids() -> list[str]:
    try:
        from conformance.recorded import recorded_cases
    except ImportError:  # pragma: no cover - the recorded tier is optional while it is being built
        return []
    return [case.id for case in recorded_cases()]


@pytest.mark.parametrize("case_id", _recorded_ids())
def test_recorded_case(kms_session: SuiteSession, case_id: str) -> None:
    kms_session.run_recorded(case_id)
