"""The Triton batching adapter and the rollout against a REAL tritonserver and the sandbox API.

Pods are objects in the sandbox API server (kmock with Kubernetes semantics) whose
`status.podIP` and port annotation point at a real tritonserver; a pod pointing at a port
where nothing listens stands for a pod whose Triton cannot be reached (a real refused
connection, not a mock). Triton's model-repository API is restricted to the service's key,
which the adapter reads from the service's Secret, as in the operator's Deployments.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import kmock
import pytest
import tritonclient.http.aio as triton_http
from tritonclient.utils import InferenceServerException

from infercost.adapters.batching import BatchingTarget
from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.adapters.triton import TritonBatching, batching_of
from infercost.api.service import InferenceServiceSpec
from infercost.controller.rollout import FAILED, BatchingRollout
from infercost.engine.model import Allocation, BatchConfig, CurrentDeployment, Plan, ServiceState
from infercost.localtriton import SyntheticModel, TritonServer
from infercost.manifests import Owner
from infercost.manifests.triton_access import REPOSITORY_KEY_HEADER, repository_key_secret
from infercost.sandbox.apiserver import ApiServer
from infercost.settings import Settings
from tests.support.prometheus import free_port
from tests.support.triton_pods import model_config, post_pod, request

pytestmark = pytest.mark.e2e
NS = "ml"
KEY = "5e0c2a7b9d1f4e3a8b6c0d2e4f6a8b0c"
LABELS = {"infercost.io/service": "bert", "infercost.io/variant": "cpu", "infercost.io/pool": "a"}
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


@pytest.fixture(scope="module")
def triton() -> Iterator[TritonServer]:
    model = SyntheticModel(base_ms=5, per_item_ms=1, max_batch_size=1)
    with TritonServer([model], repository_key=(REPOSITORY_KEY_HEADER, KEY)) as server:
        yield server


@pytest.fixture
async def kube() -> AsyncIterator[tuple[ApiServer, KubeApi]]:
    async with ApiServer() as server, kmock.Server(server):
        api = KubeApi(Credentials(server=str(server.url)))
        secret = repository_key_secret(owner=Owner(name="bert", namespace=NS, uid="u-1"), value=KEY)
        await request(server, "POST", f"/api/v1/namespaces/{NS}/secrets", secret)
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


async def test_triton_itself_rejects_preferred_above_max_and_keeps_serving_the_old_config(
    triton: TritonServer,
) -> None:
    # Why the adapter never sends such a config: checked against the real server.
    old = await model_config(triton)
    bad = {**old, "max_batch_size": 2, "dynamic_batching": {"preferred_batch_size": [4]}}
    client = triton_http.InferenceServerClient(triton.url)
    try:
        with pytest.raises(InferenceServerException) as refused:
            await client.load_model(
                "synth", config=json.dumps(bad), headers={REPOSITORY_KEY_HEADER: KEY}
            )
        assert refused.value.status() != "403", "refused for the config, not for the key"
        assert await client.is_model_ready("synth")
    finally:
        await client.close()
    assert batching_of(await model_config(triton)) == batching_of(old)


async def test_rollout_reloads_live_reads_back_and_stops_at_a_failing_pod(
    triton: TritonServer, kube: tuple[ApiServer, KubeApi]
) -> None:
    server, api = kube
    applier = TritonBatching(api, Settings(triton_timeout_seconds=10))
    rollout = BatchingRollout(api=api, applier=applier)
    current = {("cpu", "a"): CurrentDeployment(replicas=2, ready_replicas=2)}
    want = BatchConfig(max_batch_size=4, max_queue_delay_us=2000, preferred_batch_sizes=(4, 16))
    before = batching_of(await model_config(triton))

    # Pods are visited by name: "a-0" cannot be reached, so "b-1" must be left alone.
    await post_pod(server, "bert-a-0", free_port(), namespace=NS, labels=LABELS)
    await post_pod(server, "bert-b-1", triton.http_port, namespace=NS, labels=LABELS)
    await rollout.run(body=BODY, spec=SPEC, plan=plan(want), current=current)
    assert batching_of(await model_config(triton)) == before
    events = await request(server, "GET", f"/api/v1/namespaces/{NS}/events")
    warnings = [e for e in events["items"] if e["reason"] == FAILED]
    assert len(warnings) == 1
    assert warnings[0]["type"] == "Warning"
    assert "bert-a-0" in warnings[0]["message"]
    # The same failure again: retried, but not a second Event.
    await rollout.run(body=BODY, spec=SPEC, plan=plan(want), current=current)
    events = await request(server, "GET", f"/api/v1/namespaces/{NS}/events")
    assert len([e for e in events["items"] if e["reason"] == FAILED]) == 1

    # The pod is reachable now: the next reconcile applies the config (preferred 16 > 4 dropped).
    await request(
        server,
        "PATCH",
        f"/api/v1/namespaces/{NS}/pods/bert-a-0",
        {"metadata": {"annotations": {"infercost.io/triton-http-port": str(triton.http_port)}}},
    )
    await rollout.run(body=BODY, spec=SPEC, plan=plan(want), current=current)
    after = batching_of(await model_config(triton))
    assert after == BatchConfig(
        max_batch_size=4, max_queue_delay_us=2000, preferred_batch_sizes=(4,)
    )
    client = triton_http.InferenceServerClient(triton.url)
    try:
        assert await client.is_model_ready("synth")
    finally:
        await client.close()


async def test_a_failed_pod_listing_is_a_warning_not_a_crash(
    kube: tuple[ApiServer, KubeApi],
) -> None:
    server, api = kube
    rollout = BatchingRollout(api=api, applier=TritonBatching(api, Settings()))
    current = {("cpu", "a"): CurrentDeployment(replicas=1, ready_replicas=1)}
    # Injected (the emulator cannot be made to refuse otherwise): the pod list answers 403.
    server.fail_next(action="list", plural="pods", status=403)
    await rollout.run(
        body=BODY,
        spec=SPEC,
        plan=plan(BatchConfig(max_batch_size=2, max_queue_delay_us=0)),
        current=current,
    )
    events = await request(server, "GET", f"/api/v1/namespaces/{NS}/events")
    (warning,) = [e for e in events["items"] if e["reason"] == FAILED]
    assert "pods not listed" in warning["message"]
    assert rollout.applied == {}  # nothing remembered: retried at the next reconcile


async def test_no_preferred_sizes_reloads_once_not_every_interval(
    triton: TritonServer, kube: tuple[ApiServer, KubeApi]
) -> None:
    # Triton reads back preferred_batch_size [max] when none was given: still the same config.
    server, api = kube
    await post_pod(server, "bert-c-0", triton.http_port, namespace=NS, labels=LABELS)
    applier = TritonBatching(api, Settings(triton_timeout_seconds=10))
    target = BatchingTarget(
        namespace=NS,
        service="bert",
        variant="cpu",
        pool="a",
        model="synth",
        selector="infercost.io/service=bert,infercost.io/variant=cpu,infercost.io/pool=a",
    )
    want = BatchConfig(max_batch_size=2, max_queue_delay_us=300)
    first = await applier.apply(target, want)
    assert first.failed is None
    assert first.changed == ("bert-c-0",)
    again = await applier.apply(target, want)
    assert (again.failed, again.changed, again.pods) == (None, (), ("bert-c-0",))
