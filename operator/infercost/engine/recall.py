"""The engine's memory of demand: one observed sample folded in, or a recorded series after
a restart.

`ServiceState` keeps what demand did: a short history (trend, scale-down delay, move
cooldown), the peak held for the move peak window, and the record of spikes. The operator
keeps that state in memory; after a restart it starts empty, so the scale-down delay is
waited again, a move may judge a trough without the peak hours ago, and three spikes must
recur before the next is expected. `recall` rebuilds that memory from demand recorded
elsewhere (Prometheus), sample by sample, through the same `remember` that every decision
uses: the state is the one the operator would hold had it never stopped, less what the
recording does not show (the request queues' growth between samples). Pure: no I/O.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable

from infercost.api.service import InferenceServiceSpec
from infercost.engine.evolve import evolve
from infercost.engine.forecast import held_peak, track_spikes
from infercost.engine.model import EngineSettings, ServiceState


def history_span(spec: InferenceServiceSpec, settings: EngineSettings) -> float:
    """How far back the demand history reaches: every window a decision reads it over."""
    return max(
        settings.horizon_window_seconds,  # the growth over the start-up horizon is read there
        spec.scaling.scale_down_delay_seconds,
        settings.move_cooldown_seconds,  # moves are judged on the peak of this window
    )


def remember_demand(
    history: tuple[tuple[float, float], ...],
    *,
    now: float,
    demand: float,
    keep_seconds: float,
) -> tuple[tuple[float, float], ...]:
    """History with this sample appended, samples older than every window a decision reads
    dropped (one a decision: about `keep_seconds` / the control interval of them).

    The history is in time order (this function keeps it so): the samples kept are one
    slice, found by binary search.
    """
    low = bisect_left(history, (now - keep_seconds,))  # first sample with t >= now - keep
    high = bisect_left(history, (now,))  # first sample with t >= now
    return (*history[low:high], (now, demand))


def remember(
    state: ServiceState,
    *,
    demand: float,
    now: float,
    spec: InferenceServiceSpec,
    settings: EngineSettings,
) -> ServiceState:
    """The state with one demand sample (inferences/s at `now`) in its history, held peak
    and spike record."""
    history = remember_demand(
        state.demand_history,
        now=now,
        demand=demand,
        keep_seconds=history_span(spec, settings),
    )
    spikes = state.spikes
    if settings.recurring_spikes:
        previous = state.demand_history[-1][0] if state.demand_history else None
        spikes = track_spikes(spikes, demand=demand, now=now, previous=previous, settings=settings)
    return evolve(
        state,
        demand_history=history,
        demand_peak=held_peak(
            state.demand_peak, history=history, now=now, window=settings.move_peak_window_seconds
        ),
        spikes=spikes,
    )


def recall(
    state: ServiceState,
    samples: Iterable[tuple[float, float]],
    *,
    spec: InferenceServiceSpec,
    settings: EngineSettings,
) -> ServiceState:
    """The state with recorded (time, inferences/s) samples remembered in time order.

    Samples no later than what the state already holds are skipped (its own memory is
    better than a recording), as are ones that are not a finite rate.
    """
    latest = state.demand_history[-1][0] if state.demand_history else -math.inf
    for time, demand in sorted(samples):
        if time <= latest or not (math.isfinite(time) and math.isfinite(demand)) or demand < 0:
            continue
        state = remember(state, demand=demand, now=time, spec=spec, settings=settings)
        latest = time
    return state
