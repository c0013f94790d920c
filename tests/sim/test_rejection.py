"""Triton rejecting late requests (`rejectLateRequests`) in the simulator: an overload costs
the excess requests, not every request, and the rejections are what the planner reads."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest

from infercost.api.service import SLO
from infercost.engine.model import EngineSettings
from infercost.sim import planned
from infercost.sim.fleet import Fleet
from infercost.sim.observe import window
from infercost.sim.run import Result, simulate
from infercost.sim.scenario import load_scenario
from infercost.sim.world import World, build_world

pytestmark = pytest.mark.sim
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _world(tmp_path: Path, rates: list[float], *, reject: bool) -> World:
    service = (EXAMPLES / "services" / "bert-base.yaml").read_text()
    assert "rejectLateRequests: true" in service
    if not reject:
        service = service.replace("rejectLateRequests: true", "rejectLateRequests: false")
    (tmp_path / f"bert-{reject}.yaml").write_text(service)
    return _replay(
        tmp_path,
        rates,
        include=[EXAMPLES / "pools", tmp_path / f"bert-{reject}.yaml"],
        service="bert-base",
        baseline="g6-xlarge",
    )


def _replay(
    tmp_path: Path, rates: list[float], *, include: list[Path], service: str, baseline: str
) -> World:
    """A world replaying `rates` (one per second) for one service of namespace ml."""
    # One file per trace: traces are read once per path (sim/traces.py caches them).
    trace = tmp_path / f"rates-{len(rates)}-{sum(rates):.0f}.txt"
    trace.write_text("\n".join(f"{rate:.1f}" for rate in rates))
    path = tmp_path / f"replay-{len(rates)}-{sum(rates):.0f}-{service}.yaml"
    path.write_text(
        f"""apiVersion: sim.infercost.io/v1alpha1
kind: Workload
metadata: {{name: replay}}
spec:
  duration: {len(rates)}
  baselinePool: {baseline}
  include: [{", ".join(str(p) for p in include)}]
  services:
  - {{name: {service}, namespace: ml, trace: {{path: {trace}, format: rate-series}}}}
"""
    )
    return build_world(load_scenario(path))


def _overload(world: World) -> tuple[float, float, float]:
    """One L4 replica, 3x its capacity for two minutes: good fraction, rejected/s, served/s."""
    fleet = Fleet(world)
    (l4,) = [o.index for o in world.options if o.pool.metadata.name == "g6-xlarge"]
    fleet.scale(l4, 1, step=0, instant=True)
    requests = good = 0.0
    for start in range(0, world.steps, world.interval_steps):
        result = fleet.run_block(start, world.interval_steps)
        requests += float(result.requests.sum())
        good += float(result.good.sum())
    win = window(fleet)
    return good / requests, float(win.rejected_rps[l4]), float(win.served_rps[l4])


def test_an_overload_fails_the_excess_not_every_request(tmp_path: Path) -> None:
    probe = _world(tmp_path, [1.0] * 30, reject=True)
    (l4,) = [o for o in probe.options if o.pool.metadata.name == "g6-xlarge"]
    capacity = probe.slo_capacity(l4, probe.best_batching(l4))
    rates = [3 * capacity] * 120
    shed_good, rejected, served = _overload(_world(tmp_path, rates, reject=True))
    wait_good, none_rejected, _ = _overload(_world(tmp_path, rates, reject=False))
    print(f"good fraction: rejecting {shed_good:.3f}, queueing {wait_good:.3f}")
    # Rejecting: what the replica serves is on time (about a third of the arrivals).
    assert shed_good > 0.25
    # Queueing: the backlog grows to the client timeout and almost nothing is on time.
    assert wait_good < 0.1
    # Triton counts the rejections: served + rejected = what arrived.
    assert none_rejected == 0.0
    assert served + rejected == pytest.approx(3 * capacity, rel=0.02)


def test_the_planner_scales_to_the_arrivals_it_rejected(tmp_path: Path) -> None:
    # 2,000/s then a jump to 40,000/s: the planner sees completions capped by capacity plus
    # Triton's rejections, so it starts enough replicas at once.
    rates = [2000.0] * 300 + [40000.0] * 900
    results = {
        reject: simulate(_world(tmp_path, rates, reject=reject), "infercost")
        for reject in (True, False)
    }
    shed, wait = results[True], results[False]
    print(
        f"SLO attainment: rejecting {shed.slo_attainment:.3f}, queueing {wait.slo_attainment:.3f}"
    )
    assert shed.slo_attainment > wait.slo_attainment + 0.05
    peak = max(np.sum(list(shed.timeline.replicas_by_pool.values()), axis=0))
    assert peak >= 4  # 40,000/s needs at least four of the largest replicas


SLOW_SERVICE = """apiVersion: infercost.io/v1alpha1
kind: InferenceService
metadata: {name: slow, namespace: ml}
spec:
  model: {name: slow}
  variants:
  - name: cpu
    acceleratorTypes: [cpu]
    image: nvcr.io/nvidia/tritonserver:24.08-py3
    modelRepository: s3://models/slow
    acceleratorsPerReplica: 2
    profile:  # 20 ms + 2 ms per item: a batch of 4 in 28 ms
    - {acceleratorType: cpu, batchSize: 1, throughput: 45.45, p99LatencyMs: 22}
    - {acceleratorType: cpu, batchSize: 4, throughput: 142.86, p99LatencyMs: 28}
  slo: {latencyMs: 60}
  batching: {rejectLateRequests: true}
