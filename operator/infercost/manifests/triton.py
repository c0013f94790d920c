"""The Triton Deployment of one (variant, pool) and its model config override.

The ConfigMap of overrides (shared.py) is the operator's record of the chosen batching, not
mounted: Triton cannot overlay one file onto a remote (S3) repository. A new pod starts with
the repository's config and is kept out of the Service by the batching readiness gate
(triton_access.py) until the operator has loaded the chosen config into it."""

from __future__ import annotations

import json
from typing import Any

from infercost.api.caching import ResponseCache
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec, Variant
from infercost.engine.model import Allocation, BatchConfig
from infercost.manifests.caching import cache_args, response_cache_lines, with_cache_memory
from infercost.manifests.common import (
    ANNOTATION_BATCHING,
    CPU_RESOURCE,
    GRPC_PORT,
    HTTP_PORT,
    LABEL_POOL,
    LABEL_SERVICE,
    LABEL_VARIANT,
    METRICS_PORT,
    ManifestSettings,
    Owner,
    common_labels,
    deployment_name,
    metadata_for,
    short_name,
    stamped,
)
from infercost.manifests.pod import drain_args, with_pod_settings
from infercost.manifests.triton_access import (
    batching_gates,
    repository_key_args,
    repository_key_env,
)
from infercost.manifests.version import version_policy_lines


def config_key(variant: str, pool: str) -> str:
    return f"{short_name(variant, pool, limit=240)}.pbtxt"


def model_config_text(
    *,
    model: str,
    batching: BatchConfig,
    version: str | None = None,
    caching: ResponseCache | None = None,
) -> str:
    """The Triton config.pbtxt override that carries the batching of one (variant, pool),
    the pinned model version (spec.model.version), if any, and the response cache."""
    lines = [f'name: "{model}"', *version_policy_lines(version), *response_cache_lines(caching)]
    lines.append(f"max_batch_size: {batching.max_batch_size}")
    timeout = batching.queue_timeout_us
    if batching.max_batch_size > 1 or batching.max_queue_delay_us > 0 or timeout > 0:
        preferred = ", ".join(str(size) for size in batching.preferred_batch_sizes)
        lines.append("dynamic_batching {")
        lines.append(f"  max_queue_delay_microseconds: {batching.max_queue_delay_us}")
        if preferred:
            lines.append(f"  preferred_batch_size: [ {preferred} ]")
        if timeout > 0:
            lines.append("  default_queue_policy {")
            lines.append("    timeout_action: REJECT")
            lines.append(f"    default_timeout_microseconds: {timeout}")
            lines.append("  }")
        lines.append("}")
    return "\n".join(lines) + "\n"


def batching_annotation(batching: BatchConfig) -> str:
    return json.dumps(
        {
            "maxBatchSize": batching.max_batch_size,
            "maxQueueDelayMicroseconds": batching.max_queue_delay_us,
            "preferredBatchSizes": list(batching.preferred_batch_sizes),
            "queueTimeoutMicroseconds": batching.queue_timeout_us,
        },
        sort_keys=True,
    )


def batching_from_annotation(text: str | None) -> BatchConfig | None:
    """Read back what `batching_annotation` wrote; None when absent or unreadable."""
    if not text:
        return None
    try:
        data = json.loads(text)
        return BatchConfig(
            max_batch_size=int(data["maxBatchSize"]),
            max_queue_delay_us=int(data["maxQueueDelayMicroseconds"]),
            preferred_batch_sizes=tuple(int(s) for s in data.get("preferredBatchSizes", [])),
            queue_timeout_us=int(data.get("queueTimeoutMicroseconds", 0)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _resources(variant: Variant, pool: AcceleratorPoolSpec) -> dict[str, Any]:
    resource = pool.accelerator.resource_name
    count = str(variant.accelerators_per_replica)
    memory = variant.resources.memory
    if resource == CPU_RESOURCE:
        # On CPU pools the accelerator is the CPU itself: request it, do not limit it
        # (a CPU limit throttles and breaks latency); memory is limited as everywhere.
        return {"requests": {"cpu": count, "memory": memory}, "limits": {"memory": memory}}
    # Extended resources cannot be overcommitted: requests must equal limits.
    return {
        "requests": {"cpu": variant.resources.cpu, "memory": memory, resource: count},
        "limits": {"memory": memory, resource: count},
    }


def triton_args(*, repository: str, model: str) -> list[str]:
    return [
        f"--model-repository={repository}",
        "--model-control-mode=explicit",
        f"--load-model={model}",
        f"--http-port={HTTP_PORT}",
        f"--grpc-port={GRPC_PORT}",
        f"--metrics-port={METRICS_PORT}",
        # p99 comes from Triton's latency summaries, which are off by default.
        "--metrics-config=summary_latencies=true",
        *repository_key_args(),
    ]


def _container(
    *,
    owner: Owner,
    spec: InferenceServiceSpec,
    variant: Variant,
    pool: AcceleratorPoolSpec,
    settings: ManifestSettings,
) -> dict[str, Any]:
    return {
        "name": "triton",
        "image": variant.image,
        "command": ["tritonserver"],
        "args": triton_args(repository=variant.model_repository, model=spec.model.name)
        + drain_args(settings)
        + cache_args(spec.caching),
        "env": repository_key_env(owner.name),
        "ports": [
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": with_cache_memory(_resources(variant, pool), spec.caching),
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "dshm", "mountPath": "/dev/shm"},
        ],
    }


def deployment(
    *,
    owner: Owner,
    spec: InferenceServiceSpec,
    allocation: Allocation,
    pool: AcceleratorPoolSpec,
    settings: ManifestSettings,
) -> dict[str, Any]:
    """The Triton Deployment of one allocation, scheduled onto its pool."""
    variant = next(v for v in spec.variants if v.name == allocation.variant)
    selector = {
        LABEL_SERVICE: short_name(owner.name),
        LABEL_VARIANT: short_name(allocation.variant),
        LABEL_POOL: short_name(allocation.pool),
    }
    labels = {**common_labels(owner), **selector}
    pod_spec: dict[str, Any] = {
        "nodeSelector": dict(pool.node_selector),
        "tolerations": [t.model_dump(by_alias=True, exclude_none=True) for t in pool.tolerations],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "fsGroup": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "readinessGates": batching_gates(),
        "containers": [
            _container(owner=owner, spec=spec, variant=variant, pool=pool, settings=settings)
        ],
        "volumes": [
            {"name": "tmp", "emptyDir": {}},
            {"name": "dshm", "emptyDir": {"medium": "Memory"}},
        ],
    }
    metadata = metadata_for(
        owner, deployment_name(owner.name, allocation.variant, allocation.pool), labels
    )
    metadata["annotations"] = {ANNOTATION_BATCHING: batching_annotation(allocation.batching)}
    # Service account, env, volumes, probes, drain, spread: manifests/pod.py.
    built = with_pod_settings(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {
                "replicas": allocation.replicas,
                "selector": {"matchLabels": selector},
                "strategy": {
                    "type": "RollingUpdate",
                    # Serving capacity must not dip during a rollout: surge, never take down first.
                    "rollingUpdate": {"maxSurge": settings.rollout_max_surge, "maxUnavailable": 0},
                },
                # The pod template carries nothing batching-specific: a batching change
                # is loaded live into the running pods (rollout.py), never a restart,
                # which would cost a cold start per tuning step; a new pod is Ready only
                # once the operator has loaded it (the batching readiness gate).
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        },
        owner=owner,
        spec=spec,
        variant=variant,
        pool=pool,
        settings=settings,
    )
    return stamped(built)
