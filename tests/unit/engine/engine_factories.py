"""Small builders of engine inputs for the tests (real API models, validated as users write them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import (
    BatchConfig,
    CurrentDeployment,
    DecisionInput,
    EngineSettings,
    Observation,
    PoolView,
    ServiceState,
)

NOW = 1_800_000_000.0


def pool(
    name: str,
    *,
    accelerator: str = "nvidia-l4",
    price: float = 1.0,
    per_node: int = 1,
    spot: bool = False,
    max_replicas: int | None = None,
    used_by_others: int = 0,
    labels: Mapping[str, str] | None = None,
    provisioning: int = 120,
) -> PoolView:
    spec = AcceleratorPoolSpec.model_validate(
        {
            "accelerator": {
                "type": accelerator,
                "resourceName": "nvidia.com/gpu",
                "perNode": per_node,
            },
            "capacityType": "Spot" if spot else "OnDemand",
            "pricing": {"hourlyPerNode": price},
            "maxReplicas": max_replicas,
            "provisioningSeconds": provisioning,
        }
    )
    return PoolView(
        name=name,
        labels=dict(labels or {}),
        spec=spec,
        hourly_per_node=price,
        replicas_used_by_others=used_by_others,
    )


def variant(
    name: str,
    *,
    accelerators: Mapping[str, list[tuple[int, float, float]]],
    per_replica: int = 1,
    accuracy: float | None = None,
    startup: int = 60,
) -> dict[str, Any]:
    """A variant as a manifest dict; `accelerators` maps type -> [(batch, throughput, p99 ms)]."""
    profile = [
        {"acceleratorType": acc, "batchSize": b, "throughput": t, "p99LatencyMs": p}
        for acc, points in accelerators.items()
        for b, t, p in points
    ]
    out: dict[str, Any] = {
        "name": name,
        "acceleratorTypes": list(accelerators),
        "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
        "modelRepository": "s3://models/x",
        "acceleratorsPerReplica": per_replica,
        "startupSeconds": startup,
        "profile": profile,
    }
    if accuracy is not None:
        out["accuracy"] = accuracy
    return out


def service(variants: list[dict[str, Any]], **spec: Any) -> InferenceServiceSpec:
    body: dict[str, Any] = {"model": {"name": "m"}, "variants": variants, "slo": {"latencyMs": 50}}
    body.update(spec)
    return InferenceServiceSpec.model_validate(body)


def decision(
    spec: InferenceServiceSpec,
    pools: list[PoolView],
    *,
    demand: float | None = None,
    p99: float | None = None,
    current: Mapping[tuple[str, str], CurrentDeployment] | None = None,
    state: ServiceState | None = None,
    now: float = NOW,
    observed_at: float | None = None,
    settings: EngineSettings | None = None,
    per_deployment: Mapping[tuple[str, str], Any] | None = None,
) -> DecisionInput:
    observation = None
    if demand is not None or p99 is not None:
        observation = Observation(
            time=now if observed_at is None else observed_at,
            demand_rps=demand,
            p99_latency_ms=p99,
            per_deployment=dict(per_deployment or {}),
        )
    return DecisionInput(
        spec=spec,
        pools=tuple(pools),
        observation=observation,
        current=dict(current or {}),
        state=state or ServiceState(),
        now=now,
        settings=settings or UNMODELLED,
    )


# The planner tests' fixtures have a 20 ms batch under a 50 ms SLO, which the queueing model
# caps below the headroom's load: they test the other mechanisms without it (the model's
# ceilings are tested on their own, tests/unit/engine/test_modelled_ceilings.py).
UNMODELLED = EngineSettings(modelled_ceilings=False)


# 400/s per replica at batch 8 (20 ms); batch 16 (45 ms) is past 0.8 x 50 ms.
L4 = {"nvidia-l4": [(1, 100.0, 5.0), (8, 400.0, 20.0), (16, 500.0, 45.0)]}
GPU = variant("gpu", accelerators=L4)
KEY = ("gpu", "l4")


def running(replicas: int, ready: int | None = None) -> CurrentDeployment:
    """A deployment of GPU's shape running at its tuned batching."""
    return CurrentDeployment(
        replicas=replicas,
        ready_replicas=replicas if ready is None else ready,
        # Batch 8 runs 20 ms: with one batch ahead that fills 0.8 x 50 ms, no room to delay.
        batching=BatchConfig(max_batch_size=8, max_queue_delay_us=0, preferred_batch_sizes=(8,)),
    )
