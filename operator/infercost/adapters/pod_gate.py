"""The batching readiness gate of a Triton pod: read from its conditions, opened by the operator.

Kubernetes counts a pod Ready only when its containers are ready and every readiness gate's
pod condition is True. The operator writes its condition through the `pods/status`
subresource with a JSON patch that touches only that one list item (a `test` on its type
first), so the kubelet's own conditions are never overwritten; when the pod has no
conditions yet, the patch is guarded by the resourceVersion it was read at instead.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from infercost.adapters.kubernetes import KubeApi
from infercost.manifests.triton_access import BATCHING_GATE

GATE_REASON = "BatchingLoaded"


def condition(pod: Mapping[str, Any], kind: str) -> str | None:
    """The status ("True", "False", "Unknown") of one pod condition; None when absent."""
    for item in (pod.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return str(item.get("status"))
    return None


def awaiting(pod: Mapping[str, Any]) -> bool:
    """The pod declares the batching gate and it is not open yet: it serves nothing so far."""
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    declared = any(g.get("conditionType") == BATCHING_GATE for g in gates)
    return declared and condition(pod, BATCHING_GATE) != "True"


def starting(pod: Mapping[str, Any]) -> bool:
    """The kubelet says its containers are not ready: Triton is still loading (or restarting)."""
    return condition(pod, "ContainersReady") == "False"


def gate_patch(pod: Mapping[str, Any], *, message: str, now: str) -> list[dict[str, Any]]:
    """JSON patch operations that set the gate's condition True on `pod` as it was read."""
    value = {
        "type": BATCHING_GATE,
        "status": "True",
        "reason": GATE_REASON,
        "message": message,
        "lastTransitionTime": now,
    }
    conditions = (pod.get("status") or {}).get("conditions") or []
    index = next((i for i, c in enumerate(conditions) if c.get("type") == BATCHING_GATE), None)
    if index is not None:
        where = f"/status/conditions/{index}"
        return [
            {"op": "test", "path": f"{where}/type", "value": BATCHING_GATE},
            {"op": "replace", "path": where, "value": value},
        ]
    if conditions:
        return [{"op": "add", "path": "/status/conditions/-", "value": value}]
    version = pod["metadata"].get("resourceVersion")
    guard = [{"op": "test", "path": "/metadata/resourceVersion", "value": version}]
    return [
        *(guard if version else []),
        {"op": "add", "path": "/status/conditions", "value": [value]},
    ]


async def open_gate(api: KubeApi, pod: Mapping[str, Any], *, message: str) -> None:
    """Set the pod's batching condition True (ApiError when the pod changed meanwhile)."""
    now = datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta = pod["metadata"]
    await api.patch_json(
        "Pod",
        namespace=meta["namespace"],
        name=meta["name"],
        operations=gate_patch(pod, message=message, now=now),
        sub="status",
    )
