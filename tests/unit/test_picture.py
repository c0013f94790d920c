"""The operator's picture of the cluster: a pool's replicas used by other services follow the
Deployments as they are created, scaled and deleted (kept as they change, not recounted)."""

from __future__ import annotations

from typing import Any

from infercost import manifests
from infercost.controller.picture import Picture

POOL = "g5-xlarge"


def pool() -> dict[str, Any]:
    return {
        "metadata": {"name": POOL},
        "spec": {
            "accelerator": {"type": "nvidia-a10g", "resourceName": "nvidia.com/gpu"},
            "nodeSelector": {"node.kubernetes.io/instance-type": "g5.xlarge"},
            "pricing": {"hourlyPerNode": 1.006},
        },
    }


def deployment(service: str, replicas: int, *, pool: str | None = POOL) -> dict[str, Any]:
    labels = {manifests.LABEL_SERVICE: manifests.short_name(service)}
    if pool is not None:
        labels[manifests.LABEL_POOL] = manifests.short_name(pool)
    return {
        "metadata": {"namespace": "ml", "name": f"{service}-gpu-{pool}", "labels": labels},
        "spec": {"replicas": replicas},
    }


def used_by_others(picture: Picture, service: str) -> int:
    (view,) = picture.pool_views(("ml", service))
    return view.replicas_used_by_others


def test_other_services_replicas_follow_their_deployments() -> None:
    picture = Picture()
    picture.pool_seen(pool())
    picture.deployment_seen(deployment("a", 2))
    picture.deployment_seen(deployment("b", 3))
    assert (used_by_others(picture, "a"), used_by_others(picture, "b")) == (3, 2)
    picture.deployment_seen(deployment("b", 5))  # scaled: the old count is taken back
    assert used_by_others(picture, "a") == 5
    picture.deployment_gone("ml", "b-gpu-g5-xlarge")
    assert used_by_others(picture, "a") == 0
    assert picture.pool_totals()[manifests.short_name(POOL)] == 2
    picture.deployment_gone("ml", "b-gpu-g5-xlarge")  # a second delete event changes nothing
    assert picture.pool_totals()[manifests.short_name(POOL)] == 2
