"""The operator's in-memory picture of the cluster, fed by kopf's watch streams.

Services, pools and the operator's own Deployments as last seen; from them, the engine's
`PoolView`s (pool capacity is shared: other services' replicas count against it) and the
`CurrentDeployment`s of one service.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from infercost import manifests, reporting
from infercost.adapters.metrics import ServiceKey
from infercost.api.pool import AcceleratorPoolSpec
from infercost.engine.model import CurrentDeployment, PoolView

logger = logging.getLogger("infercost")


class Picture:
    """Last-seen bodies; reading it does no I/O."""

    def __init__(self) -> None:
        self.services: dict[ServiceKey, dict[str, Any]] = {}
        self.pools: dict[str, dict[str, Any]] = {}
        self.deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self.used_pools: dict[ServiceKey, frozenset[str]] = {}
        self.prices: dict[str, float] = {}  # pool -> price per node-hour from OpenCost

    def service_seen(self, body: Mapping[str, Any]) -> bool:
        """Remember a service; True when its spec is new to this process (reconcile now)."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        before = self.services.get(key)
        self.services[key] = dict(body)
        generation = body["metadata"].get("generation")
        return before is None or before["metadata"].get("generation") != generation

    def service_gone(self, namespace: str, name: str) -> None:
        self.services.pop((namespace, name), None)
        self.used_pools.pop((namespace, name), None)

    def pool_seen(self, body: Mapping[str, Any]) -> list[ServiceKey]:
        """Remember a pool; the services to re-plan when its spec changed."""
        name = body["metadata"]["name"]
        before = self.pools.get(name)
        self.pools[name] = dict(body)
        if before is not None and before.get("spec") == body.get("spec"):
            return []
        return self._services_near(name, body.get("spec") or {})

    def pool_gone(self, name: str) -> list[ServiceKey]:
        body = self.pools.pop(name, None)
        return self._services_near(name, (body or {}).get("spec") or {})

    def _services_near(self, pool: str, spec: Mapping[str, Any]) -> list[ServiceKey]:
        accelerator = (spec.get("accelerator") or {}).get("type")
        keys = []
        for key, body in self.services.items():
            types = {
                t
                for v in body.get("spec", {}).get("variants") or []
                for t in v.get("acceleratorTypes") or []
            }
            if accelerator in types or pool in self.used_pools.get(key, ()):
                keys.append(key)
        return keys

    def deployment_seen(self, body: Mapping[str, Any]) -> bool:
        """Remember a Deployment; True when its ready replicas changed."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        before = self.deployments.get(key)
        self.deployments[key] = dict(body)

        def ready(dep: Mapping[str, Any] | None) -> int:
            return int(((dep or {}).get("status") or {}).get("readyReplicas") or 0)

        return before is not None and ready(before) != ready(body)

    def deployment_gone(self, namespace: str, name: str) -> None:
        self.deployments.pop((namespace, name), None)

    def pool_views(self, key: ServiceKey) -> tuple[PoolView, ...]:
        used: defaultdict[str, int] = defaultdict(int)
        for (namespace, _), dep in self.deployments.items():
            labels = dep["metadata"].get("labels") or {}
            owner = (namespace, labels.get(manifests.LABEL_SERVICE))
            if owner != (key[0], manifests.short_name(key[1])):
                used[labels.get(manifests.LABEL_POOL, "")] += dep.get("spec", {}).get("replicas", 0)
        views = []
        for name, body in sorted(self.pools.items()):
            try:
                spec = AcceleratorPoolSpec.model_validate(body.get("spec") or {})
            except ValidationError as error:
                logger.warning("pool %s ignored: %s", name, reporting.validation_message(error))
                continue
            views.append(
                PoolView(
                    name=name,
                    labels=body["metadata"].get("labels") or {},
                    spec=spec,
                    hourly_per_node=self.prices.get(name, spec.pricing.hourly_per_node or 0.0),
                    replicas_used_by_others=used[manifests.short_name(name)],
                )
            )
        return tuple(views)

    def current(self, key: ServiceKey) -> dict[tuple[str, str], CurrentDeployment]:
        current = {}
        pools = {manifests.short_name(name): name for name in self.pools}
        for (namespace, _), dep in self.deployments.items():
            labels = dep["metadata"].get("labels") or {}
            if namespace != key[0] or labels.get(manifests.LABEL_SERVICE) != manifests.short_name(
                key[1]
            ):
                continue
            variant, pool = (
                labels.get(manifests.LABEL_VARIANT, ""),
                labels.get(manifests.LABEL_POOL, ""),
            )
            current[(variant, pools.get(pool, pool))] = CurrentDeployment(
                replicas=dep.get("spec", {}).get("replicas", 0),
                ready_replicas=(dep.get("status") or {}).get("readyReplicas", 0),
                batching=manifests.batching_from_annotation(
                    (dep["metadata"].get("annotations") or {}).get(manifests.ANNOTATION_BATCHING)
                ),
            )
        return current
