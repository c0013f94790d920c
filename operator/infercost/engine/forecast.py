"""Short-horizon demand forecast: where demand will be when a replica started now is ready.

A least-squares line through the recent demand samples (irregular spacing is fine), read
off at `now + horizon`. It is only used to scale up early: the planner takes the larger of
observed and forecast demand, and the forecast is capped at a multiple of the observation
so one noisy ramp cannot order a fleet.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from operator import itemgetter

RATE = itemgetter(1)  # the rps of a (time, rps) sample


def in_window(
    history: Sequence[tuple[float, float]], *, start: float, end: float
) -> Sequence[tuple[float, float]]:
    """The samples with start <= time <= end, of a history in time order (as the engine
    keeps it): two binary searches and a slice instead of a scan of every sample."""
    low = bisect_left(history, (start,))  # (t, rps) >= (start,) exactly when t >= start
    high = bisect_right(history, (end, math.inf))
    return history[low:high]


def linear_forecast(
    history: Sequence[tuple[float, float]],
    *,
    now: float,
    horizon: float,
    window: float,
    max_growth: float,
) -> float | None:
    """Demand expected at `now + horizon`; None without history to fit."""
    recent = in_window(history, start=now - window, end=now)
    if not recent:
        return None
    last = recent[-1][1]
    if len(recent) < 3:
        return last
    count = len(recent)
    mean_t = sum(t for t, _ in recent) / count
    mean_y = sum(y for _, y in recent) / count
    spread = sum((t - mean_t) ** 2 for t, _ in recent)
    if spread <= 0:
        return last
    slope = sum((t - mean_t) * (y - mean_y) for t, y in recent) / spread
    predicted = mean_y + slope * (now + horizon - mean_t)
    return max(0.0, min(predicted, max_growth * max(last, 0.0)))


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

    The history is bounded by a count of samples; a peak held apart reaches further back at
    no cost (recurring spikes hours apart). Once the held peak is older than `window`, the
    highest sample the history still holds takes its place.
    """
    latest = max(history, key=RATE, default=None)
    if previous is not None and now - window <= previous[0]:
        return previous if latest is None or previous[1] >= latest[1] else latest
    return latest
