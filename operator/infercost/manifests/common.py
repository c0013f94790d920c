"""Names, labels, owner references and content hashes shared by every child."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GROUP_VERSION = "infercost.io/v1alpha1"
LABEL_SERVICE = "infercost.io/service"  # contract (docs/architecture.md section 5)
LABEL_VARIANT = "infercost.io/variant"  # contract
LABEL_POOL = "infercost.io/pool"  # contract
ANNOTATION_HASH = "infercost.io/applied-hash"
ANNOTATION_BATCHING = "infercost.io/batching"
FIELD_MANAGER = "infercost"
HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002  # Triton's defaults
MAX_NAME = 63
CPU_RESOURCE = "cpu"


@dataclass(frozen=True, kw_only=True)
class ManifestSettings:
    """Shape of the children that is an operator choice (docs/settings.md)."""

    pdb_max_unavailable: int = 1
    rollout_max_surge: str = "25%"
    run_as_user: int = 1000
    # Optional NetworkPolicy: Triton's HTTP/gRPC ports from anywhere, its metrics port only
    # from Prometheus (pods with these labels in that namespace).
    network_policy: bool = False
    prometheus_namespace: str = "monitoring"
    prometheus_pod_labels: tuple[tuple[str, str], ...] = (("app.kubernetes.io/name", "prometheus"),)
    # Pod lifecycle (manifests/pod.py, docs/settings.md).
    startup_probe_period_seconds: int = 10
    startup_margin: float = 2.0
    prestop_sleep_seconds: int = 10
    triton_exit_timeout_seconds: int = 30
    termination_slack_seconds: int = 5
    progress_deadline_slack_seconds: int = 600
    zone_spread: bool = True
    karpenter_do_not_disrupt: str = "SingleReplica"
    # The activator of scale-to-zero services (manifests/activator.py, docs/settings.md).
    activator_image: str = "ghcr.io/infercost/infercost:latest"
    activator_cpu: str = "100m"
    activator_memory: str = "256Mi"
    activator_cluster_role: str = "infercost-activator"


@dataclass(frozen=True, kw_only=True)
class Owner:
    """The InferenceService the children belong to."""

    name: str
    namespace: str
    uid: str


def short_name(*parts: str, limit: int = MAX_NAME) -> str:
    """`a-b-c`, or its first characters plus a hash of the whole when longer than `limit`."""
    full = "-".join(parts)
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: limit - 9].rstrip('-.')}-{digest}"


def service_name(name: str) -> str:
    """The Service's name: an RFC 1035 label (a letter first, no dots), which an
    InferenceService name (an RFC 1123 subdomain: `1bert`, `bert.v2`) need not be. Names
    that are already valid are kept; others are mapped and get a hash of the original, so
    two services never share one."""
    if len(name) <= MAX_NAME and re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    mapped = name.replace(".", "-")
    if not mapped[:1].isalpha():
        mapped = f"ics-{mapped}"
    return f"{mapped[: MAX_NAME - 9].rstrip('-')}-{digest}"


def deployment_name(service: str, variant: str, pool: str) -> str:
    return short_name(service, variant, pool)


def content_hash(obj: Mapping[str, Any]) -> str:
    """A stable hash of an object's content: what was applied, so unchanged means no write."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def common_labels(owner: Owner) -> dict[str, str]:
    return {
        LABEL_SERVICE: short_name(owner.name),
        "app.kubernetes.io/name": "triton-inference-server",
        "app.kubernetes.io/instance": short_name(owner.name),
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/managed-by": "infercost",
        "app.kubernetes.io/part-of": "infercost",
    }


def metadata_for(owner: Owner, name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": dict(labels),
        "ownerReferences": [
            {
                "apiVersion": GROUP_VERSION,
                "kind": "InferenceService",
                "name": owner.name,
                "uid": owner.uid,
                "controller": True,
            }
        ],
    }


def stamped(obj: dict[str, Any]) -> dict[str, Any]:
    """Record the content hash in an annotation; the hash covers everything else."""
    obj["metadata"].setdefault("annotations", {})[ANNOTATION_HASH] = content_hash(obj)
    return obj
