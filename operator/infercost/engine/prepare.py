"""What every decision starts from: learn from the observation, then price every option.

Learning (capacity factors, SLO ceilings, breach episode, demand history) happens only on
fresh metrics; under overload the observed p99 is withheld from batching, because queueing
for capacity is not something a smaller batch fixes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from infercost.engine.learning import (
    arrivals,
    breach_since,
    ceiling_bounds,
    learn_capacity,
    observed_p99,
    recently_ready,
    remember_demand,
    saturated,
    settled_keys,
    slo_ceilings,
)
from infercost.engine.model import CurrentDeployment, DecisionInput, ServiceState
from infercost.engine.options import Key, Option, build_options
from infercost.engine.scaling import metrics_fresh


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """What every decision starts from: the updated memory and the priced options."""

    state: ServiceState
    options: list[Option]
    current: dict[Key, CurrentDeployment]
    fresh: bool
    demand: float


def prepare(inp: DecisionInput) -> Prepared:
    """Learn from the observation (when fresh) and price every option with what was learned."""
    settings, spec, observation = inp.settings, inp.spec, inp.observation
    current = {key: dep for key, dep in inp.current.items() if dep.replicas > 0}
    fresh = metrics_fresh(observation, now=inp.now, settings=settings)
    state = inp.state
    demand = 0.0
    if fresh and observation is not None:
        demand, pending = arrivals(
            observation, state.pending_seen, max_gap=settings.metrics_stale_seconds
        )
        settled, ready_since = settled_keys(
            current, state.ready_since, now=inp.now, window=settings.metrics_window_seconds
        )
        keep = max(settings.forecast_window_seconds, spec.scaling.scale_down_delay_seconds)
        ceilings = slo_ceilings(
            state.slo_ceiling,
            observation=observation,
            current=current,
            slo_ms=spec.slo.latency_ms,
            headroom=spec.scaling.headroom,
            settings=settings,
            bounds=ceiling_bounds(spec, inp.pools, settings),
            settled=settled,
        )
        state = replace(
            state,
            pending_seen=pending,
            ready_since=ready_since,
            slo_ceiling=ceilings,
            learned_capacity=learn_capacity(
                spec=spec,
                pools=inp.pools,
                observation=observation,
                current=current,
                state=state,
                settings=settings,
                ceilings=ceilings,
                settled=settled,
            ),
            demand_history=remember_demand(
                state.demand_history,
                now=inp.now,
                demand=demand,
                keep_seconds=keep,
                max_points=settings.history_max_points,
            ),
            slo_breach_since=breach_since(
                observation,
                slo_ms=spec.slo.latency_ms,
                previous=state.slo_breach_since,
                now=inp.now,
            ),
        )
    # Under overload p99 is queueing, not batching: a smaller batch would only cut throughput.
    overloaded = fresh and saturated(observation, current, settings, slo_ms=spec.slo.latency_ms)
    # Nor is a window that began before replicas joined or left this fleet's latency.
    changed = recently_ready(state.ready_since, now=inp.now, window=settings.metrics_window_seconds)
    options = build_options(
        spec=spec,
        pools=inp.pools,
        settings=settings,
        learned=state.learned_capacity,
        # What runs is the truth; what the engine last chose covers deployments not reporting it.
        previous_batching={
            **state.batching,
            **{key: dep.batching for key, dep in current.items() if dep.batching is not None},
        },
        observed_p99=observed_p99(observation, current)
        if fresh and not overloaded and not changed
        else {},
    )
    options = [_stall_bound(option, current.get(option.key)) for option in options]
    return Prepared(state=state, options=options, current=current, fresh=fresh, demand=demand)


def _stall_bound(option: Option, dep: CurrentDeployment | None) -> Option:
    """A pool that left replicas Pending past the deadline holds no more than it has ready."""
    if dep is None or not dep.stalled:
        return option
    room = dep.ready_replicas
    if option.free_replicas is not None:
        room = min(room, option.free_replicas)
    return replace(option, free_replicas=room)
