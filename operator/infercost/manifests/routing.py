"""Capacity-weighted routing (spec.routing): a Service per Deployment and one HTTPRoute.

The service's one Service spreads requests in equal shares per replica. With spec.routing,
each Deployment (one per variant and pool) also gets a Service selecting its own pods, and
one Gateway API HTTPRoute attached to the user's Gateway sends each of those Services a
share of the requests in proportion to the Deployment's capacity: ready replicas (at most
the planned ones) x the per-replica throughput the plan uses. Gateway API semantics
(HTTPRoute backendRefs[].weight, gateway.networking.k8s.io/v1): a backend gets
weight / (sum of weights) of the requests, weight 0 gets none, an absent weight counts as 1,
weights are integers in 0..1,000,000.

Why ready and not planned replicas: a replica that is still starting serves nothing, so a
weight for it would queue its share on the ready pods of that Deployment. Before any
replica is ready the planned capacities are used (every backend would fail alike).

Must not import: kopf, kubernetes, aiohttp, asyncio, time or any adapter. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infercost.api.routing import Routing
from infercost.engine.model import Allocation
from infercost.manifests.common import (
    GRPC_PORT,
    HTTP_PORT,
    LABEL_POOL,
    LABEL_SERVICE,
    LABEL_VARIANT,
    Owner,
    common_labels,
    deployment_name,
    metadata_for,
    service_name,
    short_name,
    stamped,
)

ROUTE_API_VERSION = "gateway.networking.k8s.io/v1"
# The largest backend's weight; the others in proportion. Not a decision, a resolution:
# 4 digits of proportion, well inside Gateway API's 1,000,000 and without float noise.
WEIGHT_RESOLUTION = 10_000

Key = tuple[str, str]  # (variant, pool)


def capacities(allocations: Sequence[Allocation], ready: Mapping[Key, int]) -> dict[Key, float]:
    """Inferences/s each Deployment serves now: min(ready, planned) x throughput per replica;
    the planned capacities while no replica of any Deployment is ready."""
    live = [a for a in allocations if a.replicas > 0]
    serving = {
        (a.variant, a.pool): min(a.replicas, max(0, ready.get((a.variant, a.pool), 0)))
        * a.throughput_per_replica
        for a in live
    }
    if any(value > 0 for value in serving.values()):
        return serving
    return {(a.variant, a.pool): a.replicas * a.throughput_per_replica for a in live}


def weights(capacity: Mapping[Key, float]) -> dict[Key, int]:
    """Integer weights in proportion to `capacity`: the largest WEIGHT_RESOLUTION, a backend
    with any capacity at least 1 (0 would send it nothing), one with none 0. No capacity
    known anywhere: 1 each (equal shares, as the Service gives; all 0 would serve nothing)."""
    largest = max(capacity.values(), default=0.0)
    if largest <= 0:
        return dict.fromkeys(capacity, 1)
    return {
        key: 0 if value <= 0 else max(1, round(WEIGHT_RESOLUTION * value / largest))
        for key, value in capacity.items()
    }


def backend_service_name(owner: Owner, variant: str, pool: str) -> str:
    """The Service of one Deployment: an RFC 1035 label derived from the Deployment's name."""
    return service_name(deployment_name(owner.name, variant, pool))


def backend_service(*, owner: Owner, variant: str, pool: str) -> dict[str, Any]:
    """A Service selecting the pods of one Deployment only (its own variant and pool labels)."""
    selector = {
        LABEL_SERVICE: short_name(owner.name),
        LABEL_VARIANT: short_name(variant),
        LABEL_POOL: short_name(pool),
    }
    name = backend_service_name(owner, variant, pool)
    return stamped(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata_for(owner, name, {**common_labels(owner), **selector}),
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                    {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
                ],
            },
        }
    )


def http_route(
    *, owner: Owner, routing: Routing, backends: Sequence[tuple[str, int]]
) -> dict[str, Any]:
    """The HTTPRoute: attached to the Gateway, `backends` = (Service name, weight), HTTP port."""
    parent: dict[str, Any] = {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": routing.gateway.name,
    }
    if routing.gateway.namespace:
        parent["namespace"] = routing.gateway.namespace
    if routing.gateway.section_name:
        parent["sectionName"] = routing.gateway.section_name
    spec: dict[str, Any] = {
        "parentRefs": [parent],
        "rules": [
            {
                "backendRefs": [
                    {"group": "", "kind": "Service", "name": name, "port": HTTP_PORT, "weight": w}
                    for name, w in backends
                ]
            }
        ],
    }
    if routing.hostnames:
        spec["hostnames"] = list(routing.hostnames)
    return stamped(
        {
            "apiVersion": ROUTE_API_VERSION,
            "kind": "HTTPRoute",
            "metadata": metadata_for(owner, service_name(owner.name), common_labels(owner)),
            "spec": spec,
        }
    )


def routed_children(
    *,
    owner: Owner,
    routing: Routing,
    allocations: Sequence[Allocation],
    ready: Mapping[Key, int],
    via_service: bool = False,
) -> list[dict[str, Any]]:
    """A Service per Deployment and the HTTPRoute weighting them by capacity. `via_service`
    (a service at zero, woken through its activator; or no Deployment at all): the route
    sends everything to the service's one Service instead, which selects what answers."""
    capacity = capacities(allocations, ready)
    if via_service or not capacity:
        return [http_route(owner=owner, routing=routing, backends=[(service_name(owner.name), 1)])]
    weight = weights(capacity)
    services = [
        backend_service(owner=owner, variant=variant, pool=pool) for variant, pool in sorted(weight)
    ]
    backends = [
        (backend_service_name(owner, variant, pool), weight[(variant, pool)])
        for variant, pool in sorted(weight)
    ]
    return [*services, http_route(owner=owner, routing=routing, backends=backends)]
