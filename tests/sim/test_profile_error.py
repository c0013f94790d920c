"""A profile that is wrong: the simulated servers run slower than the variant's profile says.

A profile measured on another machine, Triton version or input shape is the common case; the
engine plans from the profile as written and must learn the rest from the metrics. Here the
GPUs take 1.3x the profile's time per batch (`executionTimeFactor`), the profile holds one
batch size per GPU (published figures), and the load is steady.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.support.scenarios import EXAMPLES, steady_bert_base

from infercost.engine import planner
from infercost.engine.model import DecisionInput, Plan
from infercost.sim.family_bench import clipped
from infercost.sim.run import simulate
from infercost.sim.scenario import ScenarioError, load_scenario
from infercost.sim.world import World, build_world

pytestmark = pytest.mark.sim
RATE = 6000.0  # requests/s: a profiled L4 (9043/s) carries it with 20% headroom, a real one not
SECONDS = 1800
SLOWER = 1.3


def _world(tmp_path: Path, factor: float | str) -> World:
    path = steady_bert_base(
        tmp_path,
        rate=RATE,
        seconds=SECONDS,
        name=f"slower-{factor}",
        extra=f"executionTimeFactor: {factor}",
    )
    return build_world(load_scenario(path))


def test_the_servers_run_at_the_factor_the_engine_sees_the_profile(tmp_path: Path) -> None:
    profiled, slower = _world(tmp_path, 1.0), _world(tmp_path, SLOWER)
    for a, b in zip(profiled.options, slower.options, strict=True):
        assert np.allclose(np.array(b.curve.seconds), np.array(a.curve.seconds) * SLOWER)
        # The service the engine is given is the one written: its profile unchanged.
        assert b.variant == a.variant


def test_the_engine_learns_how_much_slower_and_keeps_the_slo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans: list[tuple[float, Plan]] = []
    decide = planner.decide

    def recording(inp: DecisionInput) -> Plan:
        plan = decide(inp)
        plans.append((inp.now, plan))
        return plan

    monkeypatch.setattr(planner, "decide", recording)
    result = simulate(_world(tmp_path, SLOWER), "infercost")
    learned = [
        factor
        for now, plan in plans
        if now >= SECONDS / 2
        for factor in plan.state.learned_capacity.values()
    ]
    flaps = [
        (a.time, b.time)
        for a, b in zip(result.decisions, result.decisions[1:], strict=False)
        if a.reason == "LatencyAboveSLO" and b.kind == "ScaleDown" and b.time - a.time <= 60
    ]
    assert learned, "nothing learned on the running options"
    print(
        f"\nservers {SLOWER}x the profile's time at {RATE:.0f}/s: learned factors "
        f"{min(learned):.3f}-{max(learned):.3f} (1/{SLOWER} = {1 / SLOWER:.3f}); SLO attainment "
        f"{result.slo_attainment:.4f}; breach scale-ups taken back within a minute: {flaps}"
    )
    # Each running option's factor is what its batches show: the servers' speed.
    assert all(f == pytest.approx(1 / SLOWER, rel=0.03) for f in learned)
    # A replica added for a breach is not taken back before it could serve.
    assert flaps == []
    assert result.slo_attainment >= 0.99


@pytest.mark.parametrize("factor", [0, -1, 11, "often"])
def test_a_factor_out_of_range_is_refused(tmp_path: Path, factor: float | str) -> None:
    with pytest.raises(ScenarioError, match="executionTimeFactor"):
        _world(tmp_path, factor)


def test_the_family_bench_runs_a_scenario_with_slower_servers() -> None:
    """`make bench-family`'s second summary: every service of a scenario file, slower."""
    path = EXAMPLES / "scenarios" / "azure-code-bert-cached.yaml"
    assert {s.execution_time_factor for s in clipped(path, 600).workload.spec.services} == {1.0}
    slower = clipped(path, 600, SLOWER)
    assert slower.workload.spec.duration == 600
    assert {s.execution_time_factor for s in slower.workload.spec.services} == {SLOWER}
    # The rest of the service entry is kept (here its response cache).
    assert {s.cache_hit_ratio for s in slower.workload.spec.services} == {0.3}
