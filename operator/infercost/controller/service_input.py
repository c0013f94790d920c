"""What the engine is given for one InferenceService: the reading side of a reconcile.

It owns the metrics read (all services' at most once per control interval, pool prices with
them), the demand history recalled from Prometheus after a start (one range query for every
service met at once) and the DecisionInput built from the watched picture.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from infercost import manifests
from infercost.adapters.metrics import DemandSeries, MetricsSource, ServiceKey, observation_for
from infercost.api.service import InferenceServiceSpec
from infercost.controller.memory import Memory
from infercost.controller.picture import Picture
from infercost.controller.pricing import PoolPricing
from infercost.controller.routing import GatewayRoutes
from infercost.engine.model import DecisionInput, Observation, PoolView
from infercost.engine.recall import recall
from infercost.settings import Settings

logger = logging.getLogger("infercost")


class ServiceInputs:
    """Reads metrics and demand history, and builds each service's DecisionInput."""

    def __init__(
        self,
        *,
        metrics: MetricsSource,
        settings: Settings,
        clock: Callable[[], float],
        picture: Picture,
        routes: GatewayRoutes,
        pricing: PoolPricing | None,
    ) -> None:
        self.metrics, self.settings, self.clock = metrics, settings, clock
        self.picture, self.routes, self.pricing = picture, routes, pricing
        self._observed: tuple[float, Mapping[ServiceKey, Observation]] | None = None
        self._observe_lock = asyncio.Lock()
        self._recorded: tuple[float, dict[ServiceKey, DemandSeries]] | None = None
        self._recall_lock = asyncio.Lock()

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

    async def recall(self, key: ServiceKey, *, spec: InferenceServiceSpec, memory: Memory) -> None:
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
            samples = self._recorded[1].pop(labelled(key), ())
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

    async def decision_input(
        self, key: ServiceKey, *, spec: InferenceServiceSpec, memory: Memory, now: float
    ) -> DecisionInput:
        """What the engine is given for one service at `now`, from the watched picture."""
        pools = self.picture.pool_views(key)
        current = dict(memory.dry_current) if self.settings.dry_run else self.picture.current(key)
        observation = by_full_names(
            observation_for(await self.observe(now), labelled(key), now=now),
            spec=spec,
            pools=pools,
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


def labelled(key: ServiceKey) -> ServiceKey:
    """The service as its metrics name it: label values are cut to 63 characters (hashed)."""
    namespace, name = key
    return namespace, manifests.short_name(name)


def by_full_names(
    observation: Observation | None, *, spec: InferenceServiceSpec, pools: Sequence[PoolView]
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
