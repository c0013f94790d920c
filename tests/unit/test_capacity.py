"""controller/capacity.py: Pods, Nodes and the autoscaler's Events into lost replicas per
(variant, pool)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from infercost.controller.capacity import Capacity
from infercost.controller.verdicts import Words
from infercost.settings import Settings

pytestmark = pytest.mark.unit
NOW = 1_800_000_000.0
SERVICE = ("ml", "bert")


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def pod(name: str, *, node: str | None = None, unschedulable_at: float | None = None) -> Any:
    conditions = []
    if unschedulable_at is not None:
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "lastTransitionTime": stamp(unschedulable_at),
            }
        )
    labels = {
        "infercost.io/service": "bert",
        "infercost.io/variant": "gpu",
        "infercost.io/pool": "spot",
    }
    return {
        "metadata": {"name": name, "namespace": "ml", "labels": labels, "uid": f"uid-{name}"},
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": "Running" if node else "Pending", "conditions": conditions},
    }


def node(name: str, *, taint: str | None = None, cordoned: bool = False) -> Any:
    spec: dict[str, Any] = {"unschedulable": cordoned}
    if taint:
        spec["taints"] = [{"key": taint, "effect": "NoSchedule"}]
    return {"metadata": {"name": name}, "spec": spec}


def test_unschedulable_counts_only_past_provisioning_and_grace() -> None:
    capacity = Capacity(grace_seconds=60.0)
    capacity.pod_seen(pod("a", unschedulable_at=NOW - 100), now=NOW)
    capacity.pod_seen(pod("b", unschedulable_at=NOW - 500), now=NOW)
    counts = capacity.counts(SERVICE, now=NOW, provisioning={"spot": 120.0})
    assert counts == {("gpu", "spot"): (1, 0)}  # 100 s < 120 + 60 < 500 s
    assert capacity.counts(("ml", "other"), now=NOW, provisioning={"spot": 120.0}) == {}


def test_a_disruption_taint_or_cordon_counts_the_pods_on_the_node() -> None:
    capacity = Capacity(disruption_taints=["aws-node-termination-handler/spot-itn"])
    for name in ("n1", "n2", "n3"):
        capacity.node_seen(node(name), now=NOW)
        capacity.pod_seen(pod(f"p-{name}", node=name), now=NOW)
    assert capacity.node_seen(node("n1", taint="aws-node-termination-handler/spot-itn"), now=NOW)
    assert capacity.node_seen(node("n2", cordoned=True), now=NOW) == {SERVICE}
    assert not capacity.node_seen(node("n3", taint="example.com/other"), now=NOW)
    assert capacity.counts(SERVICE, now=NOW, provisioning={}) == {("gpu", "spot"): (0, 2)}


def test_a_node_lost_without_notice_counts_its_pods_replacements() -> None:
    capacity = Capacity(grace_seconds=60.0)
    capacity.pod_seen(pod("p1", node="n1"), now=NOW)
    assert capacity.node_gone("n1", now=NOW) == {SERVICE}
    capacity.pod_gone("ml", "p1", now=NOW)
    capacity.pod_seen(pod("p2", unschedulable_at=NOW), now=NOW)  # the ReplicaSet's new pod
    assert capacity.counts(SERVICE, now=NOW + 1, provisioning={"spot": 30.0}) == {
        ("gpu", "spot"): (0, 1)
    }
    # Past the pool's grace the reclaim is forgotten; still no node: the pool is full.
    later = NOW + 30.0 + 60.0 + 1.0
    assert capacity.counts(SERVICE, now=later, provisioning={"spot": 30.0}) == {
        ("gpu", "spot"): (1, 0)
    }


WORDS = Words.of(
    refusals=Settings().autoscaler_refusal_events, scale_ups=Settings().autoscaler_scale_up_events
)
PROVISIONING = {"spot": 180.0}  # + 60 s grace: the time path would wait 240 s


def event(
    pod_name: str,
    *,
    at: float,
    reason: str = "NotTriggerScaleUp",
    component: str = "cluster-autoscaler",
    uid: str | None = None,
) -> Any:
    """A core/v1 Event on a Pod as client-go's legacy recorder writes it."""
    return {
        "metadata": {"name": f"{pod_name}.{int(at * 1e9):x}", "namespace": "ml"},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod_name,
            "namespace": "ml",
            "uid": f"uid-{pod_name}" if uid is None else uid,
        },
        "reason": reason,
        "message": "pod didn't trigger scale-up: 1 max node group size reached",
        "type": "Normal",
        "source": {"component": component},
        "firstTimestamp": stamp(at),
        "lastTimestamp": stamp(at),
        "count": 1,
    }


def refusing_capacity() -> Capacity:
    return Capacity(grace_seconds=60.0, words=WORDS, verdict_seconds=360.0)


