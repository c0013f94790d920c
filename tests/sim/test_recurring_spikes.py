"""Recurring spikes on the real Twitter trace (examples/scenarios/twitter-bert.yaml).

That day's stream jumps from ~4,000/s to ~19,000/s within 30 s at 2 minutes past a
half-hour, eleven times; from the fourth on, every two hours. A replica takes 180 s to
start, so a reactive fleet loses most of each spike's first minutes. The engine expects the
next spike a period after the last once three spikes' gaps agree (engine/forecast.py).
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from infercost.engine.model import EngineSettings, Reason
from infercost.sim import planned
from infercost.sim.run import Result, simulate
from infercost.sim.scenario import load_scenario
from infercost.sim.world import build_world

pytestmark = pytest.mark.sim
SCENARIO = Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "twitter-bert.yaml"


def _run(monkeypatch: pytest.MonkeyPatch, **settings: bool) -> Result:
    """The infercost policy with engine settings overridden (a settings override, not a
    fake: the planner runs as configured)."""
    monkeypatch.setattr(planned, "EngineSettings", functools.partial(EngineSettings, **settings))
    return simulate(build_world(load_scenario(SCENARIO)), "infercost")


def test_capacity_for_a_recurring_spike_is_ready_when_it_arrives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ahead = _run(monkeypatch)
    reactive = _run(monkeypatch, recurring_spikes=False)
    expected = [d for d in ahead.decisions if d.reason == Reason.RECURRING_SPIKE_EXPECTED]
    print(
        f"\nSLO attainment / $ / $ per 1M good: expecting spikes {ahead.slo_attainment:.4f} / "
        f"{ahead.cost_usd:.2f} / {ahead.cost_per_million_good:.4f}, reacting only "
        f"{reactive.slo_attainment:.4f} / {reactive.cost_usd:.2f} / "
        f"{reactive.cost_per_million_good:.4f}; scaled ahead at "
        f"{', '.join(f'{d.time:.0f}' for d in expected)} s"
    )
    # Ahead of the five spikes after the pattern formed (48,735 s on), none before it.
    assert len(expected) == 5
    assert min(d.time for d in expected) > 41_535
    assert ahead.slo_attainment > reactive.slo_attainment + 0.01
    # The replicas started ~4 minutes early cost little against the requests they save.
    assert ahead.cost_usd < 1.05 * reactive.cost_usd
