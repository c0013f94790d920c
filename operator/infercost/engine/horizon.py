"""Demand to provision for: a high quantile of demand one start-up horizon ahead.

A replica ordered now serves only after its horizon (pool provisioning + model start-up, plus
the control interval before the next order and the lag of the observed rate), so the
capacity ordered now must carry the demand of then. From the demand history this module
forms the log-increments of demand over exactly that horizon,

    r_i = ln D(t_i + H) - ln D(t_i)        for every sample t_i with t_i + H <= now,

(the later value interpolated between the samples around it), and provisions for

    D_target = D_now * exp(max(0, trend) + z_q * spread)

where `trend` is the lower quartile of the r_i (growth demand kept up over three horizons
in four lately), `spread` their robust standard deviation (1.4826 x the median absolute
deviation around their median) and
`z_q` the standard normal quantile of `horizon_quantile`. Assumptions (docs/horizon.md):
the log-increments over H are roughly normal around a trend that changes slowly against
the window they are read over; quartile, median and MAD, not mean and standard deviation,
so that a burst that came once (a step, a spike) moves neither the trend nor the spread for
the window's length after it: such a burst is the reactive path's (p99, rejections) and, when
it recurs, the recurring-spike forecast's. A falling trend orders nothing less: scale-down
has its own delay. Pure and cheap: one pass over the samples of the window.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist, median

from infercost.engine.forecast import in_window, window_max
from infercost.engine.model import DecisionInput

# Median absolute deviation -> standard deviation of a normal distribution.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, kw_only=True)
class HorizonDemand:
    """What the history says of demand one horizon ahead."""

    level: float  # rps: the demand observed now
    trend: float  # log-growth over one horizon seen in 3 of 4 (lower quartile), floored at 0
    spread: float  # robust standard deviation of the log-growth over one horizon
    z: float  # standard normal quantile of the quantile asked for (0 below the median)
    increments: int  # horizon-long increments it was read from

    @property
    def variability(self) -> float:
        """The factor the spread adds above the trend (1 for a demand that never varied)."""
        return exp_finite(self.z * self.spread)

    @property
    def target(self) -> float:
        """rps: the quantile of demand one horizon ahead."""
        return self.level * exp_finite(self.trend) * self.variability


LOG_FLOAT_MAX = math.log(sys.float_info.max)


def exp_finite(power: float) -> float:
    """exp, held at the largest float instead of overflowing (hostile demand values)."""
    return math.exp(min(power, LOG_FLOAT_MAX))


def horizon_increments(
    history: Sequence[tuple[float, float]], *, now: float, horizon: float, window: float
) -> list[tuple[float, float]]:
    """(t, ln D(t + horizon) - ln D(t)) for each sample t in [now - window, now - horizon]
    whose demand and interpolated later demand both expect a request within the horizon.

    A rate under one request per horizon has no growth to measure over it (3e-304/s rising
    to 1/s is not a 3e304-fold trend, and its exponential overflows): such samples are left
    out, as zero demand is."""
    recent = in_window(history, start=now - window, end=now)
    if horizon <= 0 or len(recent) < 2:
        return []
    times = [t for t, _ in recent]
    out: list[tuple[float, float]] = []
    for t, rps in recent:
        later_at = t + horizon
        if later_at > times[-1]:
            break
        if rps * horizon < 1.0:
            continue
        j = bisect_left(times, later_at)  # first sample at or after t + horizon
        t1, y1 = recent[j]
        if t1 == later_at or j == 0:
            later = y1
        else:
            t0, y0 = recent[j - 1]
            later = y0 + (y1 - y0) * (later_at - t0) / (t1 - t0)
        if later * horizon >= 1.0:
            out.append((t, math.log(later / rps)))
    return out


def horizon_demand(
    history: Sequence[tuple[float, float]],
    *,
    demand: float,
    now: float,
    horizon: float,
    window: float,
    quantile: float,
    min_span: float,
) -> HorizonDemand | None:
    """The `quantile` of demand `horizon` seconds ahead, from the last `window` seconds of
    history; None where the increments start within less than `min_span` seconds of each
    other (a young history, after a restart without recall: the caller falls back to its
    fixed headroom) or demand is not positive."""
    increments = horizon_increments(history, now=now, horizon=horizon, window=window)
    if demand <= 0 or not increments or increments[-1][0] - increments[0][0] < min_span:
        return None
    growth = [r for _, r in increments]
    centre = median(growth)
    spread = _MAD_TO_SIGMA * median(abs(r - centre) for r in growth)
    # The trend is growth seen over three horizons in four (the lower quartile): a ramp
    # grows over every horizon; bursty demand rises over some and falls over others, and
    # its spread, not a trend, is what it asks for.
    sure = sorted(growth)[len(growth) // 4]
    return HorizonDemand(
        level=demand,
        trend=max(0.0, sure),
        spread=spread,
        z=max(0.0, NormalDist().inv_cdf(quantile)),
        increments=len(growth),
    )


@dataclass(frozen=True, kw_only=True)
class Margin:
    """What the planner provisions above the demand observed now."""

    factor: float  # capacity kept above the planned demand, as a factor
    trend: float | None  # demand growth expected over the horizon, as a factor (None: unread)


def horizon_margin(
    inp: DecisionInput,
    *,
    history: Sequence[tuple[float, float]],
    demand: float,
    startup: float,
) -> Margin:
    """The margin to provision for demand still to come, and its growth over the horizon
    of options starting in `startup` seconds: the spec's headroom at least, more where
    demand varied over that horizon. The headroom alone (and no growth) where the setting
    is off or the history does not cover two horizons (docs/horizon.md). `history` is the
    demand history with this decision's sample in it."""
    settings = inp.settings
    fixed = 1.0 + inp.spec.scaling.headroom
    if settings.horizon_quantile <= 0:
        return Margin(factor=fixed, trend=None)
    # A replica ordered now serves after its start-up; the next order can only come one
    # interval later; and the observed rate lags demand by half its window.
    horizon = startup + settings.control_interval_seconds + settings.metrics_window_seconds / 2.0
    read = horizon_demand(
        history,
        demand=demand,
        now=inp.now,
        horizon=horizon,
        window=settings.horizon_window_seconds,
        quantile=settings.horizon_quantile,
        min_span=horizon,
    )
    if read is None:
        return Margin(factor=fixed, trend=None)
    trend = exp_finite(read.trend)
    # Variability never plans above the highest demand of the window (or the trend's level):
    # a demand that swung 10x within the window (a short daily cycle) would otherwise ask
    # for 10x its peak, and bursts for more than the bursts themselves.
    peak = window_max(history, now=inp.now, window=settings.horizon_window_seconds)
    ceiling = max(peak, demand * trend) / (demand * trend)
    return Margin(factor=max(fixed, min(read.variability, ceiling)), trend=trend)
