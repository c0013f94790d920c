"""A smooth ramp with long start-ups: the capacity for the start-up horizon is ready in time.

The held-out failure of issue 21: on the smooth part of a diurnal ramp p99 rose above the
SLO for minutes before every step up, because a replica was ordered only once demand had
used the fixed headroom, and arrived 4-5 minutes later. The engine now provisions for a
high quantile of demand one start-up horizon ahead (engine/horizon.py, docs/horizon.md).
The scenario is a generated family member with long start-ups (pools 190-230 s, the model
60-90 s) whose trace is replaced by a smooth half-cosine from 1x to 6x over 48 minutes.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from infercost.engine.model import EngineSettings
from infercost.sim import planned
from infercost.sim.family import smooth_ramp
from infercost.sim.run import Result, simulate
from infercost.sim.scenario import load_scenario
from infercost.sim.world import build_world

pytestmark = pytest.mark.sim

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DURATION = 3600
RAMP_SECONDS = 2880  # the ramp, then a plateau
RATIO = 6.0


@pytest.fixture(scope="module")
def ramp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ramp")
    path = smooth_ramp(
        out=out, examples=EXAMPLES, duration=DURATION, ramp_seconds=RAMP_SECONDS, ratio=RATIO
    )
    members = json.loads((out / "family.json").read_text())["members"]
    assert members[8]["startup"] == "long"  # members 5-9 of every ten start slowly
    return path


def _run(monkeypatch: pytest.MonkeyPatch, scenario: Path, **settings: float) -> Result:
    """The infercost policy with engine settings overridden (a settings override, not a
    fake: the production planner runs as configured)."""
    monkeypatch.setattr(planned, "EngineSettings", functools.partial(EngineSettings, **settings))
    return simulate(build_world(load_scenario(scenario)), "infercost")


def _late_blocks(result: Result) -> list[float]:
    slo = result.slo_ms[0]
    return [
        t
        for t, p99 in zip(result.timeline.time, result.timeline.p99_ms, strict=True)
        if p99[0] > slo
    ]


def test_a_smooth_ramp_with_long_startups_holds_the_slo(
    monkeypatch: pytest.MonkeyPatch, ramp: Path
) -> None:
    horizon = _run(monkeypatch, ramp)
    fixed = _run(monkeypatch, ramp, horizon_quantile=0.0)
    print(
        f"\n$/1M good / SLO attainment / late blocks: horizon target "
        f"{horizon.cost_per_million_good:.4f} / {horizon.slo_attainment:.4f} / "
        f"{len(_late_blocks(horizon))}; fixed headroom {fixed.cost_per_million_good:.4f} / "
        f"{fixed.slo_attainment:.4f} / {len(_late_blocks(fixed))}"
    )
    # The fixed headroom breaches before a step on the ramp (the failure reproduced) ...
    assert _late_blocks(fixed)
    assert fixed.slo_attainment < 0.99
    # ... the horizon target never does: every step is ordered a start-up ahead.
    assert _late_blocks(horizon) == []
    assert horizon.slo_attainment >= 0.999
