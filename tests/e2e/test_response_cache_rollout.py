"""spec.caching reaches the model through the batching rollout's live load, on a REAL tritonserver.

The Deployment's ConfigMap is not what a running Triton serves: the rollout's live load
(Triton's repository API) is. Real: tritonserver 2.51 started with a local cache, its model
repository WITHOUT response_cache; the sandbox API server (kmock with Kubernetes semantics)
holding a pod whose `status.podIP` and port annotation point at that server; the rollout and
the Triton batching adapter; repeated inputs sent with tritonclient, counted by Triton's
executed inferences and answered requests.
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Iterator

import kmock
import numpy as np
import pytest
import tritonclient.http as triton_http

from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.adapters.triton import TritonBatching
from infercost.api.service import InferenceServiceSpec
from infercost.controller.rollout import BatchingRollout
from infercost.engine.model import Allocation, BatchConfig, CurrentDeployment, Plan, ServiceState
from infercost.localtriton import SyntheticModel, TritonServer
from infercost.sandbox.apiserver import ApiServer
from infercost.settings import Settings
from tests.support.triton_counters import Counters, counters_when, read_counters
from tests.support.triton_pods import model_config, post_pod

pytestmark = pytest.mark.e2e
NS = "ml"
LABELS = {"infercost.io/service": "bert", "infercost.io/variant": "cpu", "infercost.io/pool": "a"}
BODY = {
    "apiVersion": "infercost.io/v1alpha1",
    "kind": "InferenceService",
    "metadata": {"name": "bert", "namespace": NS, "uid": "u-1"},
}
BATCHING = BatchConfig(max_batch_size=4, max_queue_delay_us=0)


def spec(caching: bool) -> InferenceServiceSpec:
    return InferenceServiceSpec.model_validate(
        {
            "model": {"name": "synth"},
            "variants": [
                {
                    "name": "cpu",
                    "acceleratorTypes": ["cpu"],
                    "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
                    "modelRepository": "s3://models/synth",
                    "profile": [
                        {
                            "acceleratorType": "cpu",
                            "batchSize": 1,
                            "throughput": 40,
                            "p99LatencyMs": 30,
                        }
                    ],
                }
            ],
            "slo": {"latencyMs": 100},
            "caching": {"enabled": caching, "sizeMB": 4},
        }
    )


PLAN = Plan(
    allocations=(
        Allocation(
            variant="cpu",
            pool="a",
            replicas=1,
            batching=BATCHING,
            hourly_cost=0.1,
            throughput_per_replica=40,
        ),
    ),
    actions=(),
    conditions=(),
    demand_rps=0,
    hourly_cost=0.1,
    cost_per_million=None,
    state=ServiceState(),
)


@pytest.fixture(scope="module")
def triton() -> Iterator[TritonServer]:
    model = SyntheticModel(base_ms=2, per_item_ms=1, max_batch_size=4, response_cache=False)
    with TritonServer([model], cache_bytes=4 << 20) as server:
        yield server


@pytest.fixture
async def kube() -> AsyncIterator[tuple[ApiServer, KubeApi]]:
    async with ApiServer() as server, kmock.Server(server):
        api = KubeApi(Credentials(server=str(server.url)))
        try:
            yield server, api
        finally:
            await api.close()


def counters(triton: TritonServer) -> Counters:
    """Executed inferences and answered requests of model synth, from Triton's /metrics."""
    return read_counters(
        triton, {"nv_inference_count": "computed", "nv_inference_request_success": "answered"}
    )


def counters_after(
    triton: TritonServer, before: Counters, *, answered: int, computed: int
) -> Counters:
    """The counters once they show `answered` more answers and at least `computed` more
    executions than `before` (tests/support/triton_counters.py: why it waits)."""

    def done(now: Counters) -> bool:
        return (
            now.get("answered", 0.0) - before.get("answered", 0.0) >= answered
            and now.get("computed", 0.0) - before.get("computed", 0.0) >= computed
        )

    return counters_when(lambda: counters(triton), done)


def per_model_cache_series(triton: TritonServer) -> bool:
    with urllib.request.urlopen(triton.metrics_url, timeout=10) as response:
        return "nv_cache_num_hits_per_model{" in response.read().decode()


def send_same(triton: TritonServer, value: float, times: int) -> None:
    client = triton_http.InferenceServerClient(triton.url)
    try:
        for _ in range(times):
            tensor = triton_http.InferInput("INPUT0", [1, 1], "FP32")
            tensor.set_data_from_numpy(np.array([[value]], dtype=np.float32))
            client.infer("synth", [tensor])
    finally:
        client.close()


async def test_the_rollout_turns_the_model_s_cache_on_and_off_live(
    triton: TritonServer, kube: tuple[ApiServer, KubeApi]
) -> None:
    server, api = kube
    rollout = BatchingRollout(
        api=api, applier=TritonBatching(api, Settings(triton_timeout_seconds=10))
    )
    current = {("cpu", "a"): CurrentDeployment(replicas=1, ready_replicas=1, batching=BATCHING)}
    await post_pod(server, "bert-a-0", triton.http_port, namespace=NS, labels=LABELS)
    assert "response_cache" not in await model_config(triton)

    await rollout.run(body=BODY, spec=spec(True), plan=PLAN, current=current)
    assert (await model_config(triton))["response_cache"] == {"enable": True}
    before = counters(triton)
    send_same(triton, 7.0, 4)
    after = counters_after(triton, before, answered=4, computed=1)
    assert after["answered"] - before["answered"] == 4
    assert after["computed"] - before["computed"] == 1  # the next three from the cache
    # tritonserver 2.51 exports the per-model cache counters only for a model whose first
    # load had the cache on: enabled by a live load, it caches but does not count (the
    # operator then sees the computed demand only; docs/levers.md).
    assert not per_model_cache_series(triton)

    # Same batching, ready replicas unchanged: a fresh rollout (as after a restart) still
    # brings the cache flag in line with the spec.
    rollout = BatchingRollout(
        api=api, applier=TritonBatching(api, Settings(triton_timeout_seconds=10))
    )
    await rollout.run(body=BODY, spec=spec(False), plan=PLAN, current=current)
    assert (await model_config(triton))["response_cache"] == {"enable": False}
    before = counters(triton)
    send_same(triton, 8.0, 4)
    after = counters_after(triton, before, answered=4, computed=4)
    assert after["computed"] - before["computed"] == 4
