"""The Pod objects the node agent writes: manifest, status and Prometheus target labels (pure)."""

from __future__ import annotations

import time
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


def pod_status(*, phase: str, ready: bool, reason: str) -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
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
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": reason,
                "lastTransitionTime": stamp,
            },
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
