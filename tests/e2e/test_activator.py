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
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import kmock
import numpy as np
import pytest
import tritonclient.http.aio as triton_http
import yaml
from tritonclient.utils import InferenceServerException

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
INFERCOST = str(Path(sys.executable).parent / "infercost")


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


async def raw_post(port: int) -> dict[str, Any]:
    """An inference request as plain HTTP: the status and the JSON body the client gets."""
    url = f"http://127.0.0.1:{port}/v2/models/{MODEL.name}/infer"
    body = {"inputs": [{"name": "INPUT0", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}
    timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, json=body) as response,
    ):
        return {"status": response.status, "body": await response.json(content_type=None)}


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
        values = [3.5, -2.0, 0.0, 17.25, 1e6]  # several requests held by one wake
        answers = [asyncio.create_task(infer_http(activator.http_port, v)) for v in values]
        # One more that hangs up while held: let go, not counted as held any longer.
        leaver = asyncio.create_task(raw_post(activator.http_port))

        async def held(count: int) -> bool:
            held = await metric(activator, "infercost_activator_requests_held", protocol="http")
            return held == count

        await eventually(lambda: held(len(values) + 1), timeout=60, what="the requests held")
        stamp = await eventually(lambda: wake_requested(api), timeout=60, what="wake annotation")
        assert stamp.endswith("Z")  # RFC 3339, UTC
        leaver.cancel()
        await eventually(lambda: held(len(values)), timeout=60, what="the leaver let go")
        assert not any(answer.done() for answer in answers)  # held, not failed
        # The operator's part, played by the test: a replica starts on the annotation.
        await asyncio.to_thread(replica.start)
        outputs = await asyncio.wait_for(asyncio.gather(*answers), timeout=CLIENT_TIMEOUT)
        assert outputs == [[[v]] for v in values]
        waited = time.monotonic() - sent
        cold = await metric(activator, "infercost_cold_start_seconds_sum")
        assert await metric(activator, "infercost_cold_start_seconds_count") == 1
        assert 0 < cold <= waited
        print(f"\nheld requests answered after {waited:.1f}s; cold start (metric) {cold:.1f}s")
        # Awake now: the next request is forwarded at once, no second cold start.
        assert await infer_http(activator.http_port, -1.25) == [[-1.25]]
        assert await metric(activator, "infercost_cold_start_seconds_count") == 1
        forwarded = await metric(
            activator, "infercost_activator_requests_total", protocol="http", outcome="forwarded"
        )
        assert forwarded == len(values) + 1
        assert await metric(activator, "infercost_activator_wakes_total", outcome="ready") == 1
        # A figure, not an assertion: the hop the activator adds while it is in the path.
        via = await median_latency_ms(activator.http_port)
        direct = await median_latency_ms(replica.http_port)
        print(f"median of 50 requests: {via:.2f} ms via the activator, {direct:.2f} ms direct")


async def median_latency_ms(port: int, count: int = 50) -> float:
    client = triton_http.InferenceServerClient(f"127.0.0.1:{port}", conn_timeout=CLIENT_TIMEOUT)
    tensor = triton_http.InferInput("INPUT0", [1, 1], "FP32")
    tensor.set_data_from_numpy(np.array([[0.5]], dtype=np.float32))
    times = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            await client.infer(MODEL.name, [tensor])
            times.append((time.perf_counter() - start) * 1e3)
    finally:
        await client.close()
    return float(np.median(times))


async def test_without_a_replica_the_held_request_gets_503_at_the_wake_timeout(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int]
) -> None:
    """No replica ever starts (a wake the operator cannot serve and does not report): the
    client gets 503 with the reason at the wake timeout, well before its own timeout."""
    async with activator_for(kube, backend_ports, wake_timeout=3.0) as activator:
        with pytest.raises(InferenceServerException) as refused:
            await asyncio.wait_for(infer_http(activator.http_port, 1.0), timeout=CLIENT_TIMEOUT)
        assert refused.value.status() == "503"
        assert "WakeTimeout" in refused.value.message()
        assert "wake timeout of 3s" in refused.value.message()
        assert await wake_requested(api)
        # Nothing is left held, and the next request starts a wake of its own.
        assert await metric(activator, "infercost_activator_requests_held", protocol="http") == 0
        answer = await raw_post(activator.http_port)
        assert answer["status"] == 503
        assert answer["body"]["reason"] == "WakeTimeout"
        assert answer["body"]["service"] == f"{o.NS}/bert"
        assert (
            await metric(activator, "infercost_activator_wakes_total", outcome="WakeTimeout") == 2
        )
        assert await metric(activator, "infercost_cold_start_seconds_count") == 0


async def test_a_service_that_cannot_be_placed_answers_the_held_request_at_once(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int]
) -> None:
    """The InferenceService says no replica can start (its pool is full): the held request
    gets 503 with that reason without waiting for the wake timeout (an hour here, beyond the
    client's own timeout: an answer at all proves it did not wait it out)."""
    async with activator_for(kube, backend_ports, wake_timeout=3600.0) as activator:
        answer = asyncio.create_task(raw_post(activator.http_port))
        await eventually(lambda: wake_requested(api), timeout=60, what="wake annotation")
        assert not answer.done(), answer
        condition = {
            "type": "Placed",
            "status": "False",
            "reason": "PoolCapacityExhausted",
            "message": "pool c7i-4xlarge: 2 replicas unschedulable for 180s",
            "lastTransitionTime": "2026-12-06T12:00:00Z",
        }
        await call(api, "PATCH", f"{SERVICE}/status", {"status": {"conditions": [condition]}})
        reply = await asyncio.wait_for(answer, timeout=CLIENT_TIMEOUT)
        assert reply["status"] == 503
        assert reply["body"]["reason"] == "PoolCapacityExhausted"
        assert "unschedulable" in reply["body"]["message"]
        assert "could not be woken" in reply["body"]["error"]


