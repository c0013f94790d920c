"""Children manifests: names, hashes, accelerator resources, shared children (pure)."""

from __future__ import annotations

import pytest
from tests.integration import objects as o

from infercost import manifests
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Allocation, BatchConfig

pytestmark = pytest.mark.unit

OWNER = manifests.Owner(name="bert", namespace="ml", uid="u-1")


def spec(*variants: dict[str, object]) -> InferenceServiceSpec:
    return InferenceServiceSpec.model_validate(o.service("bert", *variants)["spec"])


def allocation(variant: str, pool: str, replicas: int = 2, batch: int = 8) -> Allocation:
    return Allocation(
        variant=variant,
        pool=pool,
        replicas=replicas,
        batching=BatchConfig(
            max_batch_size=batch, max_queue_delay_us=500, preferred_batch_sizes=(4,)
        ),
        hourly_cost=1.0,
        throughput_per_replica=100.0,
    )


POOLS = {
    p["metadata"]["name"]: AcceleratorPoolSpec.model_validate(p["spec"])
    for p in (o.INF2, o.A10G, o.CPU)
}


def build(*allocations: Allocation, monitor: bool = True) -> dict[tuple[str, str], dict]:
    objects = manifests.children(
        owner=OWNER,
        spec=spec(o.NEURON_VARIANT, o.GPU_VARIANT, o.CPU_VARIANT),
        pools=POOLS,
        allocations=allocations,
        settings=manifests.ManifestSettings(),
        with_pod_monitor=monitor,
    )
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}


def test_short_names_keep_63_characters_and_stay_unique() -> None:
    assert manifests.short_name("bert", "gpu", "g5") == "bert-gpu-g5"
    long_a = manifests.short_name("a" * 40, "variant", "pool-one-with-a-long-name")
    long_b = manifests.short_name("a" * 40, "variant", "pool-two-with-a-long-name")
    assert len(long_a) <= 63
    assert long_a.startswith("a" * 40)
    assert long_a != long_b
    assert long_a == manifests.short_name("a" * 40, "variant", "pool-one-with-a-long-name")


def test_one_deployment_per_allocation_and_none_for_zero_replicas() -> None:
    built = build(allocation("neuron-bf16", "inf2-xlarge"), allocation("gpu-fp16", "g5-xlarge", 0))
    kinds = sorted(kind for kind, _ in built)
    assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "PodMonitor", "Service"]
    assert ("Deployment", "bert-neuron-bf16-inf2-xlarge") in built


def test_without_the_crd_there_is_no_pod_monitor() -> None:
    built = build(allocation("neuron-bf16", "inf2-xlarge"), monitor=False)
    assert "PodMonitor" not in {kind for kind, _ in built}


def test_accelerator_resources_per_pool_kind() -> None:
    built = build(
        allocation("neuron-bf16", "inf2-xlarge"),
        allocation("gpu-fp16", "g5-xlarge"),
        allocation("onnx-cpu", "c7i-4xlarge"),
    )

    def resources(name: str) -> dict:
        return built[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]["resources"]

    assert resources("bert-gpu-fp16-g5-xlarge")["limits"] == {
        "memory": "2Gi",
        "nvidia.com/gpu": "1",
    }
    neuron = resources("bert-neuron-bf16-inf2-xlarge")
    assert neuron["limits"]["aws.amazon.com/neuroncore"] == "2"
    assert neuron["requests"]["aws.amazon.com/neuroncore"] == "2"
    assert resources("bert-onnx-cpu-c7i-4xlarge") == {
        "requests": {"cpu": "4", "memory": "8Gi"},
        "limits": {"memory": "8Gi"},
    }


def test_batching_change_keeps_the_pod_template_and_changes_the_config() -> None:
    small = build(allocation("neuron-bf16", "inf2-xlarge", batch=4))
    large = build(allocation("neuron-bf16", "inf2-xlarge", batch=16))
    key = ("Deployment", "bert-neuron-bf16-inf2-xlarge")
    # A changed template would roll every pod (a cold start per tuning step); batching is
    # loaded live instead, so the template must not depend on it.
    assert small[key]["spec"]["template"] == large[key]["spec"]["template"]
    assert small[key]["metadata"]["annotations"] != large[key]["metadata"]["annotations"]
    config = large[("ConfigMap", "bert-model-config")]["data"]["neuron-bf16-inf2-xlarge.pbtxt"]
    assert "max_batch_size: 16" in config
    assert "max_queue_delay_microseconds: 500" in config
    assert "preferred_batch_size: [ 4 ]" in config


def test_content_hash_is_stable_and_content_sensitive() -> None:
    first = build(allocation("neuron-bf16", "inf2-xlarge"))
    again = build(allocation("neuron-bf16", "inf2-xlarge"))
    more = build(allocation("neuron-bf16", "inf2-xlarge", replicas=3))
    key = ("Deployment", "bert-neuron-bf16-inf2-xlarge")

    def digest(built: dict) -> str:
        return built[key]["metadata"]["annotations"][manifests.ANNOTATION_HASH]

    assert digest(first) == digest(again)
    assert digest(first) != digest(more)


def test_batching_annotation_round_trips() -> None:
    batching = BatchConfig(max_batch_size=8, max_queue_delay_us=100, preferred_batch_sizes=(2, 4))
    text = manifests.batching_annotation(batching)
    assert manifests.batching_from_annotation(text) == batching
    assert manifests.batching_from_annotation("not json") is None
    assert manifests.batching_from_annotation(None) is None


def test_batching_off_has_no_dynamic_batcher() -> None:
    off = BatchConfig(max_batch_size=1, max_queue_delay_us=0)
    text = manifests.model_config_text(model="bert", batching=off)
    assert "dynamic_batching" not in text
    assert "max_batch_size: 1" in text


def test_a_queue_timeout_becomes_triton_s_reject_policy() -> None:
    batching = BatchConfig(
        max_batch_size=1, max_queue_delay_us=0, queue_timeout_us=35000, preferred_batch_sizes=()
    )
    text = manifests.model_config_text(model="bert", batching=batching)
    # Even without batching: the queue policy lives in the dynamic_batching block.
    assert "dynamic_batching {" in text
    assert "    timeout_action: REJECT\n    default_timeout_microseconds: 35000\n" in text
    annotation = manifests.batching_annotation(batching)
    assert manifests.batching_from_annotation(annotation) == batching
    # Annotations written before the timeout existed read as "no timeout".
    old = '{"maxBatchSize": 1, "maxQueueDelayMicroseconds": 0, "preferredBatchSizes": []}'
    assert manifests.batching_from_annotation(old) == BatchConfig(
        max_batch_size=1, max_queue_delay_us=0
    )
