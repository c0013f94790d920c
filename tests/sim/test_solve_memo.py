"""Repeated placement problems answered from memory decide exactly as solving them again.

`routing.solve_routed` keeps the solution of each problem it solved for the service that posed
it, by every field a solve reads (routing.problem_key). Here a bundled scenario is simulated
twice, once with that memory unable to answer (every problem solved afresh, the slow path) and once as it runs:
the decisions and every figure must be the same, bit for bit, and the memory must have
answered most solves for the comparison to say anything.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

import numpy as np
import pytest
from tests.support.scenarios import shortened

from infercost.engine import routing
from infercost.engine.derived import Derived
from infercost.engine.placement import Problem, Solution
from infercost.sim.run import Result, simulate
from infercost.sim.world import build_world

pytestmark = pytest.mark.sim

SCENARIO = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "twitter-bert.yaml"


class _NeverAnswers(Derived[Solution]):
    """A memory that stores but never answers: every problem goes to the solver."""

    def get(self, owner: object, key: Hashable) -> None:
        return None


class _Counting(Derived[Solution]):
    answered = 0

    def get(self, owner: object, key: Hashable) -> Solution | None:
        found = super().get(owner, key)
        if found is not None:
            _Counting.answered += 1
        return found


def _run(monkeypatch: pytest.MonkeyPatch, memory: Derived[Solution]) -> Result:
    monkeypatch.setattr(routing, "_SOLVED", memory)
    return simulate(build_world(shortened(SCENARIO, 3 * 3600)), "infercost")


def test_answers_from_memory_decide_as_solving_again(monkeypatch: pytest.MonkeyPatch) -> None:
    solved = []
    original = routing._solve_routed

    def counted(problem: Problem, *, equal_share: bool, name_limits: bool) -> Solution:
        solved.append(1)
        return original(problem, equal_share=equal_share, name_limits=name_limits)

    monkeypatch.setattr(routing, "_solve_routed", counted)
    slow = _run(monkeypatch, _NeverAnswers(per_owner=routing.SOLVED_PER_SERVICE))
    fresh_solves = len(solved)
    solved.clear()
    fast = _run(monkeypatch, _Counting(per_owner=routing.SOLVED_PER_SERVICE))
    assert _Counting.answered > fresh_solves / 2, (_Counting.answered, fresh_solves)
    assert len(solved) + _Counting.answered == fresh_solves
    assert fast.decisions == slow.decisions
    assert len(slow.decisions) > 3
    assert fast.contract() == slow.contract()
    assert (fast.requests, fast.good_requests, fast.cost_usd) == (
        slow.requests,
        slow.good_requests,
        slow.cost_usd,
    )
    assert fast.timeline.cost == slow.timeline.cost
    assert fast.timeline.replicas_by_pool == slow.timeline.replicas_by_pool
    for ours, theirs in zip(fast.timeline.p99_ms, slow.timeline.p99_ms, strict=True):
        np.testing.assert_array_equal(ours, theirs)
