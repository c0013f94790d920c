"""Other things in the same cluster: KServe's InferenceService, and a second operator replica."""

from __future__ import annotations

import pytest

from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import OPERATOR_AGENTS, OperatorFactory, call, eventually
from tests.integration.test_placement import deployments, status_of

pytestmark = pytest.mark.integration

KSERVE = f"/apis/serving.kserve.io/v1beta1/namespaces/{o.NS}/inferenceservices"


@pytest.mark.apiserver(kserve=True)
async def test_kserve_inference_service_of_the_same_name_is_untouched(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    kserve = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "bert", "namespace": o.NS},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}}}},
    }
    created = await call(api, "POST", KSERVE, kserve)
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator()
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics
    await eventually(lambda: deployments(api, "bert"), what="our children")
    await eventually(lambda: status_of(api, "bert"), what="our status")
    theirs = await call(api, "GET", f"{KSERVE}/bert")
    assert theirs == created  # same resourceVersion, no finalizer, no status, nothing
    touched = [r for r in api.request_log(agents=OPERATOR_AGENTS) if r[1] == "serving.kserve.io"]
    assert touched == []  # not even watched
    await operator.stop()


async def test_peering_lets_replicas_coordinate(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    peering = {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": "infercost"},
        "status": {},
    }
    await call(api, "POST", "/apis/kopf.dev/v1/clusterkopfpeerings", peering)
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator(peering="infercost")
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics
    await eventually(lambda: deployments(api, "bert"), what="children under peering")

    async def announced() -> bool:
        body = await call(api, "GET", "/apis/kopf.dev/v1/clusterkopfpeerings/infercost")
        return bool(body.get("status"))  # kopf writes its presence into the peering object

    await eventually(announced, what="the operator's presence in the peering object")
    await operator.stop()


async def test_peering_in_one_namespace_uses_the_namespaced_peering(
    api: ApiServer, start_operator: OperatorFactory
) -> None:
    # `run --namespace ml --peering infercost` (the chart with watchNamespace and peering):
    # kopf keeps its presence in a KopfPeering of that namespace, not the cluster-wide kind.
    peering = {
        "apiVersion": "kopf.dev/v1",
        "kind": "KopfPeering",
        "metadata": {"name": "infercost", "namespace": o.NS},
        "status": {},
    }
    url = f"/apis/kopf.dev/v1/namespaces/{o.NS}/kopfpeerings"
    await call(api, "POST", url, peering)
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    operator = await start_operator(peering="infercost", namespace=o.NS, all_namespaces=False)
    operator.load(o.NS, "bert", rps=1000.0, p99_ms=5.0)  # FAKE metrics
    await eventually(lambda: deployments(api, "bert"), what="children under namespaced peering")

    async def announced() -> bool:
        body = await call(api, "GET", f"{url}/infercost")
        return bool(body.get("status"))

    await eventually(announced, what="the operator's presence in the namespaced peering")
    await operator.stop()
