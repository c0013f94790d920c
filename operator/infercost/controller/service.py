"""One reconcile of one InferenceService: read -> planner.decide -> apply what changed -> report.

The watches (handlers.py) keep the in-memory picture current: services, pools and the
operator's children of every kind. A reconcile reads that picture, asks the engine, brings
the live children in line with the plan (children.py: an edited, scaled or deleted child is
written again, an owned child no longer wanted is deleted, and nothing is written when the
live children match), patches status only when it differs, and posts one Event per action.
Its reading side (metrics, recalled demand, the engine's input) is service_input.py, its
children service_children.py, its reporting side (status, Events, telemetry) service_report.py.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from infercost import manifests
from infercost.adapters.batching import BatchingApplier
from infercost.adapters.kubernetes import KubeApi
from infercost.adapters.metrics import MetricsSource, ServiceKey
from infercost.adapters.prices import PriceSource
from infercost.adapters.triton import TritonBatching
from infercost.adapters.triton_keys import RepositoryKeys
from infercost.api.advise import ServiceMode
from infercost.api.budget import BudgetPolicy
from infercost.api.service import InferenceService, InferenceServiceSpec
from infercost.controller import reporting, zero
from infercost.controller.advise import Advisor
from infercost.controller.budgets import TeamBudgets, selected_inputs
from infercost.controller.capacity import Capacity
from infercost.controller.memory import Memory
from infercost.controller.picture import Picture
from infercost.controller.pricing import PoolPricing
from infercost.controller.rollout import BatchingRollout
from infercost.controller.routing import GatewayRoutes
from infercost.controller.service_children import ServiceChildren
from infercost.controller.service_input import ServiceInputs
from infercost.controller.service_report import WARNINGS, ServiceReport
from infercost.controller.telemetry import Telemetry
from infercost.controller.verdicts import Words
from infercost.engine import planner
from infercost.engine.model import DecisionInput, Observation, Plan, ScaleToZero
from infercost.settings import Settings

__all__ = ["WARNINGS", "Memory", "Reconciler"]  # Memory and WARNINGS: imported from here too


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
        self.inputs = ServiceInputs(
            metrics=metrics,
            settings=settings,
            clock=clock,
            picture=self.picture,
            routes=self.routes,
            pricing=self.pricing,
        )
        self.report = ServiceReport(
            api=api, picture=self.picture, telemetry=self.telemetry, settings=settings
        )
        self.children = ServiceChildren(
            api=api, picture=self.picture, routes=self.routes, keys=self.keys, settings=settings
        )
        self.memory: dict[ServiceKey, Memory] = {}
        self._locks: defaultdict[ServiceKey, asyncio.Lock] = defaultdict(asyncio.Lock)

    def forget(self, namespace: str, name: str) -> None:
        self.picture.service_gone(namespace, name)
        self.telemetry.forget((namespace, name))
        self.advisor.telemetry.forget((namespace, name))
        self.rollout.forget(namespace, name)
        self.keys.forget(namespace, name)
        self.memory.pop((namespace, name), None)

    @property
    def pod_monitors(self) -> bool | None:
        """Whether the API serves PodMonitors; None until asked (service_children.py)."""
        return self.children.pod_monitors

    async def observe(self, now: float) -> Mapping[ServiceKey, Observation]:
        """All services' metrics, fetched at most once per control interval."""
        return await self.inputs.observe(now)

    # --- one reconcile ------------------------------------------------------------------

    async def reconcile(self, key: ServiceKey) -> Plan | None:
        """Decide for one service and bring its children and status in line; the Plan or None."""
        async with self._locks[key]:
            body = self.picture.services.get(key)
            if body is None:
                return None
            started, now = time.perf_counter(), self.clock()
            memory = self.memory.setdefault(key, Memory())
            spec = await self._validated(body, memory=memory, now=now)
            if spec is None:
                return None
            if spec.mode == ServiceMode.ADVISE:  # status only: no children, target untouched
                await self._advise(key, body=body, spec=spec, memory=memory, now=now)
                return None
            self.advisor.telemetry.forget(key)  # after a switch to Manage (a no-op otherwise)
            inp = await self._prepared(key, body=body, spec=spec, memory=memory, now=now)
            plan, zero_path = await self._decided(key, inp=inp, memory=memory)
            ready = await self._acted(body, inp=inp, plan=plan, memory=memory, zero_path=zero_path)
            await self.report.decided(
                key,
                body=body,
                spec=inp.spec,
                plan=plan,
                memory=memory,
                ready=ready,
                observation=inp.observation,
                now=now,
            )
            self.telemetry.duration.observe(time.perf_counter() - started)
            return plan

    async def _validated(
        self, body: Mapping[str, Any], *, memory: Memory, now: float
    ) -> InferenceServiceSpec | None:
        """The service's spec, or None once its status and a Warning say why it is invalid."""
        raw = body.get("spec") or {}
        if memory.parsed is not None and memory.parsed[0] is raw:
            return memory.parsed[1]
        try:
            spec = InferenceServiceSpec.model_validate(raw)
        except ValidationError as error:
            message = reporting.validation_message(error)
            await self.report.invalid(body, memory=memory, message=message, now=now)
            return None
        memory.invalid_generation = None
        if memory.parsed is not None and memory.parsed[1] == spec:
            # A new body (a status write's watch event) with the same spec: the same object,
            # so what is remembered by it (the engine's, the children's) is found again.
            spec = memory.parsed[1]
        memory.parsed = (raw, spec)
        return spec

    async def _advise(
        self,
        key: ServiceKey,
        *,
        body: Mapping[str, Any],
        spec: InferenceServiceSpec,
        memory: Memory,
        now: float,
    ) -> None:
        """Advise mode: the advice in status, nothing else written (controller/advise.py)."""
        memory.state = await self.advisor.advise(
            key,
            body=body,
            spec=spec,
            pools=self.picture.pool_views(key),
            state=memory.state,
            now=now,
            write_status=lambda desired: self.report.write_status(key, body=body, desired=desired),
        )

    async def _prepared(
        self,
        key: ServiceKey,
        *,
        body: Mapping[str, Any],
        spec: InferenceServiceSpec,
        memory: Memory,
        now: float,
    ) -> DecisionInput:
        """The engine's input: after a start demand recalled and children listed first; at
        zero a wake request as demand; the service's share of its team's budget."""
        if not memory.recalled:
            await self.inputs.recall(key, spec=spec, memory=memory)
        if not memory.loaded and not self.settings.dry_run:
            await self.children.load(memory)
        inp = await self.inputs.decision_input(key, spec=spec, memory=memory, now=now)
        to_zero = zero.policy(spec)
        if to_zero is not None:
            inp = self._woken(inp, body=body, memory=memory, to_zero=to_zero)
        team = await self.budgets.share(key, now=now, inputs=self._team_inputs)
        return replace(inp, team_budget=team)

    def _woken(
        self,
        inp: DecisionInput,
        *,
        body: Mapping[str, Any],
        memory: Memory,
        to_zero: ScaleToZero,
    ) -> DecisionInput:
        """Scale to zero (controller/zero.py): at zero, a wake request is demand."""
        spec, memory.state, observation = zero.before_decision(
            memory.zero,
            memory.state,
            spec=inp.spec,
            body=body,
            current=dict(inp.current),
            observation=inp.observation,
            now=inp.now,
            settings=self.settings,
        )
        return replace(
            inp, spec=spec, state=memory.state, observation=observation, scale_to_zero=to_zero
        )

    async def _decided(
        self, key: ServiceKey, *, inp: DecisionInput, memory: Memory
    ) -> tuple[Plan, manifests.ZeroPath | None]:
        """The engine's plan (with RoutingReady) and, at zero, the serving path."""
        plan = planner.decide(inp)
        plan = await self.routes.with_condition(key, inp.spec, plan)  # RoutingReady
        memory.state = plan.state
        path = None
        if inp.scale_to_zero is not None:  # the serving path at zero and Ready (zero.py)
            plan, path = zero.after_decision(
                memory.zero,
                plan,
                current=dict(inp.current),
                now=inp.now,
                settings=self.settings,
                activator_ready=self.picture.activator_ready(key),
            )
        self.picture.used_pools[key] = frozenset(reporting.involved_pools(plan, list(inp.current)))
        return plan, path

    async def _acted(
        self,
        body: Mapping[str, Any],
        *,
        inp: DecisionInput,
        plan: Plan,
        memory: Memory,
        zero_path: manifests.ZeroPath | None,
    ) -> dict[tuple[str, str], int]:
        """Children and Triton batching brought in line with the plan (in a dry run only
        remembered); the ready replicas by (variant, pool)."""
        if self.settings.dry_run:
            return memory.ran_dry(plan)
        current = dict(inp.current)
        await self.children.apply(
            body, spec=inp.spec, plan=plan, pools=inp.pools, memory=memory, zero_path=zero_path
        )
        await self.rollout.run(body=body, spec=inp.spec, plan=plan, current=current)
        return {k: d.ready_replicas for k, d in current.items()}

    async def _team_inputs(
        self, policies: Sequence[BudgetPolicy], now: float
    ) -> list[tuple[InferenceService, DecisionInput]]:
        """Every valid service some policy selects, as its own reconcile would see it now."""

        async def input_for(key: ServiceKey, spec: InferenceServiceSpec) -> DecisionInput:
            memory = self.memory.get(key) or Memory()
            return await self.inputs.decision_input(key, spec=spec, memory=memory, now=now)

        return await selected_inputs(policies, services=self.picture.services, input_for=input_for)
