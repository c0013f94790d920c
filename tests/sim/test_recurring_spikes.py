"""Recurring spikes on the real Twitter trace (examples/scenarios/twitter-bert.yaml).

That day's stream jumps from ~4,000/s to ~19,000/s within 30 s at 2 minutes past a
half-hour, eleven times; from the fourth on, every two hours. A replica takes 180 s to
start, so a reactive fleet loses most of each spike's first minutes. The engine expects the
next spike a period after the last once three spikes' gaps agree (engine/forecast.py).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from pathlib import Path

import pytest

from infercost.engine.model import EngineSettings, Observation, Reason, ServiceState
from infercost.engine.recall import recall
from infercost.sim import planned, run
from infercost.sim.fleet import Fleet
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


RESTART = 52_200.0  # after the fourth spike (48,735 s) had completed the pattern
RECORD = 21_600.0  # INFERCOST_DEMAND_RECALL_SECONDS' default
RATE_WINDOW = 60  # INFERCOST_PROMETHEUS_RATE_WINDOW's default: the record's sample spacing


class RestartedWithRecall(planned.Planned):
    """infercost restarted at RESTART: everything the engine held is lost, and its memory
    of demand is rebuilt from what Prometheus would hold (completions and rejections, a
    sample per rate window), as `infercost run` does at a start (service.py `_recall`)."""

    def start(self, fleet: Fleet) -> None:
        self.record: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
        super().start(fleet)

    def _decide(
        self,
        fleet: Fleet,
        svc: planned._Service,
        *,
        observation: Observation | None,
        step: int,
        instant: bool = False,
    ) -> None:
        now = float(step * self.world.step)
        if now == RESTART:
            spec = self.world.services[svc.index].spec
            kept = [
                (t, rps)
                for t, rps in self.record[svc.index]
                if t > now - RECORD and t % RATE_WINDOW == 0
            ]
            svc.state = recall(ServiceState(), kept, spec=spec, settings=self.settings)
        if observation is not None and observation.demand_rps is not None:
            rejected = sum(
                m.rejected_per_second or 0.0 for m in observation.per_deployment.values()
            )
            self.record[svc.index].append((now, observation.demand_rps + rejected))
        super()._decide(fleet, svc, observation=observation, step=step, instant=instant)


def test_after_a_restart_the_recalled_record_still_expects_the_spikes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(run.POLICIES, "restarted", RestartedWithRecall)
    restarted = simulate(build_world(load_scenario(SCENARIO)), "restarted")
    expected = [d.time for d in restarted.decisions if d.reason == Reason.RECURRING_SPIKE_EXPECTED]
    print(
        f"\nrestarted at {RESTART:.0f} s with the record recalled: SLO attainment "
        f"{restarted.slo_attainment:.4f}, ${restarted.cost_usd:.2f}; scaled ahead at "
        f"{', '.join(f'{t:.0f}' for t in expected)} s"
    )
    # The three spikes after the restart are expected as without one (an empty memory
    # would need three more spikes first: only the last, at 77,370 s).
    assert len([t for t in expected if t > RESTART]) == 4
    assert restarted.slo_attainment > 0.965  # 0.956 with the memory lost (measured)
