"""One reconcile of one InferenceService: read -> planner.decide -> apply what changed -> report.

The watches (handlers.py) keep the in-memory picture current: services, pools and the
operator's children of every kind. A reconcile reads that picture, asks the engine, brings
the live children in line with the plan (children.py: an edited, scaled or deleted child is
written again, an owned child no longer wanted is deleted, and nothing is written when the
live children match), patches status only when it differs, and posts one Event per action.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from infercost import manifests
from infercost.adapters.batching import BatchingApplier
from infercost.adapters.kubernetes import KubeApi
from infercost.adapters.metrics import DemandSeries, MetricsSource, ServiceKey, observation_for
from infercost.adapters.prices import PriceSource
from infercost.adapters.triton import TritonBatching
from infercost.adapters.triton_keys import RepositoryKeys
from infercost.api.advise import ServiceMode
from infercost.api.budget import BudgetPolicy
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceService, InferenceServiceSpec
from infercost.controller import reporting, zero
from infercost.controller.advise import Advisor
from infercost.controller.budgets import TeamBudgets, selected_inputs
from infercost.controller.capacity import Capacity
from infercost.controller.children import CHILD_KINDS, Child, Synced
from infercost.controller.picture import Picture
from infercost.controller.pricing import PoolPricing
from infercost.controller.rollout import BatchingRollout
from infercost.controller.routing import GatewayRoutes
from infercost.controller.sync import child_seen, sync_children
from infercost.controller.telemetry import Telemetry
from infercost.controller.verdicts import Words
from infercost.engine import planner
from infercost.engine.model import (
    Action,
    CurrentDeployment,
    DecisionInput,
    Observation,
    Plan,
    PoolView,
    Reason,
    ServiceState,
)
from infercost.engine.recall import recall
from infercost.settings import Settings

logger = logging.getLogger("infercost")
WARNINGS = {
    Reason.OVER_BUDGET,
    Reason.BUDGET_LIMITED,
    Reason.NO_FEASIBLE_OPTION,
    Reason.POOL_CAPACITY_LIMITED,
    Reason.HELD_METRICS_UNAVAILABLE,
}


@dataclass
class Memory:
    """What the operator remembers about one service between reconciles (rebuilt on restart)."""

    state: ServiceState = field(default_factory=ServiceState)
    synced: dict[Child, Synced] = field(default_factory=dict)  # children found to match
    loaded: bool = False  # children listed since this process started
    recalled: bool = False  # demand history read back since this process started
    dry_current: dict[tuple[str, str], CurrentDeployment] = field(default_factory=dict)
    last_events: frozenset[tuple[Any, ...]] = frozenset()
    invalid_generation: int | None = None
    zero: zero.ZeroMemory = field(default_factory=zero.ZeroMemory)  # scale to zero (zero.py)


class Reconciler:
    """The operator's state and its one operation, `reconcile`."""

    def __init__(
        self,
        *,
        api: KubeApi,
        metrics: MetricsSource,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        batching: BatchingApplier | None = None,
        prices: PriceSource | None = None,
    ) -> None:
        self.api, self.metrics, self.settings, self.clock = api, metrics, settings, clock
        self.pricing = PoolPricing(api=api, source=prices) if prices is not None else None
        self.keys = RepositoryKeys(api)  # each service's Triton repository key (a Secret)
        self.rollout = BatchingRollout(
            api=api, applier=batching or TritonBatching(api, settings, keys=self.keys)
        )
        self.picture = Picture(
            Capacity(
                disruption_taints=settings.disruption_taints,
                grace_seconds=settings.unschedulable_grace_seconds,
                words=Words.of(
                    refusals=settings.autoscaler_refusal_events,
                    scale_ups=settings.autoscaler_scale_up_events,
                ),
                verdict_seconds=settings.autoscaler_verdict_seconds,
            )
        )
        self.routes = GatewayRoutes(  # spec.routing: Gateway API (controller/routing.py)
            api=api, picture=self.picture, interval=settings.control_interval_seconds, clock=clock
        )
        self.telemetry = Telemetry()
        self.budgets = TeamBudgets(
            api=api, interval=settings.control_interval_seconds, telemetry=self.telemetry
        )
        # Advise mode (controller/advise.py): given only a reader of the API, never a writer.
        self.advisor = Advisor(
            reader=api, metrics=metrics, settings=settings, registry=self.telemetry.registry
        )
        self.memory: dict[ServiceKey, Memory] = {}
        self.pod_monitors: bool | None = None
        self._locks: defaultdict[ServiceKey, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._observed: tuple[float, Mapping[ServiceKey, Observation]] | None = None
        self._observe_lock = asyncio.Lock()
        self._recorded: tuple[float, dict[ServiceKey, DemandSeries]] | None = None
        self._recall_lock = asyncio.Lock()

    def forget(self, namespace: str, name: str) -> None:
        self.picture.service_gone(namespace, name)
        self.telemetry.forget((namespace, name))
        self.advisor.telemetry.forget((namespace, name))
        self.rollout.forget(namespace, name)
        self.keys.forget(namespace, name)
        self.memory.pop((namespace, name), None)

    # --- reading ------------------------------------------------------------------------

    async def observe(self, now: float) -> Mapping[ServiceKey, Observation]:
        """All services' metrics, fetched at most once per control interval."""
        async with self._observe_lock:
            interval = self.settings.control_interval_seconds
            if self._observed is None or now - self._observed[0] >= interval * 0.9:
                self._observed = (now, await self.metrics.observe_all(now=now))
                if self._recorded is not None and now - self._recorded[0] >= 2 * interval:
                    self._recorded = None  # the start's services took theirs; free the rest
                if self.pricing is not None:
                    await self.pricing.refresh(self.picture, now=now)
            return self._observed[1]

    async def _recall(self, key: ServiceKey, spec: InferenceServiceSpec, memory: Memory) -> None:
        """After a start: rebuild the engine's memory of demand from Prometheus' record.

        One range query answers every service met within a control interval (a start meets
        them all at once); a service met later (created since) asks again.
        """
        memory.recalled = True
        span = self.settings.demand_recall_seconds
        if span <= 0:
            return
        async with self._recall_lock:
            now, interval = self.clock(), self.settings.control_interval_seconds
            if self._recorded is None or now - self._recorded[0] >= interval * 0.9:
                recorded = await self.metrics.demand_history(
                    start=now - span, end=now, step=interval
                )
                self._recorded = (now, dict(recorded))
            # Each service's record is used once: what is left is for services not met yet.
            samples = self._recorded[1].pop(_labelled(key), ())
        if samples:
            memory.state = recall(
                memory.state, samples, spec=spec, settings=self.settings.for_engine()
            )
            logger.info(
                "%s/%s: demand memory rebuilt from %d recorded samples over the last %.0fs",
                key[0],
                key[1],
                len(samples),
                now - samples[0][0],
            )

    async def _load_children(self, body: Mapping[str, Any], memory: Memory) -> None:
        """After a start: list the service's children of every kind once, so the first
        reconcile sees what runs (and what is left over) before the watches have caught up."""
        namespace = body["metadata"]["namespace"]
        selector = f"{manifests.LABEL_SERVICE}={manifests.short_name(body['metadata']['name'])}"
        for kind in CHILD_KINDS:
            if (kind == "PodMonitor" and not await self._pod_monitors()) or (
                kind == "HTTPRoute" and not await self.routes.served()
            ):
                continue
            for child in await self.api.list(kind, namespace=namespace, label_selector=selector):
                child_seen(self.picture, kind, child)
        memory.loaded = True

    async def _pod_monitors(self) -> bool:
        if self.pod_monitors is None:
            self.pod_monitors = await self.api.has_resource(
                "monitoring.coreos.com/v1", "podmonitors"
            )
        return self.pod_monitors

    # --- one reconcile ------------------------------------------------------------------

    async def reconcile(self, key: ServiceKey) -> Plan | None:
        """Decide for one service and bring its children and status in line; the Plan or None."""
        async with self._locks[key]:
            body = self.picture.services.get(key)
            if body is None:
                return None
            started, now = time.perf_counter(), self.clock()
            memory = self.memory.setdefault(key, Memory())
            try:
                spec = InferenceServiceSpec.model_validate(body.get("spec") or {})
            except ValidationError as error:
                await self._report_invalid(body, memory, reporting.validation_message(error), now)
                return None
            memory.invalid_generation = None
            if spec.mode == ServiceMode.ADVISE:  # status only: no children, target untouched
                memory.state = await self.advisor.advise(
                    key,
                    body=body,
                    spec=spec,
                    pools=self.picture.pool_views(key),
                    state=memory.state,
                    now=now,
                    write_status=lambda desired: self._write_status(key, body, desired),
                )
                return None
            self.advisor.telemetry.forget(key)  # after a switch to Manage (a no-op otherwise)
            if not memory.recalled:
                await self._recall(key, spec, memory)
            if not memory.loaded and not self.settings.dry_run:
                await self._load_children(body, memory)
            inp = await self._input(key, spec, memory, now)
            to_zero = zero.policy(spec)
            if to_zero is not None:  # controller/zero.py: at zero, a wake request is demand
                spec, memory.state, observation = zero.before_decision(
                    memory.zero,
                    memory.state,
                    spec=spec,
                    body=body,
                    current=dict(inp.current),
                    observation=inp.observation,
                    now=now,
                    settings=self.settings,
                )
                inp = replace(
                    inp,
                    spec=spec,
                    state=memory.state,
                    observation=observation,
                    scale_to_zero=to_zero,
                )
            team = await self.budgets.share(key, now=now, inputs=self._team_inputs)
            plan = planner.decide(replace(inp, team_budget=team))
            plan = await self.routes.with_condition(key, spec, plan)  # RoutingReady
            pools, current, observation = inp.pools, dict(inp.current), inp.observation
            memory.state = plan.state
            path = None
            if to_zero is not None:  # the serving path at zero and Ready (controller/zero.py)
                plan, path = zero.after_decision(
                    memory.zero,
                    plan,
                    current=current,
                    now=now,
                    settings=self.settings,
                    activator_ready=self.picture.activator_ready(key),
                )
            self.picture.used_pools[key] = frozenset(reporting.involved_pools(plan, list(current)))
            if self.settings.dry_run:
                memory.dry_current = {
                    (a.variant, a.pool): CurrentDeployment(
                        replicas=a.replicas, ready_replicas=a.replicas, batching=a.batching
                    )
                    for a in plan.allocations
                    if a.replicas > 0
                }
            else:
                await self._apply(
                    body, spec, plan, {p.name: p.spec for p in pools}, memory, zero_path=path
                )
                await self.rollout.run(body=body, spec=spec, plan=plan, current=current)
            ready = {k: d.ready_replicas for k, d in current.items()}
            if self.settings.dry_run:
                ready = {k: d.replicas for k, d in memory.dry_current.items()}
            desired = reporting.desired_status(
                body.get("status"),
                plan=plan,
                ready=ready,
                observation=observation,
                generation=body["metadata"].get("generation"),
                now=now,
            )
            announced = (body.get("status") or {}).get("lastDecision")
            await self._write_status(key, body, desired)
            await self._post_events(body, plan.actions, memory, announced=announced)
            self.telemetry.record(key, spec=spec, plan=plan, ready=ready, observation=observation)
            self.telemetry.duration.observe(time.perf_counter() - started)
            return plan

    async def _input(
        self, key: ServiceKey, spec: InferenceServiceSpec, memory: Memory, now: float
    ) -> DecisionInput:
        """What the engine is given for one service at `now`, from the watched picture."""
        pools = self.picture.pool_views(key)
        current = dict(memory.dry_current) if self.settings.dry_run else self.picture.current(key)
        observation = _by_full_names(
            observation_for(await self.observe(now), _labelled(key), now=now), spec, pools
        )
        return DecisionInput(
            spec=spec,
            pools=pools,
            observation=observation,
            current=current,
            state=memory.state,
            now=now,
            settings=await self.routes.engine_settings(key, spec, self.settings.for_engine()),
        )

    async def _team_inputs(
        self, policies: Sequence[BudgetPolicy], now: float
    ) -> list[tuple[InferenceService, DecisionInput]]:
        """Every valid service some policy selects, as its own reconcile would see it now."""

        async def input_for(key: ServiceKey, spec: InferenceServiceSpec) -> DecisionInput:
            return await self._input(key, spec, self.memory.get(key) or Memory(), now)

        return await selected_inputs(policies, services=self.picture.services, input_for=input_for)

    async def _apply(
        self,
        body: Mapping[str, Any],
        spec: InferenceServiceSpec,
        plan: Plan,
        pools: Mapping[str, AcceleratorPoolSpec],
        memory: Memory,
        *,
        zero_path: manifests.ZeroPath | None = None,
    ) -> None:
        meta = body["metadata"]
        owner = manifests.Owner(name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])
        await self.keys.ensure(owner)  # before the pods that read it: created once, kept
        desired = manifests.children(
            owner=owner,
            spec=spec,
            pools=pools,
            allocations=plan.allocations,
            settings=self.settings.manifests(),
            with_pod_monitor=await self._pod_monitors(),
            zero=zero_path,
            ready=await self.routes.ready((meta["namespace"], meta["name"]), spec),
        )
        await sync_children(
            api=self.api, picture=self.picture, owner=meta, desired=desired, synced=memory.synced
        )

    async def _write_status(
        self, key: ServiceKey, body: Mapping[str, Any], desired: Mapping[str, Any]
    ) -> None:
        patch = reporting.status_patch(body.get("status"), desired)
        if not patch:
            return
        meta = body["metadata"]
        result = await self.api.patch_status(
            "InferenceService", namespace=meta["namespace"], name=meta["name"], status=patch
        )
        if key in self.picture.services:  # the watch will say so too; do not write twice meanwhile
            self.picture.services[key]["status"] = result.get("status") or dict(desired)

    async def _report_invalid(
        self, body: Mapping[str, Any], memory: Memory, message: str, now: float
    ) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        generation = body["metadata"].get("generation")
        desired = reporting.invalid_status(
            body.get("status"), message=message, generation=generation, now=now
        )
        await self._write_status(key, body, desired)
        if memory.invalid_generation != generation:
            memory.invalid_generation = generation
            logger.warning("%s/%s: invalid spec: %s", key[0], key[1], message)
            await self.api.post_event(
                involved=dict(body),
                type_="Warning",
                reason=reporting.INVALID_SPEC,
                message=message,
                action="Validate",
            )

    async def _post_events(
        self,
        body: Mapping[str, Any],
        actions: tuple[Action, ...],
        memory: Memory,
        *,
        announced: Mapping[str, Any] | None,
    ) -> None:
        """One Event per action; a repeat of the previous round's action is not news.

        After a restart the previous round is unknown; status.lastDecision tells which hold
        was already announced.
        """
        keys = frozenset(reporting.event_key(a) for a in actions)
        prefix = "[dry-run] " if self.settings.dry_run else ""
        for action in actions:
            if reporting.event_key(action) in memory.last_events or reporting.same_hold(
                action, announced
            ):
                continue
            self.telemetry.decided(
                (body["metadata"]["namespace"], body["metadata"]["name"]), action
            )
            where = f" {action.variant}/{action.pool}" if action.variant else ""
            logger.info(
                "%s/%s: %s%s%s %s: %s",
                body["metadata"]["namespace"],
                body["metadata"]["name"],
                prefix,
                action.kind.value,
                where,
                action.reason.value,
                action.message,
            )
            await self.api.post_event(
                involved=dict(body),
                type_="Warning" if action.reason in WARNINGS else "Normal",
                reason=action.reason.value,
                message=f"{prefix}{action.kind.value}{where}: {action.message}",
                action=action.kind.value,
            )
        memory.last_events = keys


def _labelled(key: ServiceKey) -> ServiceKey:
    """The service as its metrics name it: label values are cut to 63 characters (hashed)."""
    namespace, name = key
    return namespace, manifests.short_name(name)


def _by_full_names(
    observation: Observation | None, spec: InferenceServiceSpec, pools: Sequence[PoolView]
) -> Observation | None:
    """Per-deployment metrics keyed by the full (variant, pool) names the engine plans with."""
    if observation is None or not observation.per_deployment:
        return observation
    full = {
        (manifests.short_name(v.name), manifests.short_name(p.name)): (v.name, p.name)
        for v in spec.variants
        for p in pools
    }
    renamed = {full.get(k, k): m for k, m in observation.per_deployment.items()}
    return replace(observation, per_deployment=renamed)