"""


def _slow_world(tmp_path: Path, rates: list[float]) -> World:
    """SLOW_SERVICE alone on the CPU pool, replaying `rates` (one per second)."""
    (tmp_path / "slow.yaml").write_text(SLOW_SERVICE)
    return _replay(
        tmp_path,
        rates,
        include=[EXAMPLES / "pools" / "c7i-2xlarge-cpu.yaml", tmp_path / "slow.yaml"],
        service="slow",
        baseline="c7i-2xlarge-cpu",
    )


def test_a_slow_model_s_timeout_rejects_below_capacity_and_triton_counts_it(
    tmp_path: Path,
) -> None:
    # A 28 ms batch against a 60 ms SLO: the timeout is one batch's execution (the floor),
    # and a request arriving just after a batch started waits about that long at 60% load.
    world = _slow_world(tmp_path, [85.0] * 120)  # 60% of one replica's 143/s
    (option,) = world.options
    batching = world.best_batching(option)
    assert batching.queue_timeout_us == pytest.approx(28_000, abs=5)
    fleet = Fleet(world)
    fleet.scale(option.index, 1, step=0, instant=True)
    requests = good = 0.0
    for start in range(0, world.steps, world.interval_steps):
        result = fleet.run_block(start, world.interval_steps)
        requests += float(result.requests.sum())
        good += float(result.good.sum())
    win = window(fleet)
    rejected, served = float(win.rejected_rps[0]), float(win.served_rps[0])
    print(
        f"85/s on one replica: served {served:.1f}/s, rejected {rejected:.1f}/s, good {good / requests:.3f}"
    )
    assert served + rejected == pytest.approx(85.0, rel=0.01)
    assert 0.02 * 85.0 < rejected < 0.2 * 85.0
    assert good / requests <= 1.0 - rejected / 85.0 + 1e-9  # a rejected request is never good


def test_the_first_window_rates_cover_the_steps_simulated_so_far(tmp_path: Path) -> None:
    # Prometheus's rate() over [1m] on a series 15 s old covers those 15 s: at the first
    # decision a fleet serving 85/s reads 85/s, not a quarter of it.
    world = _slow_world(tmp_path, [85.0] * 30)
    fleet = Fleet(world)
    fleet.scale(0, 2, step=0, instant=True)  # two replicas: 30% load, almost no rejection
    fleet.run_block(0, world.interval_steps)
    win = window(fleet)
    assert float(win.served_rps[0] + win.rejected_rps[0]) == pytest.approx(85.0, rel=0.01)
    assert 0.5 < float(win.busy[0]) < 0.9  # partial batches: busier than the load; not diluted


# 100-700/s of the slow model in 30 minutes.
SINE = [400 + 300 * math.sin(t / 600) for t in range(1800)]


def _sine_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: float | bool) -> Result:
    """The slow model's sine under the infercost policy with engine settings overridden (a
    settings override, not a fake: the planner runs as configured)."""
    monkeypatch.setattr(planned, "EngineSettings", functools.partial(EngineSettings, **settings))
    return simulate(_slow_world(tmp_path, SINE), "infercost")


def test_the_planner_adds_replicas_while_the_timeout_s_tail_breaks_the_slo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Learning from metrics alone (no modelled ceilings): at the load a 20% headroom plans,
    # Triton rejects 4-10% of requests that waited behind a running batch, while p99 of those
    # served stays on time. Blind to it: the breach's limit at 100% of requests never binds.
    reading = _sine_run(tmp_path, monkeypatch, modelled_ceilings=False)
    # Blind: the SLO's late share read as 100% (a counterfactual only a patch can give: the
    # share is the objective's own, 1 - percentile/100, and the percentile also shapes batching).
    monkeypatch.setattr(SLO, "late_share", property(lambda self: 1.0))
    blind = _sine_run(tmp_path, monkeypatch, modelled_ceilings=False)
    print(
        f"SLO attainment: reading the tail {reading.slo_attainment:.3f} "
        f"(${reading.cost_usd:.3f}), blind to it {blind.slo_attainment:.3f} (${blind.cost_usd:.3f})"
    )
    assert any("rejected at the queue timeout" in d.message for d in reading.decisions)
    assert reading.slo_attainment > blind.slo_attainment + 0.02


def test_modelled_ceilings_spare_the_breaches_learning_costs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine starts from the load at which the queueing model says the slow model breaks
    # its SLO (engine/ceilings.py): no episode of rejections has to teach it. The simulator's
    # latencies come from the same model, so this is its best case; tests/e2e measures the
    # ceiling on a real tritonserver.
    modelled = _sine_run(tmp_path, monkeypatch)
    learning = _sine_run(tmp_path, monkeypatch, modelled_ceilings=False)
    print(
        f"SLO attainment: modelled ceilings {modelled.slo_attainment:.3f} "
        f"(${modelled.cost_usd:.3f}), learned from breaches {learning.slo_attainment:.3f} "
        f"(${learning.cost_usd:.3f})"
    )
    assert not any("rejected at the queue timeout" in d.message for d in modelled.decisions)
    assert modelled.slo_attainment > learning.slo_attainment + 0.01
    assert modelled.slo_attainment >= 0.98
