"""Pools and services as users write them. Prices: data/prices.yaml (AWS us-east-1
on-demand, karpenter_aws_2026); the inf2 profile points are the Neuron docs' figures (data/throughput.yaml)."""

from __future__ import annotations

from typing import Any

NS = "ml"
ISVC = f"/apis/infercost.io/v1alpha1/namespaces/{NS}/inferenceservices"
POOLS = "/apis/infercost.io/v1alpha1/acceleratorpools"
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"


def pool(
    name: str,
    *,
    accelerator: str,
    resource: str,
    per_node: int,
    price: float,
    instance: str,
    taint: str | None = None,
    spot: bool = False,
    max_replicas: int | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accelerator": {"type": accelerator, "resourceName": resource, "perNode": per_node},
        "nodeSelector": {"node.kubernetes.io/instance-type": instance},
        "capacityType": "Spot" if spot else "OnDemand",
        "pricing": {"hourlyPerNode": price},
        "provisioningSeconds": 60,
    }
    if taint:
        spec["tolerations"] = [{"key": taint, "operator": "Exists", "effect": "NoSchedule"}]
    if max_replicas is not None:
        spec["maxReplicas"] = max_replicas
    return {
        "apiVersion": "infercost.io/v1alpha1",
        "kind": "AcceleratorPool",
        "metadata": {"name": name, "labels": {"team": "ml"}},
        "spec": spec,
    }


A10G = pool(
    "g5-xlarge",
    accelerator="nvidia-a10g",
    resource="nvidia.com/gpu",
    per_node=1,
    price=1.006,
    instance="g5.xlarge",
    taint="nvidia.com/gpu",
)
L4 = pool(
    "g6-xlarge",
    accelerator="nvidia-l4",
    resource="nvidia.com/gpu",
    per_node=1,
    price=0.8048,
    instance="g6.xlarge",
    taint="nvidia.com/gpu",
)
INF2 = pool(
    "inf2-xlarge",
    accelerator="inferentia2",
    resource="aws.amazon.com/neuroncore",
    per_node=2,
    price=0.7582,
    instance="inf2.xlarge",
    taint="aws.amazon.com/neuron",
)
CPU = pool(
    "c7i-4xlarge",
    accelerator="cpu",
    resource="cpu",
    per_node=16,
    price=0.714,
    instance="c7i.4xlarge",
)

NEURON_VARIANT = {
    "name": "neuron-bf16",
    "acceleratorTypes": ["inferentia2"],
    "image": "registry.example.com/tritonserver-neuronx:2.x",
    "modelRepository": "s3://models/bert-neuron",
    "acceleratorsPerReplica": 2,
    "startupSeconds": 90,
    "profile": [
        {
            "acceleratorType": "inferentia2",
            "batchSize": 1,
            "throughput": 1998,
            "p99LatencyMs": 1.04,
        },
        {
            "acceleratorType": "inferentia2",
            "batchSize": 8,
            "throughput": 2674,
            "p99LatencyMs": 6.17,
        },
    ],
}
GPU_VARIANT = {
    "name": "gpu-fp16",
    "acceleratorTypes": ["nvidia-a10g", "nvidia-l4"],
    "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
    "modelRepository": "s3://models/bert-trt",
    "profile": [
        {"acceleratorType": "nvidia-a10g", "batchSize": 1, "throughput": 900, "p99LatencyMs": 2.0},
        {"acceleratorType": "nvidia-a10g", "batchSize": 8, "throughput": 2600, "p99LatencyMs": 7.0},
        {"acceleratorType": "nvidia-l4", "batchSize": 1, "throughput": 800, "p99LatencyMs": 2.2},
        {"acceleratorType": "nvidia-l4", "batchSize": 8, "throughput": 2400, "p99LatencyMs": 7.5},
    ],
}
CPU_VARIANT = {
    "name": "onnx-cpu",
    "acceleratorTypes": ["cpu"],
    "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
    "modelRepository": "s3://models/bert-onnx",
    "acceleratorsPerReplica": 4,
    "resources": {"cpu": "4", "memory": "8Gi"},
    "profile": [
        {"acceleratorType": "cpu", "batchSize": 1, "throughput": 60, "p99LatencyMs": 20.0},
        {"acceleratorType": "cpu", "batchSize": 4, "throughput": 110, "p99LatencyMs": 40.0},
    ],
}


def service(name: str, *variants: dict[str, Any], **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": {"name": "bert_base"},
        "variants": list(variants),
        "slo": {"latencyMs": 50, "percentile": 99},
        "scaling": {"minReplicas": 1, "maxReplicas": 20, "scaleDownDelaySeconds": 0},
    }
    body.update(spec)
    return {
        "apiVersion": "infercost.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": NS},
        "spec": body,
    }
