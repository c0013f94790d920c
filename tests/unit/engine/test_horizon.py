"""The demand to provision for one start-up horizon ahead (engine/horizon.py) and decide()
ordering for it (planner.py `_margin`)."""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service

from infercost.engine.horizon import horizon_demand, horizon_increments
from infercost.engine.model import EngineSettings, Reason, ServiceState
from infercost.engine.planner import decide

pytestmark = pytest.mark.unit

STEP = 15.0  # the control interval: one demand sample each


def _history(rate: object, *, seconds: float = 1800.0) -> tuple[tuple[float, float], ...]:
    """Samples every STEP seconds up to NOW of rate(seconds before NOW)."""
    count = int(seconds / STEP)
    return tuple((NOW - STEP * k, float(rate(STEP * k))) for k in range(count, -1, -1))  # type: ignore[operator]


def test_increments_are_log_growth_over_the_horizon_interpolated_between_samples() -> None:
    # Demand doubles every 600 s; a 300 s horizon is 20 samples, 100 s falls between two.
    history = _history(lambda ago: 1000.0 * 2 ** (-ago / 600.0), seconds=900.0)
    for horizon in (300.0, 100.0):
        growth = horizon_increments(history, now=NOW, horizon=horizon, window=900.0)
        assert growth  # every sample at least one horizon old starts one
        assert growth[-1][0] <= NOW - horizon
        # Linear interpolation of an exponential over 15 s is within 0.1% of it.
        assert all(r == pytest.approx(math.log(2) * horizon / 600.0, rel=1e-3) for _, r in growth)
    # Zero demand has no log: those samples start no increment.
    gaps = _history(lambda ago: 0.0 if int(ago / STEP) % 2 else 100.0, seconds=600.0)
    assert all(r == 0.0 for _, r in horizon_increments(gaps, now=NOW, horizon=30.0, window=600.0))


def test_a_steady_ramp_is_planned_at_its_growth_over_the_horizon() -> None:
    history = _history(lambda ago: 1000.0 * 2 ** (-ago / 600.0))
    read = horizon_demand(
        history, demand=1000.0, now=NOW, horizon=300.0, window=1800.0, quantile=0.99, min_span=300.0
    )
    assert read is not None
    assert read.trend == pytest.approx(math.log(2) / 2, rel=1e-3)  # half a doubling
    assert read.spread == pytest.approx(0.0, abs=1e-6)
    assert read.target == pytest.approx(1000.0 * math.sqrt(2), rel=1e-3)


def test_variability_adds_the_quantile_of_the_spread() -> None:
    # Flat demand wobbling up to 10% around its level (two incommensurate waves).
    wobble = _history(
        lambda ago: 1000.0 * (1 + 0.06 * math.sin(ago / 37) + 0.04 * math.sin(ago / 11))
    )
    reads = [
        horizon_demand(
            wobble, demand=1000.0, now=NOW, horizon=60.0, window=1800.0, quantile=q, min_span=60.0
        )
        for q in (0.5, 0.9, 0.99)
    ]
    assert all(read is not None for read in reads)
    median, q90, q99 = (read.target for read in reads if read is not None)
    first = reads[2]
    assert first is not None
    assert first.trend < 0.01
    assert first.spread > 0.03
    assert median == pytest.approx(1000.0 * math.exp(first.trend))  # the median: no margin
    assert 1000.0 < q90 < q99
    z = NormalDist().inv_cdf(0.99)
    assert q99 == pytest.approx(1000.0 * math.exp(first.trend + z * first.spread))


def test_one_burst_moves_neither_trend_nor_spread() -> None:
    # Flat at 1000/s, but 3x for four minutes twenty minutes ago: the increments straddling
    # it are a minority of the window's, and median and MAD ignore them.
    def rate(ago: float) -> float:
        return 3000.0 if 1200.0 <= ago < 1440.0 else 1000.0

    read = horizon_demand(
        _history(rate),
        demand=1000.0,
        now=NOW,
        horizon=300.0,
        window=1800.0,
        quantile=0.99,
        min_span=300.0,
    )
    assert read is not None
    assert (read.trend, read.spread, read.target) == (0.0, 0.0, 1000.0)


