"""The infercost policy: the production `planner.decide`, fed what Prometheus would report.

Every control interval each service gets a `DecisionInput` built from the simulator's own
state (1-minute rates, window p99, busy fraction) and the plan's allocations are applied
as Deployments would be: new replicas start after provisioning + model load, removed ones
go at once. `single-pool` is the same planner shown only its best single pool.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from infercost.api.pool import AcceleratorPool
from infercost.engine import planner
from infercost.engine.model import (
    ActionKind,
    CurrentDeployment,
    DecisionInput,
    DeploymentMetrics,
    EngineSettings,
    Observation,
    Plan,
    PoolView,
    ScaleToZero,
    ServiceState,
    TeamCeiling,
)
from infercost.engine.team_round import service_key, team_shares
from infercost.sim.budgets import base_prices, prices_at
from infercost.sim.coldstart import scale_to_zero_of
from infercost.sim.fleet import Fleet
from infercost.sim.observe import WindowLists, window, with_cache
from infercost.sim.policy import Policy
from infercost.sim.world import World

Decide = Callable[[DecisionInput], Plan]


@dataclass(frozen=True)
class Decision:
    """One non-Hold action of the timeline."""

    time: float
    service: str
    kind: str
    reason: str
    message: str


@dataclass
class _Service:
    index: int
    pools: tuple[AcceleratorPool, ...]
    state: ServiceState = field(default_factory=ServiceState)


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class Planned(Policy):
    name = "infercost"

    def __init__(
        self, decide: Decide | None = None, *, settings: Mapping[str, object] | None = None
    ) -> None:
        self.decide = decide or planner.decide
        # Engine settings other than their defaults (`make bench-knobs` measures each one).
        self.overrides = dict(settings or {})
        self.timeline: list[Decision] = []

    def pools_for(self, world: World, service: int) -> tuple[AcceleratorPool, ...]:
        return world.scenario.pools

    def start(self, fleet: Fleet) -> None:
        world = fleet.world
        self.world = world
        workload = world.scenario.workload.spec
        self.settings = EngineSettings(
            control_interval_seconds=float(workload.control_interval),
            # The engine must know how the Service spreads requests, as the operator does.
            equal_share_routing=workload.routing == "PerReplica",
        )
        self.settings = replace(self.settings, **self.overrides)  # type: ignore[arg-type]
        self.services = [_Service(s, self.pools_for(world, s)) for s in range(len(world.services))]
        # Scale to zero where the Workload gives the service something that holds requests.
        self.idle = [
            None
            if p is None
            else ScaleToZero(
                idle_seconds=float(p.idle_seconds), wake_on_fastest=p.wake_on == "Fastest"
            )
            for p in scale_to_zero_of(world)
        ]
        self.by_key = [
            {o.key: o.index for o in world.options_of(s)} for s in range(len(world.services))
        ]
        self.pool_of = [o.pool.metadata.name for o in world.options]
        self.cached_share: list[float] = world.cached_share().tolist()
        self.pool_index = sorted({p.metadata.name for p in world.scenario.pools})
        self._totals_of: object = None  # the replica array pool_totals were counted on
        self.pool_totals: dict[str, int] = {}
        self._views: dict[tuple[str, int, float], PoolView] = {}
        self.base_prices = base_prices(world.scenario.pools)
        self.prices = self.base_prices
        self.shares: dict[str, TeamCeiling] = {}
        # Warm start: decide once on the first minute's demand and make that placement ready.
        first = world.rates[:, : max(60 // world.step, 1)].mean(axis=1)
        observed = [
            with_cache(
                Observation(time=0.0, demand_rps=float(first[svc.index]), p99_latency_ms=None),
                float(world.cached_share()[svc.index]),
            )
            for svc in self.services
        ]
        self._team_round(fleet, observed, step=0)
        for svc, observation in zip(self.services, observed, strict=True):
            self._decide(fleet, svc, observation=observation, step=0, instant=True)

    def control(self, fleet: Fleet, *, step: int) -> None:
        win = WindowLists(window(fleet))
        now = float(step * self.world.step)
        self._totals_of = None  # recount the pools once per interval
        ready: list[int] = fleet.ready.tolist()  # a service's scaling changes only its own
        backlog: list[float] = fleet.backlog.tolist()
        observed = [
            self._observe(ready, backlog, win, svc, now) or self._held(fleet, svc, now)
            for svc in self.services
        ]
        self._team_round(fleet, observed, step=step)
        for svc, observation in zip(self.services, observed, strict=True):
            self._decide(fleet, svc, observation=observation, step=step)

    def _team_round(
        self, fleet: Fleet, observed: Sequence[Observation | None], *, step: int
    ) -> None:
        """This interval's prices, and each service's share of the scenario's BudgetPolicies'
        Caps (engine/team_round.py), split before any service of the round is planned."""
        scenario = self.world.scenario
        now = float(step * self.world.step)
        changes = scenario.workload.spec.price_changes
        if changes:  # the base prices (start) hold for a scenario without price changes
            self.prices = prices_at(changes, now=now, base=self.base_prices)
        if not scenario.budgets:
            return
        inputs = [
            (self.world.services[svc.index], self._input(fleet, svc, observation=obs, step=step))
            for svc, obs in zip(self.services, observed, strict=True)
        ]
        self.shares = team_shares(scenario.budgets, inputs)[1]

    def _observe(
        self, ready: list[int], backlog: list[float], win: WindowLists, svc: _Service, now: float
    ) -> Observation | None:
        per_deployment = {}
        for key, d in self.by_key[svc.index].items():
            served = win.served_rps[d]
            if ready[d] == 0 and served == 0:
                continue  # no pods, no series
            per_deployment[key] = DeploymentMetrics(
                inferences_per_second=served,
                requests_per_second=served,
                p99_latency_ms=_finite(win.p99_ms[d]),
                queue_ms=_finite(win.queue_ms[d]),
                average_batch=_finite(win.batch[d]),
                busy_fraction=_finite(win.busy[d]),
                # Triton's pending-request gauge at the scrape: the backlog waiting now.
                pending_requests=backlog[d],
                # Triton's REJECTED failures, where its queue policy rejects late requests.
                rejected_per_second=win.rejected[d],
            )
        if not per_deployment:
            return None
        p99s = [m.p99_latency_ms for m in per_deployment.values() if m.p99_latency_ms is not None]
        observed = Observation(
            time=now,
            demand_rps=sum(m.inferences_per_second or 0.0 for m in per_deployment.values()),
            p99_latency_ms=max(p99s) if p99s else None,
            per_deployment=per_deployment,
        )
        return with_cache(observed, self.cached_share[svc.index])

    def _held(self, fleet: Fleet, svc: _Service, now: float) -> Observation | None:
        """At zero, what holds the requests reports them as demand (the wake signal)."""
        holding = fleet.holding
        if self.idle[svc.index] is None or holding is None:
            return None
        if any(fleet.replicas[d] for d in self.by_key[svc.index].values()):
            return None  # replicas starting: no metrics yet, the planner holds
        observed = Observation(
            time=now, demand_rps=holding.held_rps[svc.index], p99_latency_ms=None
        )
        return with_cache(observed, self.cached_share[svc.index])

    def _pool_views(self, fleet: Fleet, svc: _Service) -> tuple[PoolView, ...]:
        """The service's pools with the replicas other services hold there right now.

        Per-pool totals are kept up to date as services are scaled one after the other, so
        each view is exact without summing over every deployment of the fleet."""
        if self._totals_of is not fleet.replicas:
            self._count_pools(fleet)
        own = dict.fromkeys(self.pool_index, 0)
        for d in self.by_key[svc.index].values():
            own[self.pool_of[d]] += int(fleet.replicas[d])
        views = []
        for pool in svc.pools:
            name = pool.metadata.name
            others = self.pool_totals[name] - own.get(name, 0)
            price = self.prices[name]
            view = self._views.get((name, others, price))
            if view is None:
                view = PoolView(
                    name=name,
                    labels=pool.metadata.labels,
                    spec=pool.spec,
                    hourly_per_node=price,
                    replicas_used_by_others=others,
                )
                self._views[(name, others, price)] = view
            views.append(view)
        return tuple(views)

    def _count_pools(self, fleet: Fleet) -> None:
        self.pool_totals = dict.fromkeys(self.pool_index, 0)
        for d, name in enumerate(self.pool_of):
            self.pool_totals[name] += int(fleet.replicas[d])
        self._totals_of = fleet.replicas

    def _scale(self, fleet: Fleet, d: int, target: int, *, step: int, instant: bool) -> None:
        before = int(fleet.replicas[d])
        fleet.scale(d, target, step=step, instant=instant)
        if self._totals_of is fleet.replicas:
            self.pool_totals[self.pool_of[d]] += int(fleet.replicas[d]) - before

    def _input(
        self, fleet: Fleet, svc: _Service, *, observation: Observation | None, step: int
    ) -> DecisionInput:
        keys = self.by_key[svc.index]
        current = {
            key: CurrentDeployment(
                replicas=int(fleet.replicas[d]),
                ready_replicas=int(fleet.ready[d]),
                batching=fleet.batching[d],
            )
            for key, d in keys.items()
            if fleet.replicas[d] > 0
        }
        service = self.world.services[svc.index]
        return DecisionInput(
            spec=service.spec,
            pools=self._pool_views(fleet, svc),
            observation=observation,
            current=current,
            state=svc.state,
            now=float(step * self.world.step),
            settings=self.settings,
            scale_to_zero=self.idle[svc.index],
            team_budget=self.shares.get(service_key(service)),
        )

    def _decide(
        self,
        fleet: Fleet,
        svc: _Service,
        *,
        observation: Observation | None,
        step: int,
        instant: bool = False,
    ) -> None:
        keys = self.by_key[svc.index]
        now = float(step * self.world.step)
        plan = self.decide(self._input(fleet, svc, observation=observation, step=step))
        svc.state = plan.state
        wanted = {(a.variant, a.pool): a for a in plan.allocations}
        for key, d in keys.items():
            allocation = wanted.get(key)
            if allocation is not None and allocation.batching != fleet.batching[d]:
                fleet.set_batching(d, allocation.batching)
            target = allocation.replicas if allocation is not None else 0
            if target != fleet.replicas[d]:
                self._scale(fleet, d, target, step=step, instant=instant)
        name = self.world.services[svc.index].metadata.name
        for action in plan.actions:
            if action.kind != ActionKind.HOLD:
                self.timeline.append(
                    Decision(now, name, action.kind.value, action.reason.value, action.message)
                )
