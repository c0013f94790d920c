"""Scale to zero in the simulator (sim/coldstart.py, engine/idle.py): requests that find no
ready replica are held until one is ready, good only within the SLO, dropped past the wake
timeout; on a dev/test workload busy 3 hours a day the infercost policy costs less with it
and pays for that in the held requests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from infercost.sim.coldstart import Holding
from infercost.sim.scale_to_zero import ScaleToZero
from infercost.sim.scenario import ScenarioError, load_scenario
from infercost.sim.world import build_world
from infercost.sim.zero_bench import compare, with_scale_to_zero

pytestmark = pytest.mark.sim
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEVTEST = EXAMPLES / "scenarios" / "sparse" / "devtest-bert.yaml"


def _scenario(tmp_path: Path, *, slo_ms: float, wake_timeout: float, rates: list[float]) -> Path:
    """bert-base with its SLO set to `slo_ms`, one rate per second, scale to zero on."""
    (service,) = yaml.safe_load_all((EXAMPLES / "services" / "bert-base.yaml").read_text())
    service["spec"]["slo"]["latencyMs"] = slo_ms
    (tmp_path / "service.yaml").write_text(yaml.safe_dump(service))
    (tmp_path / "rates.txt").write_text("\n".join(f"{r:.1f}" for r in rates))
    path = tmp_path / "scenario.yaml"
    path.write_text(
        f"""apiVersion: sim.infercost.io/v1alpha1
kind: Workload
metadata: {{name: zero}}
spec:
  duration: {len(rates)}
  baselinePool: g6-xlarge
  requestTimeoutSeconds: 600
  include: [{EXAMPLES / "pools"}, service.yaml]
  services:
  - name: bert-base
    namespace: ml
    trace: {{path: rates.txt, format: rate-series}}
    scaleToZero: {{idleSeconds: 300, wakeTimeoutSeconds: {wake_timeout}}}
"""
    )
    return path


def _holding(tmp_path: Path, *, slo_ms: float, wake_timeout: float) -> Holding:
    world = build_world(
        load_scenario(_scenario(tmp_path, slo_ms=slo_ms, wake_timeout=wake_timeout,
                                rates=[10.0] * 600))
    )  # fmt: skip
    holding = Holding.of(world)
    assert holding is not None
    return holding


def test_held_requests_wait_for_the_first_ready_replica_and_count_good_only_within_the_slo(
    tmp_path: Path,
) -> None:
    holding = _holding(tmp_path, slo_ms=15_000, wake_timeout=60)
    # 10 requests/s for 10 s at zero, the first replica ready from step 20: the request of
    # step t waits 19.5 - t seconds (10.5 to 19.5), 5 steps of them within the 15 s SLO.
    rate = np.zeros((1, 40))
    rate[0, :10] = 10.0
    endpoints = np.zeros((1, 40))
    endpoints[0, 20:] = 1.0
    good = holding.block(0, rate, endpoints)
    totals = holding.totals
    assert totals.held[0] == pytest.approx(100.0)
    assert totals.answered[0] == pytest.approx(100.0)
    assert good[0] == pytest.approx(50.0) == totals.good[0]
    assert totals.dropped[0] == 0.0
    assert totals.cold_starts == [pytest.approx(19.5)]
    assert holding.held_rps[0] == pytest.approx(100.0 / 40)


def test_held_requests_past_the_wake_timeout_are_dropped_across_blocks(tmp_path: Path) -> None:
    holding = _holding(tmp_path, slo_ms=50, wake_timeout=30)
    rate = np.zeros((1, 20))
    rate[0, :5] = 4.0
    # No replica in the first two blocks: the requests wait on, then time out at 30 s.
    assert holding.block(0, rate, np.zeros((1, 20)))[0] == 0.0
    assert holding.totals.dropped[0] == 0.0  # 19.5 s at most so far
    holding.block(20, np.zeros((1, 20)), np.zeros((1, 20)))
    assert holding.totals.dropped[0] == pytest.approx(20.0)
    # The replica comes at step 45: the episode's cold start is its first request's wait.
    ready = np.zeros((1, 20))
    ready[0, 5:] = 1.0
    holding.block(40, np.zeros((1, 20)), ready)
    assert holding.totals.cold_starts == [pytest.approx(44.5)]
    assert holding.totals.good[0] == 0.0
    assert holding.totals.answered[0] == 0.0


def test_held_requests_beyond_the_slo_are_bad_in_a_run(tmp_path: Path) -> None:
    """Two sessions 20 minutes apart: the service goes to zero between them, the second
    session's first requests wait a cold start (minutes) and are bad against a 50 ms SLO,
    though a replica answers them; with a 10-minute SLO the same waits are good."""
    rates = [20.0] * 300 + [0.0] * 1200 + [20.0] * 600
    for slo_ms, all_good in ((50, False), (600_000, True)):
        folder = tmp_path / str(slo_ms)
        folder.mkdir()
        scenario = load_scenario(_scenario(folder, slo_ms=slo_ms, wake_timeout=600, rates=rates))
        warm, cold = compare(scenario, ScaleToZero(idle_seconds=300))
        assert cold.held is not None
        assert warm.held is None  # without scaleToZero nothing is held
        held = float(cold.held.held.sum())
        assert held > 0
        assert len(cold.held.cold_starts) == 1
        assert cold.held.cold_starts[0] >= 150 + 60  # provisioning + model load at least
        assert cold.held.dropped.sum() == 0.0  # a 600 s wake timeout outlasts the start
        assert cold.result.cost_usd < warm.result.cost_usd
        assert warm.result.slo_attainment == pytest.approx(1.0, abs=1e-3)
        if all_good:
            assert cold.held.good.sum() == pytest.approx(held)
        else:
            assert cold.held.good.sum() == 0.0
            lost = warm.result.good_requests - cold.result.good_requests
            assert lost == pytest.approx(held, rel=0.01)


def test_a_dev_test_model_busy_three_hours_a_day_costs_less_at_zero() -> None:
    warm, cold = compare(load_scenario(DEVTEST), ScaleToZero())
    assert cold.held is not None
    assert cold.result.cost_usd < 0.5 * warm.result.cost_usd
    assert warm.result.slo_attainment == pytest.approx(1.0, abs=1e-3)
    # Every session and stray minute after a gap wakes the service once: the price is the
    # requests held through each cold start, none inside a 50 ms SLO.
    assert len(cold.held.cold_starts) >= 4
    assert cold.held.good.sum() == 0.0
    assert warm.result.good_requests - cold.result.good_requests == pytest.approx(
        float(cold.held.held.sum()), rel=0.01
    )
    decisions = {(d.kind, d.reason) for d in cold.result.decisions}
    assert {("ScaleDown", "ScaledToZero"), ("ScaleUp", "WokenFromZero")} <= decisions


def test_with_scale_to_zero_off_the_scenario_keeps_min_replicas() -> None:
    scenario = with_scale_to_zero(load_scenario(DEVTEST), None)
    assert all(entry.scale_to_zero is None for entry in scenario.workload.spec.services)
    assert Holding.of(build_world(scenario)) is None


def test_a_bad_scale_to_zero_names_the_field(tmp_path: Path) -> None:
    path = _scenario(tmp_path, slo_ms=50, wake_timeout=30, rates=[1.0] * 60)
    path.write_text(path.read_text().replace("wakeTimeoutSeconds: 30", "wakeTimeoutSeconds: 0"))
    with pytest.raises(ScenarioError, match=r"scaleToZero\.wakeTimeoutSeconds"):
        load_scenario(path)
