"""The demand memory after a restart (engine/recall.py): recorded demand replayed through
the same step every decision takes, so the state is the one an operator that never
stopped would hold."""

from __future__ import annotations

import math

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service

from infercost.engine.model import Plan, Reason, ServiceState
from infercost.engine.planner import decide
from infercost.engine.recall import recall

pytestmark = pytest.mark.unit
HOUR = 3600.0
SPEC = service([GPU], scaling={"maxReplicas": 10, "scaleDownDelaySeconds": 300})


def hours_of_spikes(hours: int) -> list[tuple[float, float]]:
    """300/s every 15 s for `hours` hours ending at NOW, with a 5-minute spike to 2,000/s
    half past each hour: the next is due at NOW + 30 min."""
    start = NOW - hours * HOUR
    samples = []
    for step in range(int(hours * HOUR / 15)):
        t = start + step * 15.0
        spiking = (t - start) % HOUR - HOUR / 2
        samples.append((t, 2000.0 if 0 <= spiking < 300 else 300.0))
    return samples


def lived(samples: list[tuple[float, float]]) -> ServiceState:
    """The state of an operator that decided on each sample as it came."""
    state = ServiceState()
    for t, demand in samples:
        inp = decision(
            SPEC, [pool("l4")], demand=demand, current={KEY: running(2)}, now=t, state=state
        )
        state = decide(inp).state
    return state


def test_recalled_memory_is_what_deciding_on_each_sample_remembers() -> None:
    samples = hours_of_spikes(4)
    settings = decision(SPEC, [pool("l4")]).settings
    live, recalled = lived(samples), recall(ServiceState(), samples, spec=SPEC, settings=settings)
    assert recalled.demand_history == live.demand_history
    assert recalled.demand_peak == live.demand_peak
    assert recalled.demand_peak is not None
    assert recalled.demand_peak[1] == 2000.0
    assert recalled.spikes == live.spikes
    assert [start for start, _ in recalled.spikes.spikes] == [
        NOW - k * HOUR for k in (2.5, 1.5, 0.5)
    ]


def test_recall_keeps_the_state_s_own_samples_and_skips_what_is_no_rate() -> None:
    settings = decision(SPEC, [pool("l4")]).settings
    own = ServiceState(demand_history=((NOW - 30, 500.0),))
    samples = [(NOW - 60, 1.0), (NOW - 30, 2.0), (NOW - 15, math.nan), (NOW - 10, -1.0)]
    samples += [(NOW - 5, 700.0)]
    state = recall(own, samples, spec=SPEC, settings=settings)
    assert state.demand_history == ((NOW - 30, 500.0), (NOW - 5, 700.0))


def plan_at(now: float, state: ServiceState, *, replicas: int = 2) -> Plan:
    current = {KEY: running(replicas)}
    return decide(decision(SPEC, [pool("l4")], demand=300.0, current=current, now=now, state=state))


def test_after_a_restart_the_recalled_spikes_start_the_next_one_s_capacity_ahead() -> None:
    # Restarted at NOW with four hours of spikes on record; the next is due at NOW + 30 min.
    settings = decision(SPEC, [pool("l4")]).settings
    recalled = recall(ServiceState(), hours_of_spikes(4), spec=SPEC, settings=settings)
    due = NOW + HOUR / 2
    ahead = plan_at(due - 120, recalled)
    assert ahead.allocations[0].replicas == 6  # 2,000/s + 20% at 400/s per replica
    assert any(a.reason == Reason.RECURRING_SPIKE_EXPECTED for a in ahead.actions)
    # Without the record (what a restart had before) the fleet waits for the spike.
    assert plan_at(due - 120, ServiceState()).allocations[0].replicas == 2


def test_after_a_restart_low_demand_on_record_scales_down_without_waiting_again() -> None:
    settings = decision(SPEC, [pool("l4")]).settings
    quiet = [(NOW - 600 + 15 * k, 300.0) for k in range(40)]  # 10 minutes at 300/s
    recalled = recall(ServiceState(), quiet, spec=SPEC, settings=settings)
    assert plan_at(NOW, recalled, replicas=5).allocations[0].replicas == 1
    fresh = plan_at(NOW, ServiceState(), replicas=5)  # no record: the delay starts now
    assert fresh.allocations[0].replicas == 5
    assert any(a.reason == Reason.SCALE_DOWN_DELAYED for a in fresh.actions)


def test_the_memory_reaches_back_over_the_longest_window_a_decision_reads() -> None:
    """A two-hour scale-down delay reads two hours of demand: at one sample per 15 s that is
    481 samples, all kept (a bound of 256 samples once cut it to 64 minutes, forgetting the
    peak the delay must hold)."""
    spec = service([GPU], scaling={"maxReplicas": 10, "scaleDownDelaySeconds": 7200})
    settings = decision(spec, [pool("l4")]).settings
    samples = [(NOW - 3 * HOUR + k * 15.0, 300.0) for k in range(int(3 * HOUR / 15) + 1)]
    history = recall(ServiceState(), samples, spec=spec, settings=settings).demand_history
    assert len(history) == 481
    assert history[0][0] == NOW - 7200.0
    assert history[-1][0] == NOW
