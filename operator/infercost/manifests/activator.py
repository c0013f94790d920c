"""The children that keep a scale-to-zero service's address serving while no replica runs.

For a service with `minReplicas: 0` (engine/idle.py, controller/zero.py):
* `<service>-replicas`: a Service over the Triton pods alone, always there. The activator's
  backend: it probes `/v2/health/ready` and forwards through it, so it reaches the replicas
  even while the stable Service points at the activator.
* the activator Deployment (`<service>-activator`, one small CPU pod running
  `infercost activator`, activator/): it holds the requests that arrive at zero and asks
  the operator to wake the service (the annotation `infercost.io/wake-requested`).
* its ServiceAccount and a RoleBinding to the chart's activator ClusterRole (get and patch
  InferenceServices: the wake annotation, the `Placed` condition).

The activator's pods carry `infercost.io/activator`, never `infercost.io/service`: no Triton
selector (the stable Service's usual one, the PDB, the PodMonitor, the NetworkPolicy) and
no capacity count of the operator's picks them up. Its Deployment carries both labels, so the
operator's watch of its children sees it and the picture keeps it apart (ACTIVATOR label).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infercost.manifests.common import (
    GRPC_PORT,
    HTTP_PORT,
    LABEL_SERVICE,
    ManifestSettings,
    Owner,
    common_labels,
    metadata_for,
    service_name,
    short_name,
    stamped,
)

LABEL_ACTIVATOR = "infercost.io/activator"  # its pods' label; on its Deployment too
ACTIVATOR_METRICS_PORT = 9091  # `infercost activator`'s /metrics and /healthz


@dataclass(frozen=True, kw_only=True)
class ZeroPath:
    """What the serving path of a scale-to-zero service needs now (controller/zero.py)."""

    activator: bool  # the activator Deployment runs (at zero, waking, just woken)
    via_activator: bool  # the stable Service points at it (no ready replica)
    wake_timeout_seconds: float  # how long the activator holds a request


def activator_name(service: str) -> str:
    """The activator Deployment's (and its ServiceAccount's) name, by the service's name."""
    return short_name(service, "activator")


def replicas_service_name(owner: Owner) -> str:
    return short_name(service_name(owner.name), "replicas")


def activator_selector(owner: Owner) -> dict[str, str]:
    """The stable Service's selector while the service has no ready replica."""
    return {LABEL_ACTIVATOR: short_name(owner.name)}


def replicas_service(*, owner: Owner) -> dict[str, Any]:
    """A Service over the Triton pods alone: the activator's backend."""
    return stamped(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata_for(owner, replicas_service_name(owner), common_labels(owner)),
            "spec": {
                "type": "ClusterIP",
                "selector": {LABEL_SERVICE: short_name(owner.name)},
                "ports": [
                    {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
                    {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
                ],
            },
        }
    )


def _labels(owner: Owner) -> dict[str, str]:
    return {
        LABEL_ACTIVATOR: short_name(owner.name),
        "app.kubernetes.io/name": "infercost-activator",
        "app.kubernetes.io/instance": short_name(owner.name),
        "app.kubernetes.io/component": "activator",
        "app.kubernetes.io/managed-by": "infercost",
        "app.kubernetes.io/part-of": "infercost",
    }


def activator_deployment(
    *, owner: Owner, settings: ManifestSettings, wake_timeout_seconds: float
) -> dict[str, Any]:
    """One activator pod for the service (the operator's image, `infercost activator`)."""
    pod_labels = _labels(owner)
    backend = f"{replicas_service_name(owner)}.{owner.namespace}.svc"
    container = {
        "name": "activator",
        "image": settings.activator_image,
        "args": [
            "activator",
            f"--service={owner.name}",
            f"--namespace={owner.namespace}",
            f"--backend={backend}",
            f"--backend-http-port={HTTP_PORT}",
            f"--backend-grpc-port={GRPC_PORT}",
            f"--http-port={HTTP_PORT}",
            f"--grpc-port={GRPC_PORT}",
            f"--metrics-port={ACTIVATOR_METRICS_PORT}",
        ],
        "env": [
            {
                "name": "INFERCOST_ACTIVATOR_WAKE_TIMEOUT_SECONDS",
                "value": f"{wake_timeout_seconds:g}",
            }
        ],
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": ACTIVATOR_METRICS_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": "metrics"},
            "periodSeconds": 2,
        },
        "resources": {
            "requests": {"cpu": settings.activator_cpu, "memory": settings.activator_memory},
            "limits": {"memory": settings.activator_memory},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return stamped(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata_for(
                owner, activator_name(owner.name), {**common_labels(owner), **pod_labels}
            ),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": dict(pod_labels)},
                "template": {
                    "metadata": {"labels": dict(pod_labels)},
                    "spec": {
                        "serviceAccountName": activator_name(owner.name),
                        "automountServiceAccountToken": True,
                        "containers": [container],
                    },
                },
            },
        }
    )


def activator_identity(*, owner: Owner, settings: ManifestSettings) -> list[dict[str, Any]]:
    """The activator's ServiceAccount and its RoleBinding to the chart's ClusterRole."""
    name = activator_name(owner.name)
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata_for(owner, name, _labels(owner)),
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata_for(owner, name, _labels(owner)),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": settings.activator_cluster_role,
        },
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": owner.namespace}],
    }
    return [stamped(account), stamped(binding)]
