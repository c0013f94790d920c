"""The planner's performance work changes no decision: recorded Plans are reproduced exactly.

The corpus (tests/support/plan_corpus.py) holds DecisionInputs the simulator produced on the
example scenarios and the bench-sim fleet under `infercost` and `single-pool`, with the Plan
the engine returned before its caches and fast paths existed. Each input is decided again,
twice (the second time with every cache warm), and must give an equal Plan.
"""

from __future__ import annotations

from collections import Counter

import pytest
from tests.support.plan_corpus import load

from infercost.engine import planner

pytestmark = pytest.mark.sim


def test_optimised_planner_returns_the_recorded_plans() -> None:
    cases = list(load())
    assert len(cases) > 5_000
    reasons: Counter[str] = Counter()
    mismatched = []
    for label, inp, expected in cases:
        reasons.update(action.reason.value for action in expected.actions)
        for attempt in ("cold", "warm"):
            got = planner.decide(inp)
            if got != expected:
                mismatched.append(f"{label} ({attempt})")
    assert not mismatched, f"{len(mismatched)} plans differ, first: {mismatched[:5]}"
    # The corpus exercises more than a steady state.
    assert len(reasons) >= 8, reasons
