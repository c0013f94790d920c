"""Demand history helpers and the forecast of recurring spikes.

Where demand will be when a replica started now is ready is engine/horizon.py's: the
growth of demand over the start-up horizon. This module reads windows of the history
(`in_window`, `window_max`, `held_peak`).

Spikes that recur at a steady period (a job on a schedule, traffic at the top of the hour)
are no trend: each arrives within a minute, faster than any replica starts. The engine
remembers when recent spikes started (`track_spikes`) and, once their gaps agree, expects
the next one a period after the last (`expected_spike`).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from operator import itemgetter
from statistics import median

from infercost.engine.evolve import evolve
from infercost.engine.model import EngineSettings, SpikeRecord

RATE = itemgetter(1)  # the rps of a (time, rps) sample
TIME = itemgetter(0)


def in_window(
    history: Sequence[tuple[float, float]], *, start: float, end: float
) -> Sequence[tuple[float, float]]:
    """The samples with start <= time <= end, of a history in time order (as the engine
    keeps it): two binary searches and a slice instead of a scan of every sample."""
    low = bisect_left(history, (start,))  # (t, rps) >= (start,) exactly when t >= start
    high = bisect_right(history, (end, math.inf))
    return history[low:high]


def window_max(history: Sequence[tuple[float, float]], *, now: float, window: float) -> float:
    """Highest demand seen in the last `window` seconds (0 when none): HPA's scale-down guard."""
    return max(map(RATE, in_window(history, start=now - window, end=now)), default=0.0)


def held_peak(
    previous: tuple[float, float] | None,
    *,
    history: Sequence[tuple[float, float]],
    now: float,
    window: float,
) -> tuple[float, float] | None:
    """(time, rps) of the highest demand in the last `window` seconds, held in one record.

    The history reaches back only over the windows a decision reads (recall.history_span);
    a peak held apart reaches further back at no cost (recurring spikes hours apart). Once
    the held peak is older than `window`, the highest sample the history still holds takes
    its place.
    """
    latest = max(history, key=RATE, default=None)
    if previous is not None and now - window <= previous[0]:
        return previous if latest is None or previous[1] >= latest[1] else latest
    return latest


def track_spikes(
    record: SpikeRecord,
    *,
    demand: float,
    now: float,
    previous: float | None,
    settings: EngineSettings,
) -> SpikeRecord:
    """The record with one demand sample folded in; `previous` is the time of the last one
    (the demand history's).

    Demand above spike_ratio x the baseline opens a spike (or raises the open one's peak);
    a spike starting within spike_min_gap_seconds of the last one's start is the same
    episode. Outside spikes the baseline follows demand with a time constant of
    spike_min_gap_seconds (the shortest period predicted), so a spike does not raise the
    level it is measured against.
    """
    baseline = record.baseline
    if baseline is None or previous is None:
        return evolve(record, baseline=demand)
    spikes = record.spikes
    if baseline > 0 and demand > settings.spike_ratio * baseline:
        if spikes and (record.open or now - spikes[-1][0] < settings.spike_min_gap_seconds):
            start, peak = spikes[-1]
            spikes = (*spikes[:-1], (start, max(peak, demand)))
        else:
            spikes = (*spikes, (now, demand))[-_repeats(settings) :]
        return evolve(record, spikes=spikes, open=True)
    weight = 1.0 - math.exp(-max(0.0, now - previous) / settings.spike_min_gap_seconds)
    return evolve(record, baseline=baseline + weight * (demand - baseline), open=False)


@dataclass(frozen=True, kw_only=True)
class ExpectedSpike:
    at: float  # when the next spike should start
    peak: float  # rps: the median of the last spikes' peaks
    period: float  # seconds between the last spikes' starts


def expected_spike(
    record: SpikeRecord, *, now: float, lead: float, settings: EngineSettings
) -> ExpectedSpike | None:
    """The next spike, from `lead` seconds before it is due until spike_period_tolerance_seconds
    after; None outside that window, while a spike is on, or without a steady period."""
    spikes = record.spikes[-_repeats(settings) :]
    if record.open or len(spikes) < _repeats(settings):
        return None
    starts = [start for start, _ in spikes]
    gaps = [later - earlier for earlier, later in pairwise(starts)]
    tolerance = settings.spike_period_tolerance_seconds
    if min(gaps) < settings.spike_min_gap_seconds or max(gaps) - min(gaps) > tolerance:
        return None
    period = sum(gaps) / len(gaps)
    due = starts[-1] + period
    if not due - lead <= now <= due + tolerance:
        return None
    return ExpectedSpike(at=due, peak=median(peak for _, peak in spikes), period=period)


def _repeats(settings: EngineSettings) -> int:
    """Spikes remembered and matched: two at least, one gap (fewer say nothing of a period)."""
    return max(settings.spike_repeats, 2)
