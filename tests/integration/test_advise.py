"""Advise mode in the operator: the advice in status and metrics, no writes, bad targets, the
hand-over to Manage.

The embedded operator against the sandbox API server (real HTTP, real watches, the CRDs'
schemas, CEL rules and RBAC enforced). The target's Triton metrics come from FakeMetrics by
pod (FAKE: the test sets each pod's load); the e2e test test_advise_real_metrics.py reads a
real tritonserver's through real Prometheus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kmock
import pytest
import yaml

from infercost.api.crdgen import all_crds
from infercost.engine.model import Observation
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.cluster import kubeconfig
from tests.integration import objects as o
from tests.integration.conftest import (
    Operator,
    OperatorFactory,
    call,
    eventually,
    operator_requests,
)
from tests.integration.test_control_loop import replicas_by_pool
from tests.integration.test_kubectl import KUBECTL, kubectl
from tests.integration.test_placement import condition, status_of

pytestmark = pytest.mark.integration

NODES = "/api/v1/nodes"
PODS = f"/api/v1/namespaces/{o.NS}/pods"
A10G_PRICE = 1.006  # objects.A10G: one nvidia.com/gpu per node
TARGET_REPLICAS = 4
PER_POD_RPS = 500.0


def target(name: str, *, image: str = "nvcr.io/nvidia/tritonserver:24.08-py3") -> dict[str, Any]:
    """A Deployment a user runs Triton with (not infercost's): 4 replicas on g5.xlarge."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": o.NS, "labels": labels},
        "spec": {
            "replicas": TARGET_REPLICAS,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"node.kubernetes.io/instance-type": "g5.xlarge"},
                    "containers": [
                        {
                            "name": "server",
                            "image": image,
                            "resources": {"limits": {"nvidia.com/gpu": "1"}},
                        }
                    ],
                },
            },
        },
    }


def advised(name: str, target_name: str) -> dict[str, Any]:
    body = o.service(
        name, o.GPU_VARIANT, mode="Advise", advise={"targetRef": {"name": target_name}}
    )
    return body


async def run_target(api: ApiServer, name: str) -> list[str]:
    """The target's Deployment, its node and its running pods (the sandbox has no controllers)."""
    await call(api, "POST", o.DEPLOYMENTS, target(name))
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": f"{name}-node",
            "labels": {"node.kubernetes.io/instance-type": "g5.xlarge"},
        },
    }
    await call(api, "POST", NODES, node)
    pods = []
    for i in range(TARGET_REPLICAS):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{name}-{i}", "namespace": o.NS, "labels": {"app": name}},
            "spec": {
                "nodeName": f"{name}-node",
                "containers": [
                    {"name": "server", "image": "nvcr.io/nvidia/tritonserver:24.08-py3"}
                ],
            },
        }
        await call(api, "POST", PODS, pod)
        pods.append(pod["metadata"]["name"])
    return pods


def load(operator: Operator, pods: list[str]) -> None:
    for pod in pods:  # FAKE metrics, by the pod's namespace and name
        operator.metrics.set_pod(
            o.NS, pod, Observation(time=0.0, demand_rps=PER_POD_RPS, p99_latency_ms=8.0)
        )


def only_status_written(api: ApiServer) -> bool:
    """The operator wrote the services' status, kopf's finalizer on them and the pools'
    status: no child, nothing of the target's (every request is recorded by the server)."""
    writes = {
        (verb, group, resource)
        for verb, group, resource, _ in operator_requests(api)
        if verb in ("create", "patch", "delete")
    }
    allowed = {
        ("patch", "infercost.io", "inferenceservices/status"),
        ("patch", "infercost.io", "inferenceservices"),
        ("patch", "infercost.io", "acceleratorpools/status"),
    }
    assert writes <= allowed, writes - allowed
    return True


async def advice_of(api: ApiServer, name: str, key: str = "savingPerHour") -> dict[str, Any] | None:
    advice = (await status_of(api, name)).get("advice") or {}
    return advice if key in advice else None


