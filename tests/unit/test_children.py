"""children.py: a live child matches its desired object despite what the API server adds, and
every change someone makes to a field the operator owns is drift."""

from __future__ import annotations

import copy
from typing import Any

from tests.integration import objects as o
from tests.unit.test_manifests import OWNER, POOLS, allocation, spec

from infercost.controller.children import (
    MISSING,
    PLAN_CHANGED,
    LiveChildren,
    after_apply,
    check,
    owned_view,
)
from infercost.manifests import ManifestSettings, children


def desired() -> list[dict[str, Any]]:
    return children(
        owner=OWNER,
        spec=spec(o.NEURON_VARIANT),
        pools=POOLS,
        allocations=[allocation("neuron-bf16", "inf2-xlarge")],
        settings=ManifestSettings(network_policy=True),
        with_pod_monitor=True,
    )


def served(obj: dict[str, Any], version: str = "7") -> dict[str, Any]:
    """The object as an API server returns it: identity, defaults, status, managedFields."""
    live = copy.deepcopy(obj)
    live["metadata"].update(uid="c-1", resourceVersion=version, managedFields=[{"manager": "x"}])
    live["status"] = {"observedGeneration": 1}
    if live["kind"] == "Deployment":
        pod = live["spec"]["template"]["spec"]
        pod.update(restartPolicy="Always", dnsPolicy="ClusterFirst")
        pod["containers"][0]["imagePullPolicy"] = "IfNotPresent"
        live["spec"]["revisionHistoryLimit"] = 10
    return live


def test_a_served_child_matches_and_is_then_judged_by_its_version_alone() -> None:
    for obj in desired():
        why, synced = check(obj, served(obj), None)
        assert why is None, obj["kind"]
        assert synced is not None
        assert check(obj, served(obj), synced) == (None, synced)


def test_scaled_edited_relabelled_and_missing_children_are_drift() -> None:
    dep = next(obj for obj in desired() if obj["kind"] == "Deployment")
    _, synced = check(dep, served(dep), None)
    scaled = served(dep, "8")
    scaled["spec"]["replicas"] = 5
    assert check(dep, scaled, synced)[0] == "spec.replicas changed"
    edited = served(dep, "9")
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "evil:1"
    assert check(dep, edited, synced)[0] == "spec.template changed"
    relabelled = served(dep, "10")
    del relabelled["metadata"]["labels"]["app.kubernetes.io/part-of"]
    assert check(dep, relabelled, synced)[0] == "metadata changed"
    assert check(dep, None, synced)[0] == MISSING
    other_plan = served(dep, "11")
    other_plan["metadata"]["annotations"]["infercost.io/applied-hash"] = "0000"
    assert check(dep, other_plan, synced)[0] == PLAN_CHANGED


def test_a_container_another_manager_added_is_not_drift() -> None:
    dep = next(obj for obj in desired() if obj["kind"] == "Deployment")
    live = served(dep)
    live["spec"]["template"]["spec"]["containers"].insert(0, {"name": "sidecar", "image": "s"})
    assert check(dep, live, None)[0] is None


def test_a_value_the_server_rewrote_matches_after_our_apply_only() -> None:
    """A quantity in canonical form ("8Gi" -> "8192Mi") differs from what was applied; once
    our apply returned it, that rendering is ours, and a later edit is still drift."""
    dep = next(obj for obj in desired() if obj["kind"] == "Deployment")
    rewritten = served(dep)
    rewritten["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "x"
    assert check(dep, rewritten, None)[0] == "spec.template changed"  # after a restart: write
    synced = after_apply(dep, rewritten)
    later = copy.deepcopy(rewritten)
    later["metadata"]["resourceVersion"] = "8"
    assert check(dep, later, synced)[0] is None
    later["spec"]["replicas"] = 9
    assert "spec.replicas" in str(check(dep, later, synced)[0])


def test_owned_view_keeps_only_desired_fields_and_matches_named_items_by_name() -> None:
    live = {"a": 1, "b": {"c": 2, "d": 3}, "l": [{"name": "y", "v": 2}, {"name": "x", "v": 1}]}
    want = {"b": {"c": 2}, "l": [{"name": "x", "v": 1}], "e": None}
    assert owned_view(live, want) == {"b": {"c": 2}, "l": [{"name": "x", "v": 1}], "e": None}


def test_live_children_are_indexed_by_owner_uid() -> None:
    cache = LiveChildren()
    obj = desired()[0]
    cache.seen(obj["kind"], served(obj))
    assert list(cache.owned("ml", "u-1")) == [(obj["kind"], obj["metadata"]["name"])]
    assert (
        "managedFields"
        not in cache.owned("ml", "u-1")[(obj["kind"], obj["metadata"]["name"])]["metadata"]
    )
    orphan = served(obj)
    orphan["metadata"]["name"] = "orphan"
    del orphan["metadata"]["ownerReferences"]
    cache.seen(obj["kind"], orphan)
    assert len(cache.owned("ml", "u-1")) == 1
    cache.gone(obj["kind"], "ml", obj["metadata"]["name"])
    assert cache.owned("ml", "u-1") == {}
