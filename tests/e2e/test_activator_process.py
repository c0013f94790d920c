"""The activator (issue 22) against the real components: gRPC through the splice with
Triton's own gRPC client, and `infercost activator` as its own process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from infercost.kubeclient import Transport
from infercost.localtriton import TritonServer
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.prometheus import free_port
from tests.integration import objects as o
from tests.integration.conftest import eventually
from tests.support.activator import (
    CLIENT_TIMEOUT,
    INFERCOST,
    activator_for,
    grpc_client,
    infer_http,
    kubeconfig,
    metric,
    wake_requested,
)

pytestmark = pytest.mark.e2e


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
