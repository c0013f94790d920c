"""A locked-down Triton and the batching readiness gate, against a REAL tritonserver.

Triton runs with the model-repository API restricted to the service's key, as the operator's
Deployments start it (manifests/triton_access.py). Pods are objects in the sandbox API server
whose `status.podIP` and port annotation point at the real server; whether a pod is Ready is
judged by the sandbox kubelet's rule (`ready_with_gates`: containers ready AND every
readiness gate's condition True, as Kubernetes does).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import kmock
import numpy as np
import pytest
import tritonclient.http.aio as triton_http
from tritonclient.http import InferInput
from tritonclient.utils import InferenceServerException

from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.adapters.pod_gate import GATE_REASON
from infercost.adapters.triton import TritonBatching, batching_of
from infercost.api.service import InferenceServiceSpec
from infercost.controller.rollout import FAILED, BatchingRollout
from infercost.engine.model import Allocation, BatchConfig, CurrentDeployment, Plan, ServiceState
from infercost.localtriton import SyntheticModel, TritonServer
from infercost.manifests import Owner
from infercost.manifests.triton_access import (
    BATCHING_GATE,
    REPOSITORY_KEY_HEADER,
    repository_key_secret,
    repository_key_secret_name,
)
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.pods import ready_with_gates
from infercost.settings import Settings
from tests.support.triton_pods import model_config, request

pytestmark = pytest.mark.e2e
NS = "ml"
KEY = "0f3a9c1d2b7e4f60a1b2c3d4e5f60718"
LABELS = {"infercost.io/service": "bert", "infercost.io/variant": "cpu", "infercost.io/pool": "a"}
OWNER = Owner(name="bert", namespace=NS, uid="u-1")
SPEC = InferenceServiceSpec.model_validate(
    {
        "model": {"name": "synth"},
        "variants": [
            {
                "name": "cpu",
                "acceleratorTypes": ["cpu"],
                "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
                "modelRepository": "s3://models/synth",
                "profile": [
                    {"acceleratorType": "cpu", "batchSize": 1, "throughput": 40, "p99LatencyMs": 30}
                ],
            }
        ],
        "slo": {"latencyMs": 100},
    }
)
BODY = {
    "apiVersion": "infercost.io/v1alpha1",
    "kind": "InferenceService",
    "metadata": {"name": "bert", "namespace": NS, "uid": "u-1"},
}
CHOSEN = BatchConfig(max_batch_size=4, max_queue_delay_us=2000, preferred_batch_sizes=(4,))


@pytest.fixture
def triton() -> Iterator[TritonServer]:
    """A pod's server started after a batching change: its repository still says batch 1."""
    model = SyntheticModel(base_ms=2, per_item_ms=1, max_batch_size=1)
    with TritonServer([model], repository_key=(REPOSITORY_KEY_HEADER, KEY)) as server:
        yield server


@pytest.fixture
async def kube() -> AsyncIterator[tuple[ApiServer, KubeApi]]:
    async with ApiServer() as server, kmock.Server(server):
        api = KubeApi(Credentials(server=str(server.url)))
        try:
            yield server, api
        finally:
            await api.close()


def plan(batching: BatchConfig) -> Plan:
    allocation = Allocation(
        variant="cpu",
        pool="a",
        replicas=1,
        batching=batching,
        hourly_cost=0.1,
        throughput_per_replica=40,
    )
    return Plan(
        allocations=(allocation,),
        actions=(),
        conditions=(),
        demand_rps=0,
        hourly_cost=0.1,
        cost_per_million=None,
        state=ServiceState(),
    )


async def post_secret(server: ApiServer, value: str) -> None:
    await request(
        server,
        "POST",
        f"/api/v1/namespaces/{NS}/secrets",
        repository_key_secret(owner=OWNER, value=value),
    )


