"""Fixtures of the activator's e2e tests (test_activator*.py; helpers in
tests/support/activator.py): the sandbox API server holding the InferenceService `bert`, the
activator's Kubernetes client, and a real tritonserver not yet started (the replica the
operator would start) on ports chosen before the activator starts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import kmock
import pytest

from infercost.kubeclient import Credentials, Transport
from infercost.localtriton import TritonServer
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.prometheus import free_port
from tests.integration import objects as o
from tests.integration.conftest import call
from tests.support.activator import MODEL


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
