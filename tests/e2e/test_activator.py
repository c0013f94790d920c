"""The activator (issue 22) against the real components: the sandbox API server holds the
InferenceService, a real tritonserver is the replica the operator would start.

A request sent while no replica runs is held; the wake annotation appears on the
InferenceService; a tritonserver started then (as the operator would on that annotation)
answers the held request with the model's output. Without a replica the client gets 503 with
the reason: at the wake timeout, or at once when the service's `Placed` condition says no
replica can start. Waits are on conditions with generous deadlines, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import kmock
import numpy as np
import pytest
import tritonclient.http.aio as triton_http

from infercost.activator import WAKE_ANNOTATION, Activator, Listen, Target, WakeTiming
from infercost.kubeclient import Credentials, Transport
from infercost.localtriton import SyntheticModel, TritonServer
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.prometheus import free_port
from tests.integration import objects as o
from tests.integration.conftest import call, eventually

pytestmark = pytest.mark.e2e
MODEL = SyntheticModel(base_ms=5, per_item_ms=1, max_batch_size=1)
SERVICE = f"{o.ISVC}/bert"
# Client timeouts above everything the tests wait for: a loaded 2-core machine starts
# tritonserver in tens of seconds; the answer must come from the activator, not a timeout.
CLIENT_TIMEOUT = 300.0
GRPC_CLIENT = Path(__file__).with_name("grpc_infer.py")


@pytest.fixture
async def api() -> AsyncIterator[ApiServer]:
    async with ApiServer() as server, kmock.Server(server):
        await call(server, "POST", o.ISVC, o.service("bert", o.CPU_VARIANT))
        yield server


@pytest.fixture
async def kube(api: ApiServer) -> AsyncIterator[Transport]:
    """The activator's Kubernetes client, against the sandbox API server."""
    transport = Transport(Credentials(server=str(api.url)))
    yield transport
    await transport.close()


@pytest.fixture
def backend_ports() -> tuple[int, int]:
    """Where the replica will answer (HTTP, gRPC); nothing listens there yet."""
    return free_port(), free_port()


@pytest.fixture
def replica(backend_ports: tuple[int, int]) -> Iterator[TritonServer]:
    """A real tritonserver, not started: the test starts it as the operator would."""
    http_port, grpc_port = backend_ports
    server = TritonServer([MODEL], http_port=http_port, grpc_port=grpc_port)
    yield server
    server.stop()


def activator_for(
    kube: Transport, backend_ports: tuple[int, int], *, wake_timeout: float = 240.0
) -> Activator:
    http_port, grpc_port = backend_ports
    return Activator(
        target=Target(
            namespace=o.NS,
            name="bert",
            backend_host="127.0.0.1",
            backend_http_port=http_port,
            backend_grpc_port=grpc_port,
        ),
        kube=kube,
        timing=WakeTiming(
            wake_timeout_seconds=wake_timeout, ready_poll_seconds=0.2, ready_poll_max_seconds=1.0
        ),
        listen=Listen(host="127.0.0.1", http_port=0, grpc_port=0, metrics_port=0),
        max_request_bytes=1 << 20,
    )


async def infer_http(port: int, value: float) -> list[list[float]]:
    client = triton_http.InferenceServerClient(f"127.0.0.1:{port}", conn_timeout=CLIENT_TIMEOUT)
    try:
        tensor = triton_http.InferInput("INPUT0", [1, 1], "FP32")
        tensor.set_data_from_numpy(np.array([[value]], dtype=np.float32))
        result = await client.infer(MODEL.name, [tensor])
        return result.as_numpy("OUTPUT0").tolist()  # type: ignore[no-any-return]
    finally:
        await client.close()


async def metric(activator: Activator, name: str, **labels: str) -> float:
    """One sample of the activator's /metrics, read over HTTP as Prometheus would."""
    url = f"http://127.0.0.1:{activator.metrics_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def wake_requested(api: ApiServer) -> str | None:
    service = await call(api, "GET", SERVICE)
    return (service["metadata"].get("annotations") or {}).get(WAKE_ANNOTATION)  # type: ignore[no-any-return]


async def test_a_request_at_zero_is_held_wakes_the_service_and_is_answered(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int], replica: TritonServer
) -> None:
    async with activator_for(kube, backend_ports) as activator:
        sent = time.monotonic()
        answer = asyncio.create_task(infer_http(activator.http_port, 3.5))

        async def held() -> bool:
            return (
                await metric(activator, "infercost_activator_requests_held", protocol="http") == 1
            )

        await eventually(held, timeout=60, what="the request held")
        stamp = await eventually(lambda: wake_requested(api), timeout=60, what="wake annotation")
        assert stamp.endswith("Z")  # RFC 3339, UTC
        assert not answer.done(), answer  # held, not failed: no replica runs yet
        # The operator's part, played by the test: a replica starts on the annotation.
        await asyncio.to_thread(replica.start)
        assert await asyncio.wait_for(answer, timeout=CLIENT_TIMEOUT) == [[3.5]]
        waited = time.monotonic() - sent
        cold = await metric(activator, "infercost_cold_start_seconds_sum")
        assert await metric(activator, "infercost_cold_start_seconds_count") == 1
        assert 0 < cold <= waited
        print(f"\nheld request answered after {waited:.1f}s; cold start (metric) {cold:.1f}s")
        # Awake now: the next request is forwarded at once, no second cold start.
        assert await infer_http(activator.http_port, -1.25) == [[-1.25]]
        assert await metric(activator, "infercost_cold_start_seconds_count") == 1
        forwarded = await metric(
            activator, "infercost_activator_requests_total", protocol="http", outcome="forwarded"
        )
        assert forwarded == 2