def test_an_autoscaler_refusal_counts_an_unschedulable_pod_at_once() -> None:
    capacity = refusing_capacity()
    capacity.pod_seen(pod("a", unschedulable_at=NOW - 5), now=NOW)
    capacity.pod_seen(pod("b", unschedulable_at=NOW - 5), now=NOW)
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {}  # 5 s < 240 s
    assert capacity.event_seen(event("a", at=NOW - 1), now=NOW) == SERVICE  # re-plan now
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {("gpu", "spot"): (1, 0)}
    # The same word repeated (count and lastTimestamp patched) asks for no new re-plan.
    assert capacity.event_seen(event("a", at=NOW), now=NOW) is None
    # Karpenter's "no" counts the same; the kube-scheduler's FailedScheduling is no verdict.
    scheduler_says = event("b", at=NOW, reason="FailedScheduling", component="default-scheduler")
    assert capacity.event_seen(scheduler_says, now=NOW) is None
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {("gpu", "spot"): (1, 0)}
    karpenter_says = event("b", at=NOW, reason="FailedScheduling", component="karpenter")
    assert capacity.event_seen(karpenter_says, now=NOW) == SERVICE
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {("gpu", "spot"): (2, 0)}


def test_another_pods_refusal_is_ignored_and_not_kept_past_its_time() -> None:
    capacity = refusing_capacity()
    capacity.pod_seen(pod("a", unschedulable_at=NOW - 5), now=NOW)
    assert capacity.event_seen(event("someone-elses", at=NOW), now=NOW) is None
    same_name_other_uid = event("a", at=NOW, uid="uid-of-an-earlier-pod-a")
    assert capacity.event_seen(same_name_other_uid, now=NOW) is None
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {}
    # Neither is remembered past the verdict's time: the memory stays bounded, with no
    # reconcile to prune it too (an operator with no services still reads every event).
    later = event("yet-another", at=NOW + 361.0, reason="Pulled", component="kubelet")
    assert capacity.event_seen(later, now=NOW + 361.0) is None  # no verdict: nothing kept
    assert set(capacity.verdicts) == {("ml", "someone-elses"), ("ml", "a")}
    capacity.event_seen(event("yet-another", at=NOW + 361.0), now=NOW + 361.0)
    assert set(capacity.verdicts) == {("ml", "yet-another")}
    capacity.counts(SERVICE, now=NOW + 800.0, provisioning={"spot": 3600.0})
    assert capacity.verdicts == {}


def test_a_stale_refusal_or_one_overruled_by_a_scale_up_does_not_count() -> None:
    capacity = refusing_capacity()
    capacity.pod_seen(pod("a", unschedulable_at=NOW - 5), now=NOW)
    assert capacity.event_seen(event("a", at=NOW - 400), now=NOW) is None  # 400 s > 360 s
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {}
    capacity.event_seen(event("a", at=NOW - 10), now=NOW)
    capacity.event_seen(event("a", at=NOW - 2, reason="TriggeredScaleUp"), now=NOW)
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {}
    # The older refusal listed again (a relist after a restart) does not overrule it back.
    assert capacity.event_seen(event("a", at=NOW - 10), now=NOW) is None
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {}
    # A refusal stops counting once it is older than verdict_seconds (still Unschedulable,
    # still within provisioning + grace of a long-provisioning pool).
    capacity.event_seen(event("a", at=NOW), now=NOW)
    assert capacity.counts(SERVICE, now=NOW + 300, provisioning={"spot": 3600.0})
    assert capacity.counts(SERVICE, now=NOW + 361, provisioning={"spot": 3600.0}) == {}


def test_a_scheduled_pod_clears_the_refusal() -> None:
    capacity = refusing_capacity()
    capacity.pod_seen(pod("a", unschedulable_at=NOW - 5), now=NOW)
    capacity.event_seen(event("a", at=NOW), now=NOW)
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {("gpu", "spot"): (1, 0)}
    capacity.pod_seen(pod("a", node="n1"), now=NOW + 1)  # a node came after all
    assert capacity.verdicts == {}
    assert capacity.counts(SERVICE, now=NOW + 1, provisioning=PROVISIONING) == {}
    capacity.pod_seen(pod("b", unschedulable_at=NOW - 5), now=NOW)
    capacity.event_seen(event("b", at=NOW), now=NOW)
    capacity.pod_gone("ml", "b", now=NOW + 1)  # scaled away
    assert capacity.verdicts == {}


def test_a_refusal_seen_before_its_pod_counts_once_the_pod_is_seen() -> None:
    capacity = refusing_capacity()
    assert capacity.event_seen(event("a", at=NOW), now=NOW) is None  # the Pod watch lags
    capacity.pod_seen(pod("a", unschedulable_at=NOW - 5), now=NOW)
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {("gpu", "spot"): (1, 0)}


def test_an_events_k8s_io_event_is_read_the_same() -> None:
    """An event written through events.k8s.io/v1, as the core/v1 watch shows it: no source,
    the component in reportingComponent, the time in series.lastObservedTime / eventTime."""
    capacity = refusing_capacity()
    capacity.pod_seen(pod("a", unschedulable_at=NOW - 5), now=NOW)
    body = event("a", at=NOW - 1000, reason="FailedScheduling", component="")
    body.pop("source")
    del body["firstTimestamp"], body["lastTimestamp"]
    body["reportingComponent"] = "karpenter"
    body["eventTime"] = stamp(NOW - 1000).replace("Z", ".000000Z")
    body["series"] = {"count": 3, "lastObservedTime": stamp(NOW - 3).replace("Z", ".123456Z")}
    assert capacity.event_seen(body, now=NOW) == SERVICE
    assert capacity.counts(SERVICE, now=NOW, provisioning=PROVISIONING) == {("gpu", "spot"): (1, 0)}
