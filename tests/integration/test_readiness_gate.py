"""The batching readiness gate, end to end against the sandbox API server.

The sandbox kubelet honours readiness gates as Kubernetes does: a pod whose containers are
ready is Ready (and counted in the Deployment's readyReplicas) only once the operator opened
its batching gate, and the kubelet's own status writes never drop the gate's condition (the
node agent's Triton factory and Prometheus are not involved in that step: None).

The embedded operator creates the service's repository key Secret, and admits a new pod
whose REAL tritonserver was started with that key (as the kubelet would expand it) only
after loading the chosen batching into it.
"""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
import tritonclient.http.aio as triton_http

from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.adapters.pod_gate import open_gate
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.engine.model import Allocation, BatchConfig
from infercost.localtriton import SyntheticModel, TritonServer
from infercost.manifests import (
    ANNOTATION_BATCHING,
    ManifestSettings,
    Owner,
    batching_from_annotation,
    children,
)
from infercost.manifests.triton_access import (
    BATCHING_GATE,
    REPOSITORY_KEY_HEADER,
    repository_key_of,
    repository_key_secret,
    repository_key_secret_name,
)
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.client import Api, is_ready
from infercost.sandbox.nodeagent import NodeAgent, PodRun
from infercost.sandbox.podenv import restricted_args
from infercost.sandbox.triton import Ports
from tests.integration import objects as o
from tests.integration.conftest import OperatorFactory, call, eventually

pytestmark = pytest.mark.integration
NS = "ml"
POD = f"/api/v1/namespaces/{NS}/pods/bert-0"


def conditions(pod: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}


async def test_a_gated_pod_is_ready_only_once_its_gate_is_true(api: ApiServer) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bert-0", "namespace": NS},
        "spec": {
            "readinessGates": [{"conditionType": BATCHING_GATE}],
            "containers": [{"name": "triton", "image": "triton"}],
        },
    }
    await call(api, "POST", f"/api/v1/namespaces/{NS}/pods", pod)
    await call(api, "PATCH", f"{POD}/status", {"status": {"phase": "Running", "podIP": "1.2.3.4"}})
    client = Api(str(api.url))
    agent = NodeAgent(api=client, triton=cast(Any, None), prometheus=cast(Any, None))
    run = PodRun(
        name="bert-0",
        namespace=NS,
        deployment="bert",
        pool="a",
        model="synth",
        ports=Ports(http=1, grpc=2, metrics=3),
        created=time.monotonic(),
        provisioning=0,
        startup=0,
        labels={},
        containers_ready=True,  # Triton answered its readiness probe
    )
    kube = KubeApi(Credentials(server=str(api.url)))
    try:
        await agent._readiness(run, await call(api, "GET", POD))
        live = await call(api, "GET", POD)
        assert conditions(live) == {
            "PodScheduled": "True",
            "ContainersReady": "True",
            "Ready": "False",
        }
        assert not run.ready
        assert not is_ready(live)

        # The operator opens the gate after the kubelet read the pod: the kubelet's write
        # from that stale read is refused (resourceVersion), never dropping the condition.
        await open_gate(kube, live, message="loaded")
        await agent._readiness(run, live)
        live = await call(api, "GET", POD)
        assert conditions(live)[BATCHING_GATE] == "True"
        assert conditions(live)["Ready"] == "False"
        assert not run.ready

        await agent._readiness(run, live)  # the next tick reads it again
        live = await call(api, "GET", POD)
        assert conditions(live)[BATCHING_GATE] == "True", "the kubelet kept the gate's condition"
        assert conditions(live)["Ready"] == "True"
        assert run.ready
        assert is_ready(live)
    finally:
        await kube.close()
        await client.close()


