"""Level-triggered children: what someone changes by hand is put back, what is no longer
wanted is deleted, and a steady service costs no write.

A `kubectl scale` (spec.replicas patched), an edited pod template and deleted Service,
ConfigMap and PodDisruptionBudget are each repaired within one control interval; a
NetworkPolicy left from a run with INFERCOST_NETWORK_POLICY=true, and owned children of every
kind an older operator left under other names, are deleted after a restart, while a labelled
object the service does not own is left alone. Rounds are counted (conftest's
`rounds_pass`), never slept.
"""

from __future__ import annotations

from typing import Any

import pytest

from infercost.manifests import ANNOTATION_HASH
from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OPERATOR_AGENTS, Operator, OperatorFactory, call, eventually
from tests.integration.test_control_loop import make_ready
from tests.integration.test_placement import deployments

pytestmark = pytest.mark.integration
CORE = f"/api/v1/namespaces/{o.NS}"
KINDS = {
    "Service": f"{CORE}/services",
    "ConfigMap": f"{CORE}/configmaps",
    "PodDisruptionBudget": f"/apis/policy/v1/namespaces/{o.NS}/poddisruptionbudgets",
    "PodMonitor": f"/apis/monitoring.coreos.com/v1/namespaces/{o.NS}/podmonitors",
    "NetworkPolicy": f"/apis/networking.k8s.io/v1/namespaces/{o.NS}/networkpolicies",
}
SELECTOR = {"labelSelector": "infercost.io/service=bert"}


async def listed(api: ApiServer, kind: str) -> list[dict[str, Any]]:
    return list((await call(api, "GET", KINDS[kind], params=SELECTOR))["items"])


async def settled(api: ApiServer, operator: Operator) -> None:
    """Wait for a round that wrote nothing: the first placement's tail is over."""

    async def quiet() -> bool:
        before = api.writes(agents=OPERATOR_AGENTS)
        await operator.rounds_pass(o.NS, "bert", count=1)
        return api.writes(agents=OPERATOR_AGENTS) == before

    await eventually(quiet, what="a round without writes")


async def repaired_within(operator: Operator, check: Any, *, what: str, rounds: int = 2) -> int:
    """The rounds it took until `check` holds; at most `rounds` (the round already under way
    when the change was made may have read the picture before it, so the next one repairs)."""
    start = operator.rounds[(o.NS, "bert")]
    await eventually(check, what=what)
    taken = operator.rounds[(o.NS, "bert")] - start
    assert taken <= rounds, f"{what}: repaired only after {taken} rounds"
    return taken


async def start_bert(api: ApiServer, start_operator: OperatorFactory, **settings: Any) -> Operator:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator(**settings)
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics
    await eventually(lambda: deployments(api, "bert"), what="first placement")
    await make_ready(api, "bert")
    await settled(api, operator)
    return operator


