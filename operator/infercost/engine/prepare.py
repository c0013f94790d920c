"""What every decision starts from: learn from the observation, then price every option.

Learning (capacity factors, SLO ceilings, breach episode, demand history) happens only on
fresh metrics; under overload the observed p99 is withheld from batching, because queueing
for capacity is not something a smaller batch fixes.
"""

from __future__ import annotations

from dataclasses import dataclass

from infercost.engine.batching import halving_overloads
from infercost.engine.caching import for_compute
from infercost.engine.ceilings import modelled_ceilings, profile_priors, slo_ceilings
from infercost.engine.cost import clamp_factor, profile_curve
from infercost.engine.evolve import evolve
from infercost.engine.learning import (
    breach_since,
    learn_capacity,
    observed_p99,
    saturated,
    untried_factor,
)
from infercost.engine.model import (
    BatchConfig,
    CurrentDeployment,
    DecisionInput,
    EngineSettings,
    ServiceState,
)
from infercost.engine.options import Key, Option, build_options
from infercost.engine.recall import remember
from infercost.engine.scaling import metrics_fresh
from infercost.engine.signals import (
    arrivals,
    full_pool_rooms,
    full_pools,
    overload_lingers,
    recently_ready,
    settled_keys,
    tail_rejections,
    unchanged_since,
)


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
    # Learning below never changes the batching a deployment runs, so these hold throughout.
    batching = _batching(state, current)
    priors = profile_priors(spec, inp.pools, batching)
    # Under overload p99 is queueing, not batching: a smaller batch would only cut throughput.
    overloaded = fresh and saturated(observation, current, settings, slo_ms=spec.slo.latency_ms)
    lingering = False
    if fresh and observation is not None:
        saturated_at = inp.now if overloaded else state.saturated_at
        lag = settings.summary_lag_seconds
        lingering = overload_lingers(saturated_at, now=inp.now, window=lag)
        demand, pending = arrivals(
            for_compute(observation, settings, late_share=spec.slo.late_share),
            state.pending_seen,
            max_gap=settings.metrics_stale_seconds,
        )
        settled, ready_since = settled_keys(
            current, state.ready_since, now=inp.now, window=settings.metrics_window_seconds
        )
        late_share = spec.slo.late_share
        tail = tail_rejections(observation, current, settings, late_share=late_share)
        tail_since = (state.tail_rejecting_since or inp.now) if tail.share > late_share else None
        # A tail of rejections that outlasted the metrics window breaks the SLO (planner.py).
        lasted = tail_since is not None and inp.now - tail_since >= settings.metrics_window_seconds
        ceilings = slo_ceilings(
            state.slo_ceiling,
            observation=observation,
            tail_rejecting=tail.keys if lasted else frozenset(),
            current=current,
            slo_ms=spec.slo.latency_ms,
            headroom=spec.scaling.headroom,
            settings=settings,
            priors=priors,
            # Neither a breach nor a healthy p99 while a past overload fills its window.
            settled=frozenset() if lingering else settled,
        )
        state = evolve(
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
                settled=settled,
                latency_current=not lingering,
            ),
            slo_breach_since=breach_since(
                observation,
                slo_ms=spec.slo.latency_ms,
                previous=state.slo_breach_since,
                now=inp.now,
            ),
            tail_rejecting_since=tail_since,
            saturated_at=saturated_at,
        )
        state = remember(state, demand=demand, now=inp.now, spec=spec, settings=settings)
    # Nor is a window that began before replicas joined or left this fleet's latency, or one
    # that still holds an overload that has ended.
    changed = recently_ready(state.ready_since, now=inp.now, window=settings.metrics_window_seconds)
    stale = overloaded or changed or lingering
    p99 = observed_p99(observation, current) if fresh and not stale else {}
    # A window that began before a deployment's batching changed holds the old batching's
    # latency: halving again on it would cut a batch the new one may already fix.
    window = settings.metrics_window_seconds
    since = unchanged_since(batching, state.batching_since, now=inp.now, window=window)
    state = evolve(state, batching_since=since)
    p99 = {
        key: p
        for key, p in p99.items()
        if (key not in since or inp.now - since[key][0] >= window)
        and not _load_bound(key, inp=inp, current=current)
    }

    def price(state: ServiceState) -> list[Option]:
        return build_options(
            spec=spec,
            pools=inp.pools,
            settings=settings,
            learned=_within_ceilings(state, priors=priors, settings=settings),
            previous_batching=batching,
            observed_p99=p99,
        )

    options = price(state)
    # Where the queueing model says the SLO breaks below an option's price, start from there
    # rather than learn it from breaches; from then on it is a ceiling like a learned one.
    modelled = (
        modelled_ceilings(spec, options, known=state.slo_ceiling)
        if settings.modelled_ceilings
        else {}
    )
    if modelled:
        state = evolve(state, slo_ceiling={**state.slo_ceiling, **modelled})
        options = price(state)
    state = evolve(
        state,
        full_pools=full_pools(
            current,
            state.full_pools,
            spot_pools=frozenset(o.pool for o in options if o.spot),
            now=inp.now,
            backoff=settings.pool_full_backoff_seconds,
        ),
    )
    if state.full_pools:
        rooms = full_pool_rooms(current, state.full_pools)
        options = [_room_bound(option, rooms.get(option.pool)) for option in options]
    return Prepared(state=state, options=options, current=current, fresh=fresh, demand=demand)


def _room_bound(option: Option, room: int | None) -> Option:
    """A full pool holds no more of this service than it runs now."""
    if room is None:
        return option
    if option.free_replicas is not None:
        room = min(room, option.free_replicas)
    return evolve(option, free_replicas=room)


def _load_bound(key: Key, *, inp: DecisionInput, current: dict[Key, CurrentDeployment]) -> bool:
    """A smaller batch would overload this deployment (batching.halving_overloads): its p99
    is no reason to cut the batch. Withheld from batching altogether, it also holds a batch
    that is climbing back (a p99 is the evidence of room it waits for) while the load is
    that high, as a missing p99 does."""
    dep, observation = current.get(key), inp.observation
    metrics = observation.per_deployment.get(key) if observation is not None else None
    if dep is None or dep.batching is None or metrics is None:
        return False
    variant = next((v for v in inp.spec.variants if v.name == key[0]), None)
    pool = next((p for p in inp.pools if p.name == key[1]), None)
    curve = profile_curve(variant, pool.spec.accelerator.type) if variant and pool else None
    if curve is None:
        return False
    return halving_overloads(curve, batching=dep.batching, metrics=metrics, settings=inp.settings)


def _batching(state: ServiceState, current: dict[Key, CurrentDeployment]) -> dict[Key, BatchConfig]:
    """What runs is the truth; what the engine last chose covers deployments not reporting it."""
    return {
        **state.batching,
        **{key: dep.batching for key, dep in current.items() if dep.batching is not None},
    }


def _within_ceilings(
    state: ServiceState, *, priors: dict[Key, float], settings: EngineSettings
) -> dict[Key, float]:
    """Learned factors, each no higher than its SLO ceiling allows: the ceiling binds pools
    not running too (it is the traffic's), without being written into what was learned. An
    option never run gets its variant's lowest learned factor (`learning.untried_factor`)."""
    learned = {key: untried_factor(state.learned_capacity, key) for key in priors}
    for key, ceiling in state.slo_ceiling.items():
        prior = priors.get(key, 0.0)
        if prior > 0:
            learned[key] = clamp_factor(min(learned.get(key, 1.0), ceiling / prior), settings)
    return learned