async def test_the_operator_keys_triton_and_admits_a_new_pod_after_loading_it(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    await admit_a_new_pod(api, start_operator)


async def admit_a_new_pod(api: ApiServer, start_operator: OperatorFactory) -> None:
    """A service's Secret made, a new pod's real Triton loaded and its gate opened (also the
    RBAC test's workload for `secrets` and `pods/status`)."""
    await call(api, "POST", o.POOLS, o.CPU)
    await call(api, "POST", o.ISVC, o.service("bert", o.CPU_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=50.0, p99_ms=10.0)
    secrets = f"/api/v1/namespaces/{o.NS}/secrets"

    async def key() -> str | None:
        listed = await call(api, "GET", secrets)
        found = [s for s in listed["items"] if s["metadata"]["name"] == "bert-triton-key"]
        return repository_key_of(found[0]) if found else None

    value = await eventually(key, what="the repository key Secret")
    assert repository_key_secret_name("bert") == "bert-triton-key"

    async def bert_deployments() -> list[dict[str, Any]]:
        return [d for d in await deployments(api) if d["metadata"]["name"].startswith("bert-")]

    deployment = (await eventually(bert_deployments, what="a Deployment"))[0]
    chosen = batching_from_annotation(deployment["metadata"]["annotations"][ANNOTATION_BATCHING])
    assert chosen is not None

    # The kubelet starts Triton with the key the pod's env var reads from the Secret.
    model = SyntheticModel(name="bert_base", base_ms=2, per_item_ms=1, max_batch_size=1)
    with TritonServer([model], repository_key=(REPOSITORY_KEY_HEADER, value)) as triton:
        template = deployment["spec"]["template"]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "bert-new",
                "namespace": o.NS,
                "labels": template["metadata"]["labels"],
                "annotations": {"infercost.io/triton-http-port": str(triton.http_port)},
            },
            "spec": template["spec"],
        }
        await call(api, "POST", f"/api/v1/namespaces/{o.NS}/pods", pod)
        started = {
            "phase": "Running",
            "podIP": "127.0.0.1",
            "conditions": [
                {"type": "ContainersReady", "status": "True"},
                {"type": "Ready", "status": "False"},
            ],
        }
        url = f"/api/v1/namespaces/{o.NS}/pods/bert-new"
        await call(api, "PATCH", f"{url}/status", {"status": started})

        async def admitted() -> bool:
            return conditions(await call(api, "GET", url)).get(BATCHING_GATE) == "True"

        await eventually(admitted, what="the batching gate opened")
        client = triton_http.InferenceServerClient(triton.url)
        try:
            config = await client.get_model_config("bert_base")
        finally:
            await client.close()
        assert int(config["max_batch_size"]) == max(1, chosen.max_batch_size)
    await operator.stop()


async def deployments(api: ApiServer) -> list[dict[str, Any]]:
    listed = await call(api, "GET", o.DEPLOYMENTS)
    return list(listed["items"])


async def test_the_sandbox_kubelet_starts_triton_with_the_pods_expanded_key(
    api: ApiServer,
) -> None:
    owner = Owner(name="bert", namespace=NS, uid="u-1")
    allocation = Allocation(
        variant="onnx-cpu",
        pool="cpu-pool",
        replicas=1,
        batching=BatchConfig(max_batch_size=4, max_queue_delay_us=100),
        hourly_cost=1.0,
        throughput_per_replica=10.0,
    )
    (deployment,) = [
        c
        for c in children(
            owner=owner,
            spec=InferenceServiceSpec.model_validate(o.service("bert", o.CPU_VARIANT)["spec"]),
            pools={"cpu-pool": AcceleratorPoolSpec.model_validate(o.CPU["spec"])},
            allocations=[allocation],
            settings=ManifestSettings(),
            with_pod_monitor=False,
        )
        if c["kind"] == "Deployment"
    ]
    pod = {**deployment["spec"]["template"], "metadata": {"name": "bert-0", "namespace": NS}}
    client = Api(str(api.url))
    try:
        assert await restricted_args(client, pod) is None, "no Secret yet: the kubelet waits"
        secret = repository_key_secret(owner=owner, value="k3y")
        await call(api, "POST", f"/api/v1/namespaces/{NS}/secrets", secret)
        assert await restricted_args(client, pod) == [
            f"--http-restricted-api=model-repository:{REPOSITORY_KEY_HEADER}=k3y",
            f"--grpc-restricted-protocol=model-repository:{REPOSITORY_KEY_HEADER}=k3y",
        ]
    finally:
        await client.close()
