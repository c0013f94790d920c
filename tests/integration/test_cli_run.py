"""`infercost run` as users start it: its own process, credentials from KUBECONFIG, flags."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.rbac import OPERATOR_TOKEN
from tests.integration import objects as o
from tests.integration.conftest import call, eventually
from tests.integration.test_placement import deployments, status_of
from tests.integration.test_telemetry import free_port

pytestmark = pytest.mark.integration
INFERCOST = str(Path(sys.executable).parent / "infercost")


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "sandbox",
                "clusters": [{"name": "sandbox", "cluster": {"server": server}}],
                # the operator's service-account token: the server holds it to the ClusterRole
                "users": [{"name": "me", "user": {"token": OPERATOR_TOKEN}}],
                "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "me"}}],
            }
        )
    )
    return path


async def test_run_dry_run_with_kubeconfig_and_liveness(api: ApiServer, tmp_path: Path) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    await call(api, "POST", o.ISVC, o.service("bert", o.NEURON_VARIANT))
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig(tmp_path / "config", str(api.url).rstrip("/"))),
        "INFERCOST_CONTROL_INTERVAL_SECONDS": "1",
        "INFERCOST_METRICS_PORT": "0",
    }
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        INFERCOST,
        "run",
        "--namespace",
        o.NS,
        "--dry-run",
        "--liveness",
        f"http://127.0.0.1:{port}/healthz",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        status = await eventually(lambda: _placed(api), what="dry-run status from `infercost run`")
        assert status["placement"][0]["pool"] == "inf2-xlarge"

        async def alive() -> bool:
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"http://127.0.0.1:{port}/healthz") as response,
                ):
                    return response.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await eventually(alive, what="the liveness endpoint")
        assert await deployments(api, "bert") == []  # --dry-run: no children
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert b"Traceback" not in stderr


async def _placed(api: ApiServer) -> dict[str, object] | None:
    status = await status_of(api, "bert")
    return status if status.get("placement") else None


async def test_run_without_credentials_says_what_to_do(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}
    env["HOME"] = str(tmp_path)  # no ~/.kube/config either
    process = await asyncio.create_subprocess_exec(
        INFERCOST, "run", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert b"KUBECONFIG" in stderr
    assert b"Traceback" not in stderr


async def test_run_refuses_conflicting_scopes() -> None:
    process = await asyncio.create_subprocess_exec(
        INFERCOST,
        "run",
        "--namespace",
        "a",
        "--all-namespaces",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert b"--namespace or --all-namespaces" in stderr
