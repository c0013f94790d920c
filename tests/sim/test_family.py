"""The scenario family (sim/family.py) and `make bench-family`'s table (sim/family_bench.py)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from infercost.cli import app
from infercost.sim.family import BURSTS, NOISES, SHAPES, STARTUPS, Member, generate, read_family
from infercost.sim.family_bench import Figure, RampScaleUps, Row, ramp_scale_ups, summary
from infercost.sim.family_bench import main as bench_main
from infercost.sim.planned import Decision
from infercost.sim.scenario import ScenarioError, load_scenario
from infercost.sim.world import build_world

pytestmark = pytest.mark.sim

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("family")
    generate(seed=7, out=out, examples=EXAMPLES, duration=1200)
    return out


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(
    family: Path, tmp_path: Path
) -> None:
    generate(seed=7, out=tmp_path / "again", examples=EXAMPLES, duration=1200)
    generate(seed=8, out=tmp_path / "other", examples=EXAMPLES, duration=1200)
    assert _digest(tmp_path / "again") == _digest(family)
    other = _digest(tmp_path / "other")
    assert len(other) == len(_digest(family))
    assert set(other.values()).isdisjoint(_digest(family).values())


def test_at_least_30_scenarios_that_the_real_loader_accepts(family: Path) -> None:
    members = read_family(family)
    assert len(members) >= 30
    for member in members:
        scenario = load_scenario(family / f"{member.name}.yaml")
        world = build_world(scenario)
        assert world.rates.shape == (1, 1200)
        # Rescaled to the member's peak minute, as the Workload's peakRps asks.
        minute = np.convolve(world.rates[0], np.ones(60) / 60, mode="valid").max()
        assert minute == pytest.approx(member.peak_rps, rel=1e-6)
        service = scenario.services[0]
        assert service.spec.batching.reject_late_requests is member.reject_late


def test_every_listed_feature_is_in_the_family(family: Path) -> None:
    members = read_family(family)
    seen = set().union(*(m.features for m in members))
    wanted = {*SHAPES, *(f"burst-{b}" for b in BURSTS), *(f"noise-{n}" for n in NOISES)}
    wanted |= {f"startup-{s}" for s in STARTUPS} | {"reject-late", "no-reject-late"}
    wanted |= {"bert-base", "resnet50"}
    assert wanted <= seen
    # A diurnal ramp with three short bursts on slow pools without rejectLateRequests:
    # the held-out scenario of issue 21.
    assert any(
        m.shape.startswith("diurnal") and m.burst == "three-spikes" and m.startup == "long"
        for m in members
    )
    assert any(not m.reject_late and m.startup == "long" for m in members)


def test_start_up_times_and_burst_heights_stay_in_the_issue_ranges(family: Path) -> None:
    for member in read_family(family):
        scenario = load_scenario(family / f"{member.name}.yaml")
        for pool in scenario.pools:
            assert 60 <= pool.spec.provisioning_seconds <= 240
        for variant in scenario.services[0].spec.variants:
            assert 30 <= variant.startup_seconds <= 90
        heights = [v for k, v in member.params.items() if k.endswith("_height")]
        lengths = [v for k, v in member.params.items() if k.endswith("_seconds")]
        assert all(1.3 <= h <= 3.0 for h in heights)
        assert all(30 <= s <= 900 for s in lengths)
        assert len(heights) == {"none": 0, "step": 1, "spike": 1, "three-spikes": 3}[member.burst]


def test_the_cli_writes_the_family_and_names_a_bad_examples_folder(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["scenarios", "generate", "--seed", "3", "--count", "2", "--duration", "600"]
    ok = runner.invoke(app, [*args, "--out", str(tmp_path / "f"), "--examples", str(EXAMPLES)])
    assert ok.exit_code == 0, ok.output
    assert len(read_family(tmp_path / "f")) == 2
    bad = runner.invoke(app, [*args, "--out", str(tmp_path / "g"), "--examples", str(tmp_path)])
    assert bad.exit_code == 2
    assert "--examples" in bad.output
    with pytest.raises(ScenarioError, match=r"family\.json"):
        read_family(tmp_path / "g")


def test_a_tiny_bench_family_prints_the_table_and_the_goals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(seed=5, out=tmp_path, examples=EXAMPLES, count=2, duration=600)
    bench_main([str(tmp_path), "--workers", "1", "--markdown", str(tmp_path / "t.md")])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| family-5-")]
    assert len(rows) == 2
    assert "infercost/oracle cost: median" in out
    assert "infercost/strongest-hpa cost: median" in out
    assert "equal-share oracle/oracle cost" in out
    assert "infercost/equal-share oracle cost" in out
    assert "met on" in out
    assert "PASS" in out or "MISS" in out
    # Members 0 and 1 have no and low noise: both smooth ramps, no noisy line.
    assert "diurnal ramps, smooth: " in out
    assert " scale-ups on 2 members outside bursts" in out
    assert "diurnal ramps, noisy" not in out
    assert "| family-5-00-" in (tmp_path / "t.md").read_text()


def _member(shape: str, **params: float) -> Member:
    return Member(
        name="m", shape=shape, burst="step", noise="none", startup="short", service="bert",
        reject_late=False, peak_rps=1000.0, params=params,
    )  # fmt: skip


def test_ramp_scale_ups_leave_out_bursts_and_count_the_ones_answering_a_breach() -> None:
    def up(time: float, reason: str) -> Decision:
        return Decision(time=time, service="s", kind="ScaleUp", reason=reason, message="")

    decisions = [
        up(0.0, "LatencyAboveSLO"),  # the first placement: not the ramp's
        up(600.0, "DemandAboveCapacity"),  # ordered ahead of demand
        up(1200.0, "LatencyAboveSLO"),  # after a breach, on the ramp
        up(2000.0, "LatencyAboveSLO"),  # within the burst's first 15 minutes
        Decision(time=2500.0, service="s", kind="ScaleDown", reason="x", message=""),
        up(2890.0, "LatencyAboveSLO"),  # 15 minutes after the burst started: the ramp again
    ]
    diurnal = _member("diurnal-steep", burst0_start=1990.0, burst0_height=2.0)
    assert ramp_scale_ups(diurnal, decisions) == RampScaleUps(total=3, after_breach=2, noisy=False)
    noisy = dataclasses.replace(diurnal, noise="high")  # 20% per second: not a smooth ramp
    assert ramp_scale_ups(noisy, decisions) == RampScaleUps(total=3, after_breach=2, noisy=True)
    assert ramp_scale_ups(_member("flat"), decisions) is None
    assert ramp_scale_ups(None, decisions) is None


def test_the_summary_counts_smooth_and_noisy_ramps_apart() -> None:
    def row(name: str, ramp: tuple[int, int] | None, *, noisy: bool) -> Row:
        figure = Figure(cost_per_million=1.0, slo=1.0)
        steps = (
            None if ramp is None else RampScaleUps(total=ramp[0], after_breach=ramp[1], noisy=noisy)
        )
        return Row(name=name, infercost=figure, oracle=figure, oracle_equal_share=figure,
                   hpa_best=figure, hpa_best_pool="g5", hpa_g5=figure,
                   ramp_scale_ups=steps)  # fmt: skip

    lines = summary(
        [
            row("calm", (3, 0), noisy=False),
            row("calm-2", (2, 0), noisy=False),
            row("noisy", (4, 1), noisy=True),
            row("flat", None, noisy=True),
        ]
    )
    smooth = next(line for line in lines if line.startswith("diurnal ramps, smooth"))
    noisy = next(line for line in lines if line.startswith("diurnal ramps, noisy"))
    assert "5 scale-ups on 2 members outside bursts, 0 answering" in smooth
    assert smooth.endswith("PASS; where: none")
    assert "4 scale-ups on 1 members outside bursts, 1 answering" in noisy
    assert noisy.endswith("MISS; where: noisy 1")
