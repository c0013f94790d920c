"""End to end: Advise mode's read of a REAL Triton through REAL Prometheus, by pod.

Real: one tritonserver (nvidia-pytriton's binary, infercost.localtriton's synthetic model,
max_batch_size 4), Prometheus (Debian's) scraping it every second with only the labels a
PodMonitor gives any pod (`namespace`, `pod`: none of infercost's contract labels), the
sandbox API server holding the user's Deployment, its Node and its Pod (whose podIP and port
annotation reach the real server), and Poisson load from tritonclient aio. The advisor
(controller/advise.py) runs its rounds as the operator does, with the Prometheus adapter and
the Kubernetes adapter; the test checks the demand it reads against the load it sends, the
batching it reads from Triton, and that it wrote nothing but the status it hands back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import kmock
import pytest
from prometheus_client import CollectorRegistry

from infercost.adapters.kubernetes import Credentials, KubeApi
from infercost.adapters.prometheus import PrometheusMetrics
from infercost.api.pool import AcceleratorPoolSpec
from infercost.api.service import InferenceServiceSpec
from infercost.controller.advise import Advisor
from infercost.engine.model import PoolView, ServiceState
from infercost.localtriton import SyntheticModel, TritonServer
from infercost.localtriton.loadgen import poisson_load
from infercost.sandbox.apiserver import ApiServer
from infercost.settings import Settings
from tests.integration.conftest import call
from tests.support.prometheus import LocalPrometheus

pytestmark = pytest.mark.e2e
NS = "ml"
RATE = 40.0  # requests/s sent (one inference each)
WINDOW = "10s"
MODEL = SyntheticModel(name="synth", base_ms=5, per_item_ms=1, max_batch_size=4)
PRICE = 0.714
POOL = {
    "accelerator": {"type": "cpu", "resourceName": "cpu", "perNode": 16},
    "nodeSelector": {"node.kubernetes.io/instance-type": "c7i.4xlarge"},
    "pricing": {"hourlyPerNode": PRICE},
}
SPEC = {
    "mode": "Advise",
    "advise": {"targetRef": {"name": "synth-triton"}},
    "model": {"name": "synth"},
    "variants": [
        {
            "name": "cpu",
            "acceleratorTypes": ["cpu"],
            "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
            "modelRepository": "s3://models/synth",
            "acceleratorsPerReplica": 4,
            "profile": [
                {"acceleratorType": "cpu", "batchSize": b, "throughput": t, "p99LatencyMs": ms}
                for b, t, ms in ((1, 150.0, 9.0), (4, 400.0, 14.0))
            ],
        }
    ],
    "slo": {"latencyMs": 200},
    "scaling": {"minReplicas": 1, "maxReplicas": 4},
}


def target(port: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The user's Deployment (3 replicas asking 4 CPUs each), its Node and its one live Pod."""
    container = {
        "name": "triton",
        "image": "nvcr.io/nvidia/tritonserver:24.08-py3",
        "resources": {"requests": {"cpu": "4"}},
    }
    labels = {"app": "synth-triton"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "synth-triton", "namespace": NS},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
        },
    }
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "c7i-a", "labels": POOL["nodeSelector"]},
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "synth-triton-0",
            "namespace": NS,
            "labels": labels,
            "annotations": {"infercost.io/triton-http-port": str(port)},
        },
        "spec": {"nodeName": "c7i-a", "containers": [container]},
    }
    return deployment, node, pod


@pytest.fixture
async def world() -> AsyncIterator[tuple[TritonServer, LocalPrometheus, ApiServer]]:
    prom = await asyncio.to_thread(LocalPrometheus().start)
    triton = await asyncio.to_thread(TritonServer([MODEL]).start)
    try:
        prom.add_target(
            f"127.0.0.1:{triton.metrics_port}", {"namespace": NS, "pod": "synth-triton-0"}
        )
        async with ApiServer() as api, kmock.Server(api):
            yield triton, prom, api
    finally:
        triton.stop()
        prom.close()


async def test_advice_reads_a_real_triton_by_pod_through_prometheus(
    world: tuple[TritonServer, LocalPrometheus, ApiServer],
) -> None:
    triton, prom, api = world
    deployment, node, pod = target(int(triton.url.rsplit(":", 1)[1]))
    await call(api, "POST", f"/apis/apps/v1/namespaces/{NS}/deployments", deployment)
    await call(api, "POST", "/api/v1/nodes", node)
    await call(api, "POST", f"/api/v1/namespaces/{NS}/pods", pod)
    ready = {"podIP": "127.0.0.1", "phase": "Running"}
    ready["conditions"] = [{"type": "Ready", "status": "True"}]  # type: ignore[assignment]
    await call(
        api, "PATCH", f"/api/v1/namespaces/{NS}/pods/synth-triton-0/status", {"status": ready}
    )
    writes_before = len(api.request_log())

    settings = Settings(
        prometheus_url=prom.url, prometheus_rate_window=WINDOW, control_interval_seconds=2.0
    )
    kube = KubeApi(Credentials(server=str(api.url)))
    advisor = Advisor(
        reader=kube,
        metrics=PrometheusMetrics(settings),
        settings=settings,
        registry=CollectorRegistry(),
    )
    pools = (
        PoolView(
            name="c7i-4xlarge",
            labels={},
            spec=AcceleratorPoolSpec.model_validate(POOL),
            hourly_per_node=PRICE,
        ),
    )
    spec = InferenceServiceSpec.model_validate(SPEC)
    body = {"metadata": {"name": "synth", "namespace": NS, "generation": 1}}
    written: list[dict[str, Any]] = []

    async def write_status(status: Any) -> None:
        written.append(dict(status))

    load = asyncio.create_task(poisson_load(triton.url, model="synth", rate=RATE, seconds=120))
    state, loop = ServiceState(), asyncio.get_running_loop()
    try:
        # Rounds as the operator runs them, until the rate window lies inside the load.
        started, advice = loop.time(), {}
        while loop.time() - started < 100:
            state = await advisor.advise(
                (NS, "synth"),
                body=body,
                spec=spec,
                pools=pools,
                state=state,
                now=time.time(),
                write_status=write_status,
            )
            advice = written[-1]["advice"]
            if advice.get("demandRps") and loop.time() - started > 15:
                break
            await asyncio.sleep(2.0)
    finally:
        load.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await load
        await kube.close()

    demand = advice.get("demandRps")
    print(f"advice over real Triton: demand {demand} req/s for {RATE} sent; {advice}")
    assert demand is not None, advice
    assert abs(demand - RATE) / RATE < 0.25, advice
    current = advice["current"]
    assert current["batching"]["maxBatchSize"] == MODEL.max_batch_size  # read from Triton
    assert "synth-triton-0" in current["batchingSource"]
    assert current["pool"] == "c7i-4xlarge"
    assert current["hourlyCost"] == pytest.approx(3 * PRICE * 4 / 16)
    assert advice["replicas"] == 1  # 40 req/s is well inside one replica
    assert advice["savingPerHour"] == pytest.approx(current["hourlyCost"] - advice["hourlyCost"])
    assert written[-1]["conditions"][0]["reason"] == "Advised"
    verbs = {verb for verb, *_ in api.request_log()[writes_before:]}
    assert verbs <= {"list"}, "the advisor only lists"
