"""Advise mode (`spec.mode: Advise`): decide as for a managed service, act only on status.

Decide-then-act as everywhere, but the act step here has one writer: the service's status
(a callback the reconciler passes in) and the advisor's gauges. The advisor holds a
read-only `Reader` (advise_target.py) and no handle that could write the target or create
children, so taking over is a choice the user makes by switching `spec.mode` to Manage.

Each round: read the target (Deployment, pods, pool), its Triton batching (one ready pod's
model config) and its pods' Triton metrics from Prometheus (by `namespace` and `pod`), ask
the engine what it would run for that demand from nothing (no current deployments of its
own), and report the advised placement, its $/h and the saving against the target's $/h.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from infercost.adapters import triton_config
from infercost.adapters.metrics import MetricsSource, ServiceKey, observation_for
from infercost.api.service import InferenceServiceSpec
from infercost.controller import advise_report as report
from infercost.controller.advise_target import Reader, Target, hourly_cost, read_target
from infercost.controller.reporting import rfc3339
from infercost.engine import planner
from infercost.engine.model import DecisionInput, Observation, PoolView, ServiceState
from infercost.settings import Settings

logger = logging.getLogger("infercost")
WriteStatus = Callable[[Mapping[str, Any]], Awaitable[None]]


class AdviceTelemetry:
    """The advice as gauges (docs/metrics.md), on the operator's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["namespace", "service"]
        self.saving = Gauge(
            "infercost_advised_saving_hourly",
            "Advise mode: $/h the advice would save against what runs now.",
            labels,
            registry=registry,
        )
        self.advised = Gauge(
            "infercost_advised_hourly_cost",
            "Advise mode: $/h of the advice.",
            labels,
            registry=registry,
        )
        self.current = Gauge(
            "infercost_advised_current_hourly_cost",
            "Advise mode: $/h of what runs now (the target).",
            labels,
            registry=registry,
        )

    def record(self, key: ServiceKey, advice: Mapping[str, Any]) -> None:
        current = (advice.get("current") or {}).get("hourlyCost")
        for gauge, value in (
            (self.saving, advice.get("savingPerHour")),
            (self.advised, advice.get("hourlyCost")),
            (self.current, current),
        ):
            if value is None:
                with contextlib.suppress(KeyError):
                    gauge.remove(*key)
            else:
                gauge.labels(*key).set(value)

    def forget(self, key: ServiceKey) -> None:
        for gauge in (self.saving, self.advised, self.current):
            with contextlib.suppress(KeyError):
                gauge.remove(*key)


class Advisor:
    def __init__(
        self,
        *,
        reader: Reader,
        metrics: MetricsSource,
        settings: Settings,
        registry: CollectorRegistry,
    ) -> None:
        self.reader, self.metrics, self.settings = reader, metrics, settings
        self.telemetry = AdviceTelemetry(registry)

    async def advise(
        self,
        key: ServiceKey,
        *,
        body: Mapping[str, Any],
        spec: InferenceServiceSpec,
        pools: tuple[PoolView, ...],
        state: ServiceState,
        now: float,
        write_status: WriteStatus,
    ) -> ServiceState:
        """One advisory round; the engine's state to keep. Writes only status and gauges."""
        if spec.advise is None:  # refused by the spec's own rule (api/service.py)
            return state
        name = spec.advise.target_ref.name
        target = await read_target(self.reader, namespace=key[0], name=name, pools=pools)
        advice: dict[str, Any] = {"time": rfc3339(now), "target": name}
        plan = None
        if target.problem is not None:
            reason, message = target.problem
        else:
            advice["current"] = await self._current(target, spec)
            observation = await self._observe(key, target, now)
            advice |= report.observed(observation)
            if observation is None or observation.demand_rps is None:
                reason = (observation and observation.unavailable_reason) or "MetricsMissing"
                message = (
                    observation.unavailable_message
                    if observation and observation.unavailable_message
                    else "no Triton metrics for the target's pods"
                )
            else:
                plan = planner.decide(
                    decision_input(spec, pools, observation, state, now, self.settings)
                )
                state = plan.state
                unplaced = report.unplaced(plan)
                if unplaced is None:
                    advice |= report.advised(plan, advice["current"].get("hourlyCost"))
                    reason, message = "Advised", advice["message"]
                else:  # nothing to compare: no saving is reported
                    (reason, message), plan = unplaced, None
        if plan is None:
            advice["message"] = message
            logger.info("%s/%s: no advice (%s): %s", key[0], key[1], reason, message)
        self.telemetry.record(key, advice)
        await write_status(report.status(body, advice, ok=plan is not None, reason=reason, now=now))
        return state

    async def _current(self, target: Target, spec: InferenceServiceSpec) -> dict[str, Any]:
        cost, why = hourly_cost(target)
        current: dict[str, Any] = {
            "replicas": target.replicas,
            "readyReplicas": target.ready_replicas,
            "pool": target.pool.name if target.pool else None,
            "hourlyCost": None if cost is None else round(cost, 4),
        }
        current |= await self._batching(target, spec.model.name)
        if why:
            current["batchingSource"] = f"{current['batchingSource']}; {why}"
        return {k: v for k, v in current.items() if v is not None}

    async def _batching(self, target: Target, model: str) -> dict[str, Any]:
        """The batching one ready pod's Triton runs; "unknown" with the reason otherwise."""
        why = "no ready pod to ask"
        for pod in target.pods:
            conditions = (pod.get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
                continue
            url = triton_config.target_url(
                pod,
                container=str(target.container.get("name")),
                annotation=self.settings.triton_port_annotation,
            )
            if url is None:
                continue
            try:
                batching = await triton_config.read_batching(
                    url, model, timeout=self.settings.triton_timeout_seconds
                )
            except triton_config.READ_ERRORS as error:
                why = f"Triton at {url}: {triton_config.describe(error)}"
                continue
            return {
                "batching": {
                    "maxBatchSize": batching.max_batch_size,
                    "maxQueueDelayMicroseconds": batching.max_queue_delay_us,
                },
                "batchingSource": f"model {model} config of pod {pod['metadata']['name']}",
            }
        return {"batchingSource": f"unknown: {why}"}

    async def _observe(self, key: ServiceKey, target: Target, now: float) -> Observation | None:
        pods = {(key[0], str(p["metadata"]["name"])): key for p in target.pods}
        if not pods:
            return Observation(
                time=now,
                demand_rps=None,
                p99_latency_ms=None,
                unavailable_reason="MetricsMissing",
                unavailable_message="the target has no pods",
            )
        found = observation_for(await self.metrics.observe_pods(pods, now=now), key, now=now)
        # The target's own (variant, pool) keys mean nothing to the engine's options.
        return None if found is None else replace(found, per_deployment={})


def decision_input(
    spec: InferenceServiceSpec,
    pools: tuple[PoolView, ...],
    observation: Observation,
    state: ServiceState,
    now: float,
    settings: Settings,
) -> DecisionInput:
    """The engine's input: what it would run from nothing (no deployments of its own)."""
    return DecisionInput(
        spec=spec,
        pools=pools,
        observation=observation,
        current={},
        state=state,
        now=now,
        settings=settings.for_engine(),
    )
