"""What the node autoscaler said about a pending Pod, read from its Kubernetes Events (pure).

Both autoscalers write core/v1 Events on the Pod (client-go's legacy recorder; kubectl shows
them under the Pod's Events, "From" the component):

* cluster-autoscaler (`processors/status/eventing_scale_up_processor.go`): reason
  `NotTriggerScaleUp`, type Normal, "pod didn't trigger scale-up: 1 max node group size
  reached, ..." when no node group can be grown for the pod (at its max size, in back-off,
  the pod fits no group); `TriggeredScaleUp` ("pod triggered scale-up: [...]") when it adds
  a node. Source component `cluster-autoscaler`. Its recorder lets through one event per
  Pod per 5 minutes, whatever the reason (burst 1, 1/300 s), so its first word about a new
  Pod always arrives and a standing "no" is repeated (count and lastTimestamp) every ~5 min.
* Karpenter v1 (`provisioning/scheduling/events.go`): reason `FailedScheduling`, type
  Warning, "Failed to schedule pod, incompatible with nodepool ..." / "... exceed limits for
  nodepool ..." when no NodePool can launch a node for it; `Nominated` ("Pod should schedule
  on: nodeclaim/...") when it will. Source component `karpenter`, deduplicated per Pod for
  5 minutes (Nominated: 2). The kube-scheduler's own `FailedScheduling` (component
  `default-scheduler`) only says no node fits NOW and is not a verdict.

A Karpenter NodeClaim that fails to launch (`InsufficientCapacityError` event on the
NodeClaim, which is then deleted; `Launched=Unknown, LaunchFailed`) is not read: Karpenter
marks the offering unavailable and simulates the pods again, and only when nothing is left
do the pods get the `FailedScheduling` above, which is the verdict that counts.

Events written through events.k8s.io/v1 are the same objects: in the core/v1 view their
component is `reportingComponent` and their time `eventTime` / `series.lastObservedTime`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

PodKey = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Verdict:
    """The autoscaler's latest word about one Pod."""

    uid: str  # the Pod's uid ("" when the event names none)
    refused: bool  # True: no node will be added for it; False: a node is on its way
    at: float  # when it was last said (epoch seconds)
    said_by: str  # "<component>/<reason>"
    message: str


@dataclass(frozen=True)
class Words:
    """The (component, reason) pairs that are a verdict: refusals and scale-ups."""

    refusals: frozenset[str]  # "cluster-autoscaler/NotTriggerScaleUp", ...
    scale_ups: frozenset[str]  # "cluster-autoscaler/TriggeredScaleUp", ...

    @staticmethod
    def of(*, refusals: Collection[str], scale_ups: Collection[str]) -> Words:
        return Words(refusals=frozenset(refusals), scale_ups=frozenset(scale_ups))


def read_verdict(
    body: Mapping[str, Any], *, words: Words, now: float
) -> tuple[PodKey, Verdict] | None:
    """The Pod an Event is about and what the autoscaler said, or None when it says nothing
    of the kind (another component, another reason, not about a Pod)."""
    involved = body.get("involvedObject") or body.get("regarding") or {}
    if involved.get("kind") != "Pod" or not involved.get("name"):
        return None
    component = (body.get("source") or {}).get("component") or (
        body.get("reportingComponent") or body.get("reportingController") or ""
    )
    said_by = f"{component}/{body.get('reason', '')}"
    if said_by in words.refusals:
        refused = True
    elif said_by in words.scale_ups:
        refused = False
    else:
        return None
    namespace = involved.get("namespace") or (body.get("metadata") or {}).get("namespace", "")
    verdict = Verdict(
        uid=str(involved.get("uid") or ""),
        refused=refused,
        at=_last_said(body, now=now),
        said_by=said_by,
        message=str(body.get("message") or body.get("note") or ""),
    )
    return (namespace, involved["name"]), verdict


def _last_said(body: Mapping[str, Any], *, now: float) -> float:
    """The latest time the event was observed: a series' last observation, the deduplicated
    event's lastTimestamp, its eventTime, first timestamp, creation; else now."""
    candidates = (
        (body.get("series") or {}).get("lastObservedTime"),
        body.get("lastTimestamp"),
        body.get("deprecatedLastTimestamp"),
        body.get("eventTime"),
        body.get("firstTimestamp"),
        (body.get("metadata") or {}).get("creationTimestamp"),
    )
    for value in candidates:
        parsed = _parse(value)
        if parsed is not None:
            return parsed
    return now


def _parse(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
