"""The children shared by all replicas of a service: Service, ConfigMap, PDB, PodMonitor,
NetworkPolicy (optional)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Allocation
from infercost.manifests.common import (
    GRPC_PORT,
    HTTP_PORT,
    LABEL_POOL,
    LABEL_SERVICE,
    LABEL_VARIANT,
    METRICS_PORT,
    ManifestSettings,
    Owner,
    common_labels,
    metadata_for,
    service_name,
    short_name,
    stamped,
)
from infercost.manifests.triton import config_key, model_config_text


def service(*, owner: Owner, selector: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One Service in front of every replica of the InferenceService, on every pool (or, at
    zero replicas, in front of its activator: `selector`, manifests/activator.py)."""
    return stamped(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata_for(owner, service_name(owner.name), common_labels(owner)),
            "spec": {
                "type": "ClusterIP",
                "selector": dict(selector or {LABEL_SERVICE: short_name(owner.name)}),
                "ports": [
                    {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                    {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
                    {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"},
                ],
            },
        }
    )


def batching_config_map(
    *, owner: Owner, spec: InferenceServiceSpec, allocations: Sequence[Allocation]
) -> dict[str, Any]:
    """The chosen model config per (variant, pool): the operator's record, for people to read
    (the pods get it through Triton's load API, see manifests/triton.py)."""
    data = {
        config_key(a.variant, a.pool): model_config_text(
            model=spec.model.name,
            batching=a.batching,
            version=spec.model.version,
            caching=spec.caching,
        )
        for a in allocations
    }
    name = short_name(owner.name, "model-config")
    return stamped(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata_for(owner, name, common_labels(owner)),
            "data": dict(sorted(data.items())),
        }
    )


def disruption_budget(*, owner: Owner, settings: ManifestSettings) -> dict[str, Any]:
    """Voluntary evictions (drains, Karpenter) take at most `pdb_max_unavailable` replicas of
    the service at a time, over all its Deployments. maxUnavailable, never minAvailable: a
    minAvailable of 1 on a one-replica service would block every node drain forever. A
    one-replica service is protected from Karpenter instead (manifests/pod.py, do-not-disrupt).
    """
    return stamped(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": metadata_for(owner, short_name(owner.name), common_labels(owner)),
            "spec": {
                "maxUnavailable": settings.pdb_max_unavailable,
                "selector": {"matchLabels": {LABEL_SERVICE: short_name(owner.name)}},
                # A replica that is not Ready (loading, crash-looping) serves nothing: evicting
                # it costs no capacity, and counting it would let one stuck pod block drains.
                "unhealthyPodEvictionPolicy": "AlwaysAllow",
            },
        }
    )


def pod_monitor(*, owner: Owner) -> dict[str, Any]:
    """Scrapes Triton's :8002 and turns the contract pod labels into metric labels."""
    return stamped(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PodMonitor",
            "metadata": metadata_for(owner, short_name(owner.name), common_labels(owner)),
            "spec": {
                "selector": {"matchLabels": {LABEL_SERVICE: short_name(owner.name)}},
                "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics"}],
                "podTargetLabels": [LABEL_SERVICE, LABEL_VARIANT, LABEL_POOL],
            },
        }
    )


def network_policy(*, owner: Owner, settings: ManifestSettings) -> dict[str, Any]:
    """Admit only what Triton is for: inference on the Service's ports, scrapes from Prometheus.

    Everything else to the service's pods is denied once a policy selects them (Kubernetes
    NetworkPolicy semantics); egress is left alone (model repositories, S3, registries).
    """
    prometheus = {
        "namespaceSelector": {
            "matchLabels": {"kubernetes.io/metadata.name": settings.prometheus_namespace}
        },
        "podSelector": {"matchLabels": dict(settings.prometheus_pod_labels)},
    }
    return stamped(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata_for(owner, short_name(owner.name), common_labels(owner)),
            "spec": {
                "podSelector": {"matchLabels": {LABEL_SERVICE: short_name(owner.name)}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "ports": [
                            {"port": HTTP_PORT, "protocol": "TCP"},
                            {"port": GRPC_PORT, "protocol": "TCP"},
                        ]
                    },
                    {"from": [prometheus], "ports": [{"port": METRICS_PORT, "protocol": "TCP"}]},
                ],
            },
        }
    )
