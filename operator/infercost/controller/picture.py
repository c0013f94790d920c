"""The operator's in-memory picture of the cluster, fed by kopf's watch streams.

Services, pools and the operator's own Deployments as last seen; from them, the engine's
`PoolView`s (pool capacity is shared: other services' replicas count against it) and the
`CurrentDeployment`s of one service.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from infercost import manifests
from infercost.activator import WAKE_ANNOTATION
from infercost.adapters.metrics import ServiceKey
from infercost.api.pool import AcceleratorPoolSpec
from infercost.controller import reporting
from infercost.controller.capacity import Capacity
from infercost.controller.children import LiveChildren
from infercost.engine.model import CurrentDeployment, PoolView

logger = logging.getLogger("infercost")


class Picture:
    """Last-seen bodies; reading it does no I/O."""

    def __init__(self, capacity: Capacity | None = None) -> None:
        self.capacity = capacity or Capacity()  # Pods and Nodes: lost replicas per pool
        self.services: dict[ServiceKey, dict[str, Any]] = {}
        self.pools: dict[str, dict[str, Any]] = {}
        self.deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self.used_pools: dict[ServiceKey, frozenset[str]] = {}
        self.prices: dict[str, float] = {}  # pool -> price per node-hour from OpenCost
        self._by_owner: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._totals: dict[str, int] = {}  # pool label -> replicas of every Deployment
        self._pool_specs: dict[str, tuple[Any, AcceleratorPoolSpec | None]] = {}
        self.children = LiveChildren()  # every owned child of every kind (drift, deletion)

    def service_seen(self, body: Mapping[str, Any]) -> bool:
        """Remember a service; True when its spec is new to this process, or an activator
        asked for a wake (controller/zero.py): reconcile now, not at the next interval."""
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        before = self.services.get(key)
        self.services[key] = dict(body)
        generation = body["metadata"].get("generation")
        return (
            before is None
            or before["metadata"].get("generation") != generation
            or _wake_requested(before) != _wake_requested(body)
        )

    def service_gone(self, namespace: str, name: str) -> None:
        body = self.services.pop((namespace, name), None)
        if body is not None and body["metadata"].get("uid"):
            self.children.forget_owner(namespace, body["metadata"]["uid"])
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
        if before is not None:
            self._unindex(key, before)
        self.deployments[key] = dict(body)
        labels = body["metadata"].get("labels") or {}
        owner = (key[0], labels.get(manifests.LABEL_SERVICE, ""))
        if manifests.LABEL_ACTIVATOR not in labels:  # the activator runs no replica
            self._by_owner.setdefault(owner, {})[key[1]] = self.deployments[key]
        self._count(body, 1)
        self.children.seen("Deployment", body)

        def ready(dep: Mapping[str, Any] | None) -> int:
            return int(((dep or {}).get("status") or {}).get("readyReplicas") or 0)

        return before is not None and ready(before) != ready(body)

    def deployment_gone(self, namespace: str, name: str) -> None:
        before = self.deployments.pop((namespace, name), None)
        self.children.gone("Deployment", namespace, name)
        if before is not None:
            self._unindex((namespace, name), before)

    def _unindex(self, key: tuple[str, str], body: Mapping[str, Any]) -> None:
        labels = body["metadata"].get("labels") or {}
        owned = self._by_owner.get((key[0], labels.get(manifests.LABEL_SERVICE, "")), {})
        owned.pop(key[1], None)
        self._count(body, -1)

    def _count(self, body: Mapping[str, Any], sign: int) -> None:
        """Add (or take back) one Deployment's replicas to its pool's total: kept as
        Deployments come and go, not summed over all of them per read (10,000 services)."""
        pool = (body["metadata"].get("labels") or {}).get(manifests.LABEL_POOL, "")
        self._totals[pool] = self._totals.get(pool, 0) + sign * _replicas(body)

    def activator_ready(self, key: ServiceKey) -> bool:
        """The service's activator (manifests/activator.py) has a ready pod."""
        body = self.deployments.get((key[0], manifests.activator_name(key[1]))) or {}
        return int((body.get("status") or {}).get("readyReplicas") or 0) > 0

    def _owned(self, key: ServiceKey) -> list[dict[str, Any]]:
        return list(self._by_owner.get((key[0], manifests.short_name(key[1])), {}).values())

    def pool_totals(self) -> dict[str, int]:
        """Replicas of all services per pool label (the activator's Deployment counts too:
        it has no pool label, so it lands under "")."""
        return self._totals

    def _pool_spec(self, name: str, body: Mapping[str, Any]) -> AcceleratorPoolSpec | None:
        cached = self._pool_specs.get(name)
        if cached is not None and cached[0] is body:
            return cached[1]
        try:
            spec = AcceleratorPoolSpec.model_validate(body.get("spec") or {})
        except ValidationError as error:
            logger.warning("pool %s ignored: %s", name, reporting.validation_message(error))
            spec = None
        self._pool_specs[name] = (body, spec)
        return spec

    def pool_views(self, key: ServiceKey) -> tuple[PoolView, ...]:
        """Every valid pool; other services' replicas count against its capacity."""
        totals = self.pool_totals()
        own: defaultdict[str, int] = defaultdict(int)
        for dep in self._owned(key):
            pool = (dep["metadata"].get("labels") or {}).get(manifests.LABEL_POOL, "")
            own[pool] += int(dep.get("spec", {}).get("replicas", 0))
        views = []
        for name, body in sorted(self.pools.items()):
            spec = self._pool_spec(name, body)
            if spec is None:
                continue
            label = manifests.short_name(name)
            views.append(
                PoolView(
                    name=name,
                    labels=body["metadata"].get("labels") or {},
                    spec=spec,
                    hourly_per_node=self.prices.get(name, spec.pricing.hourly_per_node or 0.0),
                    replicas_used_by_others=totals.get(label, 0) - own[label],
                )
            )
        return tuple(views)

    def current(self, key: ServiceKey) -> dict[tuple[str, str], CurrentDeployment]:
        """What runs now for one service, by (variant, pool)."""
        current = {}
        pools = {manifests.short_name(name): name for name in self.pools}
        lost = self._lost(key)
        for dep in self._owned(key):
            labels = dep["metadata"].get("labels") or {}
            variant = labels.get(manifests.LABEL_VARIANT, "")
            pool = labels.get(manifests.LABEL_POOL, "")
            replicas = dep.get("spec", {}).get("replicas", 0)
            ready = (dep.get("status") or {}).get("readyReplicas", 0)
            unschedulable, disrupted = lost.get((variant, pool), (0, 0))
            # Pending pods past a scale-down are the ReplicaSet's to delete: not replicas.
            unschedulable = min(unschedulable, max(0, replicas - ready))
            current[(variant, pools.get(pool, pool))] = CurrentDeployment(
                replicas=replicas,
                ready_replicas=ready,
                unschedulable_replicas=unschedulable,
                disrupted_replicas=disrupted,
                pods=(dep.get("status") or {}).get("replicas"),
                batching=manifests.batching_from_annotation(
                    (dep["metadata"].get("annotations") or {}).get(manifests.ANNOTATION_BATCHING)
                ),
            )
        return current

    def _lost(self, key: ServiceKey) -> dict[tuple[str, str], tuple[int, int]]:
        """(unschedulable, disrupted) replicas per (variant, pool label), from the Pods."""
        provisioning = {}
        for name, body in self.pools.items():
            spec = self._pool_spec(name, body)
            if spec is not None:
                provisioning[manifests.short_name(name)] = float(spec.provisioning_seconds)
        service = (key[0], manifests.short_name(key[1]))
        return self.capacity.counts(service, now=time.time(), provisioning=provisioning)


def _replicas(body: Mapping[str, Any]) -> int:
    return int((body.get("spec") or {}).get("replicas", 0))


def _wake_requested(body: Mapping[str, Any]) -> str | None:
    annotations = body["metadata"].get("annotations") or {}
    return annotations.get(WAKE_ANNOTATION)