async def test_scaled_edited_and_deleted_children_are_restored_and_steady_writes_nothing(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    operator = await start_bert(api, start_operator)
    (dep,) = await deployments(api, "bert")
    name, replicas = dep["metadata"]["name"], dep["spec"]["replicas"]
    image = dep["spec"]["template"]["spec"]["containers"][0]["image"]

    # kubectl scale: replicas by hand.
    await call(api, "PATCH", f"{o.DEPLOYMENTS}/{name}", {"spec": {"replicas": replicas + 3}})

    async def replicas_back() -> bool:
        return [d["spec"]["replicas"] for d in await deployments(api, "bert")] == [replicas]

    scaled = await repaired_within(operator, replicas_back, what="replicas restored")

    # kubectl edit: the template's image.
    edited = dict(dep["spec"]["template"]["spec"]["containers"][0], image="evil.example/x:1")
    patch = {"spec": {"template": {"spec": {"containers": [edited]}}}}
    await call(api, "PATCH", f"{o.DEPLOYMENTS}/{name}", patch)

    async def image_back() -> bool:
        (now,) = await deployments(api, "bert")
        return bool(now["spec"]["template"]["spec"]["containers"][0]["image"] == image)

    templated = await repaired_within(operator, image_back, what="template restored")

    # kubectl delete of the shared children.
    before = {kind: await listed(api, kind) for kind in ("Service", "ConfigMap")}
    before["PodDisruptionBudget"] = await listed(api, "PodDisruptionBudget")
    for kind, (child,) in before.items():
        await call(api, "DELETE", f"{KINDS[kind]}/{child['metadata']['name']}")

    async def recreated() -> bool:
        for kind, (child,) in before.items():
            now = await listed(api, kind)
            if len(now) != 1 or now[0]["metadata"]["uid"] == child["metadata"]["uid"]:
                return False
            assert now[0].get("spec", now[0].get("data")) == child.get("spec", child.get("data"))
            hashes = (now[0]["metadata"]["annotations"], child["metadata"]["annotations"])
            assert hashes[0][ANNOTATION_HASH] == hashes[1][ANNOTATION_HASH]
        return True

    deleted = await repaired_within(operator, recreated, what="children recreated")
    print(f"repaired after rounds: scale {scaled}, template {templated}, deletion {deleted}")

    # Steady: several rounds, not one write (children, status, pool status, Events).
    await settled(api, operator)
    writes = api.writes(agents=OPERATOR_AGENTS)
    await operator.rounds_pass(o.NS, "bert", count=4)
    assert api.writes(agents=OPERATOR_AGENTS) == writes


def leftover(kind: str, name: str, owner: dict[str, Any], *, owned: bool = True) -> dict[str, Any]:
    """A child an older operator left under another name (or, not owned, someone else's)."""
    api_version = {
        "Service": "v1",
        "ConfigMap": "v1",
        "PodDisruptionBudget": "policy/v1",
        "PodMonitor": "monitoring.coreos.com/v1",
    }[kind]
    meta: dict[str, Any] = {
        "name": name,
        "namespace": o.NS,
        "labels": {"infercost.io/service": "bert"},
    }
    if owned:
        meta["ownerReferences"] = [
            {
                "apiVersion": "infercost.io/v1alpha1",
                "kind": "InferenceService",
                "name": "bert",
                "uid": owner["metadata"]["uid"],
                "controller": True,
            }
        ]
    body: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    if kind == "ConfigMap":
        body["data"] = {"old.pbtxt": "max_batch_size: 1\n"}
    else:  # each a valid object of its kind: the API server validates every write
        selector = {"matchLabels": {"infercost.io/service": "bert"}}
        body["spec"] = {
            "Service": {"selector": selector["matchLabels"], "ports": [{"port": 8000}]},
            "PodDisruptionBudget": {"selector": selector, "maxUnavailable": 1},
            "PodMonitor": {"selector": selector, "podMetricsEndpoints": [{"port": "metrics"}]},
        }[kind]
    return body


async def test_unwanted_children_of_every_kind_are_deleted_after_a_restart(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    second = await unwanted_children_deleted(api, start_operator)
    await second.rounds_pass(o.NS, "bert", count=2)
    names = {c["metadata"]["name"] for c in await listed(api, "ConfigMap")}
    assert "mine" in names  # a labelled object the service does not own is not touched


async def unwanted_children_deleted(api: ApiServer, start_operator: OperatorFactory) -> Operator:
    """NetworkPolicy turned off and owned leftovers of every other kind: after a restart all
    are deleted, a labelled ConfigMap the service does not own is not (also the RBAC test's
    workload for `delete`). Returns the restarted operator, still running."""
    first = await start_bert(api, start_operator, network_policy=True)
    (policy,) = await eventually(lambda: listed(api, "NetworkPolicy"), what="NetworkPolicy")
    await first.stop()
    owner = await call(api, "GET", f"{o.ISVC}/bert")
    for kind in ("Service", "ConfigMap", "PodDisruptionBudget", "PodMonitor"):
        await call(api, "POST", KINDS[kind], leftover(kind, "bert-old", owner))
    await call(api, "POST", KINDS["ConfigMap"], leftover("ConfigMap", "mine", owner, owned=False))

    second = await start_operator(network_policy=False, metrics=first.metrics)

    async def only_wanted() -> bool:
        names = {kind: {c["metadata"]["name"] for c in await listed(api, kind)} for kind in KINDS}
        return (
            not names["NetworkPolicy"]
            and all("bert-old" not in found for found in names.values())
            and "mine" in names["ConfigMap"]
        )

    await eventually(only_wanted, what="unwanted children deleted")
    assert policy["metadata"]["name"]  # the one the first process applied is the one gone
    return second
