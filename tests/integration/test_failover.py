"""High availability: two `infercost run` replicas with leader election on a Lease; the leader
is killed (SIGKILL: no clean release) and the standby takes over and reconciles.

The failover time is printed (run with -s to see it), never asserted: the machine is shared.
What is asserted is the takeover: the standby holds the Lease and reconciles a service
created after the kill; before, both replicas answered their liveness probes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from infercost.sandbox.apiserver import ApiServer
from infercost.sandbox.rbac import OPERATOR_NAMESPACE
from tests.integration import objects as o
from tests.integration.conftest import call, eventually
from tests.integration.test_cli_run import INFERCOST, kubeconfig
from tests.integration.test_placement import deployments
from tests.integration.test_telemetry import free_port

pytestmark = pytest.mark.integration
LEASE = f"/apis/coordination.k8s.io/v1/namespaces/{OPERATOR_NAMESPACE}/leases/infercost"


async def lease(api: ApiServer) -> dict[str, Any]:
    async with api.request("GET", LEASE) as response:
        return dict(await response.json(content_type=None)) if response.status == 200 else {}


async def holder(api: ApiServer) -> str:
    return str((await lease(api)).get("spec", {}).get("holderIdentity") or "")


async def alive(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            return response.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def start_replicas(
    api: ApiServer, tmp_path: Path, **timing: str
) -> dict[str, tuple[asyncio.subprocess.Process, int]]:
    """Two `infercost run` processes, op-a and op-b, with leader election: name -> (process,
    liveness port). Logs go to files (a full stderr pipe would block a process)."""
    env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig(tmp_path / "config", str(api.url).rstrip("/"))),
        "INFERCOST_CONTROL_INTERVAL_SECONDS": "1",
        "INFERCOST_METRICS_PORT": "0",
        "INFERCOST_LEADER_ELECTION": "true",
        "INFERCOST_LEADER_ELECTION_NAMESPACE": OPERATOR_NAMESPACE,
        **{f"INFERCOST_LEADER_ELECTION_{key.upper()}": value for key, value in timing.items()},
    }
    replicas = {}
    for name in ("op-a", "op-b"):
        port = free_port()
        with (tmp_path / f"{name}.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                INFERCOST,
                "run",
                "--liveness",
                f"http://127.0.0.1:{port}/healthz",
                env={**env, "POD_NAME": name},
                stdout=asyncio.subprocess.DEVNULL,
                stderr=log,
            )
        replicas[name] = (process, port)
    return replicas


async def stop_replicas(
    replicas: dict[str, tuple[asyncio.subprocess.Process, int]], logs: Path
) -> None:
    for process, _ in replicas.values():
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), timeout=60)
    for name in replicas:
        assert b"Traceback" not in (logs / f"{name}.log").read_bytes(), name


async def leader_and_standby(api: ApiServer) -> tuple[str, str]:
    leader = (await eventually(lambda: holder(api), what="a leader")).split("_")[0]
    return leader, next(name for name in ("op-a", "op-b") if name != leader)


FAST = {
    "lease_duration_seconds": "4",
    "renew_deadline_seconds": "3",
    "retry_period_seconds": "0.5",
}


async def test_standby_takes_over_when_the_leader_is_killed(api: ApiServer, tmp_path: Path) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    replicas = await start_replicas(api, tmp_path, **FAST)
    try:
        leader, standby = await leader_and_standby(api)
        for name, (_, port) in replicas.items():
            await eventually(lambda port=port: alive(port), what=f"{name}'s liveness endpoint")
        await call(api, "POST", o.ISVC, o.service("first", o.NEURON_VARIANT))
        await eventually(lambda: deployments(api, "first"), what="children by the leader")
        assert (await holder(api)).startswith(leader + "_")

        replicas[leader][0].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await replicas[leader][0].wait()
        await call(api, "POST", o.ISVC, o.service("second", o.NEURON_VARIANT))

        async def taken() -> bool:
            return (await holder(api)).startswith(standby + "_")

        await eventually(taken, what="the standby taking the Lease")
        took = time.monotonic() - killed
        await eventually(lambda: deployments(api, "second"), what="children by the new leader")
        reconciled = time.monotonic() - killed
        print(
            f"\nfailover after SIGKILL (lease {FAST['lease_duration_seconds']} s, renew deadline "
            f"{FAST['renew_deadline_seconds']} s, retry {FAST['retry_period_seconds']} s): Lease "
            f"taken {took:.1f} s after the kill, a new service reconciled {reconciled:.1f} s after"
        )
        assert (await lease(api))["spec"]["leaseTransitions"] >= 1
    finally:
        await stop_replicas(replicas, tmp_path)


async def test_a_leader_stopped_cleanly_hands_over_without_waiting_out_the_lease(
    api: ApiServer, tmp_path: Path
) -> None:
    await call(api, "POST", o.POOLS, o.INF2)
    # A lease far longer than a clean stop takes: a standby that got the Lease before it
    # would have expired can only have got it released.
    slow = {**FAST, "lease_duration_seconds": "120", "renew_deadline_seconds": "100"}
    replicas = await start_replicas(api, tmp_path, **slow)
    try:
        leader, standby = await leader_and_standby(api)
        await call(api, "POST", o.ISVC, o.service("first", o.NEURON_VARIANT))
        await eventually(lambda: deployments(api, "first"), what="children by the leader")
        replicas[leader][0].send_signal(signal.SIGINT)  # a rolling update, a drain
        stopped = time.monotonic()
        assert await asyncio.wait_for(replicas[leader][0].wait(), timeout=60) == 0

        async def taken() -> bool:
            return (await holder(api)).startswith(standby + "_")

        await eventually(taken, timeout=60, what="the standby taking the released Lease")
        print(f"\nhandover after SIGINT: Lease taken {time.monotonic() - stopped:.1f} s after")
        await call(api, "POST", o.ISVC, o.service("second", o.NEURON_VARIANT))
        await eventually(lambda: deployments(api, "second"), what="children by the new leader")
    finally:
        await stop_replicas(replicas, tmp_path)