async def test_advice_reports_placement_and_saving_and_writes_nothing(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.A10G)
    await call(api, "POST", o.POOLS, o.L4)
    pods = await run_target(api, "bert-triton")
    before = await call(api, "GET", f"{o.DEPLOYMENTS}/bert-triton")
    await call(api, "POST", o.ISVC, advised("bert", "bert-triton"))
    operator = await start_operator()
    load(operator, pods)
    advice = await eventually(lambda: advice_of(api, "bert"), timeout=120, what="the advice")

    current = advice["current"]
    assert current["replicas"] == TARGET_REPLICAS
    assert current["pool"] == "g5-xlarge"  # the pods' node carries the pool's nodeSelector
    assert current["hourlyCost"] == pytest.approx(TARGET_REPLICAS * A10G_PRICE)
    assert "batching" not in current
    assert current["batchingSource"].startswith("unknown")
    assert advice["demandRps"] == pytest.approx(TARGET_REPLICAS * PER_POD_RPS)
    assert advice["placement"]
    assert {p["pool"] for p in advice["placement"]} == {"g6-xlarge"}
    assert advice["hourlyCost"] < current["hourlyCost"]
    assert advice["savingPerHour"] == pytest.approx(current["hourlyCost"] - advice["hourlyCost"])
    assert 0 < advice["savingPercent"] < 100
    status = await status_of(api, "bert")
    assert (
        condition(status, "AdviceAvailable")["status"],
        condition(status, "AdviceAvailable")["reason"],
    ) == ("True", "Advised")
    print(f"advice: {advice['message']}")
    asked = operator.metrics.pods_asked[-1]
    assert asked == {(o.NS, pod) for pod in pods}
    saving = operator.reconciler.telemetry.registry.get_sample_value(
        "infercost_advised_saving_hourly", {"namespace": o.NS, "service": "bert"}
    )
    assert saving == pytest.approx(advice["savingPerHour"])

    await operator.rounds_pass(o.NS, "bert", count=3)
    assert only_status_written(api)
    after = await call(api, "GET", f"{o.DEPLOYMENTS}/bert-triton")
    assert after["spec"] == before["spec"]
    assert after["metadata"].get("labels") == {"app": "bert-triton"}
    listed = await call(api, "GET", o.DEPLOYMENTS)
    assert [d["metadata"]["name"] for d in listed["items"]] == ["bert-triton"]


async def test_bad_targets_get_a_clear_status_and_are_retried(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.A10G)
    await call(api, "POST", o.DEPLOYMENTS, target("web", image="nginx:1.27"))
    await call(api, "POST", o.ISVC, advised("gone", "later"))
    await call(api, "POST", o.ISVC, advised("plain", "web"))
    operator = await start_operator()

    async def reason(name: str, wanted: str) -> dict[str, Any] | None:
        conditions = (await status_of(api, name)).get("conditions") or []
        found = [c for c in conditions if c["type"] == "AdviceAvailable"]
        return found[0] if found and found[0]["reason"] == wanted else None

    missing = await eventually(lambda: reason("gone", "TargetNotFound"), what="TargetNotFound")
    assert missing["status"] == "False"
    assert f"{o.NS}/later" in missing["message"]
    plain = await eventually(lambda: reason("plain", "TargetNotTriton"), what="TargetNotTriton")
    assert "tritonserver" in plain["message"]

    pods = await run_target(api, "later")  # the target appears: retried
    quiet = await eventually(lambda: reason("gone", "MetricsMissing"), what="no Triton series")
    assert quiet["status"] == "False"
    load(operator, pods)  # its pods' Triton series: advised
    await eventually(lambda: reason("gone", "Advised"), timeout=120, what="advice once it exists")
    await call(api, "DELETE", f"{o.DEPLOYMENTS}/later")  # and goes again
    await eventually(lambda: reason("gone", "TargetNotFound"), timeout=120, what="deleted target")
    await operator.rounds_pass(o.NS, "plain", count=2)
    assert not operator.task.done()
    assert only_status_written(api)


