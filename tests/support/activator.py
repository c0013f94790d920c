"""The activator's e2e fixtures and clients (tests/e2e/test_activator*.py): the sandbox API
server holding the InferenceService, a real tritonserver not yet started (the replica the
operator would start), and the activator in front of where it will answer."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import tritonclient.http.aio as triton_http
import yaml

from infercost.activator import WAKE_ANNOTATION, Activator, Listen, Target, WakeTiming
from infercost.kubeclient import Transport
from infercost.localtriton import SyntheticModel
from infercost.sandbox.apiserver import ApiServer
from tests.integration import objects as o
from tests.integration.conftest import call

MODEL = SyntheticModel(base_ms=5, per_item_ms=1, max_batch_size=1)
SERVICE = f"{o.ISVC}/bert"
# Client timeouts above everything the tests wait for: a loaded 2-core machine starts
# tritonserver in tens of seconds; the answer must come from the activator, not a timeout.
CLIENT_TIMEOUT = 300.0
GRPC_CLIENT = Path(__file__).with_name("grpc_infer.py")  # run by the Triton venv
INFERCOST = str(Path(sys.executable).parent / "infercost")


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
