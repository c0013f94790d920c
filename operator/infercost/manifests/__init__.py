"""Children of an InferenceService as plain Kubernetes objects (docs/architecture.md section 4).

Owns: Plan allocations -> one Triton Deployment per (variant, pool), one Service, one
batching ConfigMap, one PodDisruptionBudget, (when the CRD exists) one PodMonitor, for
scale to zero the activator's children (manifests/activator.py) and, with spec.routing, a
Service per Deployment and a weighted HTTPRoute (manifests/routing.py), with
owner references, the contract labels and a hash of each object's content for change detection.

Must not import: kopf, kubernetes, aiohttp, tritonclient, prometheus_api_client, asyncio, time
or any adapter. It is pure: the same inputs give the same dicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Allocation
from infercost.manifests.activator import (
    LABEL_ACTIVATOR,
    ZeroPath,
    activator_deployment,
    activator_identity,
    activator_name,
    activator_selector,
    replicas_service,
)
from infercost.manifests.caching import with_response_cache
from infercost.manifests.common import (
    ANNOTATION_BATCHING,
    ANNOTATION_HASH,
    FIELD_MANAGER,
    LABEL_POOL,
    LABEL_SERVICE,
    LABEL_VARIANT,
    ManifestSettings,
    Owner,
    content_hash,
    deployment_name,
    short_name,
)
from infercost.manifests.routing import routed_children
from infercost.manifests.shared import (
    batching_config_map,
    disruption_budget,
    network_policy,
    pod_monitor,
    service,
)
from infercost.manifests.triton import (
    batching_annotation,
    batching_from_annotation,
    config_key,
    deployment,
    model_config_text,
    triton_args,
)
from infercost.manifests.version import version_policy, with_version_policy

__all__ = [
    "ANNOTATION_BATCHING",
    "ANNOTATION_HASH",
    "FIELD_MANAGER",
    "LABEL_ACTIVATOR",
    "LABEL_POOL",
    "LABEL_SERVICE",
    "LABEL_VARIANT",
    "ManifestSettings",
    "Owner",
    "ZeroPath",
    "activator_name",
    "batching_annotation",
    "batching_from_annotation",
    "children",
    "config_key",
    "content_hash",
    "deployment",
    "deployment_name",
    "model_config_text",
    "short_name",
    "triton_args",
    "version_policy",
    "with_response_cache",
    "with_version_policy",
]


def children(
    *,
    owner: Owner,
    spec: InferenceServiceSpec,
    pools: Mapping[str, AcceleratorPoolSpec],
    allocations: Sequence[Allocation],
    settings: ManifestSettings,
    with_pod_monitor: bool,
    zero: ZeroPath | None = None,
    ready: Mapping[tuple[str, str], int] | None = None,
) -> list[dict[str, Any]]:
    """Every child the allocations need; allocations of zero replicas get no Deployment.
    `zero`: the service scales to zero (manifests/activator.py). `ready`: ready replicas per
    (variant, pool), given where spec.routing's HTTPRoute is to be written (Gateway API is
    served); None: no route (manifests/routing.py)."""
    live = [a for a in allocations if a.replicas > 0 and a.pool in pools]
    config_map = batching_config_map(owner=owner, spec=spec, allocations=live)
    selector = activator_selector(owner) if zero is not None and zero.via_activator else None
    objects = [
        config_map,
        service(owner=owner, selector=selector),
        disruption_budget(owner=owner, settings=settings),
    ]
    if zero is not None:
        objects += [
            replicas_service(owner=owner),
            *activator_identity(owner=owner, settings=settings),
        ]
        if zero.activator:
            objects.append(
                activator_deployment(
                    owner=owner, settings=settings, wake_timeout_seconds=zero.wake_timeout_seconds
                )
            )
    if with_pod_monitor:
        objects.append(pod_monitor(owner=owner))
    if settings.network_policy:
        objects.append(network_policy(owner=owner, settings=settings))
    if spec.routing is not None and ready is not None:
        objects += routed_children(
            owner=owner,
            routing=spec.routing,
            allocations=live,
            ready=ready,
            via_service=selector is not None,
        )
    for allocation in live:
        objects.append(
            deployment(
                owner=owner,
                spec=spec,
                allocation=allocation,
                pool=pools[allocation.pool],
                settings=settings,
            )
        )
    return objects