async def test_advise_without_a_target_is_refused_with_the_field_and_the_fix(
    api: ApiServer,
) -> None:
    body = o.service("bert", o.GPU_VARIANT, mode="Advise")
    async with api.request("POST", o.ISVC, data=json.dumps(body)) as response:
        refused = await response.json(content_type=None)
    assert response.status == 422, refused
    assert "spec.advise.targetRef is required when spec.mode is Advise" in refused["message"]


async def test_switching_to_manage_takes_over_and_leaves_the_target(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await call(api, "POST", o.POOLS, o.A10G)
    await call(api, "POST", o.POOLS, o.L4)
    pods = await run_target(api, "bert-triton")
    await call(api, "POST", o.ISVC, advised("bert", "bert-triton"))
    operator = await start_operator()
    load(operator, pods)
    advice = await eventually(lambda: advice_of(api, "bert"), timeout=120, what="the advice")
    assert await replicas_by_pool(api, "bert") == {}

    operator.load(o.NS, "bert", rps=TARGET_REPLICAS * PER_POD_RPS, p99_ms=8.0)  # FAKE metrics
    await call(api, "PATCH", f"{o.ISVC}/bert", {"spec": {"mode": "Manage"}})
    placed = await eventually(lambda: replicas_by_pool(api, "bert"), timeout=120, what="children")
    assert set(placed) == {p["pool"] for p in advice["placement"]}

    async def handed_over() -> dict[str, Any] | None:
        status = await status_of(api, "bert")
        return status if "advice" not in status and status.get("placement") else None

    status = await eventually(handed_over, what="status of a managed service")
    assert condition(status, "Placed")["status"] == "True"
    old = await call(api, "GET", f"{o.DEPLOYMENTS}/bert-triton")  # the user deletes it
    assert old["spec"]["replicas"] == TARGET_REPLICAS
    registry = operator.reconciler.telemetry.registry
    labels = {"namespace": o.NS, "service": "bert"}
    assert registry.get_sample_value("infercost_advised_saving_hourly", labels) is None


async def test_kubectl_applies_the_example_and_shows_mode_and_saving(tmp_path: Path) -> None:
    """The real kubectl: examples/advise applied with strict validation, and `kubectl get ics`
    printing the MODE and SAVING-$/H columns from the CRD's printer columns."""
    assert KUBECTL.exists(), "run `make tools` first: .tools/bin/kubectl"
    async with ApiServer() as server, kmock.Server(server):
        config = tmp_path / "kubeconfig"
        config.write_text(yaml.safe_dump(kubeconfig(str(server.url).rstrip("/"))))
        for crd in all_crds().values():
            await call(
                server, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd
            )
        code, out = await kubectl(config, "apply", "-f", "examples/pools", "-f", "examples/advise")
        assert code == 0, out
        assert "inferenceservice.infercost.io/bert-base-advice created" in out
        assert "deployment.apps/bert-triton created" in out
        advice = {"time": "2026-12-06T12:00:00Z", "target": "bert-triton", "savingPerHour": 2.4144}
        await call(
            server, "PATCH", f"{o.ISVC}/bert-base-advice/status", {"status": {"advice": advice}}
        )
        code, out = await kubectl(config, "get", "ics", "-n", o.NS)
        assert code == 0, out
        header, row = out.splitlines()[:2]
        names = header.split()
        starts = [
            header.index(f"{name} ") if name != names[-1] else header.rindex(name) for name in names
        ]
        cells = [row[a:b].strip() for a, b in zip(starts, [*starts[1:], len(row)], strict=True)]
        columns = dict(zip(names, cells, strict=True))  # fixed-width: empty cells stay empty
        assert (columns["MODE"], columns["SAVING-$/H"]) == ("Advise", "2.4144"), out
