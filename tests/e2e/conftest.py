"""Fixtures of the e2e tests.

The activator's (test_activator*.py; helpers in tests/support/activator.py): the sandbox API
server holding the InferenceService `bert`, the activator's Kubernetes client, and a real
tritonserver not yet started (the replica the operator would start) on ports chosen before the
activator starts. The sandbox runs that test_sandbox*.py read (`sandbox_runs`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import kmock
import pytest

from infercost.kubeclient import Credentials, Transport
from infercost.localtriton import TritonServer
from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.prometheus import free_port
from tests.integration import objects as o
from tests.integration.conftest import call
from tests.support.activator import MODEL
from tests.support.sandbox_run import SandboxRun

ROOT = Path(__file__).resolve().parents[2]


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


# The e2e modules that read a sandbox run, and the scenario of each (examples/sandbox/).
SANDBOX_SCENARIOS = {
    "test_sandbox.py": ("step-test.yaml",),
    "test_sandbox_capacity.py": ("spill.yaml", "reclaim.yaml"),
    "test_sandbox_zero.py": ("zero.yaml",),
}


@pytest.fixture(scope="session")
def sandbox_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, SandboxRun]]:
    """Every sandbox scenario a selected test reads, all started at the first test that asks
    (tests/support/sandbox_run.py says why); by scenario file name. Those still running when
    the session ends are stopped."""
    selected = {item.path.name for item in request.session.items}
    runs = {
        scenario: SandboxRun(
            ROOT / "examples" / "sandbox" / scenario,
            tmp_path_factory.mktemp("sandbox") / "run",
        )
        for module, scenarios in SANDBOX_SCENARIOS.items()
        if module in selected
        for scenario in scenarios
    }
    yield runs
    for run in runs.values():
        run.stop()