async def post_gated_pod(server: ApiServer, name: str, port: int, *, started: bool) -> None:
    """A pod of the operator's template (with the batching gate) as the kubelet reports it."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": LABELS,
            "annotations": {"infercost.io/triton-http-port": str(port)},
        },
        "spec": {
            "readinessGates": [{"conditionType": BATCHING_GATE}],
            "containers": [{"name": "triton", "image": "triton"}],
        },
    }
    await request(server, "POST", f"/api/v1/namespaces/{NS}/pods", pod)
    await set_containers_ready(server, name, started)


async def set_containers_ready(server: ApiServer, name: str, ready: bool) -> None:
    flag = "True" if ready else "False"
    status = {
        "phase": "Running",
        "podIP": "127.0.0.1",
        "conditions": [
            {"type": "ContainersReady", "status": flag},
            {"type": "Ready", "status": "False"},
        ],
    }
    await request(
        server, "PATCH", f"/api/v1/namespaces/{NS}/pods/{name}/status", {"status": status}
    )


async def get_pod(server: ApiServer, name: str) -> dict[str, Any]:
    pod: dict[str, Any] = await request(server, "GET", f"/api/v1/namespaces/{NS}/pods/{name}")
    return pod


def gate(pod: dict[str, Any]) -> dict[str, Any] | None:
    conditions = pod["status"].get("conditions") or []
    return next((c for c in conditions if c["type"] == BATCHING_GATE), None)


async def infer(url: str, batch: int) -> None:
    client = triton_http.InferenceServerClient(url)
    try:
        data = InferInput("INPUT0", [batch, 1], "FP32")
        data.set_data_from_numpy(np.ones((batch, 1), dtype=np.float32))
        await client.infer("synth", [data])
    finally:
        await client.close()


async def executed_batch_sizes(url: str) -> set[int]:
    """The batch sizes Triton executed for synth, once its statistics show an execution.

    The backend reports an execution's statistics after the response is sent, so a read made
    as soon as the reply arrives can see none yet (seen once beside a CPU-bound process):
    poll, with a deadline only a hung server reaches."""
    client = triton_http.InferenceServerClient(url)
    deadline = time.monotonic() + 120
    try:
        while True:
            stats = await client.get_inference_statistics("synth")
            batches = [b for s in stats["model_stats"] for b in s.get("batch_stats", [])]
            if batches or time.monotonic() > deadline:
                return {int(b["batch_size"]) for b in batches}
            await asyncio.sleep(0.05)
    finally:
        await client.close()


async def test_the_repository_api_answers_only_the_key_holders(triton: TritonServer) -> None:
    plain = triton_http.InferenceServerClient(triton.url)
    try:
        for refused in (plain.load_model("synth"), plain.unload_model("synth")):
            with pytest.raises(InferenceServerException) as caught:
                await refused
            assert caught.value.status() == "403"
            assert REPOSITORY_KEY_HEADER in str(caught.value.message())
        with pytest.raises(InferenceServerException):
            await plain.unload_model("synth", headers={REPOSITORY_KEY_HEADER: "guessed"})
        assert await plain.is_model_ready("synth"), "a refused unload changes nothing"
    finally:
        await plain.close()
    await infer(triton.url, 1)  # inference needs no key
    assert await executed_batch_sizes(triton.url) == {1}


async def test_a_new_pod_serves_its_first_request_with_the_chosen_batching(
    triton: TritonServer, kube: tuple[ApiServer, KubeApi]
) -> None:
    server, api = kube
    await post_secret(server, KEY)
    rollout = BatchingRollout(api=api, applier=TritonBatching(api, Settings()))
    current = {("cpu", "a"): CurrentDeployment(replicas=1, ready_replicas=0)}
    assert batching_of(await model_config(triton)).max_batch_size == 1

    # Triton still starting (the kubelet says so): left alone, and no Warning either.
    await post_gated_pod(server, "bert-new", triton.http_port, started=False)
    await rollout.run(body=BODY, spec=SPEC, plan=plan(CHOSEN), current=current)
    pod = await get_pod(server, "bert-new")
    assert gate(pod) is None
    assert not ready_with_gates(pod, containers_ready=True), "not Ready before the gate"
    assert batching_of(await model_config(triton)).max_batch_size == 1

    # Started: the chosen config is loaded, read back, and only then the gate opens.
    await set_containers_ready(server, "bert-new", True)
    assert not ready_with_gates(await get_pod(server, "bert-new"), containers_ready=True)
    await rollout.run(body=BODY, spec=SPEC, plan=plan(CHOSEN), current=current)
    pod = await get_pod(server, "bert-new")
    assert (gate(pod) or {}).get("status") == "True"
    assert (gate(pod) or {}).get("reason") == GATE_REASON
    assert [c["type"] for c in pod["status"]["conditions"]][:2] == ["ContainersReady", "Ready"]
    assert ready_with_gates(pod, containers_ready=True)
    assert batching_of(await model_config(triton)) == CHOSEN
    await infer(triton.url, 4)  # a batch the repository's config (max 1) would refuse
    assert await executed_batch_sizes(triton.url) == {4}, "the first request ran as batch 4"
    events = await request(server, "GET", f"/api/v1/namespaces/{NS}/events")
    assert [e for e in events["items"] if e["reason"] == FAILED] == []


async def test_a_refused_load_keeps_the_new_pod_out_until_the_key_is_right(
    triton: TritonServer, kube: tuple[ApiServer, KubeApi]
) -> None:
    server, api = kube
    await post_secret(server, "not-the-key-this-triton-was-started-with")
    rollout = BatchingRollout(api=api, applier=TritonBatching(api, Settings()))
    current = {("cpu", "a"): CurrentDeployment(replicas=1, ready_replicas=0)}
    await post_gated_pod(server, "bert-new", triton.http_port, started=True)
    await rollout.run(body=BODY, spec=SPEC, plan=plan(CHOSEN), current=current)
    pod = await get_pod(server, "bert-new")
    assert gate(pod) is None
    assert not ready_with_gates(pod, containers_ready=True)
    assert batching_of(await model_config(triton)).max_batch_size == 1
    events = await request(server, "GET", f"/api/v1/namespaces/{NS}/events")
    (warning,) = [e for e in events["items"] if e["reason"] == FAILED]
    assert "bert-new" in warning["message"]
    assert "restricted" in warning["message"]

    # The Secret now holds the key Triton was started with: the next reconcile reads it again.
    secret = repository_key_secret_name("bert")
    encoded = base64.b64encode(KEY.encode()).decode()
    await request(
        server,
        "PATCH",
        f"/api/v1/namespaces/{NS}/secrets/{secret}",
        {"data": {"key": encoded}},
    )
    await rollout.run(body=BODY, spec=SPEC, plan=plan(CHOSEN), current=current)
    pod = await get_pod(server, "bert-new")
    assert (gate(pod) or {}).get("status") == "True"
    assert batching_of(await model_config(triton)) == CHOSEN
