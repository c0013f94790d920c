"""`make bench-knobs` (sim/knobs.py): each engine setting turned off across the family."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from infercost.engine import planner
from infercost.engine.model import DecisionInput, EngineSettings, Plan
from infercost.sim.family import generate, read_family
from infercost.sim.knobs import WITHOUT, FamilyFigures, combined, pooled_tasks, verdict
from infercost.sim.knobs import main as knobs_main
from infercost.sim.planned import Planned
from infercost.sim.run import simulate_policy
from infercost.sim.scenario import load_scenario
from infercost.sim.world import build_world

pytestmark = pytest.mark.sim

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_every_setting_measured_is_an_engine_setting_of_its_type() -> None:
    defaults = EngineSettings()
    names = {f.name for f in fields(EngineSettings)}
    for name, value in WITHOUT.items():
        assert name in names
        default = getattr(defaults, name)
        assert type(value) is type(default) or (
            isinstance(default, float) and type(value) is int
        ), name
        assert value != default, f"{name}: 'without' must differ from the default"


def test_the_override_reaches_every_decision(tmp_path: Path) -> None:
    generate(seed=7, out=tmp_path, examples=EXAMPLES, duration=600)
    member = read_family(tmp_path)[0]
    world = build_world(load_scenario(tmp_path / f"{member.name}.yaml"))
    seen: list[float] = []

    def spy(inp: DecisionInput) -> Plan:
        seen.append(inp.settings.horizon_quantile)
        return planner.decide(inp)

    simulate_policy(world, Planned(spy, settings={"horizon_quantile": 0.0}), name="infercost")
    assert seen
    assert set(seen) == {0.0}
    seen.clear()
    simulate_policy(world, Planned(spy), name="infercost")
    assert set(seen) == {EngineSettings().horizon_quantile}


def test_several_seeds_pool_their_members_with_the_real_traces_once(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    generate(seed=7, out=first, examples=EXAMPLES, count=2, duration=600)
    generate(seed=8, out=second, examples=EXAMPLES, count=3, duration=600)
    real = EXAMPLES / "scenarios"
    tasks = pooled_tasks([first, second], real=real)
    generated = [path for path, _ in tasks if path.parent in (first, second)]
    traces = [(path, clip) for path, clip in tasks if path.parent == real]
    assert len(generated) == 5
    assert len({path.name for path in generated}) == 5  # seeds name their members apart
    assert sorted(path for path, _ in traces) == sorted(real.glob("*.yaml"))
    assert {clip for _, clip in traces} == {600}  # clipped to the family's duration


BASE = FamilyFigures(
    met=18, applies=35, worst_shortfall=0.12, median_vs_oracle=1.56, worst_vs_oracle=3.2
)


@pytest.mark.parametrize(
    ("without", "expected"),
    [
        (BASE, "no effect"),
        (FamilyFigures(17, 35, 0.12, 1.56, 3.2), "earns its place"),
        (FamilyFigures(18, 35, 0.12, 1.60, 3.2), "earns its place"),
        (FamilyFigures(18, 35, 0.12, 1.56, 3.5), "earns its place"),
        (FamilyFigures(18, 35, 0.30, 1.50, 3.0), "earns its place"),
        (FamilyFigures(18, 35, 0.12, 1.50, 3.0), "better without"),
        # An SLO lost on a scenario that misses its goal either way (the Twitter day's spikes
        # without their forecast): only the summed shortfall sees it.
        (FamilyFigures(18, 35, 0.12, 1.56, 3.2, total_shortfall=0.02), "earns its place"),
        (FamilyFigures(18, 35, 0.12, 1.50, 3.0, total_shortfall=0.02), "earns its place"),
    ],
)
def test_a_setting_earns_its_place_when_the_family_is_worse_without_it(
    without: FamilyFigures, expected: str
) -> None:
    assert verdict(BASE, without) == expected


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        (["no effect", "no effect"], "no effect"),
        (["no effect", "earns its place"], "earns its place"),
        (["better without", "earns its place"], "earns its place"),
        (["better without", "no effect"], "better without"),
    ],
)
def test_a_setting_worse_without_on_either_set_of_scenarios_earns_its_place(
    verdicts: list[str], expected: str
) -> None:
    # The family clips real traces to two hours; the full-length runs see what it cannot
    # (a spike recurring every two hours): worse on either is reason to keep the setting.
    assert combined(verdicts) == expected


@pytest.mark.parametrize("factor", ["0", "-1", "11"])
def test_a_server_slowdown_out_of_range_is_refused(
    factor: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        knobs_main([str(tmp_path), "--execution-time-factor", factor])
    assert refused.value.code == 2
    assert "--execution-time-factor: between 0 (excluded) and 10" in capsys.readouterr().err