def test_a_history_shorter_than_two_horizons_says_nothing() -> None:
    young = _history(lambda ago: 1000.0, seconds=450.0)
    args = {"demand": 1000.0, "now": NOW, "window": 1800.0, "quantile": 0.99}
    assert horizon_demand(young, horizon=300.0, min_span=300.0, **args) is None  # type: ignore[arg-type]
    assert horizon_demand(young, horizon=200.0, min_span=200.0, **args) is not None  # type: ignore[arg-type]
    assert horizon_demand((), horizon=200.0, min_span=200.0, **args) is None  # type: ignore[arg-type]


def test_decide_orders_the_ramp_one_start_up_ahead() -> None:
    # 3 L4 replicas (400/s each) carry 1000/s with the 20% headroom. Demand grows 40% over
    # the start-up horizon (pool 120 s + model 60 s, an interval, half the rate window:
    # 225 s): 1,680/s is planned and two more replicas start now, not after the breach.
    spec = service([GPU], scaling={"maxReplicas": 20})
    growth = math.log(1.4) / 225.0
    state = ServiceState(demand_history=_history(lambda ago: 1000.0 * math.exp(-growth * ago)))
    args = {"demand": 1000.0, "p99": 20.0, "current": {KEY: running(3)}, "state": state}
    ahead = decide(decision(spec, [pool("l4")], **args))  # type: ignore[arg-type]
    off = EngineSettings(modelled_ceilings=False, horizon_quantile=0.0)
    fixed = decide(decision(spec, [pool("l4")], settings=off, **args))  # type: ignore[arg-type]
    assert [(a.replicas, a.pool) for a in fixed.allocations] == [(3, "l4")]
    assert [(a.replicas, a.pool) for a in ahead.allocations] == [(5, "l4")]
    assert ahead.actions[0].reason == Reason.DEMAND_ABOVE_CAPACITY


def test_decide_keeps_the_headroom_as_its_least_margin() -> None:
    # Flat, quiet demand: the horizon adds nothing, the spec's headroom still holds.
    spec = service([GPU], scaling={"maxReplicas": 20})
    state = ServiceState(demand_history=_history(lambda ago: 1000.0))
    args = {"demand": 1000.0, "p99": 20.0, "current": {KEY: running(3)}, "state": state}
    plan = decide(decision(spec, [pool("l4")], **args))  # type: ignore[arg-type]
    assert [(a.replicas, a.pool) for a in plan.allocations] == [(3, "l4")]
    tighter = decide(
        decision(service([GPU], scaling={"maxReplicas": 20, "headroom": 0.3}), [pool("l4")], **args)  # type: ignore[arg-type]
    )
    assert [(a.replicas, a.pool) for a in tighter.allocations] == [(4, "l4")]


def test_a_rate_under_one_request_per_horizon_measures_no_growth() -> None:
    """3e-304/s rising to 1/s (a hypothesis example that overflowed exp) is no trend: the
    samples that expect no request within the horizon are left out, as zero demand is."""
    history = [(t, 3e-304 if t % 120 == 0 else 1.0) for t in range(0, 1800, 15)]
    assert horizon_increments(history, now=1785, horizon=90.0, window=1800.0) == [
        (t, 0.0) for t in range(0, 1800 - 90, 15) if t % 120 and (t + 90) % 120
    ]
    read = horizon_demand(
        history,
        demand=1.0,
        now=1785,
        horizon=90.0,
        window=1800.0,
        quantile=0.99,
        min_span=90.0,
    )
    assert read is not None
    assert (read.trend, read.spread) == (0.0, 0.0)
    assert math.isfinite(read.target)
