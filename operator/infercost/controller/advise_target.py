"""Advise mode's reading of what runs now: the target Deployment, its pods, their pool.

Read only, by construction: `Reader` has `list` and nothing else, and the advisor holds no
other handle on the API (advise.py). Reads follow the operator's RBAC rules (list, never
get): the Deployment by a `metadata.name` field selector, its pods by its selector, each of
their nodes by name. A pod's node belongs to the AcceleratorPool whose `nodeSelector` its
labels carry (the most specific one when several do); with no pod on a node yet, the pool is
the one the pod template's `nodeSelector` names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from infercost.engine.model import PoolView

TARGET_NOT_FOUND = "TargetNotFound"
TARGET_NOT_TRITON = "TargetNotTriton"
TRITON = "tritonserver"  # in the image name or the command of a container that runs Triton


class Reader(Protocol):
    async def list(
        self,
        kind: str,
        *,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, kw_only=True)
class Target:
    """The target as read, or the reason it cannot be advised on (`problem`)."""

    name: str
    problem: tuple[str, str] | None = None  # (condition reason, message)
    deployment: Mapping[str, Any] = field(default_factory=dict)
    container: Mapping[str, Any] = field(default_factory=dict)  # the Triton container
    pods: Sequence[Mapping[str, Any]] = ()  # live pods of the Deployment
    pool: PoolView | None = None

    @property
    def replicas(self) -> int:
        replicas = (self.deployment.get("spec") or {}).get("replicas")
        return 1 if replicas is None else int(replicas)  # Kubernetes' default is 1

    @property
    def ready_replicas(self) -> int:
        return int((self.deployment.get("status") or {}).get("readyReplicas") or 0)


async def read_target(
    reader: Reader, *, namespace: str, name: str, pools: Sequence[PoolView]
) -> Target:
    found = await reader.list(
        "Deployment", namespace=namespace, field_selector=f"metadata.name={name}"
    )
    if not found:
        message = f"Deployment {namespace}/{name} (spec.advise.targetRef) does not exist"
        return Target(name=name, problem=(TARGET_NOT_FOUND, message))
    deployment = found[0]
    template = (deployment.get("spec") or {}).get("template") or {}
    container = triton_container(template)
    if container is None:
        message = (
            f"Deployment {namespace}/{name} runs no Triton: no container's image or command "
            f"names {TRITON}"
        )
        return Target(name=name, problem=(TARGET_NOT_TRITON, message), deployment=deployment)
    selector = label_selector((deployment.get("spec") or {}).get("selector") or {})
    pods = await reader.list("Pod", namespace=namespace, label_selector=selector)
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    live.sort(key=lambda p: str(p["metadata"]["name"]))
    node_labels = []
    for node in sorted({n for p in live if (n := (p.get("spec") or {}).get("nodeName"))}):
        nodes = await reader.list("Node", namespace=None, field_selector=f"metadata.name={node}")
        if nodes:
            node_labels.append(nodes[0]["metadata"].get("labels") or {})
    if not node_labels:  # nothing scheduled yet: where the template asks to be
        node_labels.append((template.get("spec") or {}).get("nodeSelector") or {})
    return Target(
        name=name,
        deployment=deployment,
        container=container,
        pods=live,
        pool=pool_of(node_labels, pools),
    )


def triton_container(template: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for container in (template.get("spec") or {}).get("containers") or []:
        words = [container.get("image") or "", *(container.get("command") or [])]
        words += container.get("args") or []
        if any(TRITON in str(word) for word in words):
            return dict(container)
    return None


def label_selector(selector: Mapping[str, Any]) -> str:
    """A LabelSelector (matchLabels, matchExpressions) as the API's labelSelector text."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = ",".join(expression.get("values") or [])
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[operator]
        )
    return ",".join(parts)


def pool_of(node_labels: Sequence[Mapping[str, str]], pools: Sequence[PoolView]) -> PoolView | None:
    """The pool of the first node some pool's nodeSelector matches (most specific first)."""
    ranked = sorted(pools, key=lambda p: (-len(p.spec.node_selector), p.name))
    for labels in node_labels:
        for pool in ranked:
            if all(labels.get(k) == v for k, v in pool.spec.node_selector.items()):
                return pool
    return None


def quantity(text: Any) -> float | None:
    """A resource quantity as a number of units (`2`, `500m`, `1.5`); None if not a count."""
    value = str(text).strip()
    try:
        return float(value[:-1]) / 1000 if value.endswith("m") else float(value)
    except ValueError:
        return None


def hourly_cost(target: Target) -> tuple[float | None, str]:
    """What the target's replicas cost per hour at its pool's price, or why unknown."""
    pool = target.pool
    if pool is None:
        return None, "its nodes match no AcceleratorPool's nodeSelector: cost unknown"
    resource = pool.spec.accelerator.resource_name
    resources = target.container.get("resources") or {}
    asked = (resources.get("requests") or {}).get(resource)
    if asked is None:
        asked = (resources.get("limits") or {}).get(resource)
    count = quantity(asked) if asked is not None else None
    if count is None:
        return None, (
            f"its Triton container requests no {resource} (pool {pool.name}'s accelerator "
            "resource): its share of a node, so its cost, is unknown"
        )
    share = count / pool.spec.accelerator.per_node
    return target.replicas * pool.hourly_per_node * share, ""