async def grpc_client(
    python: Path, port: int, value: float, *, connect_timeout: float | None = None
) -> asyncio.subprocess.Process:
    extra = [] if connect_timeout is None else [str(connect_timeout)]
    return await asyncio.create_subprocess_exec(
        str(python),
        str(GRPC_CLIENT),
        f"127.0.0.1:{port}",
        str(value),
        str(CLIENT_TIMEOUT),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def test_a_grpc_call_at_zero_is_held_through_the_splice_within_the_connect_timeout(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int], replica: TritonServer
) -> None:
    """Triton's own gRPC client (from the Triton venv: grpcio is not in the project's venv).

    Two calls held together past gRPC's default connect timeout (20 s for the server's HTTP/2
    SETTINGS frame, which the splice sends only once a replica answers): the call with the
    default fails UNAVAILABLE, as docs/levers.md says; the call whose client raised its
    connect timeout (`grpc.min_reconnect_backoff_ms`) is held and answered by the replica.
    """
    python = replica.venv / "bin" / "python"
    async with activator_for(kube, backend_ports) as activator:
        patient = await grpc_client(python, activator.grpc_port, 7.25, connect_timeout=240)
        default = await grpc_client(python, activator.grpc_port, 2.0)

        async def held() -> bool:
            return (
                await metric(activator, "infercost_activator_requests_held", protocol="grpc") == 2
            )

        await eventually(held, timeout=120, what="both gRPC connections held")
        await eventually(lambda: wake_requested(api), timeout=60, what="wake annotation")
        # The wake is left waiting until the default client gives up (a deliberately long
        # cold start): gRPC's connect timeout ends its call, then the replica starts.
        failed, _ = await asyncio.wait_for(default.communicate(), timeout=CLIENT_TIMEOUT)
        assert default.returncode == 1, failed.decode()
        assert "UNAVAILABLE" in failed.decode()
        assert "SETTINGS" in failed.decode()
        assert patient.returncode is None  # still held: its connect timeout is longer
        await asyncio.to_thread(replica.start)
        output, _ = await asyncio.wait_for(patient.communicate(), timeout=CLIENT_TIMEOUT)
        assert patient.returncode == 0, output.decode()
        assert json.loads(output.decode().strip().splitlines()[-1]) == [[7.25]]
        assert await metric(activator, "infercost_cold_start_seconds_count") == 1
        cold = await metric(activator, "infercost_cold_start_seconds_sum")
        print(f"\ngRPC call held through a {cold:.1f}s cold start and answered")
        gone = await metric(
            activator, "infercost_activator_requests_total", protocol="grpc", outcome="client_gone"
        )
        assert gone >= 1  # the default client's connections, closed while held


async def test_infercost_activator_as_its_own_process_holds_wakes_answers_and_stops(
    api: ApiServer, backend_ports: tuple[int, int], replica: TritonServer, tmp_path: Path
) -> None:
    """`infercost activator` as a pod runs it: credentials from KUBECONFIG, ports from flags,
    settings from the environment; SIGTERM stops it cleanly."""
    config = kubeconfig(tmp_path / "kubeconfig", str(api.url))
    http_port, grpc_port, metrics_port = free_port(), free_port(), free_port()
    env = dict(os.environ, KUBECONFIG=str(config), INFERCOST_ACTIVATOR_READY_POLL_SECONDS="0.2")
    process = await asyncio.create_subprocess_exec(
        INFERCOST,
        "activator",
        *("--service", "bert", "--namespace", o.NS, "--backend", "127.0.0.1"),
        *("--backend-http-port", str(backend_ports[0])),
        *("--backend-grpc-port", str(backend_ports[1])),
        *("--http-port", str(http_port), "--grpc-port", str(grpc_port)),
        *("--metrics-port", str(metrics_port)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:

        async def healthy() -> bool:
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"http://127.0.0.1:{metrics_port}/healthz") as response,
                ):
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(healthy, timeout=120, what="the activator listening")
        answer = asyncio.create_task(infer_http(http_port, 4.5))
        await eventually(lambda: wake_requested(api), timeout=60, what="wake annotation")
        assert not answer.done(), answer
        await asyncio.to_thread(replica.start)
        assert await asyncio.wait_for(answer, timeout=CLIENT_TIMEOUT) == [[4.5]]
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, output.decode()
    assert "a replica is ready after" in output.decode()


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sandbox",
                "clusters": [{"name": "sandbox", "cluster": {"server": server}}],
                "users": [{"name": "activator", "user": {"token": "activator-token"}}],
                "contexts": [
                    {"name": "sandbox", "context": {"cluster": "sandbox", "user": "activator"}}
                ],
            }
        )
    )
    return path


async def test_a_request_held_when_the_activator_stops_gets_503_not_a_dropped_connection(
    api: ApiServer, kube: Transport, backend_ports: tuple[int, int]
) -> None:
    """A pod's SIGTERM while requests are held: they get the reason, then the listener goes."""
    async with activator_for(kube, backend_ports) as activator:
        answer = asyncio.create_task(raw_post(activator.http_port))
        await eventually(lambda: wake_requested(api), timeout=60, what="wake annotation")
        assert not answer.done(), answer
    reply = await asyncio.wait_for(answer, timeout=CLIENT_TIMEOUT)
    assert reply["status"] == 503
    assert reply["body"]["reason"] == "ActivatorStopping"
