"""spec.caching in the manifests: server args, model config, memory request (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tests.integration import objects as o

from infercost import manifests
from infercost.api.caching import ResponseCache
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Allocation, BatchConfig
from infercost.manifests.caching import memory_bytes, with_cache_memory

pytestmark = pytest.mark.unit

OWNER = manifests.Owner(name="bert", namespace="ml", uid="u-1")
POOL = AcceleratorPoolSpec.model_validate(o.A10G["spec"])
ALLOCATION = Allocation(
    variant="gpu-fp16",
    pool="g5-xlarge",
    replicas=1,
    batching=BatchConfig(max_batch_size=8, max_queue_delay_us=500),
    hourly_cost=1.0,
    throughput_per_replica=100.0,
)


def spec(caching: dict[str, object] | None = None) -> InferenceServiceSpec:
    variant = {**o.GPU_VARIANT, "resources": {"cpu": "2", "memory": "2Gi"}}
    extra = {"caching": caching} if caching is not None else {}
    return InferenceServiceSpec.model_validate(o.service("bert", variant, **extra)["spec"])


def container(service: InferenceServiceSpec) -> dict[str, object]:
    deployment = manifests.deployment(
        owner=OWNER,
        spec=service,
        allocation=ALLOCATION,
        pool=POOL,
        settings=manifests.ManifestSettings(),
    )
    (triton,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(triton)


def config_text(service: InferenceServiceSpec) -> str:
    return manifests.model_config_text(
        model="bert_base", batching=ALLOCATION.batching, caching=service.caching
    )


def test_caching_is_off_by_default() -> None:
    default = spec()
    assert default.caching == ResponseCache(enabled=False, sizeMB=256)
    triton = container(default)
    assert not [a for a in triton["args"] if "cache" in a]  # type: ignore[attr-defined]
    assert triton["resources"]["requests"]["memory"] == "2Gi"  # type: ignore[index]
    assert "response_cache" not in config_text(default)


def test_caching_sets_the_server_cache_the_model_config_and_the_memory() -> None:
    cached = spec({"enabled": True, "sizeMB": 512})
    triton = container(cached)
    assert f"--cache-config=local,size={512 << 20}" in triton["args"]  # type: ignore[operator]
    resources = triton["resources"]
    assert resources["requests"]["memory"] == "2560Mi"  # type: ignore[index]
    assert resources["limits"]["memory"] == "2560Mi"  # type: ignore[index]
    assert "response_cache { enable: true }" in config_text(cached).splitlines()


def test_the_json_config_of_a_live_load_follows_the_spec() -> None:
    config = {"name": "bert_base", "max_batch_size": 8}
    on = manifests.with_response_cache(config, ResponseCache(enabled=True))
    off = manifests.with_response_cache(on, ResponseCache(enabled=False))
    assert on["response_cache"] == {"enable": True}
    assert off["response_cache"] == {"enable": False}
    assert off["max_batch_size"] == 8


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("2Gi", 2 << 30), ("512Mi", 512 << 20), ("1.5Gi", 3 << 29), ("4G", 4 * 10**9), ("100", 100)],
)
def test_memory_quantities(quantity: str, expected: int) -> None:
    assert memory_bytes(quantity) == expected


def test_an_unreadable_memory_quantity_is_left_as_written() -> None:
    resources = {"requests": {"memory": "2x"}, "limits": {"memory": "2x"}}
    assert with_cache_memory(resources, ResponseCache(enabled=True)) == resources


@pytest.mark.parametrize("size", [0, 65537, "256"])
def test_the_cache_size_is_bounded(size: object) -> None:
    with pytest.raises(ValidationError, match="sizeMB"):
        spec({"enabled": True, "sizeMB": size})
