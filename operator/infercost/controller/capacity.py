"""Pool capacity as Pods and Nodes show it: replicas a pool could not schedule, and replicas
on nodes going away. Fed by the Pod and Node watches; read by `Picture.current`.

A full pool shows as Pods Pending with `PodScheduled=False, reason=Unschedulable`: the
scheduler found no node, and the node autoscaler (Karpenter, cluster-autoscaler) found none
to add either. Every new Pod on an autoscaled pool is Unschedulable until its node joins,
so a Pod counts only once it has been so for the pool's `provisioningSeconds` plus
`unschedulable_grace_seconds`. (The Deployment's `ProgressDeadlineExceeded` is no signal:
it is set only for a rollout, not for a scale-up or lost pods; kubernetes#78678, #106697.)
When the node autoscaler has already said it will add no node for the Pod (its Event,
`verdicts.py`: cluster-autoscaler's `NotTriggerScaleUp`, Karpenter's `FailedScheduling`),
the Pod counts at once, for as long as it stays Unschedulable and that word is at most
`verdict_seconds` old and not overruled by a later scale-up; nothing is waited.

A Spot reclaim shows first as the node tainted (Karpenter's `karpenter.sh/disrupted`, the
AWS node termination handler's `aws-node-termination-handler/spot-itn`, ...) or cordoned,
then the node and its pods deleted. Replicas on such a node count as lost from the notice,
so replacements start before the pods go. A node deleted with no notice counts its pool as
reclaimed for the grace: its pods' replacements, Pending there, count as lost at once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from infercost import manifests
from infercost.adapters.metrics import ServiceKey
from infercost.controller.verdicts import PodKey, Verdict, Words, read_verdict

logger = logging.getLogger("infercost")
Counts = tuple[int, int]  # (unschedulable replicas, disrupted replicas)


@dataclass(frozen=True)
class PodFacts:
    """What capacity needs of one Pod of a service."""

    service: ServiceKey  # (namespace, short service label)
    variant: str
    pool: str  # the pool label (manifests.short_name of the pool)
    node: str | None
    unschedulable_since: float | None  # PodScheduled=False, Unschedulable since (epoch s)
    uid: str = ""


class Capacity:
    """Pods of the operator's services and the nodes they run on, as last seen."""

    def __init__(
        self,
        *,
        disruption_taints: Collection[str] = (),
        grace_seconds: float = 60.0,
        words: Words | None = None,
        verdict_seconds: float = 360.0,
    ) -> None:
        self.taints = frozenset(disruption_taints)
        self.grace_seconds = grace_seconds
        self.words = words or Words.of(refusals=(), scale_ups=())
        self.verdict_seconds = verdict_seconds
        # The autoscaler's latest word per pending Pod (ours, or not seen yet), dropped when
        # the Pod schedules or goes, or the word is older than verdict_seconds: bounded by
        # the Pods pending now, whatever the cluster's size or age.
        self.verdicts: dict[PodKey, Verdict] = {}
        self._verdicts_pruned = 0.0  # foreign Pods' words go only by expiry: prune on a timer
        self.pods: dict[tuple[str, str], PodFacts] = {}
        self._by_service: dict[ServiceKey, dict[tuple[str, str], PodFacts]] = {}
        self.disrupted_nodes: set[str] = set()
        self.gone_nodes: dict[str, float] = {}  # node -> when deleted
        self.reclaimed: dict[str, float] = {}  # pool label -> when it last lost a node

    def pod_seen(self, body: Mapping[str, Any], *, now: float) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if meta.get("deletionTimestamp"):
            self._drop(key)  # terminating: its ReplicaSet counts it out already
            return
        labels = meta.get("labels") or {}
        self._drop(key)
        facts = PodFacts(
            service=(meta["namespace"], labels.get(manifests.LABEL_SERVICE, "")),
            variant=labels.get(manifests.LABEL_VARIANT, ""),
            pool=labels.get(manifests.LABEL_POOL, ""),
            node=(body.get("spec") or {}).get("nodeName") or None,
            unschedulable_since=_unschedulable_since(body, now=now),
            uid=str(meta.get("uid") or ""),
        )
        self.pods[key] = facts
        self._by_service.setdefault(facts.service, {})[key] = facts
        if (
            facts.node is not None
            or (body.get("status") or {}).get("phase", "Pending") != "Pending"
        ):
            self.verdicts.pop(key, None)  # scheduled: whatever the autoscaler said is done with

    def event_seen(self, body: Mapping[str, Any], *, now: float) -> ServiceKey | None:
        """Remember an autoscaler's verdict on a Pod; the service to re-plan when it newly
        refuses one of that service's Unschedulable Pods."""
        read = read_verdict(body, words=self.words, now=now)
        if read is None:
            return None
        if now - self._verdicts_pruned > self.verdict_seconds:
            self._expire_verdicts(now=now)
        key, verdict = read
        before = self.verdicts.get(key)
        if before is not None and before.uid == verdict.uid and before.at > verdict.at:
            return None  # an older word arriving late (a relist): the latest stands
        facts = self.pods.get(key)
        if facts is not None and facts.node is not None:
            return None  # already scheduled
        if now - verdict.at > self.verdict_seconds:
            self.verdicts.pop(key, None)
            return None
        counted = facts is not None and self._refused(key, facts, now=now)
        self.verdicts[key] = verdict
        if facts is None or facts.unschedulable_since is None or counted:
            return None  # not ours (or not seen yet), not Unschedulable yet, or nothing new
        if not self._refused(key, facts, now=now):
            return None
        logger.info(
            "%s/%s: %s says no node will come (%s); pool %s counted full",
            *key,
            verdict.said_by,
            verdict.message,
            facts.pool,
        )
        return facts.service

    def _refused(self, key: PodKey, facts: PodFacts, *, now: float) -> bool:
        verdict = self.verdicts.get(key)
        return (
            verdict is not None
            and verdict.refused
            and (not verdict.uid or not facts.uid or verdict.uid == facts.uid)
            and now - verdict.at <= self.verdict_seconds
        )

    def _drop(self, key: tuple[str, str]) -> PodFacts | None:
        facts = self.pods.pop(key, None)
        if facts is not None:
            owned = self._by_service.get(facts.service, {})
            owned.pop(key, None)
            if not owned:
                self._by_service.pop(facts.service, None)
        return facts

    def pod_gone(self, namespace: str, name: str, *, now: float) -> None:
        facts = self._drop((namespace, name))
        self.verdicts.pop((namespace, name), None)
        if facts is not None and facts.node is not None and self._going(facts.node):
            self.reclaimed[facts.pool] = now

    def node_seen(self, body: Mapping[str, Any], *, now: float) -> set[ServiceKey]:
        """Remember a node; the services with pods on it when it is newly going away."""
        name = body["metadata"]["name"]
        spec = body.get("spec") or {}
        going = bool(spec.get("unschedulable")) or any(
            t.get("key") in self.taints for t in spec.get("taints") or []
        )
        if not going:
            self.disrupted_nodes.discard(name)
            return set()
        if name in self.disrupted_nodes:
            return set()
        self.disrupted_nodes.add(name)
        return self._services_on(name, now=now)

    def node_gone(self, name: str, *, now: float) -> set[ServiceKey]:
        """A node deleted: its pods are lost (their deletion follows); the services to re-plan."""
        self.disrupted_nodes.discard(name)
        self.gone_nodes[name] = now
        return self._services_on(name, now=now)

    def _services_on(self, node: str, *, now: float) -> set[ServiceKey]:
        on = [facts for facts in self.pods.values() if facts.node == node]
        for facts in on:
            self.reclaimed[facts.pool] = now
        return {facts.service for facts in on}

    def _going(self, node: str) -> bool:
        return node in self.disrupted_nodes or node in self.gone_nodes

    def counts(
        self, service: ServiceKey, *, now: float, provisioning: Mapping[str, float]
    ) -> dict[tuple[str, str], Counts]:
        """Per (variant, pool label): replicas unschedulable past the pool's grace (its
        provisioning seconds + `grace_seconds`) or refused by the autoscaler, and replicas on
        nodes going away (or Pending on a pool that lost nodes within that grace)."""
        grace = {pool: seconds + self.grace_seconds for pool, seconds in provisioning.items()}
        self._expire(now=now, grace=grace)
        unschedulable: defaultdict[tuple[str, str], int] = defaultdict(int)
        disrupted: defaultdict[tuple[str, str], int] = defaultdict(int)
        for pod_key, facts in self._by_service.get(service, {}).items():
            key = (facts.variant, facts.pool)
            if facts.node is not None:
                if self._going(facts.node):
                    disrupted[key] += 1
            elif facts.pool in self.reclaimed:
                disrupted[key] += 1  # a lost pod's replacement: the pool just lost nodes
            elif facts.unschedulable_since is not None and (
                now - facts.unschedulable_since > grace.get(facts.pool, self.grace_seconds)
                or self._refused(pod_key, facts, now=now)
            ):
                unschedulable[key] += 1
        keys = set(unschedulable) | set(disrupted)
        return {key: (unschedulable[key], disrupted[key]) for key in keys}

    def _expire(self, *, now: float, grace: Mapping[str, float]) -> None:
        """A reclaim counts for its pool's grace; a deleted node is forgotten after an hour
        (its pods' deletions have long been seen)."""
        self.reclaimed = {
            pool: t
            for pool, t in self.reclaimed.items()
            if now - t <= grace.get(pool, self.grace_seconds)
        }
        self.gone_nodes = {n: t for n, t in self.gone_nodes.items() if now - t <= 3600.0}
        self._expire_verdicts(now=now)

    def _expire_verdicts(self, *, now: float) -> None:
        """Forget words older than verdict_seconds (of other Pods, or Pods still pending)."""
        self._verdicts_pruned = now
        if any(now - v.at > self.verdict_seconds for v in self.verdicts.values()):
            self.verdicts = {
                k: v for k, v in self.verdicts.items() if now - v.at <= self.verdict_seconds
            }


def _unschedulable_since(body: Mapping[str, Any], *, now: float) -> float | None:
    """When the scheduler last found no node for a Pending pod, or None."""
    status = body.get("status") or {}
    if status.get("phase", "Pending") != "Pending" or (body.get("spec") or {}).get("nodeName"):
        return None
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            return _timestamp(condition.get("lastTransitionTime"), default=now)
    return None


def _timestamp(value: Any, *, default: float) -> float:
    if not isinstance(value, str):
        return default
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        logger.debug("unreadable lastTransitionTime %r", value)
        return default
