"""The Pod objects the node agent writes: manifest, status and Prometheus target labels (pure)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

PORT_ANNOTATION = "infercost.io/triton-http-port"  # read by the operator's Triton adapter
METRICS_ANNOTATION = "sandbox.infercost.io/metrics-port"


def pod_manifest(deployment: dict[str, Any], *, name: str, ports: Any) -> dict[str, Any]:
    """A Pod of `deployment`'s template, owned by it, with its server's ports annotated."""
    meta, template = deployment["metadata"], deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": dict(template["metadata"].get("labels") or {}),
            "annotations": {
                **(template["metadata"].get("annotations") or {}),
                PORT_ANNOTATION: str(ports.http),
                METRICS_ANNOTATION: str(ports.metrics),
            },
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": template.get("spec") or {},
    }


def pod_status(
    *,
    phase: str,
    ready: bool,
    reason: str,
    containers_ready: bool | None = None,
    kept: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The kubelet's status of a pod; `kept`: conditions others own (readiness gates')."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    containers = ready if containers_ready is None else containers_ready
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False" if reason == "Provisioning" else "True",
                "reason": reason,
                "lastTransitionTime": stamp,
            },
            {
                "type": "ContainersReady",
                "status": "True" if containers else "False",
                "reason": reason,
                "lastTransitionTime": stamp,
            },
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": reason,
                "lastTransitionTime": stamp,
            },
            *(dict(c) for c in kept),
        ],
    }
    if phase == "Running":
        status |= {"podIP": "127.0.0.1", "hostIP": "127.0.0.1"}
    return status


def owner_uid(pod: dict[str, Any]) -> str | None:
    refs = pod["metadata"].get("ownerReferences") or []
    return next((r.get("uid") for r in refs if r.get("kind") == "Deployment"), None)


def target_labels(labels: dict[str, str], *, namespace: str, pod: str, node: str) -> dict[str, str]:
    """The contract labels as Prometheus names them (infercost.io/pool -> infercost_io_pool)."""
    found = {
        k.replace(".", "_").replace("/", "_").replace("-", "_"): v
        for k, v in labels.items()
        if k.startswith("infercost.io/")
    }
    return {**found, "namespace": namespace, "pod": pod, "node": node}


def condition(pod: Mapping[str, Any], kind: str) -> str | None:
    """The status of one pod condition ("True", "False"); None when absent."""
    for item in (pod.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return str(item.get("status"))
    return None


def gate_conditions(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pod's conditions of its readiness gates: set by others, kept by the kubelet."""
    gates = {g.get("conditionType") for g in (pod.get("spec") or {}).get("readinessGates") or []}
    conditions = (pod.get("status") or {}).get("conditions") or []
    return [dict(c) for c in conditions if c.get("type") in gates]


def ready_with_gates(pod: Mapping[str, Any], *, containers_ready: bool) -> bool:
    """Kubernetes' rule: Ready when the containers are ready AND every readiness gate's
    condition is True (a gate whose condition is absent counts as False)."""
    gates = [g.get("conditionType") for g in (pod.get("spec") or {}).get("readinessGates") or []]
    found = {c.get("type"): c.get("status") for c in gate_conditions(pod)}
    return containers_ready and all(found.get(gate) == "True" for gate in gates)


def started_status(pod: Mapping[str, Any], *, ready: bool) -> dict[str, Any]:
    """A running pod's status once its containers are ready, its gates' conditions kept."""
    return pod_status(
        phase="Running",
        ready=ready,
        containers_ready=True,
        reason="Ready" if ready else "ReadinessGatesNotReady",
        kept=gate_conditions(pod),
    )
