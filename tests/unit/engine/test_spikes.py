"""Recurring spikes: the record of recent spikes (forecast.track_spikes), the next one
expected from a steady period (forecast.expected_spike), and decide() scaling ahead of it."""

from __future__ import annotations

import pytest
from engine_factories import GPU, KEY, NOW, decision, pool, running, service

from infercost.engine.forecast import expected_spike, track_spikes
from infercost.engine.model import EngineSettings, Plan, Reason, ServiceState, SpikeRecord
from infercost.engine.planner import decide

pytestmark = pytest.mark.unit
SETTINGS = EngineSettings()
HOUR = 3600.0


def replay(samples: list[tuple[float, float]]) -> SpikeRecord:
    record, previous = SpikeRecord(), None
    for now, demand in samples:
        record = track_spikes(record, demand=demand, now=now, previous=previous, settings=SETTINGS)
        previous = now
    return record


def hourly(spikes: int, *, peak: float = 2000.0, late: float = 0.0) -> list[tuple[float, float]]:
    """300/s sampled every 15 s for `spikes` hours, with a 5-minute spike to `peak` half past
    each hour (the last one `late` seconds later)."""
    starts = [NOW + HOUR / 2 + k * HOUR for k in range(spikes)]
    starts[-1] += late
    samples = []
    for step in range(int(spikes * HOUR / 15)):
        t = NOW + step * 15.0
        spiking = any(0 <= t - start < 300 for start in starts)
        samples.append((t, peak if spiking else 300.0))
    return samples


def test_a_spike_is_demand_well_above_a_baseline_it_does_not_raise() -> None:
    record = replay(hourly(2))
    assert record.spikes == ((NOW + HOUR / 2, 2000.0), (NOW + 1.5 * HOUR, 2000.0))
    assert record.baseline == pytest.approx(300.0)
    assert not record.open


def test_a_spike_s_peak_rises_while_it_lasts_and_bursts_within_the_gap_are_one() -> None:
    samples = [(NOW, 300.0), (NOW + 15, 900.0), (NOW + 30, 1500.0), (NOW + 45, 300.0)]
    samples += [(NOW + 600, 1200.0)]  # another burst 10 minutes on: the same episode
    record = replay(samples)
    assert record.spikes == ((NOW + 15, 1500.0),)
    assert record.open


def test_the_next_spike_is_expected_a_period_after_the_last() -> None:
    record = replay(hourly(3))  # spikes at 0.5, 1.5 and 2.5 h: two equal gaps
    due = NOW + 3.5 * HOUR
    expected = expected_spike(record, now=due - 100, lead=200, settings=SETTINGS)
    assert expected is not None
    assert (expected.at, expected.peak, expected.period) == (due, 2000.0, HOUR)
    # Not before the lead, and not past the tolerance: twice how late a start is seen (the
    # 60 s metrics window and the 15 s control interval).
    tolerance = 2 * (60.0 + 15.0)
    assert SETTINGS.spike_period_tolerance_seconds == tolerance
    assert expected_spike(record, now=due + tolerance, lead=200, settings=SETTINGS) is not None
    assert expected_spike(record, now=due - 300, lead=200, settings=SETTINGS) is None
    assert expected_spike(record, now=due + tolerance + 1, lead=200, settings=SETTINGS) is None


def test_the_spike_period_s_tolerance_follows_how_late_a_start_is_seen() -> None:
    # A longer rate window, or a slower control loop, sees each start later: gaps that differ
    # by 200 s still make a period at a 2m window (2 x (120 + 15) = 270 s), not at 1m (150 s).
    record = replay(hourly(3, late=200))
    due = record.spikes[-1][0] + (record.spikes[-1][0] - record.spikes[0][0]) / 2
    slow = EngineSettings(metrics_window_seconds=120.0)
    assert expected_spike(record, now=due, lead=200, settings=SETTINGS) is None
    assert expected_spike(record, now=due, lead=200, settings=slow) is not None


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (replay(hourly(2)), "two spikes: one gap says nothing about a period"),
        (replay(hourly(3, late=600)), "the gaps differ by 10 minutes"),
        (
            SpikeRecord(baseline=300, spikes=tuple((NOW - k * 1200, 2e3) for k in (3, 2, 1))),
            "gaps shorter than spike_min_gap_seconds",
        ),
    ],
)
def test_no_spike_is_expected_without_a_steady_period(record: SpikeRecord, why: str) -> None:
    starts = [start for start, _ in record.spikes]
    due = starts[-1] + (starts[-1] - starts[0]) / (len(starts) - 1)  # were the gaps a period
    assert expected_spike(record, now=due - 60, lead=200, settings=SETTINGS) is None, why


def test_decide_starts_the_spike_s_capacity_ahead_of_it() -> None:
    # Spikes to 2,000/s every hour, the next due in 100 s; demand is 300/s on 2 replicas.
    state = ServiceState(
        spikes=SpikeRecord(
            baseline=300.0,
            spikes=tuple((NOW - 3500 - k * HOUR, 2000.0) for k in (2, 1, 0)),
        )
    )

    def plan(settings: EngineSettings) -> Plan:
        inp = decision(
            service([GPU], scaling={"maxReplicas": 10}),
            [pool("l4")],
            demand=300.0,
            current={KEY: running(2)},
            state=state,
            settings=settings,
        )
        return decide(inp)

    ahead = plan(EngineSettings(modelled_ceilings=False))
    (allocation,) = ahead.allocations
    assert allocation.replicas == 6  # 2,000/s + 20% at 400/s per replica
    (scale_up,) = [a for a in ahead.actions if a.reason == Reason.RECURRING_SPIKE_EXPECTED]
    assert "recurred every 3600s" in scale_up.message
    reactive = plan(EngineSettings(modelled_ceilings=False, recurring_spikes=False))
    assert reactive.allocations[0].replicas == 2


def test_the_spike_gets_the_fixed_headroom_not_the_variability_of_a_trough() -> None:
    # The same spike due, but demand swung between 100/s and 1,500/s every 200 s for the last
    # half hour: at 300/s now the horizon's margin is 5x (up to the window's peak). The spike's
    # peak is demand to come already: 2,000/s + 20%, six replicas, not 2,000/s x 5.
    history = tuple(
        (NOW - age, 1500.0 if (age // 200) % 2 else 100.0) for age in range(1800, 0, -15)
    )
    state = ServiceState(
        demand_history=(*history, (NOW, 300.0)),
        spikes=SpikeRecord(
            baseline=300.0,
            spikes=tuple((NOW - 3500 - k * HOUR, 2000.0) for k in (2, 1, 0)),
        ),
    )
    inp = decision(
        service([GPU], scaling={"maxReplicas": 10}),
        [pool("l4")],
        demand=300.0,
        current={KEY: running(2)},
        state=state,
        settings=EngineSettings(modelled_ceilings=False),
    )
    ahead = decide(inp)
    (allocation,) = ahead.allocations
    assert allocation.replicas == 6
    (scale_up,) = [a for a in ahead.actions if a.reason == Reason.RECURRING_SPIKE_EXPECTED]
    assert "(+20% above" in scale_up.message
