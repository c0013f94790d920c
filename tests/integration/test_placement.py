"""Applying pools and InferenceServices produces Triton children placed exactly per pool."""

from __future__ import annotations

from typing import Any

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually

pytestmark = pytest.mark.integration


async def deployments(api: ApiServer, service: str) -> list[dict[str, Any]]:
    listed = await call(
        api, "GET", o.DEPLOYMENTS, params={"labelSelector": f"infercost.io/service={service}"}
    )
    return list(listed["items"])


async def status_of(api: ApiServer, name: str) -> dict[str, Any]:
    return dict((await call(api, "GET", f"{o.ISVC}/{name}")).get("status") or {})


def condition(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(c for c in status.get("conditions", []) if c["type"] == type_)


async def test_each_accelerator_kind_gets_exact_resources_and_scheduling(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    for pool in (o.INF2, o.A10G, o.CPU):
        await call(api, "POST", o.POOLS, pool)
    neuron = await call(api, "POST", o.ISVC, o.service("bert-neuron", o.NEURON_VARIANT))
    await call(api, "POST", o.ISVC, o.service("bert-gpu", {**o.GPU_VARIANT}))
    await call(api, "POST", o.ISVC, o.service("bert-cpu", o.CPU_VARIANT))
    operator = await start_operator()
    for name in ("bert-neuron", "bert-gpu", "bert-cpu"):
        operator.load(o.NS, name, rps=500.0 if name != "bert-cpu" else 50.0, p99_ms=10.0)

    inf2 = (await eventually(lambda: deployments(api, "bert-neuron"), what="neuron Deployment"))[0]
    assert inf2["metadata"]["name"] == "bert-neuron-neuron-bf16-inf2-xlarge"
    assert inf2["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "infercost.io/v1alpha1",
            "kind": "InferenceService",
            "name": "bert-neuron",
            "uid": neuron["metadata"]["uid"],
            "controller": True,
        }
    ]
    assert inf2["metadata"]["managedFields"][0]["manager"] == "infercost"
    labels = inf2["spec"]["template"]["metadata"]["labels"]
    assert labels["infercost.io/service"] == "bert-neuron"
    assert labels["infercost.io/variant"] == "neuron-bf16"
    assert labels["infercost.io/pool"] == "inf2-xlarge"
    assert labels["app.kubernetes.io/managed-by"] == "infercost"
    assert inf2["spec"]["selector"]["matchLabels"] == {
        "infercost.io/service": "bert-neuron",
        "infercost.io/variant": "neuron-bf16",
        "infercost.io/pool": "inf2-xlarge",
    }
    pod = inf2["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "inf2.xlarge"}
    assert pod["tolerations"] == [
        {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    triton = pod["containers"][0]
    assert triton["resources"]["limits"]["aws.amazon.com/neuroncore"] == "2"
    assert triton["resources"]["requests"]["aws.amazon.com/neuroncore"] == "2"
    assert "nvidia.com/gpu" not in triton["resources"]["limits"]
    assert triton["command"] == ["tritonserver"]
    assert triton["args"] == [
        "--model-repository=s3://models/bert-neuron",
        "--model-control-mode=explicit",
        "--load-model=bert_base",
        "--http-port=8000",
        "--grpc-port=8001",
        "--metrics-port=8002",
        "--metrics-config=summary_latencies=true",
        "--http-restricted-api=model-repository:infercost-repository-key=$(INFERCOST_REPOSITORY_KEY)",
        "--grpc-restricted-protocol=model-repository:infercost-repository-key=$(INFERCOST_REPOSITORY_KEY)",
        "--exit-timeout-secs=30",  # drain in-flight requests on SIGTERM (manifests/pod.py)
    ]
    assert {p["name"]: p["containerPort"] for p in triton["ports"]} == {
        "http": 8000,
        "grpc": 8001,
        "metrics": 8002,
    }
    assert triton["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert triton["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert triton["securityContext"]["allowPrivilegeEscalation"] is False
    assert triton["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    # Nothing batching-specific on the pod template: a batching change must not roll pods.
    template_annotations = inf2["spec"]["template"]["metadata"].get("annotations", {})
    assert "infercost.io/batching" not in template_annotations

    gpu = (await eventually(lambda: deployments(api, "bert-gpu"), what="GPU Deployment"))[0]
    gpu_pod = gpu["spec"]["template"]["spec"]
    assert gpu_pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu_pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "g5.xlarge"}
    assert gpu_pod["tolerations"][0]["key"] == "nvidia.com/gpu"

    cpu = (await eventually(lambda: deployments(api, "bert-cpu"), what="CPU Deployment"))[0]
    cpu_resources = cpu["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert cpu_resources == {"requests": {"cpu": "4", "memory": "8Gi"}, "limits": {"memory": "8Gi"}}
    assert (
        "tolerations" not in cpu["spec"]["template"]["spec"]
        or not (cpu["spec"]["template"]["spec"]["tolerations"])
    )

    # The shared children: one Service selecting every replica, the batching ConfigMap, PDB, PodMonitor.
    svc = await call(api, "GET", f"/api/v1/namespaces/{o.NS}/services/bert-neuron")
    assert svc["spec"]["selector"] == {"infercost.io/service": "bert-neuron"}
    config = await call(
        api, "GET", f"/api/v1/namespaces/{o.NS}/configmaps/bert-neuron-model-config"
    )
    text = config["data"]["neuron-bf16-inf2-xlarge.pbtxt"]
    assert "max_batch_size:" in text
    pdb = await call(
        api, "GET", f"/apis/policy/v1/namespaces/{o.NS}/poddisruptionbudgets/bert-neuron"
    )
    assert pdb["spec"]["selector"]["matchLabels"] == {"infercost.io/service": "bert-neuron"}
    monitor = await call(
        api, "GET", f"/apis/monitoring.coreos.com/v1/namespaces/{o.NS}/podmonitors/bert-neuron"
    )
    assert monitor["spec"]["podTargetLabels"] == [
        "infercost.io/service",
        "infercost.io/variant",
        "infercost.io/pool",
    ]

    status = await eventually(lambda: _placed(api, "bert-neuron"), what="status with placement")
    assert status["placement"][0]["pool"] == "inf2-xlarge"
    assert status["observedGeneration"] == 1
    assert {c["type"] for c in status["conditions"]} == {
        "Ready",
        "Placed",
        "MetricsAvailable",
        "WithinBudget",
    }
    assert condition(status, "MetricsAvailable")["status"] == "True"
    assert status["cost"]["hourly"] > 0
    events = await call(api, "GET", f"/api/v1/namespaces/{o.NS}/events")
    reasons = {e["reason"] for e in events["items"] if e["involvedObject"]["name"] == "bert-neuron"}
    assert reasons  # every action was announced with its reason
    await operator.stop()


async def _placed(api: ApiServer, name: str) -> dict[str, Any] | None:
    status = await status_of(api, name)
    return status if status.get("placement") else None
